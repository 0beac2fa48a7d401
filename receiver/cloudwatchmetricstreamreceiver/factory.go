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
	// Well below the write timeout, so that the 503 is written before the server gives up
	// on the answer.
	defaultConsumeTimeout = 20 * time.Second
	// Below the 30-minute out_of_order_time_window of the distribution's Prometheus
	// configurations, with room for the time a write takes.
	defaultMaxAge = 25 * time.Minute
	// A metric stream's periods have ended when they are sent: room for clock skew only.
	defaultMaxFuture = 5 * time.Minute
	// Bounds on reading a request, so that slow clients cannot hold connections (and file
	// descriptors) open: the headers come at once, and a 64 MiB body within a minute.
	defaultReadHeaderTimeout = 10 * time.Second
	defaultReadTimeout       = time.Minute
	// Go's write deadline runs from the end of the headers, through the body's reading and
	// the pipeline, to the answer: it must cover read_timeout plus consume_timeout, and stay
	// below Firehose's 3-minute request timeout (confighttp's default is 30 s).
	defaultWriteTimeout = defaultReadTimeout + defaultConsumeTimeout + 10*time.Second
	// Above the data points of Firehose's largest request (64 MiB) of metric stream
	// records; see MaxDataPoints.
	defaultMaxDataPoints = 500_000
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
	httpCfg.ReadHeaderTimeout = defaultReadHeaderTimeout
	httpCfg.ReadTimeout = defaultReadTimeout
	httpCfg.WriteTimeout = defaultWriteTimeout
	return &Config{HTTP: httpCfg, ConsumeTimeout: defaultConsumeTimeout, MaxAge: defaultMaxAge, MaxFuture: defaultMaxFuture, MaxDataPoints: defaultMaxDataPoints}
}

func createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	return newReceiver(cfg.(*Config), set, next)
}
