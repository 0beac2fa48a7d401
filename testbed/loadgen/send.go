// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
)

// SendConfig says where and how fast to send.
type SendConfig struct {
	// URL is the gateway's base URL (http://host:port); batches go to their Path under it
	// (wire.TelemetryPath or TracesPath).
	URL string
	// Workers is how many batches are in flight at most. A sandbox slot's batches always go
	// through the same worker, in order.
	Workers int
	// Rate is invocations per second (rate mode); 0 sends as fast as the workers go (max mode).
	Rate float64
	// Timeout bounds the whole send; what is not acknowledged by then is reported, not dropped
	// silently.
	Timeout time.Duration
	// MinBackoff and MaxBackoff bound the wait before a retry (doubling), unless the answer
	// has a Retry-After.
	MinBackoff, MaxBackoff time.Duration
	Client                 *http.Client
}

// Stats counts what happened to the batches and their invocations.
type Stats struct {
	Generated, Sent, Acknowledged int64 // batches: given, sent at least once, answered 200
	Attempts, Retried             int64 // requests made, of which retries
	Replayed                      int64 // acknowledgements that said replayed
	// Invocations of the telemetry batches given and acknowledged (Batch.Invocations).
	GeneratedInvocations    int64
	AcknowledgedInvocations int64
	// Function spans of the OTLP batches given and acknowledged (Batch.Spans).
	GeneratedSpans    int64
	AcknowledgedSpans int64
	Duration          time.Duration
}

// Add adds o's counts to s, for sends that ran side by side (Duration is left to the
// caller, who knows whether they overlapped).
func (s *Stats) Add(o Stats) {
	s.Generated += o.Generated
	s.Sent += o.Sent
	s.Acknowledged += o.Acknowledged
	s.Attempts += o.Attempts
	s.Retried += o.Retried
	s.Replayed += o.Replayed
	s.GeneratedInvocations += o.GeneratedInvocations
	s.AcknowledgedInvocations += o.AcknowledgedInvocations
	s.GeneratedSpans += o.GeneratedSpans
	s.AcknowledgedSpans += o.AcknowledgedSpans
}

// Unacknowledged is how many batches were not acknowledged.
func (s Stats) Unacknowledged() int64 { return s.Generated - s.Acknowledged }

// Send posts every batch to its path until the gateway acknowledges it. A slot's batches
// (telemetry and OTLP alike) go through one worker, in order, each acknowledged before the
// next is sent. 429, 503, other 5xx and transport errors are retried with backoff; a 4xx
// other than 429 is a permanent error that stops the send. It returns an error when any
// batch was not acknowledged.
func Send(ctx context.Context, cfg SendConfig, batches []Batch) (Stats, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Minute
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 50 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 2 * time.Second
	}
	if cfg.Client == nil {
		// One kept-alive connection per worker: the default two per host would make every
		// other worker open a new connection for each batch.
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.MaxIdleConnsPerHost = cfg.Workers
		cfg.Client = &http.Client{Timeout: 30 * time.Second, Transport: transport}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	var st struct {
		sent, acked, attempts, retried, replayed, ackedInv, ackedSpans atomic.Int64
	}
	stats := Stats{Generated: int64(len(batches))}
	for _, b := range batches {
		stats.GeneratedInvocations += int64(b.Invocations)
		stats.GeneratedSpans += int64(b.Spans)
	}

	queues := make([][]Batch, cfg.Workers)
	for _, b := range batches {
		w := b.Slot % cfg.Workers
		queues[w] = append(queues[w], b)
	}
	pace := &pacer{rate: cfg.Rate}
	began := time.Now()
	pace.next = began

	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	for _, q := range queues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, b := range q {
				if err := pace.wait(ctx, b.Invocations); err != nil {
					fail(err)
					return
				}
				backoff := cfg.MinBackoff
				for attempt := 0; ; attempt++ {
					if attempt == 0 {
						st.sent.Add(1)
					} else {
						st.retried.Add(1)
					}
					st.attempts.Add(1)
					code, retryAfter, replayed, err := post(ctx, cfg.Client, cfg.URL, b)
					if err == nil && code == http.StatusOK {
						st.acked.Add(1)
						st.ackedInv.Add(int64(b.Invocations))
						st.ackedSpans.Add(int64(b.Spans))
						if replayed {
							st.replayed.Add(1)
						}
						break
					}
					if ctx.Err() != nil {
						fail(ctx.Err())
						return
					}
					if err == nil && code != http.StatusTooManyRequests && code < 500 {
						fail(fmt.Errorf("%s: permanent answer %d", b.describe(), code))
						return
					}
					wait := backoff
					if retryAfter > 0 {
						wait = retryAfter
					}
					backoff = min(backoff*2, cfg.MaxBackoff)
					select {
					case <-ctx.Done():
						fail(ctx.Err())
						return
					case <-time.After(wait):
					}
				}
			}
		}()
	}
	wg.Wait()
	stats.Sent, stats.Acknowledged = st.sent.Load(), st.acked.Load()
	stats.Attempts, stats.Retried, stats.Replayed = st.attempts.Load(), st.retried.Load(), st.replayed.Load()
	stats.AcknowledgedInvocations = st.ackedInv.Load()
	stats.AcknowledgedSpans = st.ackedSpans.Load()
	stats.Duration = time.Since(began)
	if firstErr == nil && stats.Acknowledged != stats.Generated {
		firstErr = errors.New("not every batch was acknowledged")
	}
	if firstErr != nil {
		return stats, fmt.Errorf("loadgen: %d of %d batches unacknowledged: %w", stats.Unacknowledged(), stats.Generated, firstErr)
	}
	return stats, nil
}

// path is where the batch goes under the gateway's URL.
func (b *Batch) path() string {
	if b.Path == "" {
		return wire.TelemetryPath
	}
	return b.Path
}

// describe names the batch in errors.
func (b *Batch) describe() string {
	if b.IsTraces() {
		return fmt.Sprintf("OTLP batch of %s (slot %d, %d spans)", b.Function, b.Slot, b.Spans)
	}
	return fmt.Sprintf("batch %s of %s", b.Header.Get(wire.HeaderBatchSequence), b.Function)
}

// post sends one batch to its path under base; it returns the status code, the
// Retry-After the answer asked for, and whether the gateway said it had the batch already.
func post(ctx context.Context, c *http.Client, base string, b Batch) (int, time.Duration, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+b.path(), bytes.NewReader(b.Body))
	if err != nil {
		return 0, 0, false, err
	}
	req.Header = b.Header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	switch {
	case b.ContentType != "":
		req.Header.Set("Content-Type", b.ContentType)
	case req.Header.Get("Content-Type") == "":
		req.Header.Set("Content-Type", ContentTypeJSON)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, 0, false, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	var retryAfter time.Duration
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		retryAfter = min(time.Duration(s)*time.Second, 5*time.Second)
	}
	return resp.StatusCode, retryAfter, bytes.Contains(body, []byte(`"replayed":true`)), nil
}

// pacer spaces sends so that invocations go out at rate per second; rate 0 does not wait.
type pacer struct {
	rate float64
	mu   sync.Mutex
	next time.Time
}

func (p *pacer) wait(ctx context.Context, invocations int) error {
	if p.rate <= 0 {
		return ctx.Err()
	}
	p.mu.Lock()
	now := time.Now()
	if p.next.Before(now) {
		p.next = now
	}
	at := p.next
	p.next = p.next.Add(time.Duration(float64(invocations) / p.rate * float64(time.Second)))
	p.mu.Unlock()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(at)):
		return nil
	}
}
