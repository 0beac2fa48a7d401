// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package series // import "github.com/otelcol-lambda/otelcol-lambda/internal/series"

import "go.opentelemetry.io/collector/pdata/pmetric"

// PointCount is the number of data points of m, whatever its type: what a component counts
// as taken or skipped when it takes or skips a whole metric.
func PointCount(m pmetric.Metric) int {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		return m.Summary().DataPoints().Len()
	}
	return 0
}
