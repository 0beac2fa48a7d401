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
)

// OTLP/JSON (ExportMetricsServiceRequest) written with encoding/json: the extension links
// neither pdata nor protobuf, for its size. 64-bit integers are strings and non-finite
// doubles are "NaN"/"Infinity"/"-Infinity", as the protobuf JSON mapping requires.

// ScopeName is the instrumentation scope of forwarded pushes.
const ScopeName = "otelcol-lambda-extension/pushgateway"

const temporalityCumulative = 2

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
	Summary     *summary   `json:"summary,omitempty"`
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

type summary struct {
	DataPoints []summaryPoint `json:"dataPoints"`
}

type numberPoint struct {
	Attributes        []KeyValue `json:"attributes,omitempty"`
	StartTimeUnixNano uint64     `json:"startTimeUnixNano,string"`
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

type summaryPoint struct {
	Attributes        []KeyValue      `json:"attributes,omitempty"`
	StartTimeUnixNano uint64          `json:"startTimeUnixNano,string"`
	TimeUnixNano      uint64          `json:"timeUnixNano,string"`
	Count             uint64          `json:"count,string"`
	Sum               double          `json:"sum"`
	QuantileValues    []quantileValue `json:"quantileValues"`
}

type quantileValue struct {
	Quantile double `json:"quantile"`
	Value    double `json:"value"`
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

// Encode builds the OTLP/JSON request for groups that changed; it returns nil when none
// did. resourceAttrs describe the sandbox; each group adds service.name = its job. The
// returned ack marks what was encoded as sent (unless pushed again meanwhile).
func (s *Store) Encode(resourceAttrs []KeyValue) ([]byte, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var dirty []*group
	for _, g := range s.groups {
		if g.dirty {
			dirty = append(dirty, g)
		}
	}
	if len(dirty) == 0 {
		return nil, nil
	}
	sort.Slice(dirty, func(a, b int) bool { return dirty[a].key < dirty[b].key })
	req := exportRequest{ResourceMetrics: make([]resourceMetrics, 0, len(dirty))}
	versions := make(map[*group]uint64, len(dirty))
	for _, g := range dirty {
		versions[g] = g.version
		attrs := append(append([]KeyValue(nil), resourceAttrs...), StringAttr("service.name", g.job))
		req.ResourceMetrics = append(req.ResourceMetrics, resourceMetrics{
			Resource:     resource{Attributes: attrs},
			ScopeMetrics: []scopeMetrics{{Scope: scope{Name: ScopeName}, Metrics: s.groupMetricsLocked(g)}},
		})
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, nil // every value is encodable; an error here is a bug the tests catch
	}
	return body, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for g, v := range versions {
			if s.groups[g.key] == g && g.version == v {
				g.dirty = false
			}
		}
	}
}

func (s *Store) groupMetricsLocked(g *group) []metric {
	names := make([]string, 0, len(g.families))
	for name := range g.families {
		names = append(names, name)
	}
	sort.Strings(names)
	ts := unixNano(g.pushed)
	var out []metric
	for _, name := range names {
		f := g.families[name]
		m := metric{Name: f.Name, Description: f.Help}
		for _, pm := range f.Metrics {
			attrs := make([]KeyValue, 0, len(g.labels)+len(pm.Labels))
			for _, l := range g.labels {
				attrs = append(attrs, StringAttr(l.Name, l.Value))
			}
			for _, l := range pm.Labels {
				if l.Name == "job" {
					continue // it is the resource's service.name
				}
				if _, inKey := findLabel(g.labels, l.Name); !inKey {
					attrs = append(attrs, StringAttr(l.Name, l.Value))
				}
			}
			start := unixNano(s.firstSeen[seriesKey(g.key, f.Name, pm.Labels)])
			switch f.Type {
			case promtext.Counter:
				if m.Sum == nil {
					m.Sum = &sum{AggregationTemporality: temporalityCumulative, IsMonotonic: true}
				}
				m.Sum.DataPoints = append(m.Sum.DataPoints, numberPoint{attrs, start, ts, double(pm.Value)})
			case promtext.Histogram:
				if m.Histogram == nil {
					m.Histogram = &histogram{AggregationTemporality: temporalityCumulative}
				}
				m.Histogram.DataPoints = append(m.Histogram.DataPoints, histogramPointOf(pm, attrs, start, ts))
			case promtext.Summary:
				if m.Summary == nil {
					m.Summary = &summary{}
				}
				p := summaryPoint{Attributes: attrs, StartTimeUnixNano: start, TimeUnixNano: ts, Count: toCount(pm.Count), Sum: double(pm.Sum)}
				for _, q := range pm.Quantiles {
					p.QuantileValues = append(p.QuantileValues, quantileValue{double(q.Quantile), double(q.Value)})
				}
				m.Summary.DataPoints = append(m.Summary.DataPoints, p)
			default: // gauge, untyped
				if m.Gauge == nil {
					m.Gauge = &gauge{}
				}
				m.Gauge.DataPoints = append(m.Gauge.DataPoints, numberPoint{attrs, 0, ts, double(pm.Value)})
			}
		}
		out = append(out, m)
	}
	return out
}

// histogramPointOf turns cumulative text-format buckets into OTLP's per-bucket counts.
func histogramPointOf(pm promtext.Metric, attrs []KeyValue, start, ts uint64) histogramPoint {
	p := histogramPoint{Attributes: attrs, StartTimeUnixNano: start, TimeUnixNano: ts, ExplicitBounds: []double{}, BucketCounts: []string{}}
	var prev float64
	for _, b := range pm.Buckets {
		if math.IsInf(b.UpperBound, 1) {
			continue
		}
		p.ExplicitBounds = append(p.ExplicitBounds, double(b.UpperBound))
		p.BucketCounts = append(p.BucketCounts, strconv.FormatUint(toCount(b.CumulativeCount-prev), 10))
		prev = b.CumulativeCount
	}
	total := pm.Count
	if !pm.HasCount && len(pm.Buckets) > 0 {
		total = pm.Buckets[len(pm.Buckets)-1].CumulativeCount
	}
	p.Count = toCount(total)
	p.BucketCounts = append(p.BucketCounts, strconv.FormatUint(toCount(total-prev), 10))
	if pm.HasSum {
		v := double(pm.Sum)
		p.Sum = &v
	}
	return p
}

func findLabel(labels []promtext.Label, name string) (string, bool) {
	for _, l := range labels {
		if l.Name == name {
			return l.Value, true
		}
	}
	return "", false
}
