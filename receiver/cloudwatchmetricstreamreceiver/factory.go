// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package cloudwatchmetricstreamreceiver // import "github.com/otelcol-lambda/otelcol-lambda/receiver/cloudwatchmetricstreamreceiver"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/otelcol-lambda/otelcol-lambda/receiver/cloudwatchmetricstreamreceiver/internal/metadata"
)

const (
	// Loopback by default: exposing the endpoint (behind TLS, as Firehose requires
	// https on port 443) is the operator's choice.
	defaultEndpoint = "localhost:4320"
	// Firehose sends at most 64 MiB in one request, its largest buffer; the bound holds
	// after gzip is decoded too.
	defaultMaxRequestBodySize = 64 << 20
	// Well below confighttp's 30 s write timeout, so that the 503 is written before the
	// server gives up on the answer.
	defaultConsumeTimeout = 20 * time.Second
	// Below the 30-minute out_of_order_time_window of the distribution's Prometheus
	// configurations, with room for the time a write takes.
	defaultMaxAge = 25 * time.Minute
)

// NewFactory creates a factory for the cloudwatch_metric_stream receiver.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(
		metadata.Type,
		createDefaultConfig,
		receiver.WithMetrics(createMetrics, metadata.MetricsStability),
	)
}

func createDefaultConfig() component.Config {
	httpCfg := confighttp.NewDefaultServerConfig()
	httpCfg.NetAddr.Endpoint = defaultEndpoint
	httpCfg.MaxRequestBodySize = defaultMaxRequestBodySize
	return &Config{HTTP: httpCfg, ConsumeTimeout: defaultConsumeTimeout, MaxAge: defaultMaxAge}
}

func createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	return newReceiver(cfg.(*Config), set, next)
}
