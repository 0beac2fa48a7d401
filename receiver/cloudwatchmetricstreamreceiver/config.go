// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package cloudwatchmetricstreamreceiver // import "github.com/otelcol-lambda/otelcol-lambda/receiver/cloudwatchmetricstreamreceiver"

import (
	"errors"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"
)

const (
	// maxAccessKeyBytes is the longest access key Firehose sends.
	maxAccessKeyBytes = 4096
	// firehoseRequestTimeout is how long Firehose waits for an answer before it counts the
	// request failed and sends it again.
	firehoseRequestTimeout = 3 * time.Minute
)

var (
	errMissingEndpoint  = errors.New("http::endpoint must not be empty")
	errMissingAccessKey = errors.New("access_key must not be empty: set the delivery stream's access key here, anyone who reaches the endpoint could write series otherwise")
	errAccessKeyTooLong = errors.New("access_key must be at most 4096 bytes, the longest Firehose sends")
	errConsumeTimeout   = errors.New("consume_timeout must be positive and below Firehose's 3-minute request timeout")
	errConsumeTimeoutWT = errors.New("http::read_timeout plus consume_timeout must be below http::write_timeout, or the server drops the answer of a request whose body came slowly before the 503 is written")
	errMaxAge           = errors.New("max_age must be positive")
	errMaxDataPoints    = errors.New("max_data_points must be positive")
	errMaxFuture        = errors.New("max_future must be positive")
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

	// ConsumeTimeout bounds how long a request waits for the pipeline (memory_limiter,
	// then the remote write and its retries). When it runs out the request is answered
	// 503 and Firehose sends it again. It must be below http::write_timeout, after which
	// the server drops the answer, and Firehose's 3-minute request timeout.
	ConsumeTimeout time.Duration `mapstructure:"consume_timeout"`

	// MaxAge drops the data points whose period ended longer ago than this: Prometheus
	// refuses a sample older than its out_of_order_time_window, and would refuse the
	// whole write with it. Keep it below Prometheus' out_of_order_time_window.
	MaxAge time.Duration `mapstructure:"max_age"`

	// MaxFuture drops the data points whose period ends later than this from now. One
	// sample in the future stops a series in Prometheus: every later sample of it, up to
	// that time, is refused as out of order, and the remote write with it. A metric
	// stream's periods have ended when they are sent; this leaves room for clock skew.
	MaxFuture time.Duration `mapstructure:"max_future"`

	// MaxDataPoints bounds the CloudWatch data points converted from one request, and so
	// the memory a request takes: a record that would take the request past it is dropped
	// whole and counted (outcome over_limit). The default is above what Firehose's
	// largest request of metric stream records holds.
	MaxDataPoints int `mapstructure:"max_data_points"`

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
	switch {
	case cfg.ConsumeTimeout <= 0 || cfg.ConsumeTimeout >= firehoseRequestTimeout:
		errs = append(errs, errConsumeTimeout)
	case cfg.HTTP.WriteTimeout > 0 && cfg.HTTP.ReadTimeout+cfg.ConsumeTimeout >= cfg.HTTP.WriteTimeout:
		errs = append(errs, errConsumeTimeoutWT)
	}
	if cfg.MaxAge <= 0 {
		errs = append(errs, errMaxAge)
	}
	if cfg.MaxFuture <= 0 {
		errs = append(errs, errMaxFuture)
	}
	if cfg.MaxDataPoints <= 0 {
		errs = append(errs, errMaxDataPoints)
	}
	return errors.Join(errs...)
}
