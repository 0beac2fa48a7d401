// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package gatewaytest is a fake otelcol-lambda gateway for the extension's tests: it
// answers as the lambda_telemetry receiver does (200, 400, 401, 413, 503 + Retry-After),
// dedupes batches by (instance, sequence) as the receiver does, and records everything.
// The extension's unit tests use it where starting the real gateway (testbed/harness)
// would be too heavy, and the end-to-end tests of the Runtime API proxy read from it what
// the real extension sent.
package gatewaytest // import "github.com/otelcol-lambda/otelcol-lambda/testbed/gatewaytest"

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
)

// Batch is one telemetry batch request as received.
type Batch struct {
	Header http.Header
	Batch  wire.Batch
	Events []telemetryapi.Event
	Raw    []byte // the body after gunzip
	Replay bool   // a sequence number already accepted
	Status int    // what the gateway answered
}

// Payload is one OTLP request as received.
type Payload struct {
	Path   string
	Header http.Header
	Body   []byte // as received (still compressed if it was)
	Status int    // what the gateway answered
}

// Plain returns the body, decompressed when it was sent gzipped.
func (p Payload) Plain() ([]byte, error) {
	if p.Header.Get("Content-Encoding") != "gzip" {
		return p.Body, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(p.Body))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

// Policy decides the status of a telemetry batch (or, with nil events, of an OTLP
// request) before it is accepted; 0 means accept.
// It may block (a slow gateway) until r's context ends.
type Policy func(r *http.Request, events []telemetryapi.Event) int

// Gateway is the fake.
type Gateway struct {
	*httptest.Server
	Token string

	mu       sync.Mutex
	policy   Policy
	batches  []Batch
	payloads []Payload
	seen     map[string]bool
	changed  chan struct{}
}

// New starts a fake gateway that accepts everything.
func New() *Gateway {
	g := &Gateway{seen: make(map[string]bool), changed: make(chan struct{})}
	g.Server = httptest.NewServer(http.HandlerFunc(g.serve))
	return g
}

// NewTLS starts a fake gateway on https with a self-signed certificate
// (Server.Certificate); its client is not used by the extension.
func NewTLS() *Gateway {
	g := &Gateway{seen: make(map[string]bool), changed: make(chan struct{})}
	g.Server = httptest.NewTLSServer(http.HandlerFunc(g.serve))
	return g
}

// SetPolicy changes how telemetry batches are answered (nil: accept).
func (g *Gateway) SetPolicy(p Policy) {
	g.mu.Lock()
	g.policy = p
	g.mu.Unlock()
}

func (g *Gateway) serve(w http.ResponseWriter, r *http.Request) {
	if g.Token != "" && r.Header.Get("Authorization") != "Bearer "+g.Token {
		http.Error(w, "bad token", http.StatusUnauthorized)
		return
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if r.URL.Path != wire.TelemetryPath {
		g.mu.Lock()
		policy := g.policy
		g.mu.Unlock()
		status := http.StatusOK
		if policy != nil {
			if s := policy(r, nil); s != 0 {
				status = s
			}
		}
		g.mu.Lock()
		g.payloads = append(g.payloads, Payload{Path: r.URL.Path, Header: r.Header.Clone(), Body: raw, Status: status})
		g.notifyLocked()
		g.mu.Unlock()
		w.WriteHeader(status)
		return
	}
	body := raw
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			http.Error(w, "bad gzip: "+err.Error(), http.StatusBadRequest)
			return
		}
		if body, err = io.ReadAll(zr); err != nil {
			http.Error(w, "bad gzip: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	batch, err := wire.BatchFromHeaders(r.Header)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	events, err := telemetryapi.DecodeEvents(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	g.mu.Lock()
	policy := g.policy
	g.mu.Unlock()
	status := 0
	if policy != nil {
		status = policy(r, events)
	}
	rec := Batch{Header: r.Header.Clone(), Batch: batch, Events: events, Raw: body, Status: status}
	key := batch.Sandbox.ExtensionInstanceID + "/" + r.Header.Get(wire.HeaderBatchSequence)
	g.mu.Lock()
	if status == 0 || status == http.StatusOK {
		rec.Status = http.StatusOK
		rec.Replay = g.seen[key]
		g.seen[key] = true
	}
	g.batches = append(g.batches, rec)
	g.notifyLocked()
	g.mu.Unlock()
	switch rec.Status {
	case http.StatusOK:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"accepted":true}`)
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "1")
		http.Error(w, "busy", rec.Status)
	default:
		http.Error(w, strings.ToLower(http.StatusText(rec.Status)), rec.Status)
	}
}

func (g *Gateway) notifyLocked() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// Batches returns every telemetry batch request received.
func (g *Gateway) Batches() []Batch {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Batch(nil), g.batches...)
}

// Payloads returns every OTLP request received.
func (g *Gateway) Payloads() []Payload {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Payload(nil), g.payloads...)
}

// Accepted returns the events of accepted, non-replayed batches, in order.
func (g *Gateway) Accepted() []telemetryapi.Event {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []telemetryapi.Event
	for _, b := range g.batches {
		if b.Status == http.StatusOK && !b.Replay {
			out = append(out, b.Events...)
		}
	}
	return out
}

// Changed returns a channel closed at the next request.
func (g *Gateway) Changed() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.changed
}
