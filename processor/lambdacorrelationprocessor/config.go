// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdacorrelationprocessor // import "github.com/otelcol-lambda/otelcol-lambda/processor/lambdacorrelationprocessor"

import "go.opentelemetry.io/collector/confmap"

// Config is the configuration of the lambda_correlation processor. It has no settings yet:
// the join window and its bounds come with the correlation itself.
type Config struct {
	// prevent unkeyed literal initialization
	_ struct{}
}

var _ confmap.Validator = (*Config)(nil)

// Validate checks the processor configuration.
func (*Config) Validate() error { return nil }
