// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package series

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func TestPointCount(t *testing.T) {
	ms := pmetric.NewMetricSlice()
	ms.AppendEmpty().SetEmptyGauge().DataPoints().AppendEmpty()
	sum := ms.AppendEmpty().SetEmptySum().DataPoints()
	sum.AppendEmpty()
	sum.AppendEmpty()
	for range 3 {
		ms.AppendEmpty().SetEmptyHistogram().DataPoints().AppendEmpty()
	}
	exp := ms.AppendEmpty().SetEmptyExponentialHistogram().DataPoints()
	for range 4 {
		exp.AppendEmpty()
	}
	summary := ms.AppendEmpty().SetEmptySummary().DataPoints()
	for range 5 {
		summary.AppendEmpty()
	}
	ms.AppendEmpty() // no type: no points
	var got []int
	for i := range ms.Len() {
		got = append(got, PointCount(ms.At(i)))
	}
	assert.Equal(t, []int{1, 2, 1, 1, 1, 4, 5, 0}, got)
}
