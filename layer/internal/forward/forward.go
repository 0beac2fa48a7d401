// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package forward sends what the extension buffered to the gateway's lambda_telemetry
// receiver (the contract is internal/wire): Telemetry API events in numbered batches,
// function OTLP payloads as received, and the Pushgateway API's increments as OTLP/JSON.
// Every request the gateway counts from carries a sequence number (one counter for all of
// them), so that a resent request is recognised whatever its path.
//
// Every flush runs under a context whose deadline is the time Lambda leaves: a failure
// that may pass (no connection, 429, 5xx) is retried with backoff only while that time
// lasts, and what is not accepted stays buffered for the next flush. A batch keeps its
// sequence number until it is accepted, and is resent byte for byte, so the gateway
// recognises a replay. A batch the gateway finds too large (413) is split in halves; what
// it refuses for good (400, 401, ...) is dropped and counted.
package forward // import "github.com/otelcol-lambda/otelcol-lambda/layer/internal/forward"

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/layer/internal/queue"
	"github.com/otelcol-lambda/otelcol-lambda/layer/internal/telemetry"
)

// Payload is one OTLP request to forward as it is.
type Payload struct {
	// Path is /v1/traces, /v1/metrics or /v1/logs.
	Path            string
	ContentType     string
	ContentEncoding string
	Body            []byte
	// seq is the payload's sequence number, given when it is first sent and kept across
	// resends.
	seq uint64
}

// Size is what a payload costs in the queue's budget.
func (p Payload) Size() int { return len(p.Body) + len(p.Path) + len(p.ContentType) + 32 }

// Source produces a payload at flush time (the Pushgateway API's increments). What it
// returns is the sender's: it is resent as it is until the gateway accepts it, and the
// source is asked again only then.
type Source interface {
	Collect() *Payload
}

// Options configure a Sender.
type Options struct {
	// Endpoint is the gateway's base URL.
	Endpoint string
	Token    string
	// CAFile adds CAs for an https endpoint.
	CAFile string
	Gzip   bool
	// MaxBatchBytes bounds the events of one batch (before compression).
	MaxBatchBytes int
	// Sandbox returns the sandbox's identity at send time (the timeout is learned late).
	Sandbox func() wire.Sandbox
	// Logf writes the extension's log.
	Logf func(format string, args ...any)
}

// Sender sends to the gateway. Flush calls must not overlap (the extension's event loop
// makes them); Stats may be called at any time.
type Sender struct {
	opts   Options
	client *http.Client

	seq     uint64
	pending *batch // built and sent at least once, not accepted yet
	// collected holds each source's payload until the gateway accepts it, by source index.
	collected []*Payload
	gz        *gzip.Writer
	failing   bool

	mu    sync.Mutex
	stats Stats
}

// Stats count what the sender did.
type Stats struct {
	Batches          int    // telemetry batches accepted
	Events           int    // events accepted
	Payloads         int    // OTLP payloads accepted
	Retries          int    // attempts after a failure that may pass
	Splits           int    // batches split after 413
	DroppedEvents    uint64 // events refused for good or too large alone
	DroppedPayloads  int    // OTLP payloads refused for good
	ReportedDropped  uint64 // dropped events the gateway was told about
	KeptPayloads     int    // sources' payloads not accepted yet, kept to be resent
	LastSequence     uint64
	LastAttemptError string
}

type batch struct {
	items   []telemetry.Item
	seq     uint64
	dropped uint64
	body    []byte
	marks   []int
}

// New returns a sender. A CA file that cannot be used is an error.
func New(opts Options) (*Sender, error) {
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   2 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
	if opts.CAFile != "" {
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", opts.CAFile)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.MaxBatchBytes <= 0 {
		opts.MaxBatchBytes = 1 << 20
	}
	return &Sender{opts: opts, client: &http.Client{Transport: transport}}, nil
}

// Stats returns the counts so far.
func (s *Sender) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Close releases idle connections.
func (s *Sender) Close() { s.client.CloseIdleConnections() }

// ErrGatewayUnavailable is returned by Flush when the time ran out with data still
// buffered.
var ErrGatewayUnavailable = errors.New("the gateway did not accept everything in time")

// Flush sends what is buffered: the pending batch, then the queued events, the OTLP
// payloads and the sources' payloads, until everything is accepted or ctx ends.
func (s *Sender) Flush(ctx context.Context, events *queue.Queue[telemetry.Item], payloads *queue.Queue[Payload], sources ...Source) error {
	if len(s.collected) < len(sources) {
		s.collected = append(s.collected, make([]*Payload, len(sources)-len(s.collected))...)
	}
	defer s.countKept()
	// What was sent before and not acknowledged goes first, before anything new takes a
	// number: the gateway remembers the recent numbers of a sandbox only, and takes a
	// number older than those as a resend.
	if err := s.resendKept(ctx, events, payloads); err != nil {
		return err
	}
	if err := s.flushEvents(ctx, events, false); err != nil {
		return err
	}
	if err := s.flushPayloads(ctx, payloads, false); err != nil {
		return err
	}
	for i, src := range sources {
		p := src.Collect()
		if p == nil {
			continue
		}
		if s.opts.Gzip && p.ContentEncoding == "" {
			// Compressed once, so that a resend is the same bytes.
			p.Body, p.ContentEncoding = s.gzipped(p.Body), "gzip"
		}
		s.collected[i] = p
		if s.deliverCollected(ctx, i, p) == outcomeRetryLater {
			return ErrGatewayUnavailable
		}
	}
	return nil
}

func (s *Sender) resendKept(ctx context.Context, events *queue.Queue[telemetry.Item], payloads *queue.Queue[Payload]) error {
	if err := s.flushEvents(ctx, events, true); err != nil {
		return err
	}
	if err := s.flushPayloads(ctx, payloads, true); err != nil {
		return err
	}
	for i, p := range s.collected {
		if p == nil {
			continue
		}
		if s.deliverCollected(ctx, i, p) == outcomeRetryLater {
			return ErrGatewayUnavailable
		}
	}
	return nil
}

// deliverCollected sends a source's payload and forgets it unless it is to be resent.
func (s *Sender) deliverCollected(ctx context.Context, i int, p *Payload) outcome {
	o := s.sendPayload(ctx, p)
	switch o {
	case outcomeAccepted:
		s.count(func(st *Stats) { st.Payloads++ })
	case outcomeRetryLater:
		return o
	default: // refused for good: resending the same cannot help
		s.dropped(p, o)
	}
	s.collected[i] = nil
	return o
}

// dropped counts and logs a payload the gateway refused for good.
func (s *Sender) dropped(p *Payload, o outcome) {
	s.count(func(st *Stats) { st.DroppedPayloads++ })
	if o == outcomeTooLarge {
		s.opts.Logf("the gateway refused %s (%d bytes) as too large (413); dropped", p.Path, len(p.Body))
	}
}

func (s *Sender) countKept() {
	kept := 0
	for _, p := range s.collected {
		if p != nil {
			kept++
		}
	}
	s.count(func(st *Stats) { st.KeptPayloads = kept })
}

// sendPayload sends an OTLP payload with the sandbox headers and its sequence number.
func (s *Sender) sendPayload(ctx context.Context, p *Payload) outcome {
	if p.seq == 0 {
		s.seq++
		p.seq = s.seq
	}
	h := http.Header{}
	wire.Batch{Sandbox: s.opts.Sandbox(), Sequence: p.seq}.SetHeaders(h)
	return s.send(ctx, p.Path, p.ContentType, p.ContentEncoding, p.Body, h, s.idempotencyKey(p.seq))
}

// idempotencyKey makes Go's transport resend a POST on a connection the gateway closed
// while the sandbox was frozen; the gateway dedupes by sequence anyway.
func (s *Sender) idempotencyKey(seq uint64) string {
	return s.opts.Sandbox().ExtensionInstanceID + "-" + strconv.FormatUint(seq, 10)
}

func (s *Sender) count(f func(*Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

// flushEvents sends the pending batch, then new batches of events; with pendingOnly, the
// pending batch only (and the halves it is split into).
func (s *Sender) flushEvents(ctx context.Context, events *queue.Queue[telemetry.Item], pendingOnly bool) error {
	for {
		if s.pending == nil {
			if pendingOnly {
				return nil
			}
			items := events.Take(s.opts.MaxBatchBytes, 0)
			if len(items) == 0 {
				return nil
			}
			b, err := s.build(items, events.TakeDropped(), 0)
			if err != nil {
				events.AddDropped(uint64(len(items)))
				s.opts.Logf("cannot encode a batch of %d events, dropped: %v", len(items), err)
				continue
			}
			s.pending = b
		}
		b := s.pending
		h := http.Header{}
		wire.Batch{Sandbox: s.opts.Sandbox(), Sequence: b.seq, ReportsWithoutRuntimeDone: b.marks, DroppedEvents: b.dropped}.SetHeaders(h)
		encoding := ""
		if s.opts.Gzip {
			encoding = "gzip"
		}
		switch s.send(ctx, wire.TelemetryPath, "application/json", encoding, b.body, h, s.idempotencyKey(b.seq)) {
		case outcomeAccepted:
			s.pending = nil
			s.count(func(st *Stats) {
				st.Batches++
				st.Events += len(b.items)
				st.ReportedDropped += b.dropped
				st.LastSequence = b.seq
			})
			if b.dropped > 0 {
				s.opts.Logf("the gateway accepted batch %d; it says %d events were dropped while it was unreachable or the buffer was full", b.seq, b.dropped)
			}
		case outcomeTooLarge:
			s.pending = nil
			s.count(func(st *Stats) { st.Splits++ })
			if len(b.items) == 1 {
				events.AddDropped(b.dropped + 1)
				s.count(func(st *Stats) { st.DroppedEvents++ })
				s.opts.Logf("the gateway refused a single %s event as too large (413): dropped", b.items[0].Event.Type)
				continue
			}
			half := len(b.items) / 2
			// The refused number was never accepted: the first half takes it, so that
			// accepted batches stay numbered without gaps.
			first, err := s.build(b.items[:half], b.dropped, b.seq)
			if err != nil {
				events.AddDropped(uint64(len(b.items)) + b.dropped)
				continue
			}
			s.pending = first
			events.PushFront(b.items[half:])
		case outcomeRefused:
			s.pending = nil
			events.AddDropped(uint64(len(b.items)) + b.dropped)
			s.count(func(st *Stats) { st.DroppedEvents += uint64(len(b.items)) })
		case outcomeRetryLater:
			return ErrGatewayUnavailable
		}
	}
}

// flushPayloads sends the queued OTLP payloads; with keptOnly, those numbered before only
// (a resend keeps its place at the front of the queue).
func (s *Sender) flushPayloads(ctx context.Context, payloads *queue.Queue[Payload], keptOnly bool) error {
	for {
		taken := payloads.Take(0, 1)
		if len(taken) == 0 {
			return nil
		}
		p := &taken[0]
		if keptOnly && p.seq == 0 {
			payloads.PushFront(taken)
			return nil
		}
		switch o := s.sendPayload(ctx, p); o {
		case outcomeAccepted:
			s.count(func(st *Stats) { st.Payloads++ })
		case outcomeRetryLater:
			payloads.PushFront(taken)
			return ErrGatewayUnavailable
		default:
			// OTLP bytes are opaque here: a payload refused (or too large) is dropped.
			payloads.AddDropped(1)
			s.dropped(p, o)
		}
	}
}

// build encodes a batch with sequence number seq, or the next one when seq is 0.
func (s *Sender) build(items []telemetry.Item, dropped, seq uint64) (*batch, error) {
	events := make([]telemetryapi.Event, len(items))
	var marks []int
	for i, it := range items {
		events[i] = it.Event
		if it.ReportWithoutRuntimeDone {
			marks = append(marks, i)
		}
	}
	raw, err := telemetryapi.AppendEvents(nil, events)
	if err != nil {
		return nil, err
	}
	body := raw
	if s.opts.Gzip {
		body = s.gzipped(raw)
	}
	if seq == 0 {
		s.seq++
		seq = s.seq
	}
	return &batch{items: items, seq: seq, dropped: dropped, body: body, marks: marks}, nil
}

// gzipped compresses raw with the sender's one gzip writer.
func (s *Sender) gzipped(raw []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(raw) / 4)
	if s.gz == nil {
		s.gz, _ = gzip.NewWriterLevel(&buf, gzip.BestSpeed) // a valid level never errs
	} else {
		s.gz.Reset(&buf)
	}
	_, _ = s.gz.Write(raw)
	_ = s.gz.Close()
	return buf.Bytes()
}

type outcome int

const (
	outcomeAccepted outcome = iota
	outcomeTooLarge
	outcomeRefused
	outcomeRetryLater
)

// send POSTs body to path, retrying what may pass while ctx lasts. What is left of ctx is
// read on the real clock, as the context's own deadline runs on it.
func (s *Sender) send(ctx context.Context, path, contentType, encoding string, body []byte, h http.Header, idempotencyKey string) outcome {
	backoff := 10 * time.Millisecond
	for attempt := 0; ; attempt++ {
		// One hanging attempt must not take the whole budget: it gets half of what is
		// left, so that a retry (on a fresh connection) still fits.
		attemptCtx, cancel := ctx, context.CancelFunc(func() {})
		if deadline, ok := ctx.Deadline(); ok {
			if left := time.Until(deadline); left > 100*time.Millisecond {
				attemptCtx, cancel = context.WithTimeout(ctx, left/2)
			}
		}
		status, retryAfter, msg, err := s.post(attemptCtx, path, contentType, encoding, body, h, idempotencyKey)
		cancel()
		switch {
		case err == nil && status < 300:
			if s.failing {
				s.failing = false
				s.opts.Logf("the gateway is reachable again")
			}
			return outcomeAccepted
		case err == nil && status == http.StatusRequestEntityTooLarge:
			return outcomeTooLarge
		case err == nil && status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests:
			s.opts.Logf("the gateway refused %s with HTTP %d: %s; dropped", path, status, msg)
			return outcomeRefused
		}
		why := msg
		if err != nil {
			why = err.Error()
		} else {
			why = "HTTP " + strconv.Itoa(status) + ": " + why
		}
		s.count(func(st *Stats) { st.LastAttemptError = why })
		if !s.failing {
			s.failing = true
			s.opts.Logf("cannot reach the gateway (%s); keeping data buffered and retrying within the time Lambda gives", why)
		}
		wait := backoff
		if retryAfter > 0 {
			wait = retryAfter
		}
		if deadline, ok := ctx.Deadline(); ctx.Err() != nil || (ok && time.Until(deadline) < wait) {
			return outcomeRetryLater
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return outcomeRetryLater
		case <-timer.C:
		}
		s.count(func(st *Stats) { st.Retries++ })
		backoff = min(backoff*2, time.Second)
	}
}

func (s *Sender) post(ctx context.Context, path, contentType, encoding string, body []byte, h http.Header, idempotencyKey string) (int, time.Duration, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.opts.Endpoint+path, bytes.NewReader(body))
	if err != nil {
		return 0, 0, "", err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	if s.opts.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.opts.Token)
	}
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, 0, "", err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	var retryAfter time.Duration
	if secs, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && secs > 0 {
		retryAfter = time.Duration(secs) * time.Second
	}
	return resp.StatusCode, retryAfter, strings.TrimSpace(string(msg)), nil
}
