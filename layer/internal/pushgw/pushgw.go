// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package pushgw serves a Pushgateway-compatible API inside the sandbox, so that code that
// pushes with a Prometheus client (push_to_gateway('localhost:9091', job=..., registry=...))
// works unchanged.
//
// Paths are /metrics/job/<job>{/<label>/<value>}; a label name ending in @base64 carries a
// base64url value (any value, "/" and empty included). Bodies are in the text exposition
// format. PUT replaces the group's metrics, POST replaces only the metric families it
// names, DELETE removes the group. Within one sandbox a push carries that sandbox's
// running totals, so the latest push wins here; the gateway adds sandboxes together.
//
// At each flush, the groups changed since the last accepted flush go to the gateway as
// cumulative OTLP/JSON metrics: one resource per group (service.name = the job, plus the
// sandbox's identity), the other grouping labels and the metric's labels as attributes,
// and as start time the moment this sandbox first saw the series.
package pushgw // import "github.com/otelcol-lambda/otelcol-lambda/layer/internal/pushgw"

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/internal/promtext"
)

// maxPushBytes bounds one push body.
const maxPushBytes = 4 << 20

// group is the metrics of one grouping key.
type group struct {
	key      string
	job      string
	labels   []promtext.Label // the grouping labels other than job, sorted
	families map[string]promtext.Family
	pushed   time.Time
	dirty    bool
	// version counts changes, so that an ack only cleans what was collected.
	version uint64
}

// Store holds the pushed groups. It is safe for concurrent use.
type Store struct {
	maxSeries int

	mu        sync.Mutex
	groups    map[string]*group
	firstSeen map[string]time.Time // series key -> when this sandbox first saw it
	now       func() time.Time
}

// NewStore returns a store keeping at most maxSeries series start times.
func NewStore(maxSeries int) *Store {
	return &Store{maxSeries: maxSeries, groups: make(map[string]*group), firstSeen: make(map[string]time.Time), now: time.Now}
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
		labels = append(labels, promtext.Label{Name: name, Value: value})
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
	for _, l := range labels {
		b.WriteByte(0xff)
		b.WriteString(l.Name)
		b.WriteByte(0xfe)
		b.WriteString(l.Value)
	}
	return b.String()
}

// Push stores a push: replace=true (PUT) replaces the whole group, otherwise (POST) only
// the families in the body.
func (s *Store) Push(job string, labels []promtext.Label, body []byte, replace bool) error {
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
		}
	}
	key := groupKey(job, labels)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	newSeries := 0
	for _, f := range families {
		for _, m := range f.Metrics {
			if _, ok := s.firstSeen[seriesKey(key, f.Name, m.Labels)]; !ok {
				newSeries++
			}
		}
	}
	if len(s.firstSeen)+newSeries > s.maxSeries {
		return badRequest("too many series: this push would keep %d, the limit is %d (OTELCOL_LAMBDA_PUSHGATEWAY_MAX_SERIES)", len(s.firstSeen)+newSeries, s.maxSeries)
	}
	for _, f := range families {
		for _, m := range f.Metrics {
			sk := seriesKey(key, f.Name, m.Labels)
			if _, ok := s.firstSeen[sk]; !ok {
				s.firstSeen[sk] = now
			}
		}
	}
	g := s.groups[key]
	if g == nil || replace {
		g = &group{key: key, job: job, labels: labels, families: make(map[string]promtext.Family), version: versionOf(g)}
		s.groups[key] = g
	}
	for _, f := range families {
		g.families[f.Name] = f
	}
	g.pushed = now
	g.dirty = true
	g.version++
	return nil
}

func versionOf(g *group) uint64 {
	if g == nil {
		return 0
	}
	return g.version
}

// Delete removes a group.
func (s *Store) Delete(job string, labels []promtext.Label) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.groups, groupKey(job, labels))
}

// Groups returns how many groups are stored.
func (s *Store) Groups() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.groups)
}

func seriesKey(group, family string, labels []promtext.Label) string {
	var b strings.Builder
	b.WriteString(group)
	b.WriteByte(0xfd)
	b.WriteString(family)
	for _, l := range labels {
		b.WriteByte(0xff)
		b.WriteString(l.Name)
		b.WriteByte(0xfe)
		b.WriteString(l.Value)
	}
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
		h.Store.Delete(job, labels)
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
		if err := h.Store.Push(job, labels, body, r.Method == http.MethodPut); err != nil {
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
