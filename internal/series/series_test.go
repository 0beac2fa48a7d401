// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package series

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func TestExplicitBuckets(t *testing.T) {
	cfg := &HistogramConfig{Bounds: []float64{1, 2, 5}}
	h := NewHistogram(cfg)
	for _, v := range []float64{0.5, 1, 1.5, 5, 7} {
		h.Record(v)
	}
	assert.Equal(t, []uint64{2, 1, 1, 1}, h.counts, "bounds are inclusive upper bounds")
	o := NewHistogram(cfg)
	o.Record(3)
	h.Merge(o)
	assert.Equal(t, []uint64{2, 1, 2, 1}, h.counts)
	assert.Equal(t, uint64(6), h.Count())
	assert.Equal(t, 18.0, h.Sum())
}

func TestExponentialStaysWithinMaxSizeAndMerges(t *testing.T) {
	cfg := &HistogramConfig{Exponential: true, MaxSize: 16}
	a, b := NewHistogram(cfg), NewHistogram(cfg)
	for v := 0.001; v < 900; v *= 1.3 {
		a.Record(v)
	}
	b.Record(0)
	b.Record(1e6)
	require.LessOrEqual(t, len(a.exp.counts), 16)
	a.Merge(b)
	require.LessOrEqual(t, len(a.exp.counts), 16)
	var n uint64
	for _, c := range a.exp.counts {
		n += c
	}
	assert.Equal(t, a.Count(), n+a.exp.zero)
	// Every value lies in the bucket its index names.
	base := math.Pow(2, math.Pow(2, -float64(a.exp.scale)))
	lo := math.Pow(base, float64(a.exp.offset))
	hi := math.Pow(base, float64(a.exp.offset+int32(len(a.exp.counts))))
	assert.Less(t, lo, 0.001)
	assert.GreaterOrEqual(t, hi, 1e6)
}

func TestMetricLimitOverflowAndExpiry(t *testing.T) {
	now := pcommon.NewTimestampFromTime(time.Unix(1000, 0))
	m := NewMetric(Desc{Name: "x", Kind: KindSum}, 2)
	fill := func(v string) func(pcommon.Map) { return func(a pcommon.Map) { a.PutStr("k", v) } }
	m.Get([]byte("a"), now-5, now, fill("a")).Int++
	m.Get([]byte("b"), now-5, now, fill("b")).Int++
	over := m.Get([]byte("c"), now-5, now, fill("c"))
	over.Int++
	assert.Same(t, over, m.Get([]byte("d"), now, now, fill("d")))
	assert.Equal(t, 3, m.Len())

	ms := pmetric.NewMetricSlice()
	m.AppendTo(ms, now)
	dps := ms.At(0).Sum().DataPoints()
	require.Equal(t, 6, dps.Len(), "each new series: a zero point at its start, then its value")
	for i := 0; i < dps.Len(); i += 2 {
		assert.Equal(t, int64(0), dps.At(i).IntValue())
		assert.Equal(t, dps.At(i).StartTimestamp(), dps.At(i).Timestamp())
		assert.Less(t, dps.At(i).Timestamp(), now, "the zero point precedes the value by at least a millisecond")
		assert.Equal(t, int64(1), dps.At(i+1).IntValue())
	}
	ms = pmetric.NewMetricSlice()
	m.AppendTo(ms, now+1)
	assert.Equal(t, 3, ms.At(0).Sum().DataPoints().Len(), "the zero point is sent once")

	m.Get([]byte("a"), now, now, fill("a")).Touch(now + 10)
	m.Expire(now + 5)
	assert.Equal(t, 1, m.Len())
}

// TestHistogramZeroPointHasASum checks that a new histogram series' zero point carries a sum
// of 0, not none: remote write writes a _sum sample only when the point has a sum, and the
// zero sample is what shows a restarted replica's reset.
func TestHistogramZeroPointHasASum(t *testing.T) {
	now := pcommon.NewTimestampFromTime(time.Unix(1000, 0))
	for _, exponential := range []bool{false, true} {
		cfg := &HistogramConfig{Bounds: []float64{0.1, 1}, Exponential: exponential, MaxSize: 160}
		m := NewMetric(Desc{Name: "h", Kind: KindHistogram, Histogram: cfg}, 10)
		m.Get([]byte("a"), now-5, now, func(pcommon.Map) {}).Hist.Record(0.25)
		ms := pmetric.NewMetricSlice()
		m.AppendTo(ms, now)
		if exponential {
			dps := ms.At(0).ExponentialHistogram().DataPoints()
			require.Equal(t, 2, dps.Len())
			assert.True(t, dps.At(0).HasSum())
			assert.Zero(t, dps.At(0).Sum())
			assert.Zero(t, dps.At(0).Count())
			assert.Equal(t, 0.25, dps.At(1).Sum())
			continue
		}
		dps := ms.At(0).Histogram().DataPoints()
		require.Equal(t, 2, dps.Len())
		assert.True(t, dps.At(0).HasSum())
		assert.Zero(t, dps.At(0).Sum())
		assert.Zero(t, dps.At(0).Count())
		assert.Equal(t, 0.25, dps.At(1).Sum())
	}
}

// TestAddExponentialStaysWithinMaxSize: buckets added from outside (an SDK's histogram)
// are merged down to the configured size, also into an empty histogram.
func TestAddExponentialStaysWithinMaxSize(t *testing.T) {
	h := NewHistogram(&HistogramConfig{Exponential: true, MaxSize: 4})
	h.AddExponential(3, 1, 0, []uint64{1, 1, 1, 1, 1, 1, 1, 1}, 20)
	assert.LessOrEqual(t, len(h.exp.counts), 4)
	h.AddExponential(1, 0, 0, []uint64{1, 1}, 1)
	assert.LessOrEqual(t, len(h.exp.counts), 4)
	var n uint64
	for _, c := range h.exp.counts {
		n += c
	}
	assert.Equal(t, uint64(10), n)
	assert.Equal(t, uint64(11), h.Count())
}

// TestAddExponentialFarApart: buckets at the two ends of float64's range at scale 20 are
// 2^31 indexes apart; merging them must downscale, not overflow.
func TestAddExponentialFarApart(t *testing.T) {
	h := NewHistogram(&HistogramConfig{Exponential: true, MaxSize: 160})
	h.AddExponential(20, 0, -1127219200, []uint64{1}, 1)
	h.AddExponential(20, 0, 1127219200, []uint64{1}, 1)
	assert.LessOrEqual(t, len(h.exp.counts), 160)
	assert.Equal(t, uint64(2), h.Count())
}
