// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package exportwatchextension

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

	"github.com/otelcol-lambda/otelcol-lambda/extension/exportwatchextension/internal/metadata"
)

func TestCreateDefaultConfig(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, componenttest.CheckConfigStruct(cfg))
	assert.Equal(t, 15*time.Second, cfg.DrainTimeout)
	assert.Equal(t, time.Minute, cfg.LogInterval)
	require.NoError(t, confmap.Validate(cfg))
}

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	custom := createDefaultConfig().(*Config)
	custom.DrainTimeout = 5 * time.Second
	custom.LogInterval = 10 * time.Second

	tests := []struct {
		id          component.ID
		expected    *Config
		expectedErr string
	}{
		{id: component.NewID(metadata.Type), expected: createDefaultConfig().(*Config)},
		{id: component.NewIDWithName(metadata.Type, "custom"), expected: custom},
		{id: component.NewIDWithName(metadata.Type, "zero_drain"), expectedErr: "invalid drain_timeout: 0s, the duration must be positive"},
		{id: component.NewIDWithName(metadata.Type, "negative"), expectedErr: "invalid drain_timeout: -1s, the duration must be positive\n" +
			"invalid log_interval: 0s, the duration must be positive"},
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
