// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// PushSendConfig says where and how fast to send a push load.
type PushSendConfig struct {
	// URL is the gateway's base URL (http://host:port); flushes go to MetricsPath under it.
	URL string
	// Workers is how many flushes are in flight at most. A sandbox's flushes always go
	// through the same worker, in order, each acknowledged before the next (as the extension
	// sends its next flush only once the previous one was accepted).
	Workers int
	// Rate is flushes per second (replays not counted); 0 sends as fast as the workers go.
	Rate float64
	// Timeout bounds the whole send; what is not acknowledged by then is reported.
	Timeout time.Duration
	// MinBackoff and MaxBackoff bound the wait before a retry (doubling), unless the answer
	// has a Retry-After.
	MinBackoff, MaxBackoff time.Duration
	Client                 *http.Client
	// HoldReplays, while true, skips the replays that fall due (counted in
	// PushStats.ReplaysHeld): a scenario holds them around a gateway restart, because the
	// gateway remembers the accepted sequence numbers in memory only, and a resend of a flush
	// the stopped process acknowledged would count again in the new one. (The extension
	// resends only what was not acknowledged, and a graceful stop answers what it took.)
	HoldReplays *atomic.Bool
}

// PushStats counts what happened to a push load's flushes.
type PushStats struct {
	// Flushes given, sent at least once and acknowledged (200), replays not included.
	Generated, Sent, Acknowledged int64
	// Attempts is every request made (replays and retries included), Retried the requests
	// that resent a flush or replay the gateway had refused or not answered.
	Attempts, Retried int64
	// Replays acknowledged, and held (skipped; see PushSendConfig.HoldReplays).
	Replayed, ReplaysHeld int64
	// Data points and invocations of the flushes given and acknowledged.
	GeneratedPoints, AcknowledgedPoints           int64
	GeneratedInvocations, AcknowledgedInvocations int64
	// Refused counts the answers 429 and 503 (the gateway busy), Unreachable the requests
	// that got no answer (a gateway restarting).
	Refused, Unreachable int64
	Duration             time.Duration
}

// Add adds o's counts to s (Duration is left to the caller).
func (s *PushStats) Add(o PushStats) {
	s.Generated += o.Generated
	s.Sent += o.Sent
	s.Acknowledged += o.Acknowledged
	s.Attempts += o.Attempts
	s.Retried += o.Retried
	s.Replayed += o.Replayed
	s.ReplaysHeld += o.ReplaysHeld
	s.GeneratedPoints += o.GeneratedPoints
	s.AcknowledgedPoints += o.AcknowledgedPoints
	s.GeneratedInvocations += o.GeneratedInvocations
	s.AcknowledgedInvocations += o.AcknowledgedInvocations
	s.Refused += o.Refused
	s.Unreachable += o.Unreachable
}

// SendPush sends every sandbox's flushes in order until the gateway acknowledges each, and
// sends again, byte for byte, those marked for a replay once they are acknowledged. The
// workers take the flushes round by round (every sandbox's first flush, then every
// sandbox's second, ...), as a fleet whose sandboxes flush side by side. 429, 5xx and
// transport errors are retried with the same sequence number and bytes; another 4xx is a
// permanent error that stops the send. It returns an error when a flush or replay was not
// acknowledged.
func SendPush(ctx context.Context, cfg PushSendConfig, sandboxes [][]PushBatch) (PushStats, error) {
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
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.MaxIdleConnsPerHost = cfg.Workers
		cfg.Client = &http.Client{Timeout: 30 * time.Second, Transport: transport}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	var st struct {
		sent, acked, attempts, retried, replayed, held, ackedPoints, ackedInv, refused, unreachable atomic.Int64
	}
	stats := PushStats{}
	rounds := 0
	for _, flushes := range sandboxes {
		stats.Generated += int64(len(flushes))
		for i := range flushes {
			stats.GeneratedPoints += int64(flushes[i].Points)
			stats.GeneratedInvocations += int64(flushes[i].Invocations)
		}
		rounds = max(rounds, len(flushes))
	}
	// Worker w sends the sandboxes s with s % Workers == w, round by round.
	queues := make([][]*PushBatch, cfg.Workers)
	for k := range rounds {
		for s, flushes := range sandboxes {
			if k < len(flushes) {
				w := s % cfg.Workers
				queues[w] = append(queues[w], &flushes[k])
			}
		}
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
	// deliver sends one request until the gateway answers 200.
	deliver := func(b *PushBatch, what string) error {
		req := Batch{Function: b.Function, Path: MetricsPath, ContentType: ContentTypeJSON, Header: b.Header, Body: b.Body}
		backoff := cfg.MinBackoff
		for attempt := 0; ; attempt++ {
			if attempt > 0 {
				st.retried.Add(1)
			}
			st.attempts.Add(1)
			code, retryAfter, _, err := post(ctx, cfg.Client, cfg.URL, req)
			if err == nil && code == http.StatusOK {
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err == nil && code != http.StatusTooManyRequests && code < 500 {
				return fmt.Errorf("%s of %s (instance %s, sequence %d): permanent answer %d", what, b.Function, b.Instance, b.Sequence, code)
			}
			if err != nil {
				st.unreachable.Add(1)
			} else {
				st.refused.Add(1)
			}
			wait := backoff
			if retryAfter > 0 {
				wait = retryAfter
			}
			backoff = min(backoff*2, cfg.MaxBackoff)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
	}
	for _, q := range queues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, b := range q {
				if err := pace.wait(ctx, 1); err != nil {
					fail(err)
					return
				}
				st.sent.Add(1)
				if err := deliver(b, "flush"); err != nil {
					fail(err)
					return
				}
				st.acked.Add(1)
				st.ackedPoints.Add(int64(b.Points))
				st.ackedInv.Add(int64(b.Invocations))
				for range b.Replays {
					if cfg.HoldReplays != nil && cfg.HoldReplays.Load() {
						st.held.Add(1)
						continue
					}
					if err := deliver(b, "replay"); err != nil {
						fail(err)
						return
					}
					st.replayed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	stats.Sent, stats.Acknowledged = st.sent.Load(), st.acked.Load()
	stats.Attempts, stats.Retried = st.attempts.Load(), st.retried.Load()
	stats.Replayed, stats.ReplaysHeld = st.replayed.Load(), st.held.Load()
	stats.AcknowledgedPoints, stats.AcknowledgedInvocations = st.ackedPoints.Load(), st.ackedInv.Load()
	stats.Refused, stats.Unreachable = st.refused.Load(), st.unreachable.Load()
	stats.Duration = time.Since(began)
	if firstErr == nil && stats.Acknowledged != stats.Generated {
		firstErr = errors.New("not every flush was acknowledged")
	}
	if firstErr != nil {
		return stats, fmt.Errorf("loadgen: %d of %d flushes unacknowledged: %w", stats.Generated-stats.Acknowledged, stats.Generated, firstErr)
	}
	return stats, nil
}
