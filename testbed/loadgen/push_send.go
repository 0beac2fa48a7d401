// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package loadgen

import (
	"context"
	"fmt"
)

// SendPush sends every sandbox's flushes in order until the gateway acknowledges each, and
// sends again, byte for byte, those marked for a replay once they are acknowledged. The
// workers take the flushes round by round (every sandbox's first flush, then every
// sandbox's second, ...), as a fleet whose sandboxes flush side by side. 429, 5xx and
// transport errors are retried with the same sequence number and bytes; another 4xx is a
// permanent error that stops the send. It returns an error when a flush or replay was not
// acknowledged.
func SendPush(ctx context.Context, cfg SendConfig, sandboxes [][]PushBatch) (Stats, error) {
	var stats Stats
	rounds := 0
	for _, flushes := range sandboxes {
		stats.Generated += int64(len(flushes))
		for i := range flushes {
			stats.GeneratedPoints += int64(flushes[i].Points)
			stats.GeneratedInvocations += int64(flushes[i].Invocations)
		}
		rounds = max(rounds, len(flushes))
	}
	s := newSender(cfg)
	// Worker w sends the sandboxes i with i % Workers == w, round by round.
	queues := make([][]*PushBatch, s.cfg.Workers)
	for k := range rounds {
		for i, flushes := range sandboxes {
			if k < len(flushes) {
				w := i % s.cfg.Workers
				queues[w] = append(queues[w], &flushes[k])
			}
		}
	}
	return sendQueues(ctx, s, stats, "flushes", queues, func(ctx context.Context, b *PushBatch) error {
		if err := s.pace.wait(ctx, 1); err != nil {
			return err
		}
		req := Batch{Function: b.Function, Path: MetricsPath, ContentType: ContentTypeJSON, Header: b.Header, Body: b.Body}
		s.count.sent.Add(1)
		if _, err := s.deliver(ctx, req, func() string { return b.describe("flush") }); err != nil {
			return err
		}
		s.count.acked.Add(1)
		s.count.ackedPoints.Add(int64(b.Points))
		s.count.ackedInvocations.Add(int64(b.Invocations))
		for range b.Replays {
			if s.cfg.HoldReplays != nil && s.cfg.HoldReplays.Load() {
				s.count.held.Add(1)
				continue
			}
			if _, err := s.deliver(ctx, req, func() string { return b.describe("replay") }); err != nil {
				return err
			}
			s.count.replayed.Add(1)
		}
		return nil
	})
}

// describe names the flush in errors; what says whether it was the flush or its replay.
func (b *PushBatch) describe(what string) string {
	return fmt.Sprintf("%s of %s (instance %s, sequence %d)", what, b.Function, b.Instance, b.Sequence)
}
