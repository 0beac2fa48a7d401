// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdafleetmetricsprocessor

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-lambda/otelcol-lambda/processor/lambdafleetmetricsprocessor/internal/metadata"
)

// FuzzConsumeMetrics feeds whatever OTLP/JSON decodes, twice (the second time as a later
// export of the same streams), and flushes: nothing may panic, and every point that comes
// out must be finite where Prometheus counters need it.
func FuzzConsumeMetrics(f *testing.F) {
	for _, instance := range []string{"a", "b"} {
		md := pushBatch(instance)
		ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
		addSum(ms, "cum", cumulative, true, 1, 5, 7)
		addHistogram(ms, "cumh", cumulative, 1, 5, []float64{1, 2}, []uint64{1, 2, 3}, 9)
		e := ms.AppendEmpty()
		e.SetName("exp")
		dp := e.SetEmptyExponentialHistogram().DataPoints().AppendEmpty()
		dp.SetScale(2)
		dp.Positive().BucketCounts().FromRaw([]uint64{1, 2})
		raw, err := (&pmetric.JSONMarshaler{}).MarshalMetrics(md)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		md, err := (&pmetric.JSONUnmarshaler{}).UnmarshalMetrics(data)
		if err != nil {
			return
		}
		cfg := createDefaultConfig().(*Config)
		cfg.MaxSeriesPerJob = 8
		cfg.ExponentialMaxSize = 4
		sink := new(consumertest.MetricsSink)
		now := time.Unix(0, 1)
		p, err := newFleetProcessor(processortest.NewNopSettings(metadata.Type), cfg, sink, func() time.Time { return now })
		if err != nil {
			t.Fatal(err)
		}
		_ = p.ConsumeMetrics(context.Background(), md)
		now = now.Add(time.Second)
		_ = p.ConsumeMetrics(context.Background(), md)
		if err := p.flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, out := range sink.AllMetrics() {
			for _, rm := range out.ResourceMetrics().All() {
				for _, sm := range rm.ScopeMetrics().All() {
					for _, m := range sm.Metrics().All() {
						if m.Type() == pmetric.MetricTypeSum && m.Sum().IsMonotonic() {
							for _, dp := range m.Sum().DataPoints().All() {
								if v := dp.DoubleValue(); v < 0 || v != v {
									t.Fatalf("monotonic sum %s went to %v", m.Name(), v)
								}
							}
						}
					}
				}
			}
		}
	})
}
