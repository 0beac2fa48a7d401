// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdacorrelationprocessor // import "github.com/otelcol-lambda/otelcol-lambda/processor/lambdacorrelationprocessor"

import (
	"context"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

type correlationProcessor struct {
	cfg *Config
}

func newCorrelationProcessor(cfg *Config) *correlationProcessor {
	return &correlationProcessor{cfg: cfg}
}

// processTraces passes spans on unchanged until the correlation is built.
func (*correlationProcessor) processTraces(_ context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	return td, nil
}
