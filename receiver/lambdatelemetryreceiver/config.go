// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver // import "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver"

import (
	"errors"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/confmap"
)

var errMissingEndpoint = errors.New("http::endpoint must not be empty")

// Config is the configuration of the lambda_telemetry receiver.
type Config struct {
	// HTTP is the server that takes the extension's batches and OTLP/HTTP data: endpoint,
	// TLS, auth extensions, CORS and the request body size limit.
	HTTP confighttp.ServerConfig `mapstructure:"http"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ confmap.Validator = (*Config)(nil)

// Validate checks the receiver configuration.
func (cfg *Config) Validate() error {
	if cfg.HTTP.NetAddr.Endpoint == "" {
		return errMissingEndpoint
	}
	return nil
}
