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
	// (wire.TelemetryPath or TracesPath), flushes to MetricsPath.
	URL string
	// Workers is how many batches or flushes are in flight at most. A sandbox's always go
	// through the same worker, in order, each acknowledged before the next (Send: a sandbox
	// slot's batches; SendPush: a sandbox's flushes, as the extension sends its next flush
	// only once the previous one was accepted).
	Workers int
	// Rate is invocations (Send) or flushes (SendPush, replays not counted) per second;
	// 0 sends as fast as the workers go (max mode).
	Rate float64
	// Timeout bounds the whole send; what is not acknowledged by then is reported, not dropped
	// silently.
	Timeout time.Duration
	// MinBackoff and MaxBackoff bound the wait before a retry (doubling), unless the answer
	// has a Retry-After.
	MinBackoff, MaxBackoff time.Duration
	Client                 *http.Client
	// HoldReplays (SendPush), while true, skips the replays that fall due (counted in
	// Stats.ReplaysHeld): a scenario holds them around a gateway restart, because the
	// gateway remembers the accepted sequence numbers in memory only, and a resend of a flush
	// the stopped process acknowledged would count again in the new one. (The extension
	// resends only what was not acknowledged, and a graceful stop answers what it took.)
	HoldReplays *atomic.Bool
}

// Stats counts what happened to the batches (Send) or flushes (SendPush).
type Stats struct {
	// Batches or flushes given, sent at least once, and answered 200 (replays not included).
	Generated, Sent, Acknowledged int64
	// Attempts is every request made (replays and retries included), Retried the requests
	// that resent what the gateway had refused or not answered.
	Attempts, Retried int64
	// Refused counts the answers 429 and 5xx (the gateway busy), Unreachable the requests
	// that got no answer (a gateway restarting).
	Refused, Unreachable int64
	// Replayed: Send, the acknowledgements that said replayed; SendPush, the replays of
	// acknowledged flushes sent and acknowledged. ReplaysHeld: the replays SendPush skipped
	// (see SendConfig.HoldReplays).
	Replayed, ReplaysHeld int64
	// Invocations of the batches or flushes given and acknowledged (Batch.Invocations,
	// PushBatch.Invocations).
	GeneratedInvocations    int64
	AcknowledgedInvocations int64
	// Function spans of the OTLP batches given and acknowledged (Batch.Spans).
	GeneratedSpans    int64
	AcknowledgedSpans int64
	// Data points of the flushes given and acknowledged (PushBatch.Points).
	GeneratedPoints    int64
	AcknowledgedPoints int64
	Duration           time.Duration
}

// Add adds o's counts to s, for sends that ran side by side (Duration is left to the
// caller, who knows whether they overlapped).
func (s *Stats) Add(o Stats) {
	s.Generated += o.Generated
	s.Sent += o.Sent
	s.Acknowledged += o.Acknowledged
	s.Attempts += o.Attempts
	s.Retried += o.Retried
	s.Refused += o.Refused
	s.Unreachable += o.Unreachable
	s.Replayed += o.Replayed
	s.ReplaysHeld += o.ReplaysHeld
	s.GeneratedInvocations += o.GeneratedInvocations
	s.AcknowledgedInvocations += o.AcknowledgedInvocations
	s.GeneratedSpans += o.GeneratedSpans
	s.AcknowledgedSpans += o.AcknowledgedSpans
	s.GeneratedPoints += o.GeneratedPoints
	s.AcknowledgedPoints += o.AcknowledgedPoints
}

// Unacknowledged is how many batches or flushes were not acknowledged.
func (s Stats) Unacknowledged() int64 { return s.Generated - s.Acknowledged }

// Send posts every batch to its path until the gateway acknowledges it. A slot's batches
// (telemetry and OTLP alike) go through one worker, in order, each acknowledged before the
// next is sent. 429, 503, other 5xx and transport errors are retried with backoff; a 4xx
// other than 429 is a permanent error that stops the send. It returns an error when any
// batch was not acknowledged.
func Send(ctx context.Context, cfg SendConfig, batches []Batch) (Stats, error) {
	stats := Stats{Generated: int64(len(batches))}
	for _, b := range batches {
		stats.GeneratedInvocations += int64(b.Invocations)
		stats.GeneratedSpans += int64(b.Spans)
	}
	s := newSender(cfg)
	queues := make([][]Batch, s.cfg.Workers)
	for _, b := range batches {
		w := b.Slot % s.cfg.Workers
		queues[w] = append(queues[w], b)
	}
	return sendQueues(ctx, s, stats, "batches", queues, func(ctx context.Context, b Batch) error {
		if err := s.pace.wait(ctx, b.Invocations); err != nil {
			return err
		}
		s.count.sent.Add(1)
		replayed, err := s.deliver(ctx, b, b.describe)
		if err != nil {
			return err
		}
		s.count.acked.Add(1)
		s.count.ackedInvocations.Add(int64(b.Invocations))
		s.count.ackedSpans.Add(int64(b.Spans))
		if replayed {
			s.count.replayed.Add(1)
		}
		return nil
	})
}

// sender is what Send and SendPush share: the configuration with its defaults, the pace,
// and the counts the workers keep.
type sender struct {
	cfg   SendConfig
	pace  *pacer
	count struct {
		sent, acked, attempts, retried, refused, unreachable, replayed, held atomic.Int64
		ackedInvocations, ackedSpans, ackedPoints                            atomic.Int64
	}
}

func newSender(cfg SendConfig) *sender {
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
	return &sender{cfg: cfg, pace: &pacer{rate: cfg.Rate}}
}

// sendQueues runs one worker per queue, each sending its items in order with send, until
// every item is sent or the first error stops them all (and the timeout bounds them). It
// adds the workers' counts to stats; what names the items in the error.
func sendQueues[T any](ctx context.Context, s *sender, stats Stats, what string, queues [][]T, send func(context.Context, T) error) (Stats, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	began := time.Now()
	s.pace.next = began
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for _, q := range queues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, item := range q {
				if err := send(ctx, item); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	c := &s.count
	stats.Sent, stats.Acknowledged = c.sent.Load(), c.acked.Load()
	stats.Attempts, stats.Retried = c.attempts.Load(), c.retried.Load()
	stats.Refused, stats.Unreachable = c.refused.Load(), c.unreachable.Load()
	stats.Replayed, stats.ReplaysHeld = c.replayed.Load(), c.held.Load()
	stats.AcknowledgedInvocations = c.ackedInvocations.Load()
	stats.AcknowledgedSpans, stats.AcknowledgedPoints = c.ackedSpans.Load(), c.ackedPoints.Load()
	stats.Duration = time.Since(began)
	if firstErr == nil && stats.Acknowledged != stats.Generated {
		firstErr = errors.New("not every one was acknowledged")
	}
	if firstErr != nil {
		return stats, fmt.Errorf("loadgen: %d of %d %s unacknowledged: %w", stats.Unacknowledged(), stats.Generated, what, firstErr)
	}
	return stats, nil
}

// deliver posts b until the gateway answers 200, and says whether the answer said it had b
// already. 429, 5xx and transport errors are retried after a doubling backoff (or the
// answer's Retry-After); another answer is a permanent error about what describe names.
func (s *sender) deliver(ctx context.Context, b Batch, describe func() string) (bool, error) {
	backoff := s.cfg.MinBackoff
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			s.count.retried.Add(1)
		}
		s.count.attempts.Add(1)
		code, retryAfter, replayed, err := post(ctx, s.cfg.Client, s.cfg.URL, b)
		if err == nil && code == http.StatusOK {
			return replayed, nil
		}
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		if err == nil && code != http.StatusTooManyRequests && code < 500 {
			return false, fmt.Errorf("%s: permanent answer %d", describe(), code)
		}
		if err != nil {
			s.count.unreachable.Add(1)
		} else {
			s.count.refused.Add(1)
		}
		wait := backoff
		if retryAfter > 0 {
			wait = retryAfter
		}
		backoff = min(backoff*2, s.cfg.MaxBackoff)
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(wait):
		}
	}
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
