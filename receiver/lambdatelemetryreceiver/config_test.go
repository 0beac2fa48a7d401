// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/metadata"
)

func TestCreateDefaultConfig(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, componenttest.CheckConfigStruct(cfg))
	assert.Equal(t, "localhost:4318", cfg.HTTP.NetAddr.Endpoint)
	require.NoError(t, confmap.Validate(cfg))
}

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	custom := createDefaultConfig().(*Config)
	custom.HTTP.NetAddr.Endpoint = "0.0.0.0:14318"
	custom.HTTP.MaxRequestBodySize = 1 << 20
	custom.Sandboxes = SandboxesConfig{MaxSandboxes: 1000, IdleTimeout: 10 * time.Minute}

	withStorage := createDefaultConfig().(*Config)
	storageID := component.MustNewIDWithName("file_storage", "replay")
	withStorage.Storage = &storageID
	withStorage.CheckpointInterval = 250 * time.Millisecond

	withWAL := createDefaultConfig().(*Config)
	walStorage := component.MustNewID("file_storage")
	withWAL.Storage = &walStorage
	withWAL.WriteAheadLog = WriteAheadLogConfig{Enabled: true, MaxAge: 5 * time.Minute, MaxSizeMiB: 64}

	tests := []struct {
		id          component.ID
		expected    *Config
		expectedErr string
	}{
		{id: component.NewID(metadata.Type), expected: createDefaultConfig().(*Config)},
		{id: component.NewIDWithName(metadata.Type, "custom"), expected: custom},
		{id: component.NewIDWithName(metadata.Type, "no_endpoint"), expectedErr: errMissingEndpoint.Error()},
		{id: component.NewIDWithName(metadata.Type, "bad_bounds"), expectedErr: "invalid sandboxes::max_sandboxes: 0, must be positive\n" +
			"invalid sandboxes::idle_timeout: -1s, the duration must be positive"},
		{id: component.NewIDWithName(metadata.Type, "storage"), expected: withStorage},
		{id: component.NewIDWithName(metadata.Type, "bad_checkpoint_interval"), expectedErr: "invalid checkpoint_interval: 0s, the duration must be positive"},
		{id: component.NewIDWithName(metadata.Type, "write_ahead_log"), expected: withWAL},
		{id: component.NewIDWithName(metadata.Type, "bad_write_ahead_log"), expectedErr: "write_ahead_log::enabled needs storage: the id of a storage extension (file_storage) to keep the log in\n" +
			"invalid write_ahead_log::max_age: 0s, the duration must be positive\n" +
			"invalid write_ahead_log::max_size_mib: 0, must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			if tt.expectedErr != "" {
				assert.EqualError(t, confmap.Validate(cfg), tt.expectedErr)
				return
			}
			require.NoError(t, confmap.Validate(cfg))
			assert.Equal(t, tt.expected, cfg)
		})
	}
}

// TestGRPCIsRefusedWithWhereItWent: the receiver serves OTLP/HTTP only, so a configuration
// written for an older version that still sets grpc fails, and says where gRPC went,
// instead of starting without the gRPC endpoint it asked for.
func TestGRPCIsRefusedWithWhereItWent(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, "grpc").String())
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	err = confmap.Validate(cfg)
	require.ErrorIs(t, err, errGRPCRemoved)
	assert.Contains(t, err.Error(), "receivers::otlp::protocols::grpc")
}
