// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdametricsconnector // import "github.com/otelcol-lambda/otelcol-lambda/connector/lambdametricsconnector"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"

	"github.com/otelcol-lambda/otelcol-lambda/connector/lambdametricsconnector/internal/metadata"
	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
)

const mib = 1 << 20

// NewFactory creates a factory for the lambda_metrics connector.
func NewFactory() connector.Factory {
	return connector.NewFactory(
		metadata.Type,
		createDefaultConfig,
		connector.WithTracesToMetrics(createTracesToMetrics, metadata.TracesToMetricsStability),
	)
}

func createDefaultConfig() component.Config {
	ms := time.Millisecond
	return &Config{
		MetricsFlushInterval: 10 * time.Second,
		MetricsExpiration:    time.Hour,
		CardinalityLimit:     10000,
		// A function has a handful of queues or streams, and API Gateway names routes by
		// their template (/orders/{id}): even a function serving a whole API stays far
		// below. One function then holds at most about 1% of cardinality_limit.
		MaxEventSourcesPerFunction: 100,
		Dimensions: []string{
			lambdaconv.AttrFaaSTrigger,
			lambdaconv.AttrMessagingSystem,
			lambdaconv.AttrMessagingDestinationName,
			lambdaconv.AttrHTTPRoute,
		},
		Histograms: HistogramsConfig{
			// Lambda runs from about a millisecond to its 15-minute limit.
			InvokeDuration: []time.Duration{
				ms, 2500 * time.Microsecond, 5 * ms, 10 * ms, 25 * ms, 50 * ms, 100 * ms, 250 * ms, 500 * ms,
				time.Second, 2500 * ms, 5 * time.Second, 10 * time.Second, 30 * time.Second,
				time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute,
			},
			// Init is limited to 10 s on demand, longer for provisioned concurrency.
			InitDuration: []time.Duration{
				10 * ms, 25 * ms, 50 * ms, 100 * ms, 250 * ms, 500 * ms, time.Second,
				2500 * ms, 5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute,
			},
			// From a synchronous hand-over to SQS' 14-day retention.
			EventAge: []time.Duration{
				10 * ms, 100 * ms, time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second,
				time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour,
				14 * 24 * time.Hour,
			},
			// Lambda's memory sizes run from 128 MiB to 10 GiB.
			MemUsage: []int64{
				16 * mib, 32 * mib, 64 * mib, 128 * mib, 256 * mib, 512 * mib,
				1024 * mib, 2048 * mib, 4096 * mib, 10240 * mib,
			},
		},
		Exemplars: ExemplarsConfig{Enabled: true},
		// Lambda's public on-demand prices (first tier), as of 2025, in most regions.
		Prices: []PriceConfig{
			{Architecture: "amd64", PerRequest: 0.0000002, PerGBSecond: 0.0000166667, PerGBRestored: 0.0001397998},
			{Architecture: "arm64", PerRequest: 0.0000002, PerGBSecond: 0.0000133334, PerGBRestored: 0.0001397998},
		},
	}
}

func createTracesToMetrics(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Traces, error) {
	return newConnector(set, cfg.(*Config), next, time.Now)
}
