// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package cloudwatchmetricstreamreceiver

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-lambda/otelcol-lambda/receiver/cloudwatchmetricstreamreceiver/internal/metadata"
)

func TestCreateDefaultConfig(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, componenttest.CheckConfigStruct(cfg))
	assert.Equal(t, "localhost:4320", cfg.HTTP.NetAddr.Endpoint)
	assert.Equal(t, int64(64<<20), cfg.HTTP.MaxRequestBodySize)
	assert.Less(t, cfg.HTTP.ReadTimeout+cfg.ConsumeTimeout, cfg.HTTP.WriteTimeout,
		"the 503 is written before the server drops the answer, even after a body that came slowly")
	assert.Less(t, cfg.HTTP.WriteTimeout, firehoseRequestTimeout, "and before Firehose gives up on it")
	assert.Equal(t, 25*time.Minute, cfg.MaxAge, "below the 30m out_of_order_time_window of the distribution's Prometheus")
	assert.Equal(t, 5*time.Minute, cfg.MaxFuture)
	assert.Equal(t, 500_000, cfg.MaxDataPoints)
	assert.Positive(t, cfg.HTTP.ReadHeaderTimeout, "a client that sends its headers slowly does not hold a connection")
	assert.Positive(t, cfg.HTTP.ReadTimeout, "nor one that sends its body slowly")
	assert.EqualError(t, cfg.Validate(), errMissingAccessKey.Error(), "no key by default: it must be set")
}

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	tests := []struct {
		id          component.ID
		expected    func(*Config)
		expectedErr error
	}{
		{id: component.NewID(metadata.Type), expected: func(c *Config) { c.AccessKey = "stream-key" }},
		{id: component.NewIDWithName(metadata.Type, "custom"), expected: func(c *Config) {
			c.HTTP.NetAddr.Endpoint = "0.0.0.0:14320"
			c.HTTP.MaxRequestBodySize = 1 << 20
			c.AccessKey = "other-key"
			c.ConsumeTimeout = 10 * time.Second
			c.MaxAge = 50 * time.Minute
			c.MaxFuture = 2 * time.Minute
			c.MaxDataPoints = 1000
		}},
		{id: component.NewIDWithName(metadata.Type, "consume_timeout_over_write_timeout"), expectedErr: errConsumeTimeoutWT},
		{id: component.NewIDWithName(metadata.Type, "no_access_key"), expectedErr: errMissingAccessKey},
		{id: component.NewIDWithName(metadata.Type, "no_endpoint"), expectedErr: errMissingEndpoint},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			if tt.expectedErr != nil {
				assert.ErrorIs(t, confmap.Validate(cfg), tt.expectedErr)
				return
			}
			require.NoError(t, confmap.Validate(cfg))
			want := createDefaultConfig().(*Config)
			tt.expected(want)
			assert.Equal(t, want, cfg)
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name        string
		config      func(*Config)
		expectedErr []error
	}{
		{name: "valid", config: func(c *Config) { c.AccessKey = "k" }},
		{name: "no key", config: func(*Config) {}, expectedErr: []error{errMissingAccessKey}},
		{name: "key longer than Firehose sends", config: func(c *Config) {
			c.AccessKey = configopaque.String(strings.Repeat("k", maxAccessKeyBytes+1))
		}, expectedErr: []error{errAccessKeyTooLong}},
		{name: "no consume timeout", config: func(c *Config) { c.AccessKey = "k"; c.ConsumeTimeout = 0 },
			expectedErr: []error{errConsumeTimeout}},
		{name: "consume timeout past Firehose's", config: func(c *Config) {
			c.AccessKey = "k"
			c.HTTP.WriteTimeout = 0 // no server bound: Firehose's 3 minutes still hold
			c.ConsumeTimeout = firehoseRequestTimeout
		}, expectedErr: []error{errConsumeTimeout}},
		{name: "consume timeout not below write timeout", config: func(c *Config) {
			c.AccessKey = "k"
			c.ConsumeTimeout = c.HTTP.WriteTimeout
		}, expectedErr: []error{errConsumeTimeoutWT}},
		{name: "slow body plus consume timeout past the write timeout", config: func(c *Config) {
			c.AccessKey = "k"
			c.HTTP.ReadTimeout = c.HTTP.WriteTimeout - c.ConsumeTimeout
		}, expectedErr: []error{errConsumeTimeoutWT}},
		{name: "no write timeout", config: func(c *Config) {
			c.AccessKey = "k"
			c.HTTP.WriteTimeout = 0
			c.ConsumeTimeout = 2 * time.Minute
		}},
		{name: "no max age", config: func(c *Config) { c.AccessKey = "k"; c.MaxAge = 0 }, expectedErr: []error{errMaxAge}},
		{name: "no max future", config: func(c *Config) { c.AccessKey = "k"; c.MaxFuture = 0 }, expectedErr: []error{errMaxFuture}},
		{name: "no max data points", config: func(c *Config) { c.AccessKey = "k"; c.MaxDataPoints = 0 }, expectedErr: []error{errMaxDataPoints}},
		{name: "every problem at once", config: func(c *Config) {
			c.HTTP.NetAddr.Endpoint = ""
			c.ConsumeTimeout = -time.Second
			c.MaxAge = -time.Second
		}, expectedErr: []error{errMissingEndpoint, errMissingAccessKey, errConsumeTimeout, errMaxAge}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			tt.config(cfg)
			err := cfg.Validate()
			if len(tt.expectedErr) == 0 {
				assert.NoError(t, err)
				return
			}
			assert.Equal(t, errors.Join(tt.expectedErr...).Error(), err.Error())
		})
	}
}
