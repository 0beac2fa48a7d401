// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package pushgw serves a Pushgateway-compatible API inside the sandbox, so that code that
// pushes with a Prometheus client (push_to_gateway('localhost:9091', job=..., registry=...))
// works unchanged.
//
// Paths are /metrics/job/<job>{/<label>/<value>}; a label name ending in @base64 carries a
// base64url value (any value, "/" and empty included). Bodies are in the text exposition
// format. PUT, POST and DELETE are accepted as a Pushgateway accepts them.
//
// A push carries the sandbox's running totals. A Pushgateway keeps the last push, so the
// sandboxes of one function overwrite each other; here each series remembers its last
// totals instead and owes the gateway the increments since then. At each flush the store
// hands over what it owes as OTLP/JSON deltas (counters, histograms and summaries; gauges
// as their newest value), and the forwarder resends that very batch, with its sequence
// number, until the gateway accepts it. A value that goes down (the runtime restarted in
// the sandbox) is an increment from zero, never a negative one. The gateway adds the
// sandboxes' increments into one fleet series.
package pushgw // import "github.com/otelcol-lambda/otelcol-lambda/layer/internal/pushgw"

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/otelcol-lambda/otelcol-lambda/internal/promtext"
)

// maxPushBytes bounds one push body.
const maxPushBytes = 4 << 20

// series is what the sandbox knows of one pushed series: its last running totals and the
// increments it owes the gateway.
type series struct {
	job    string
	group  []promtext.Label // grouping labels other than job, sorted
	family string
	help   string
	typ    promtext.Type
	labels []promtext.Label
	// labelKey orders the series of one job and family in a batch: made once.
	labelKey string
	last     promtext.Metric // the totals of the last push
	// since is when the increments owed started (the last collect, or the first push).
	since time.Time
	at    time.Time // the last push
	owed  owed
	// touched: pushed since the last collect, so it goes in the next batch.
	touched bool
}

// owed is what a series owes the gateway: counter increments (value), histogram and
// summary increments (count, sum, and per-bucket counts over bounds).
type owed struct {
	value   float64
	count   float64
	sum     float64
	bounds  []float64
	buckets []float64 // len(bounds)+1 when bounds are known
}

// Store holds the pushed series. It is safe for concurrent use.
type Store struct {
	maxSeries int

	mu     sync.Mutex
	series map[string]*series
	types  map[string]promtext.Type // family name -> type, for the sandbox's lifetime
	now    func() time.Time
}

// NewStore returns a store keeping at most maxSeries series; now is the extension's clock,
// which times the pushes and the increments handed over.
func NewStore(maxSeries int, now func() time.Time) *Store {
	return &Store{maxSeries: maxSeries, series: make(map[string]*series), types: make(map[string]promtext.Type), now: now}
}

// Owed returns how many series were pushed since the last collect.
func (s *Store) Owed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, st := range s.series {
		if st.touched {
			n++
		}
	}
	return n
}

// Len returns how many series are stored.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.series)
}

// BadRequestError is an error the client caused (HTTP 400).
type BadRequestError struct{ Msg string }

func (e *BadRequestError) Error() string { return e.Msg }

func badRequest(format string, args ...any) error {
	return &BadRequestError{Msg: fmt.Sprintf(format, args...)}
}

// ParseGroupingKey parses the part of the path after /metrics/: job/<job>{/<name>/<value>}.
func ParseGroupingKey(path string) (job string, labels []promtext.Label, err error) {
	parts := strings.Split(path, "/")
	if len(parts) < 2 || len(parts)%2 != 0 {
		return "", nil, badRequest("the path must be /metrics/job/<job>{/<label>/<value>}, with a value for every label")
	}
	seen := make(map[string]bool)
	for i := 0; i < len(parts); i += 2 {
		name, value := parts[i], parts[i+1]
		if n, ok := strings.CutSuffix(name, "@base64"); ok {
			name = n
			decoded, derr := decodeBase64(value)
			if derr != nil {
				return "", nil, badRequest("invalid base64 encoding in the value of label %q: %v", name, derr)
			}
			value = decoded
		}
		if !utf8.ValidString(value) {
			return "", nil, badRequest("the value of label %q in the grouping key is not valid UTF-8", name)
		}
		if i == 0 && name != "job" {
			return "", nil, badRequest("the grouping key must start with job, not %q", name)
		}
		if !promtext.ValidLabelName(name) || strings.HasPrefix(name, "__") {
			return "", nil, badRequest("invalid label name %q in the grouping key", name)
		}
		if seen[name] {
			return "", nil, badRequest("label %q appears twice in the grouping key", name)
		}
		seen[name] = true
		if i == 0 {
			if value == "" {
				return "", nil, badRequest("the job name must not be empty")
			}
			job = value
			continue
		}
		// An empty value is no label at all, as in Prometheus.
		if value != "" {
			labels = append(labels, promtext.Label{Name: name, Value: value})
		}
	}
	sort.Slice(labels, func(a, b int) bool { return labels[a].Name < labels[b].Name })
	return job, labels, nil
}

// decodeBase64 decodes base64url with or without padding; "=" alone is the empty value.
func decodeBase64(s string) (string, error) {
	if s == "=" {
		return "", nil
	}
	s = strings.TrimRight(s, "=")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		// Some clients use the standard alphabet.
		if b2, err2 := base64.RawStdEncoding.DecodeString(s); err2 == nil {
			return string(b2), nil
		}
		return "", err
	}
	return string(b), nil
}

func groupKey(job string, labels []promtext.Label) string {
	var b strings.Builder
	b.WriteString(job)
	writeLabels(&b, labels)
	return b.String()
}

// writeLabels adds labels to a key; the separators are bytes UTF-8 text never holds, and
// ParseGroupingKey and promtext refuse values that are not UTF-8.
func writeLabels(b *strings.Builder, labels []promtext.Label) {
	for _, l := range labels {
		b.WriteByte(0xff)
		b.WriteString(l.Name)
		b.WriteByte(0xfe)
		b.WriteString(l.Value)
	}
}

// Push takes a push: each series' totals replace its last ones and add their increase to
// what it owes. PUT and POST differ only in what a Pushgateway would go on showing; here
// every series is summed into the fleet, so both take the series in the body.
func (s *Store) Push(job string, labels []promtext.Label, body []byte) error {
	families, err := promtext.Parse(body)
	if err != nil {
		return badRequest("%v", err)
	}
	grouping := map[string]string{"job": job}
	for _, l := range labels {
		grouping[l.Name] = l.Value
	}
	for _, f := range families {
		for _, m := range f.Metrics {
			if m.HasTimestamp {
				return badRequest("pushed metrics must not have timestamps (metric %s)", f.Name)
			}
			for _, l := range m.Labels {
				if v, ok := grouping[l.Name]; ok && v != l.Value {
					return badRequest("metric %s has label %s=%q, which conflicts with the grouping key's %q", f.Name, l.Name, l.Value, v)
				}
			}
			if err := checkTotals(f, m); err != nil {
				return err
			}
		}
	}
	key := groupKey(job, labels)
	// A metric's copy of a grouping label is the same series as the metric without it.
	keys := make(map[string]bool)
	for _, f := range families {
		for _, m := range f.Metrics {
			k := seriesKey(key, f.Name, withoutGrouping(m.Labels, grouping))
			if keys[k] {
				return badRequest("metric %s has a series twice in this push (labels %v, with the grouping key)", f.Name, m.Labels)
			}
			keys[k] = true
		}
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	newSeries := 0
	for _, f := range families {
		if t, ok := s.types[f.Name]; ok && t != f.Type {
			return badRequest("metric %s was pushed as a %s before; this push makes it a %s", f.Name, t, f.Type)
		}
		for _, m := range f.Metrics {
			st, ok := s.series[seriesKey(key, f.Name, withoutGrouping(m.Labels, grouping))]
			if !ok {
				newSeries++
				continue
			}
			if bounds, _ := perBucket(m); st.owed.buckets != nil && !slices.Equal(bounds, st.owed.bounds) {
				return badRequest("histogram %s changed its bucket bounds; a series keeps its buckets for the sandbox's lifetime", f.Name)
			}
		}
	}
	if len(s.series)+newSeries > s.maxSeries {
		return badRequest("too many series: this push would keep %d, the limit is %d (OTELCOL_LAMBDA_PUSHGATEWAY_MAX_SERIES)", len(s.series)+newSeries, s.maxSeries)
	}
	for _, f := range families {
		s.types[f.Name] = f.Type
		for _, m := range f.Metrics {
			sk := seriesKey(key, f.Name, withoutGrouping(m.Labels, grouping))
			st := s.series[sk]
			if st == nil {
				own := withoutGrouping(m.Labels, grouping)
				st = &series{job: job, group: labels, family: f.Name, typ: f.Type, labels: own, since: now,
					labelKey: seriesKey("", "", append(append([]promtext.Label(nil), labels...), own...))}
				s.series[sk] = st
			}
			st.help = f.Help
			st.add(m)
			st.at = now
			st.touched = true
		}
	}
	return nil
}

// maxBuckets bounds a pushed histogram's buckets, as the gateway does: each becomes a
// Prometheus series.
const maxBuckets = 200

// checkTotals refuses values that cannot be running totals.
func checkTotals(f promtext.Family, m promtext.Metric) error {
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) || v < 0 }
	whole := func(v float64) bool { return v == math.Trunc(v) }
	switch f.Type {
	case promtext.Counter:
		if bad(m.Value) {
			return badRequest("counter %s has the value %v; a counter is a finite total, 0 or more", f.Name, m.Value)
		}
	case promtext.Histogram, promtext.Summary:
		if bad(m.Count) || !whole(m.Count) || math.IsNaN(m.Sum) || math.IsInf(m.Sum, 0) {
			return badRequest("%s %s has the count %v and the sum %v; the sum must be finite, the count a whole number, 0 or more", f.Type, f.Name, m.Count, m.Sum)
		}
		if len(m.Buckets) > maxBuckets+1 {
			return badRequest("histogram %s has %d buckets; at most %d", f.Name, len(m.Buckets), maxBuckets)
		}
		prev, prevBound := 0.0, math.Inf(-1)
		for _, b := range m.Buckets {
			if math.IsNaN(b.UpperBound) || b.UpperBound <= prevBound || math.IsInf(b.UpperBound, -1) {
				return badRequest("histogram %s has the bucket le=%v after le=%v; bounds are numbers in increasing order", f.Name, b.UpperBound, prevBound)
			}
			if bad(b.CumulativeCount) || !whole(b.CumulativeCount) || b.CumulativeCount < prev {
				return badRequest("histogram %s has the bucket count %v at le=%v; buckets are cumulative whole counts that never go down", f.Name, b.CumulativeCount, b.UpperBound)
			}
			prev, prevBound = b.CumulativeCount, b.UpperBound
		}
		if n := len(m.Buckets); n > 0 && math.IsInf(m.Buckets[n-1].UpperBound, 1) && m.HasCount && m.Count != m.Buckets[n-1].CumulativeCount {
			return badRequest("histogram %s has the count %v but %v in its +Inf bucket; they are the same number", f.Name, m.Count, m.Buckets[n-1].CumulativeCount)
		}
	}
	return nil
}

// add takes a push of the series' totals: what they grew by is owed, and a total that went
// down means the client started again from zero, so all of it is owed.
func (st *series) add(m promtext.Metric) {
	switch st.typ {
	case promtext.Counter:
		inc := m.Value - st.last.Value
		if m.Value < st.last.Value {
			inc = m.Value
		}
		st.owed.value += inc
	case promtext.Histogram, promtext.Summary:
		bounds, buckets := perBucket(m)
		count := totalCount(m)
		lastBounds, lastBuckets := perBucket(st.last)
		reset := count < totalCount(st.last) || !slices.Equal(bounds, lastBounds) || anyBelow(buckets, lastBuckets)
		if st.owed.buckets == nil {
			st.owed.bounds = bounds
			st.owed.buckets = make([]float64, len(bounds)+1)
		}
		if reset {
			lastBuckets = nil
		}
		for i, c := range buckets {
			if lastBuckets != nil {
				c -= lastBuckets[i]
			}
			st.owed.buckets[i] += c
		}
		if reset {
			st.owed.count += count
			st.owed.sum += m.Sum
		} else {
			st.owed.count += count - totalCount(st.last)
			st.owed.sum += m.Sum - st.last.Sum
		}
	}
	st.last = m
}

// perBucket returns the finite bounds and the per-bucket (not cumulative) counts, the last
// one above every bound.
func perBucket(m promtext.Metric) ([]float64, []float64) {
	var bounds []float64
	var counts []float64
	var prev float64
	for _, b := range m.Buckets {
		if math.IsInf(b.UpperBound, 1) {
			continue
		}
		bounds = append(bounds, b.UpperBound)
		counts = append(counts, b.CumulativeCount-prev)
		prev = b.CumulativeCount
	}
	return bounds, append(counts, totalCount(m)-prev)
}

func totalCount(m promtext.Metric) float64 {
	if !m.HasCount && len(m.Buckets) > 0 {
		return m.Buckets[len(m.Buckets)-1].CumulativeCount
	}
	return m.Count
}

func anyBelow(cur, prev []float64) bool {
	for i := range min(len(cur), len(prev)) {
		if cur[i] < prev[i] {
			return true
		}
	}
	return false
}

func withoutGrouping(labels []promtext.Label, grouping map[string]string) []promtext.Label {
	var out []promtext.Label
	for _, l := range labels {
		if _, inKey := grouping[l.Name]; !inKey {
			out = append(out, l)
		}
	}
	return out
}

func seriesKey(group, family string, labels []promtext.Label) string {
	var b strings.Builder
	b.WriteString(group)
	b.WriteByte(0xfd)
	b.WriteString(family)
	writeLabels(&b, labels)
	return b.String()
}

// Handler serves the Pushgateway API on a store.
type Handler struct {
	Store *Store
}

var errProtobuf = errors.New("protobuf pushes are not supported here; push in the text exposition format")

func (h Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/-/healthy", "/-/ready":
		w.WriteHeader(http.StatusOK)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/metrics/")
	if !ok {
		http.Error(w, "not found: push to /metrics/job/<job>{/<label>/<value>}", http.StatusNotFound)
		return
	}
	// Split the escaped path first, so that an escaped "/" stays inside its value.
	parts := strings.Split(rest, "/")
	for i, p := range parts {
		u, err := urlUnescape(p)
		if err != nil {
			http.Error(w, "invalid escaping in the path: "+err.Error(), http.StatusBadRequest)
			return
		}
		parts[i] = u
	}
	job, labels, err := parseParts(parts)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch r.Method {
	case http.MethodDelete:
		// The group's increments were owed already and its gauges stop being sent: a
		// fleet series ends when it expires at the gateway, not when one sandbox says so.
		w.WriteHeader(http.StatusAccepted)
	case http.MethodPut, http.MethodPost:
		if mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/vnd.google.protobuf" || params["proto"] != "" {
			http.Error(w, errProtobuf.Error(), http.StatusUnsupportedMediaType)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPushBytes))
		if err != nil {
			http.Error(w, fmt.Sprintf("the body is larger than %d bytes", maxPushBytes), http.StatusRequestEntityTooLarge)
			return
		}
		if err := h.Store.Push(job, labels, body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
	default:
		w.Header().Set("Allow", "PUT, POST, DELETE")
		http.Error(w, "method not allowed: use PUT, POST or DELETE", http.StatusMethodNotAllowed)
	}
}

// parseParts is ParseGroupingKey on already split path segments.
func parseParts(parts []string) (string, []promtext.Label, error) {
	for _, p := range parts {
		if strings.Contains(p, "/") {
			// A "/" inside a value can only be sent base64-encoded.
			return "", nil, badRequest("a label value with '/' must be base64 encoded (label@base64)")
		}
	}
	return ParseGroupingKey(strings.Join(parts, "/"))
}

func urlUnescape(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("incomplete escape in %q", s)
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return "", fmt.Errorf("invalid escape in %q", s)
		}
		b.WriteByte(hi<<4 | lo)
		i += 2
	}
	return b.String(), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
