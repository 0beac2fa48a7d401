// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdametricsconnector

import (
	"errors"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-lambda/otelcol-lambda/connector/lambdametricsconnector/internal/metadata"
)

func TestCreateDefaultConfig(t *testing.T) {
	cfg := createDefaultConfig()
	require.NoError(t, componenttest.CheckConfigStruct(cfg))
	require.NoError(t, confmap.Validate(cfg))
	assert.LessOrEqual(t, cfg.(*Config).MetricsFlushInterval, 10*time.Second)
}

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	full := createDefaultConfig().(*Config)
	full.MetricsFlushInterval = 5 * time.Second
	full.MetricsExpiration = 30 * time.Minute
	full.CardinalityLimit = 500
	full.MaxEventSourcesPerFunction = 20
	full.Dimensions = []string{"faas.trigger", "messaging.system"}
	full.Histograms.Exponential = &ExponentialHistogramConfig{MaxSize: 80}
	full.Histograms.InvokeDuration = []time.Duration{10 * time.Millisecond, time.Second}
	full.Histograms.InitDuration = []time.Duration{100 * time.Millisecond}
	full.Histograms.EventAge = []time.Duration{time.Second, time.Minute}
	full.Histograms.MemUsage = []int64{128 << 20}
	full.Exemplars.Enabled = false
	full.Prices = []PriceConfig{{Region: "eu-central-1", Architecture: "arm64", PerRequest: 0.0000002, PerGBSecond: 0.0000133334}}
	full.SDKSpans.Enabled = true

	withStorage := createDefaultConfig().(*Config)
	storageID := component.MustNewID("file_storage")
	withStorage.Storage = &storageID

	tests := []struct {
		id       component.ID
		expected component.Config
		errorMsg string
	}{
		{id: component.NewID(metadata.Type), expected: createDefaultConfig()},
		{id: component.NewIDWithName(metadata.Type, "full"), expected: full},
		{id: component.NewIDWithName(metadata.Type, "storage"), expected: withStorage},
		{id: component.NewIDWithName(metadata.Type, "bad"), errorMsg: "invalid metrics_flush_interval: 0s, the duration must be positive\n" +
			`invalid dimensions[0]: "faas.invocation_id" is high-cardinality and never a label`},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			cfg := createDefaultConfig()
			require.NoError(t, sub.Unmarshal(cfg))
			if tt.errorMsg != "" {
				assert.EqualError(t, confmap.Validate(cfg), tt.errorMsg)
				return
			}
			require.NoError(t, confmap.Validate(cfg))
			assert.Equal(t, tt.expected, cfg)
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name        string
		mutate      func(*Config)
		expectedErr string
	}{
		{name: "flush interval", mutate: func(c *Config) { c.MetricsFlushInterval = -time.Second }, expectedErr: "invalid metrics_flush_interval"},
		{name: "expiration", mutate: func(c *Config) { c.MetricsExpiration = 0 }, expectedErr: "invalid metrics_expiration"},
		{name: "cardinality", mutate: func(c *Config) { c.CardinalityLimit = 0 }, expectedErr: "invalid cardinality_limit"},
		{name: "event sources", mutate: func(c *Config) { c.MaxEventSourcesPerFunction = 0 }, expectedErr: "invalid max_event_sources_per_function: 0, must be positive"},
		{name: "overflow marker", mutate: func(c *Config) { c.Dimensions = []string{"otel.metric.overflow"} }, expectedErr: `invalid dimensions[0]: "otel.metric.overflow" is a label of its own already`},
		{name: "empty dimension", mutate: func(c *Config) { c.Dimensions = []string{""} }, expectedErr: "invalid dimensions[0]: empty attribute name"},
		{name: "sandbox id", mutate: func(c *Config) { c.Dimensions = []string{"faas.instance"} }, expectedErr: "high-cardinality"},
		{name: "identity twice", mutate: func(c *Config) { c.Dimensions = []string{"faas.name"} }, expectedErr: "is a label of its own already"},
		{name: "duplicate", mutate: func(c *Config) { c.Dimensions = []string{"a", "a"} }, expectedErr: `invalid dimensions[1]: "a" is listed twice`},
		{name: "too many", mutate: func(c *Config) { c.Dimensions = []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"} }, expectedErr: "invalid dimensions: 9 attributes, at most 8"},
		{name: "max size", mutate: func(c *Config) { c.Histograms.Exponential = &ExponentialHistogramConfig{MaxSize: 1} }, expectedErr: "invalid histograms::exponential::max_size"},
		{name: "buckets order", mutate: func(c *Config) { c.Histograms.InvokeDuration = []time.Duration{time.Second, time.Millisecond} }, expectedErr: "invalid histograms::invoke_duration: bounds must be positive and strictly increasing"},
		{name: "no buckets", mutate: func(c *Config) { c.Histograms.MemUsage = nil }, expectedErr: "invalid histograms::mem_usage: at least one bucket bound is required"},
		{name: "price arch", mutate: func(c *Config) { c.Prices = []PriceConfig{{PerRequest: 1}} }, expectedErr: "invalid prices[0]: architecture is required"},
		{name: "price negative", mutate: func(c *Config) { c.Prices = []PriceConfig{{Architecture: "arm64", PerGBSecond: -1}} }, expectedErr: "invalid prices[0]: per_request, per_gb_second and per_gb_restored must be finite and not negative"},
		{name: "restore price negative", mutate: func(c *Config) { c.Prices = []PriceConfig{{Architecture: "arm64", PerGBRestored: -1}} }, expectedErr: "invalid prices[0]: per_request, per_gb_second and per_gb_restored must be finite and not negative"},
		// +Inf would make the cumulative cost +Inf for good; NaN would drop every cost it enters.
		{name: "restore price not a number", mutate: func(c *Config) { c.Prices = []PriceConfig{{Architecture: "arm64", PerGBRestored: math.NaN()}} }, expectedErr: "must be finite and not negative"},
		{name: "request price infinite", mutate: func(c *Config) { c.Prices = []PriceConfig{{Architecture: "arm64", PerRequest: math.Inf(1)}} }, expectedErr: "must be finite and not negative"},
		{name: "price twice", mutate: func(c *Config) {
			c.Prices = []PriceConfig{{Architecture: "arm64"}, {Architecture: "arm64"}}
		}, expectedErr: `invalid prices[1]: region "" and architecture "arm64" are priced twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			tt.mutate(cfg)
			assert.ErrorContains(t, errors.Join(confmap.Validate(cfg)), tt.expectedErr)
		})
	}
}
