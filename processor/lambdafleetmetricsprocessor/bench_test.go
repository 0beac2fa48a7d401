// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdafleetmetricsprocessor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-lambda/otelcol-lambda/processor/lambdafleetmetricsprocessor/internal/metadata"
)

// pushBatch is one flush of one sandbox as the extension sends it for the seed's code: a
// counter, a histogram with prometheus_client's default buckets and a gauge.
func pushBatch(instance string) pmetric.Metrics {
	md := pmetric.NewMetrics()
	ms := sandbox(md, "orders-consumer", instance)
	addSum(ms, "lambda_invocations_total", delta, true, 1, 2, 3)
	bounds := []float64{.005, .01, .025, .05, .075, .1, .25, .5, .75, 1, 2.5, 5, 7.5, 10}
	counts := make([]uint64, len(bounds)+1)
	counts[3] = 3
	addHistogram(ms, "lambda_execution_duration_seconds", delta, 1, 2, bounds, counts, 0.12)
	addGauge(ms, "lambda_invocations_created", 2, 1.7e9)
	return md
}

// BenchmarkFoldPushBatch measures one push batch of one sandbox folded into the fleet
// series, out of 1,000 sandboxes.
func BenchmarkFoldPushBatch(b *testing.B) {
	p, err := newFleetProcessor(processortest.NewNopSettings(metadata.Type), createDefaultConfig().(*Config), consumertest.NewNop(), time.Now)
	if err != nil {
		b.Fatal(err)
	}
	batches := make([]pmetric.Metrics, 1000)
	for i := range batches {
		batches[i] = pushBatch(fmt.Sprintf("sandbox-%d", i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := p.ConsumeMetrics(context.Background(), batches[i%len(batches)]); err != nil {
			b.Fatal(err)
		}
	}
}
