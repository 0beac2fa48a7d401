// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package cloudwatch

import (
	"math"
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/otelcol-lambda/otelcol-lambda/internal/cloudwatch/cloudwatchtest"
	"github.com/otelcol-lambda/otelcol-lambda/internal/series"
)

// FuzzConvert feeds Convert any request that decodes: what the receiver hands it comes from
// the network. Convert must not panic, and must account for every summary data point.
func FuzzConvert(f *testing.F) {
	for _, md := range []pmetric.Metrics{
		cloudwatchtest.Metrics(cloudwatchtest.ExampleStream, point("AWS/Lambda", "IteratorAge", "Milliseconds", fn("a"), 1, 1, 1, 1)),
		cloudwatchtest.Metrics(cloudwatchtest.ExampleStream, point("AWS/SQS", "", "Count", nil, math.NaN(), 0, 1, 1)),
	} {
		b, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req := pmetricotlp.NewExportRequest()
		if req.UnmarshalProto(b) != nil {
			return
		}
		summaries, others := 0, 0
		for _, rm := range req.Metrics().ResourceMetrics().All() {
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					if m.Type() == pmetric.MetricTypeSummary {
						summaries += m.Summary().DataPoints().Len()
					} else {
						others += series.PointCount(m)
					}
				}
			}
		}
		out, stats := Convert(req.Metrics())
		if stats.DataPoints+stats.Skipped != summaries+others {
			t.Fatalf("%d converted and %d skipped of %d data points", stats.DataPoints, stats.Skipped, summaries+others)
		}
		if out.DataPointCount() != stats.Samples {
			t.Fatalf("%d samples counted, %d written", stats.Samples, out.DataPointCount())
		}
	})
}
