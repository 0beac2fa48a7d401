// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdametricsconnector // import "github.com/otelcol-lambda/otelcol-lambda/connector/lambdametricsconnector"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

type metricsConnector struct {
	component.StartFunc
	component.ShutdownFunc

	cfg         *Config
	nextMetrics consumer.Metrics
}

func newMetricsConnector(cfg *Config, next consumer.Metrics) *metricsConnector {
	return &metricsConnector{cfg: cfg, nextMetrics: next}
}

// Capabilities tells the pipeline that spans are only read.
func (*metricsConnector) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// ConsumeTraces accepts spans; deriving metrics from them is the connector's next step.
func (*metricsConnector) ConsumeTraces(context.Context, ptrace.Traces) error {
	return nil
}
