// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package rwsink is a validating Prometheus remote-write (v1) backend for the testbed: it
// decodes every write, keeps every sample of each series, and answers the questions a
// scenario or benchmark asks (a counter's total over its reset segments, summed over
// series; when a series first reached a value). It holds series in memory, so it is for
// bounded runs.
package rwsink // import "github.com/otelcol-lambda/otelcol-lambda/testbed/rwsink"

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/golang/snappy"
	"google.golang.org/protobuf/encoding/protowire"
)

// Series is one time series as last written.
type Series struct {
	Labels map[string]string
	// Value and Timestamp are of the newest sample received.
	Value     float64
	Timestamp time.Time
	// Samples counts the samples received for the series.
	Samples int
	// FirstSeen is when the sink first received the series.
	FirstSeen time.Time
	// Exemplars counts the exemplars received for the series.
	Exemplars int
	// Total is the series' value as a counter: the sum of the last value of each reset
	// segment (see [CounterTotal]); for a series that never reset, Value.
	Total float64
	// Resets counts the times the value went down: a gateway that restarted with the same
	// instance id.
	Resets int
	// History is every sample, in time order (in copies returned by Find).
	History []Point

	// points are the samples in time order, one per timestamp (a resent sample counts
	// once). Total and Resets are kept up to date as samples arrive in time order, the
	// usual case; a sample older than the newest makes them stale until recounted.
	points []Point
	stale  bool
}

// Point is one sample.
type Point struct {
	Timestamp int64 // ms
	Value     float64
}

// CounterTotal is what a counter counted over a run in which it may have reset: the last
// value of each reset segment (a segment ends where the next value is lower), summed. The
// points must be in time order. It is what a scenario compares with the ground truth,
// never increase(), which extrapolates.
func CounterTotal(points []Point) (total float64, resets int) {
	for i, p := range points {
		if i+1 == len(points) || points[i+1].Value < p.Value {
			total += p.Value
			if i+1 < len(points) {
				resets++
			}
		}
	}
	return total, resets
}

// Sink is an http.Handler that takes remote-write requests.
type Sink struct {
	mu     sync.Mutex
	series map[string]*Series
	// byName indexes the series by metric name: a scenario asks many questions about one
	// metric at a time while the gateways keep writing (which waits for mu).
	byName   map[string][]*Series
	requests int
	errors   int
	now      func() time.Time
}

// New returns an empty sink.
func New() *Sink {
	return &Sink{series: map[string]*Series{}, byName: map[string][]*Series{}, now: time.Now}
}

// ServeHTTP decodes one remote-write request; a body that does not decode gets a 400, as
// Prometheus answers.
func (s *Sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err == nil {
		err = s.Write(body)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Write takes one remote-write request body (snappy-compressed protobuf), as ServeHTTP
// does; it is for a front end that has read the body already.
func (s *Sink) Write(body []byte) error {
	body, err := snappy.Decode(nil, body)
	if err == nil {
		err = s.write(body)
	}
	s.mu.Lock()
	s.requests++
	if err != nil {
		s.errors++
	}
	s.mu.Unlock()
	return err
}

// Requests returns how many writes were received, and how many of them did not decode.
func (s *Sink) Requests() (total, failed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, s.errors
}

// Sum adds up the counter total (over reset segments) of every series named name whose
// labels match all of match (label name -> value).
func (s *Sink) Sum(name string, match map[string]string) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var total float64
	for _, ser := range s.byName[name] {
		if matches(ser.Labels, match) {
			ser.recount()
			total += ser.Total
		}
	}
	return total
}

// Find returns copies of the series named name whose labels match all of match.
func (s *Sink) Find(name string, match map[string]string) []Series {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Series
	for _, ser := range s.byName[name] {
		if matches(ser.Labels, match) {
			ser.recount()
			c := *ser
			c.points = nil
			c.History = slices.Clone(ser.points)
			out = append(out, c)
		}
	}
	return out
}

// recount brings Total and Resets up to date after a sample arrived out of time order.
func (ser *Series) recount() {
	if ser.stale {
		ser.Total, ser.Resets = CounterTotal(ser.points)
		ser.stale = false
	}
}

// add records a sample: appended when it is the newest (Total and Resets follow at once),
// inserted in time order otherwise (they are then recounted when next asked); a sample
// at a timestamp already held replaces it.
func (ser *Series) add(ts int64, v float64) {
	n := len(ser.points)
	if n == 0 || ts > ser.points[n-1].Timestamp {
		switch {
		case n == 0:
			ser.Total += v
		case v >= ser.points[n-1].Value:
			ser.Total += v - ser.points[n-1].Value
		default: // a reset: the previous segment ends at the last value
			ser.Total += v
			ser.Resets++
		}
		ser.points = append(ser.points, Point{Timestamp: ts, Value: v})
		return
	}
	i, found := slices.BinarySearchFunc(ser.points, ts, func(p Point, t int64) int { return cmp.Compare(p.Timestamp, t) })
	if found {
		if ser.points[i].Value != v {
			ser.points[i].Value = v
			ser.stale = true
		}
		return
	}
	ser.points = slices.Insert(ser.points, i, Point{Timestamp: ts, Value: v})
	ser.stale = true
}

func matches(labels, match map[string]string) bool {
	for k, v := range match {
		if labels[k] != v {
			return false
		}
	}
	return true
}

var errTruncated = errors.New("truncated protobuf")

// write applies one decoded WriteRequest (prometheus/prompb/remote.proto, v1).
func (s *Sink) write(b []byte) error {
	now := s.now()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errTruncated
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			ts, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return errTruncated
			}
			b = b[n:]
			if err := s.timeSeries(ts, now); err != nil {
				return err
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return errTruncated
		}
		b = b[n:]
	}
	return nil
}

type sample struct {
	value float64
	ts    int64
}

func (s *Sink) timeSeries(b []byte, now time.Time) error {
	labels := map[string]string{}
	var samples []sample
	exemplars := 0
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errTruncated
		}
		b = b[n:]
		if typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return errTruncated
			}
			b = b[n:]
			continue
		}
		field, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return errTruncated
		}
		b = b[n:]
		switch num {
		case 1: // Label
			k, v, err := label(field)
			if err != nil {
				return err
			}
			labels[k] = v
		case 2: // Sample
			smp, err := decodeSample(field)
			if err != nil {
				return err
			}
			samples = append(samples, smp)
		case 3: // Exemplar
			exemplars++
		}
	}
	if labels["__name__"] == "" {
		return fmt.Errorf("a series without __name__: %v", labels)
	}
	key := seriesKey(labels)
	s.mu.Lock()
	defer s.mu.Unlock()
	ser, ok := s.series[key]
	if !ok {
		ser = &Series{Labels: labels, FirstSeen: now}
		s.series[key] = ser
		s.byName[labels["__name__"]] = append(s.byName[labels["__name__"]], ser)
	}
	ser.Exemplars += exemplars
	for _, smp := range samples {
		t := time.UnixMilli(smp.ts)
		if ser.Samples == 0 || !t.Before(ser.Timestamp) {
			ser.Value, ser.Timestamp = smp.value, t
		}
		ser.add(smp.ts, smp.value)
		ser.Samples++
	}
	return nil
}

func label(b []byte) (string, string, error) {
	var k, v string
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || typ != protowire.BytesType {
			return "", "", errTruncated
		}
		b = b[n:]
		val, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return "", "", errTruncated
		}
		b = b[n:]
		switch num {
		case 1:
			k = string(val)
		case 2:
			v = string(val)
		}
	}
	return k, v, nil
}

func decodeSample(b []byte) (sample, error) {
	var smp sample
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return smp, errTruncated
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.Fixed64Type:
			v, n := protowire.ConsumeFixed64(b)
			if n < 0 {
				return smp, errTruncated
			}
			smp.value = math.Float64frombits(v)
			b = b[n:]
		case num == 2 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return smp, errTruncated
			}
			smp.ts = int64(v)
			b = b[n:]
		default:
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return smp, errTruncated
			}
			b = b[n:]
		}
	}
	return smp, nil
}

func seriesKey(labels map[string]string) string {
	names := make([]string, 0, len(labels))
	for k := range labels {
		names = append(names, k)
	}
	sort.Strings(names)
	var sb strings.Builder
	for _, k := range names {
		sb.WriteString(k)
		sb.WriteByte(0)
		sb.WriteString(labels[k])
		sb.WriteByte(0)
	}
	return sb.String()
}
