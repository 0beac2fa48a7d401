// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package exportwatchextension // import "github.com/otelcol-lambda/otelcol-lambda/extension/exportwatchextension"

import (
	"errors"
	"time"

	"go.opentelemetry.io/collector/confmap"

	"github.com/otelcol-lambda/otelcol-lambda/internal/configcheck"
)

// Config is the configuration of the export_watch extension.
type Config struct {
	// DrainTimeout is how long the exporters may still send once the Collector starts
	// shutting down (it starts when the service tells its extensions that the pipelines
	// are no longer ready, before any pipeline stops). Past it, requests in flight are
	// canceled and new ones fail at once: the exporters' queues then empty without
	// waiting on the network and the process exits. Keep it below what the process
	// supervisor waits before SIGKILL (Kubernetes: terminationGracePeriodSeconds, 30s by
	// default), with a few seconds to spare for the rest of the shutdown.
	DrainTimeout time.Duration `mapstructure:"drain_timeout"`

	// LogInterval is how often failures of one endpoint may be logged after the first:
	// a backend that is down makes every retry fail, and its log must stay readable.
	LogInterval time.Duration `mapstructure:"log_interval"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ confmap.Validator = (*Config)(nil)

// Validate checks that both durations are positive.
func (cfg *Config) Validate() error {
	return errors.Join(
		configcheck.Positive("drain_timeout", cfg.DrainTimeout),
		configcheck.Positive("log_interval", cfg.LogInterval),
	)
}
