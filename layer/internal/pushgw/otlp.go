// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package pushgw // import "github.com/otelcol-lambda/otelcol-lambda/layer/internal/pushgw"

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/internal/promtext"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
)

// OTLP/JSON (ExportMetricsServiceRequest) written with encoding/json: the extension links
// neither pdata nor protobuf, for its size. 64-bit integers are strings and non-finite
// doubles are "NaN"/"Infinity"/"-Infinity", as the protobuf JSON mapping requires.

// ScopeName is the instrumentation scope of forwarded pushes.
const ScopeName = wire.PushgatewayScope

// temporalityDelta is OTLP's AGGREGATION_TEMPORALITY_DELTA.
const temporalityDelta = 1

type exportRequest struct {
	ResourceMetrics []resourceMetrics `json:"resourceMetrics"`
}

type resourceMetrics struct {
	Resource     resource       `json:"resource"`
	ScopeMetrics []scopeMetrics `json:"scopeMetrics"`
}

type resource struct {
	Attributes []KeyValue `json:"attributes"`
}

type scopeMetrics struct {
	Scope   scope    `json:"scope"`
	Metrics []metric `json:"metrics"`
}

type scope struct {
	Name string `json:"name"`
}

// KeyValue is an OTLP string attribute.
type KeyValue struct {
	Key   string   `json:"key"`
	Value anyValue `json:"value"`
}

type anyValue struct {
	StringValue *string `json:"stringValue,omitempty"`
	IntValue    *string `json:"intValue,omitempty"` // int64 as a string, per the JSON mapping
}

// StringAttr returns a string attribute.
func StringAttr(k, v string) KeyValue { return KeyValue{Key: k, Value: anyValue{StringValue: &v}} }

// IntAttr returns an integer attribute.
func IntAttr(k string, v int64) KeyValue {
	s := strconv.FormatInt(v, 10)
	return KeyValue{Key: k, Value: anyValue{IntValue: &s}}
}

type metric struct {
	Name        string     `json:"name"`
	Description string     `json:"description,omitempty"`
	Sum         *sum       `json:"sum,omitempty"`
	Gauge       *gauge     `json:"gauge,omitempty"`
	Histogram   *histogram `json:"histogram,omitempty"`
}

type sum struct {
	DataPoints             []numberPoint `json:"dataPoints"`
	AggregationTemporality int           `json:"aggregationTemporality"`
	IsMonotonic            bool          `json:"isMonotonic"`
}

type gauge struct {
	DataPoints []numberPoint `json:"dataPoints"`
}

type histogram struct {
	DataPoints             []histogramPoint `json:"dataPoints"`
	AggregationTemporality int              `json:"aggregationTemporality"`
}

type numberPoint struct {
	Attributes        []KeyValue `json:"attributes,omitempty"`
	StartTimeUnixNano uint64     `json:"startTimeUnixNano,string,omitempty"`
	TimeUnixNano      uint64     `json:"timeUnixNano,string"`
	AsDouble          double     `json:"asDouble"`
}

type histogramPoint struct {
	Attributes        []KeyValue `json:"attributes,omitempty"`
	StartTimeUnixNano uint64     `json:"startTimeUnixNano,string"`
	TimeUnixNano      uint64     `json:"timeUnixNano,string"`
	Count             uint64     `json:"count,string"`
	Sum               *double    `json:"sum,omitempty"`
	BucketCounts      []string   `json:"bucketCounts"`
	ExplicitBounds    []double   `json:"explicitBounds"`
}

// double encodes non-finite values as the protobuf JSON mapping does.
type double float64

func (d double) MarshalJSON() ([]byte, error) {
	f := float64(d)
	switch {
	case math.IsNaN(f):
		return []byte(`"NaN"`), nil
	case math.IsInf(f, 1):
		return []byte(`"Infinity"`), nil
	case math.IsInf(f, -1):
		return []byte(`"-Infinity"`), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

func toCount(f float64) uint64 {
	if !(f > 0) || math.IsInf(f, 1) {
		return 0
	}
	return uint64(math.Round(f))
}

func unixNano(t time.Time) uint64 { return uint64(max(t.UnixNano(), 0)) }

// Collect hands over what the store owes the gateway: one OTLP/JSON request with the
// increments of the counters, histograms and summaries pushed since the last collect
// (temporality delta, from the last collect to now) and the newest value of their gauges;
// nil when nothing was pushed. What it returns is no longer owed: the caller keeps the
// request until the gateway accepts it. resourceAttrs describe the sandbox; each job adds
// service.name = the job.
func (s *Store) Collect(resourceAttrs []KeyValue) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var touched []*series
	for _, st := range s.series {
		if st.touched {
			touched = append(touched, st)
		}
	}
	if len(touched) == 0 {
		return nil
	}
	sort.Slice(touched, func(a, b int) bool {
		x, y := touched[a], touched[b]
		if x.job != y.job {
			return x.job < y.job
		}
		if x.family != y.family {
			return x.family < y.family
		}
		return x.labelKey < y.labelKey
	})
	now := s.now()
	req := exportRequest{}
	var m *metric
	for i, st := range touched {
		if i == 0 || st.job != touched[i-1].job {
			attrs := append(append([]KeyValue(nil), resourceAttrs...), StringAttr("service.name", st.job))
			req.ResourceMetrics = append(req.ResourceMetrics, resourceMetrics{
				Resource:     resource{Attributes: attrs},
				ScopeMetrics: []scopeMetrics{{Scope: scope{Name: ScopeName}}},
			})
			m = nil
		}
		sm := &req.ResourceMetrics[len(req.ResourceMetrics)-1].ScopeMetrics[0]
		if m == nil || m.Name != st.family {
			sm.Metrics = append(sm.Metrics, metric{Name: st.family, Description: st.help})
			m = &sm.Metrics[len(sm.Metrics)-1]
		}
		st.appendPoint(m, now)
		st.owed = owed{bounds: st.owed.bounds, buckets: zeroed(st.owed.buckets)}
		st.touched = false
		st.since = now
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil // every value is encodable; an error here is a bug the tests catch
	}
	return body
}

func zeroed(b []float64) []float64 {
	if b == nil {
		return nil
	}
	return make([]float64, len(b))
}

// appendPoint adds the series' point to m: what it owes, or a gauge's newest value.
func (st *series) appendPoint(m *metric, now time.Time) {
	attrs := make([]KeyValue, 0, len(st.group)+len(st.labels))
	for _, l := range st.group {
		attrs = append(attrs, StringAttr(l.Name, l.Value))
	}
	for _, l := range st.labels {
		if l.Name != "job" { // the resource's service.name
			attrs = append(attrs, StringAttr(l.Name, l.Value))
		}
	}
	start, ts := unixNano(st.since), unixNano(now)
	switch st.typ {
	case promtext.Counter:
		if m.Sum == nil {
			m.Sum = &sum{AggregationTemporality: temporalityDelta, IsMonotonic: true}
		}
		m.Sum.DataPoints = append(m.Sum.DataPoints, numberPoint{attrs, start, ts, double(st.owed.value)})
	case promtext.Histogram, promtext.Summary:
		// A summary's quantiles cannot be added across sandboxes; its count and sum can,
		// as a histogram without bounds.
		if m.Histogram == nil {
			m.Histogram = &histogram{AggregationTemporality: temporalityDelta}
		}
		p := histogramPoint{Attributes: attrs, StartTimeUnixNano: start, TimeUnixNano: ts, Count: toCount(st.owed.count),
			ExplicitBounds: make([]double, len(st.owed.bounds)), BucketCounts: make([]string, len(st.owed.buckets))}
		for i, b := range st.owed.bounds {
			p.ExplicitBounds[i] = double(b)
		}
		for i, c := range st.owed.buckets {
			p.BucketCounts[i] = strconv.FormatUint(toCount(c), 10)
		}
		sum := double(st.owed.sum)
		p.Sum = &sum
		m.Histogram.DataPoints = append(m.Histogram.DataPoints, p)
	default: // gauge, untyped
		if m.Gauge == nil {
			m.Gauge = &gauge{}
		}
		m.Gauge.DataPoints = append(m.Gauge.DataPoints, numberPoint{attrs, 0, unixNano(st.at), double(st.last.Value)})
	}
}
