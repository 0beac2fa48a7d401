// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package cloudwatchmetricstreamreceiver // import "github.com/otelcol-lambda/otelcol-lambda/receiver/cloudwatchmetricstreamreceiver"

import (
	"errors"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"
)

// maxAccessKeyBytes is the longest access key Firehose sends.
const maxAccessKeyBytes = 4096

var (
	errMissingEndpoint  = errors.New("http::endpoint must not be empty")
	errMissingAccessKey = errors.New("access_key must not be empty: set the delivery stream's access key here, anyone who reaches the endpoint could write series otherwise")
	errAccessKeyTooLong = errors.New("access_key must be at most 4096 bytes, the longest Firehose sends")
)

var _ confmap.Validator = (*Config)(nil)

// Config is the configuration of the cloudwatch_metric_stream receiver.
type Config struct {
	// HTTP is the server Firehose delivers to: endpoint, TLS, and max_request_body_size,
	// which bounds the body both as sent and after gzip is decoded.
	HTTP confighttp.ServerConfig `mapstructure:"http"`

	// AccessKey is the delivery stream's access key, which Firehose sends in the
	// X-Amz-Firehose-Access-Key header of every request. Required: a request without it,
	// or with another, is answered 401.
	AccessKey configopaque.String `mapstructure:"access_key"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// Validate checks the receiver configuration is valid.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.HTTP.NetAddr.Endpoint == "" {
		errs = append(errs, errMissingEndpoint)
	}
	switch {
	case cfg.AccessKey == "":
		errs = append(errs, errMissingAccessKey)
	case len(cfg.AccessKey) > maxAccessKeyBytes:
		errs = append(errs, errAccessKeyTooLong)
	}
	return errors.Join(errs...)
}
