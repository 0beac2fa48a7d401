// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdacorrelationprocessor // import "github.com/otelcol-lambda/otelcol-lambda/processor/lambdacorrelationprocessor"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"

	"github.com/otelcol-lambda/otelcol-lambda/processor/lambdacorrelationprocessor/internal/metadata"
)

// NewFactory creates a factory for the lambda_correlation processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithTraces(createTraces, metadata.TracesStability),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		Window:     5 * time.Second,
		MaxPending: 20000,
		TraceRewrites: TraceRewritesConfig{
			MaxEntries: 100000,
			TTL:        time.Hour,
		},
		ForwardedPlatformSpans: forwardedStrip,
	}
}

// createTraces builds the processor. It implements processor.Traces itself rather than
// through processorhelper, because it holds spans across calls and releases them later.
func createTraces(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	return newCorrelationProcessor(set, cfg.(*Config), next, time.Now)
}
