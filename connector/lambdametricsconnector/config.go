// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdametricsconnector // import "github.com/otelcol-lambda/otelcol-lambda/connector/lambdametricsconnector"

import "go.opentelemetry.io/collector/confmap"

// Config is the configuration of the lambda_metrics connector. It has no settings yet:
// dimensions, buckets, prices and limits come with the metrics themselves.
type Config struct {
	// prevent unkeyed literal initialization
	_ struct{}
}

var _ confmap.Validator = (*Config)(nil)

// Validate checks the connector configuration.
func (*Config) Validate() error { return nil }
