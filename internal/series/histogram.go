// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package series is the one store of cumulative output series: the lambda_metrics
// connector's derived metrics and the lambda_fleet_metrics processor's fleet series of what
// functions emit. It holds histogram accumulators and the bounded store of series with the
// output contract: a stable start time, a zero point before a new counter's first value,
// cardinality limits with an overflow series, and idle expiry. Nothing in it is safe for
// concurrent use; its owners serialise access.
package series // import "github.com/otelcol-lambda/otelcol-lambda/internal/series"

import (
	"errors"
	"math"
	"slices"
	"sort"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Exemplar is one sampled measurement with the span it came from.
type Exemplar struct {
	TraceID pcommon.TraceID
	SpanID  pcommon.SpanID
	Value   float64
	Time    pcommon.Timestamp
}

// HistogramConfig describes the buckets of one histogram metric.
type HistogramConfig struct {
	// Bounds are the explicit upper bounds, ascending. Ignored when Exponential is set.
	Bounds []float64
	// Exponential selects a base-2 exponential histogram of at most MaxSize buckets.
	Exponential bool
	MaxSize     int32
	// Exemplars keeps, per bucket, the last exemplar of the flush interval.
	Exemplars bool
}

// Histogram accumulates measurements, explicit or exponential. The zero value is not usable;
// use NewHistogram.
type Histogram struct {
	cfg       *HistogramConfig
	count     uint64
	sum       float64
	min, max  float64
	counts    []uint64 // explicit: len(Bounds)+1
	exp       expo
	exemplars []Exemplar // explicit: one slot per bucket; exponential: one slot
	hasEx     []bool
}

// NewHistogram returns an empty histogram for cfg.
func NewHistogram(cfg *HistogramConfig) *Histogram {
	h := &Histogram{cfg: cfg, min: math.Inf(1), max: math.Inf(-1)}
	slots := 1
	if !cfg.Exponential {
		h.counts = make([]uint64, len(cfg.Bounds)+1)
		slots = len(h.counts)
	} else {
		h.exp.reset()
	}
	if cfg.Exemplars {
		h.exemplars = make([]Exemplar, slots)
		h.hasEx = make([]bool, slots)
	}
	return h
}

// Count is the number of measurements recorded.
func (h *Histogram) Count() uint64 { return h.count }

// Sum is the sum of the measurements recorded.
func (h *Histogram) Sum() float64 { return h.sum }

// Record adds one measurement.
func (h *Histogram) Record(v float64) {
	h.count++
	h.sum += v
	h.min = math.Min(h.min, v)
	h.max = math.Max(h.max, v)
	if h.cfg.Exponential {
		h.exp.record(v, h.cfg.MaxSize)
		return
	}
	h.counts[bucketOf(h.cfg.Bounds, v)]++
}

// RecordWithExemplar adds one measurement and keeps it as its bucket's exemplar.
func (h *Histogram) RecordWithExemplar(v float64, ex Exemplar) {
	h.Record(v)
	if h.exemplars == nil {
		return
	}
	slot := 0
	if !h.cfg.Exponential {
		slot = bucketOf(h.cfg.Bounds, v)
	}
	h.exemplars[slot] = ex
	h.hasEx[slot] = true
}

// bucketOf returns the index of the bucket holding v: bounds are inclusive upper bounds, as in
// OTLP (and Prometheus' le).
func bucketOf(bounds []float64, v float64) int {
	if len(bounds) <= 16 {
		for i, b := range bounds {
			if v <= b {
				return i
			}
		}
		return len(bounds)
	}
	return sort.SearchFloat64s(bounds, v)
}

// Merge adds o's measurements (and exemplars) into h. Both must share one configuration.
func (h *Histogram) Merge(o *Histogram) {
	if o.count == 0 {
		return
	}
	h.count += o.count
	h.sum += o.sum
	h.min = math.Min(h.min, o.min)
	h.max = math.Max(h.max, o.max)
	if h.cfg.Exponential {
		h.exp.merge(&o.exp, h.cfg.MaxSize)
	} else {
		for i, c := range o.counts {
			h.counts[i] += c
		}
	}
	for i, ok := range o.hasEx {
		if ok {
			h.exemplars[i] = o.exemplars[i]
			h.hasEx[i] = true
		}
	}
}

// ErrBoundsMismatch says that explicit buckets cannot be added exactly into a histogram:
// its bounds are not all among theirs.
var ErrBoundsMismatch = errors.New("they cannot be added exactly to the series' buckets, which need every one of the bounds")

// ErrNegativeBuckets says that an exponential histogram has negative buckets, which the
// store does not keep.
var ErrNegativeBuckets = errors.New("exponential histograms with negative buckets are not supported")

// Bounds returns the explicit bucket bounds.
func (h *Histogram) Bounds() []float64 { return h.cfg.Bounds }

// AddExplicit adds counts already bucketed by bounds (len(bounds)+1 counts, the last one
// above every bound) and their sum. Equal bounds add bucket by bucket; finer bounds that
// include every bound of h are folded exactly into h's buckets; anything else is
// ErrBoundsMismatch and adds nothing.
func (h *Histogram) AddExplicit(bounds []float64, counts []uint64, sum float64) error {
	if h.cfg.Exponential || len(counts) != len(bounds)+1 {
		return ErrBoundsMismatch
	}
	same := slices.Equal(bounds, h.cfg.Bounds)
	if !same {
		for _, b := range h.cfg.Bounds {
			if _, found := slices.BinarySearch(bounds, b); !found {
				return ErrBoundsMismatch
			}
		}
	}
	var n uint64
	for i, c := range counts {
		n += c
		switch {
		case same:
			h.counts[i] += c
		case i == len(bounds):
			h.counts[len(h.counts)-1] += c
		default:
			// Every bound of h is one of bounds, so (bounds[i-1], bounds[i]] lies wholly in
			// the bucket of h whose upper bound is the first at or above bounds[i].
			h.counts[bucketOf(h.cfg.Bounds, bounds[i])] += c
		}
	}
	h.count += n
	h.sum += sum
	return nil
}

// AddExponential adds positive exponential buckets (scale, offset, counts), the zero
// bucket and their sum, downscaling as needed to stay within the configured size.
func (h *Histogram) AddExponential(scale int32, zero uint64, offset int32, counts []uint64, sum float64) {
	n := zero
	for _, c := range counts {
		n += c
	}
	h.count += n
	h.sum += sum
	h.exp.merge(&expo{scale: scale, zero: zero, offset: offset, counts: counts}, h.cfg.MaxSize)
}

// ClearExemplars forgets the exemplars, after they were exported once.
func (h *Histogram) ClearExemplars() {
	clear(h.hasEx)
}

func (h *Histogram) appendExemplars(exs pmetric.ExemplarSlice) {
	for i, ok := range h.hasEx {
		if !ok {
			continue
		}
		e := h.exemplars[i]
		pe := exs.AppendEmpty()
		pe.SetTraceID(e.TraceID)
		pe.SetSpanID(e.SpanID)
		pe.SetDoubleValue(e.Value)
		pe.SetTimestamp(e.Time)
	}
}

// copyToExplicit writes the histogram into an OTLP data point.
func (h *Histogram) copyToExplicit(dp pmetric.HistogramDataPoint, zero bool) {
	dp.ExplicitBounds().FromRaw(h.cfg.Bounds)
	if zero {
		dp.BucketCounts().FromRaw(make([]uint64, len(h.counts)))
		// An explicit sum of 0: without it remote write leaves the _sum series without its
		// zero sample, and a restarted replica's reset of _sum can go unseen.
		dp.SetSum(0)
		return
	}
	dp.BucketCounts().FromRaw(h.counts)
	dp.SetCount(h.count)
	dp.SetSum(h.sum)
	h.setMinMax(dp)
	h.appendExemplars(dp.Exemplars())
}

// setMinMax writes min and max when they are known: histograms built from bucket counts
// (AddExplicit, AddExponential) have none.
func (h *Histogram) setMinMax(dp interface {
	SetMin(float64)
	SetMax(float64)
}) {
	if h.count > 0 && !math.IsInf(h.min, 0) && !math.IsInf(h.max, 0) {
		dp.SetMin(h.min)
		dp.SetMax(h.max)
	}
}

func (h *Histogram) copyToExponential(dp pmetric.ExponentialHistogramDataPoint, zero bool) {
	dp.SetScale(h.exp.scale)
	if zero {
		dp.SetSum(0) // as for explicit buckets
		return
	}
	dp.SetCount(h.count)
	dp.SetSum(h.sum)
	h.setMinMax(dp)
	dp.SetZeroCount(h.exp.zero)
	dp.Positive().SetOffset(h.exp.offset)
	dp.Positive().BucketCounts().FromRaw(h.exp.counts)
	h.appendExemplars(dp.Exemplars())
}
