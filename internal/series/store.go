// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package series // import "github.com/otelcol-lambda/otelcol-lambda/internal/series"

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// AttrOverflow marks the one series per metric that takes what the cardinality limit turned
// away, as the OpenTelemetry metrics SDK does.
const AttrOverflow = "otel.metric.overflow"

// Kind is the kind of a metric.
type Kind int

// The kinds of metric the connector writes.
const (
	// KindSum is a cumulative sum: monotonic unless Desc.NonMonotonic.
	KindSum Kind = iota
	// KindGauge is a last-value gauge.
	KindGauge
	// KindHistogram is a cumulative histogram, explicit or exponential.
	KindHistogram
)

// Desc describes one metric.
type Desc struct {
	Name        string
	Description string
	Unit        string
	Kind        Kind
	// Float makes sums and gauges double-valued; otherwise they are ints.
	Float bool
	// NonMonotonic marks a KindSum that is a level (an up-down counter): it may go down, and
	// it gets no zero point, which would be a false dip to 0.
	NonMonotonic bool
	// IntScale, when not zero, exports a sum or gauge accumulated as an int (exact) as the
	// double Int*IntScale (billed milliseconds as seconds).
	IntScale float64
	// Histogram configures a KindHistogram metric. Nil leaves each series' Hist to its
	// owner (bounds that come with the data); the metric is then explicit.
	Histogram *HistogramConfig
}

// Series is one cumulative series: a metric and one set of attributes.
type Series struct {
	attrs    pcommon.Map
	start    pcommon.Timestamp
	updated  pcommon.Timestamp
	exported bool

	Int   int64
	Float float64
	Hist  *Histogram
	// State is what the series' owner keeps beside the value (per-sandbox gauge values);
	// it goes when the series expires.
	State any
}

// Touch records that the series changed at now, which keeps it from expiring.
func (s *Series) Touch(now pcommon.Timestamp) { s.updated = now }

// Metric is the set of series of one metric, bounded by a cardinality limit.
type Metric struct {
	desc     Desc
	limit    int
	series   map[string]*Series
	overflow *Series
}

// NewMetric returns an empty metric holding at most limit series plus the overflow series.
func NewMetric(desc Desc, limit int) *Metric {
	return &Metric{desc: desc, limit: limit, series: make(map[string]*Series)}
}

// Len is the number of series held, the overflow series included.
func (m *Metric) Len() int {
	if m.overflow != nil {
		return len(m.series) + 1
	}
	return len(m.series)
}

// Lookup returns the series for key, or nil.
func (m *Metric) Lookup(key []byte) *Series { return m.series[string(key)] }

// Get returns the series for key. A new series starts at start (at the latest one millisecond
// before now, so that its initial zero sample precedes its first value in Prometheus) with the
// attributes fill writes. Past the limit, new keys get the overflow series.
func (m *Metric) Get(key []byte, start, now pcommon.Timestamp, fill func(pcommon.Map)) *Series {
	if s, ok := m.series[string(key)]; ok {
		return s
	}
	if len(m.series) >= m.limit {
		return m.Overflow(start, now)
	}
	s := m.newSeries(start, now)
	fill(s.attrs)
	m.series[string(key)] = s
	return s
}

// HasOverflow says whether the overflow series exists.
func (m *Metric) HasOverflow() bool { return m.overflow != nil }

// Overflow returns the overflow series, creating it when needed.
func (m *Metric) Overflow(start, now pcommon.Timestamp) *Series {
	if m.overflow == nil {
		m.overflow = m.newSeries(start, now)
		m.overflow.attrs.PutBool(AttrOverflow, true)
	}
	return m.overflow
}

func (m *Metric) newSeries(start, now pcommon.Timestamp) *Series {
	if latest := now - pcommon.Timestamp(time.Millisecond); start > latest || start == 0 {
		start = latest
	}
	s := &Series{attrs: pcommon.NewMap(), start: start, updated: now}
	if m.desc.Kind == KindHistogram && m.desc.Histogram != nil {
		s.Hist = NewHistogram(m.desc.Histogram)
	}
	return s
}

// Expire forgets the series not touched since cutoff: they are no longer exported. It
// returns how many it forgot, not counting the overflow series.
func (m *Metric) Expire(cutoff pcommon.Timestamp) int {
	n := 0
	for k, s := range m.series {
		if s.updated < cutoff {
			delete(m.series, k)
			n++
		}
	}
	if m.overflow != nil && m.overflow.updated < cutoff {
		m.overflow = nil
	}
	return n
}

// Range calls f for every series, the overflow series included.
func (m *Metric) Range(f func(*Series)) {
	for _, s := range m.series {
		f(s)
	}
	if m.overflow != nil {
		f(m.overflow)
	}
}

// AppendTo writes every series as of now into ms. A series exported for the first time (not a
// gauge) is preceded by a zero point at its start time, so that rate() and increase() see its
// first increment.
func (m *Metric) AppendTo(ms pmetric.MetricSlice, now pcommon.Timestamp) {
	if m.Len() == 0 {
		return
	}
	out := ms.AppendEmpty()
	out.SetName(m.desc.Name)
	out.SetDescription(m.desc.Description)
	out.SetUnit(m.desc.Unit)
	switch m.desc.Kind {
	case KindSum:
		sum := out.SetEmptySum()
		sum.SetIsMonotonic(!m.desc.NonMonotonic)
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		m.each(func(s *Series) {
			if !s.exported && !m.desc.NonMonotonic {
				m.numberPoint(sum.DataPoints().AppendEmpty(), s, s.start, true)
			}
			m.numberPoint(sum.DataPoints().AppendEmpty(), s, now, false)
		})
	case KindGauge:
		g := out.SetEmptyGauge()
		m.each(func(s *Series) { m.numberPoint(g.DataPoints().AppendEmpty(), s, now, false) })
	case KindHistogram:
		if m.desc.Histogram != nil && m.desc.Histogram.Exponential {
			h := out.SetEmptyExponentialHistogram()
			h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			appendHistogramPoints(m, now, h.DataPoints().AppendEmpty, (*Histogram).copyToExponential)
			return
		}
		h := out.SetEmptyHistogram()
		h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		appendHistogramPoints(m, now, h.DataPoints().AppendEmpty, (*Histogram).copyToExplicit)
	}
}

func (m *Metric) each(f func(*Series)) {
	for _, s := range m.series {
		f(s)
		s.exported = true
	}
	if m.overflow != nil {
		f(m.overflow)
		m.overflow.exported = true
	}
}

func (m *Metric) numberPoint(dp pmetric.NumberDataPoint, s *Series, ts pcommon.Timestamp, zero bool) {
	s.attrs.CopyTo(dp.Attributes())
	if m.desc.Kind == KindSum {
		dp.SetStartTimestamp(s.start)
	}
	dp.SetTimestamp(ts)
	switch {
	case m.desc.IntScale != 0:
		if zero {
			dp.SetDoubleValue(0)
		} else {
			dp.SetDoubleValue(float64(s.Int) * m.desc.IntScale)
		}
	case m.desc.Float:
		if zero {
			dp.SetDoubleValue(0)
		} else {
			dp.SetDoubleValue(s.Float)
		}
	default:
		if zero {
			dp.SetIntValue(0)
		} else {
			dp.SetIntValue(s.Int)
		}
	}
}

// histogramPoint is what explicit and exponential histogram data points have in common.
type histogramPoint interface {
	Attributes() pcommon.Map
	SetStartTimestamp(pcommon.Timestamp)
	SetTimestamp(pcommon.Timestamp)
}

// appendHistogramPoints writes each series' histogram as of now, preceded by a zero point
// at its start when it is exported for the first time.
func appendHistogramPoints[DP histogramPoint](m *Metric, now pcommon.Timestamp, appendPoint func() DP, copyTo func(*Histogram, DP, bool)) {
	m.each(func(s *Series) {
		if s.Hist == nil {
			return // its owner never gave it data
		}
		if !s.exported {
			dp := appendPoint()
			s.attrs.CopyTo(dp.Attributes())
			dp.SetStartTimestamp(s.start)
			dp.SetTimestamp(s.start)
			copyTo(s.Hist, dp, true)
		}
		dp := appendPoint()
		s.attrs.CopyTo(dp.Attributes())
		dp.SetStartTimestamp(s.start)
		dp.SetTimestamp(now)
		copyTo(s.Hist, dp, false)
		s.Hist.ClearExemplars()
	})
}
