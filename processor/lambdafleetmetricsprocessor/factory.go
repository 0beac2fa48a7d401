// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdafleetmetricsprocessor // import "github.com/otelcol-lambda/otelcol-lambda/processor/lambdafleetmetricsprocessor"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"

	"github.com/otelcol-lambda/otelcol-lambda/processor/lambdafleetmetricsprocessor/internal/metadata"
)

// NewFactory creates a factory for the lambda_fleet_metrics processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithMetrics(createMetrics, metadata.MetricsStability),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		MetricsFlushInterval: 10 * time.Second,
		MetricsExpiration:    time.Hour,
		MaxSeriesPerJob:      10000,
		MaxSeries:            200000,
		ExponentialMaxSize:   160,
		Gauges: GaugesConfig{
			DefaultMode: ModeLast,
			SandboxTTL:  5 * time.Minute,
		},
		Streams: StreamsConfig{
			MaxStreams:  200000,
			IdleTimeout: 2 * time.Hour,
		},
	}
}

// createMetrics builds the processor. It implements processor.Metrics itself rather than
// through processorhelper: it keeps what it takes in and sends fleet series on its own
// schedule.
func createMetrics(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	return newFleetProcessor(set, cfg.(*Config), next, time.Now)
}
