// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdafleetmetricsprocessor // import "github.com/otelcol-lambda/otelcol-lambda/processor/lambdafleetmetricsprocessor"

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"go.opentelemetry.io/collector/confmap"

	"github.com/otelcol-lambda/otelcol-lambda/internal/configcheck"
)

// Gauge modes: how one fleet value is made of the sandboxes' values of a gauge.
const (
	// ModeLast takes the newest value any sandbox reported: what a Pushgateway shows, and
	// the only mode that means something for every gauge (a version, a timestamp, a
	// configured size), so it is the default.
	ModeLast = "last"
	// ModeSum adds the newest value of each sandbox that reported within sandbox_ttl
	// (in-flight work, open connections).
	ModeSum = "sum"
	// ModeMax and ModeMin take the largest or smallest of those values (a lag, a backlog).
	ModeMax = "max"
	ModeMin = "min"
)

// Config is the configuration of the lambda_fleet_metrics processor.
type Config struct {
	// MetricsFlushInterval is how often the fleet series are sent on; they are also sent
	// on shutdown.
	MetricsFlushInterval time.Duration `mapstructure:"metrics_flush_interval"`

	// MetricsExpiration: a series that no sandbox updated for this long stops being sent
	// (the Pushgateway never forgets; this does). A function's series outlive its sandboxes,
	// since no series is keyed by sandbox.
	MetricsExpiration time.Duration `mapstructure:"metrics_expiration"`

	// MaxSeriesPerJob bounds the series of one job (service name); beyond it a metric's new
	// series go to its one otel.metric.overflow=true series.
	MaxSeriesPerJob int `mapstructure:"max_series_per_job"`

	// MaxSeries bounds every series of every job, overflow series included: the memory the
	// processor may hold. Beyond it a point that needs a new series is refused (counted,
	// reason limit) until idle series expire.
	MaxSeries int `mapstructure:"max_series"`

	// ExponentialMaxSize bounds the buckets of a fleet exponential histogram (a Prometheus
	// native histogram); sandboxes' histograms are merged at a coarser scale as needed.
	ExponentialMaxSize int32 `mapstructure:"exponential_max_size"`

	// Gauges says how gauges of several sandboxes become one value.
	Gauges GaugesConfig `mapstructure:"gauges"`

	// Streams bounds the memory of per-sandbox cumulative streams.
	Streams StreamsConfig `mapstructure:"streams"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// GaugesConfig sets the gauge modes.
type GaugesConfig struct {
	// DefaultMode is the mode of gauges not named in Modes: last, sum, max or min.
	DefaultMode string `mapstructure:"default_mode"`
	// Modes sets the mode per metric name (the name as sent, e.g. inflight_requests).
	Modes map[string]string `mapstructure:"modes"`
	// SandboxTTL is how long a sandbox's value counts in sum, max and min after it was
	// reported; a sandbox that stopped reporting drops out then.
	SandboxTTL time.Duration `mapstructure:"sandbox_ttl"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// StreamsConfig bounds the per-sandbox cumulative streams.
type StreamsConfig struct {
	// MaxStreams is the most streams remembered; the least recently seen go first.
	MaxStreams int `mapstructure:"max_streams"`
	// IdleTimeout forgets a stream that sent nothing for this long. A forgotten stream that
	// comes back counts from its second point, so keep it above the longest time a sandbox
	// may stay frozen between two exports.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// errMode is wrapped by the errors of a gauge mode that is none of the four.
var errMode = errors.New("must be last, sum, max or min")

var _ confmap.Validator = (*Config)(nil)

// Validate checks the processor configuration.
func (c *Config) Validate() error {
	errs := []error{
		configcheck.Positive("metrics_flush_interval", c.MetricsFlushInterval),
		configcheck.Positive("metrics_expiration", c.MetricsExpiration),
		configcheck.Positive("max_series_per_job", c.MaxSeriesPerJob),
		configcheck.Positive("max_series", c.MaxSeries),
		configcheck.AtLeast("exponential_max_size", c.ExponentialMaxSize, 2),
	}
	if !validMode(c.Gauges.DefaultMode) {
		errs = append(errs, fmt.Errorf("invalid gauges::default_mode %q: %w", c.Gauges.DefaultMode, errMode))
	}
	names := make([]string, 0, len(c.Gauges.Modes))
	for name := range c.Gauges.Modes {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if mode := c.Gauges.Modes[name]; !validMode(mode) {
			errs = append(errs, fmt.Errorf("invalid gauges::modes::%s %q: %w", name, mode, errMode))
		}
	}
	errs = append(errs,
		configcheck.Positive("gauges::sandbox_ttl", c.Gauges.SandboxTTL),
		configcheck.Positive("streams::max_streams", c.Streams.MaxStreams),
		configcheck.Positive("streams::idle_timeout", c.Streams.IdleTimeout))
	return errors.Join(errs...)
}

func validMode(m string) bool {
	switch m {
	case ModeLast, ModeSum, ModeMax, ModeMin:
		return true
	}
	return false
}
