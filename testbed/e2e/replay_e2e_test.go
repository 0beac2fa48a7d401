// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
)

// replayBatch is one numbered Telemetry API batch as the extension sends it: two
// invocations, each with its own request id.
type replayBatch struct {
	batch wire.Batch
	body  []byte
}

func newReplayBatch(function, instanceID string, seq uint64) replayBatch {
	sandbox := wire.Sandbox{FunctionName: function, FunctionVersion: "1", Region: "eu-west-1",
		MemorySizeMB: 128, Architecture: "arm64", ExtensionInstanceID: instanceID}
	events := make([]string, 0, 2)
	for k := range 2 {
		events = append(events, invocationEvents(fmt.Sprintf("%s-%d-%d", instanceID, seq, k), int(seq%60)))
	}
	return replayBatch{batch: wire.Batch{Sandbox: sandbox, Sequence: seq}, body: []byte("[" + strings.Join(events, ",") + "]")}
}

// send posts the batch once; unlike postBatch it does not fail the test, so that senders
// can run in goroutines and meet a killed gateway. An answer other than 200 is an error.
func (b replayBatch) send(ctx context.Context, url string) (telemetryAnswer, error) {
	status, answer, err := sendBatch(ctx, url, b.batch, b.body, false)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("status %d: %s", status, answer.Error)
	}
	return answer, err
}

// TestReplayStateSurvivesGatewayRestart sends numbered batches to the built gateway, stops
// it gracefully (SIGTERM), starts it again on the same storage and resends them all: each
// is answered as a replay, and Prometheus counts every invocation exactly once.
func TestReplayStateSurvivesGatewayRestart(t *testing.T) {
	const (
		function  = "e2e-replay-restart"
		sandboxes = 3
		batches   = 5 // per sandbox, before the restart
	)
	g, prom := startGatewayWithPrometheus(t)
	var sent []replayBatch
	for i := range sandboxes {
		for seq := uint64(1); seq <= batches; seq++ {
			sent = append(sent, newReplayBatch(function, fmt.Sprintf("replay-sandbox-%d", i), seq))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, b := range sent {
		answer, err := b.send(ctx, g.url)
		require.NoError(t, err)
		require.Equal(t, 6, answer.Accepted, "%s %d", b.batch.Sandbox.ExtensionInstanceID, b.batch.Sequence)
	}

	require.NoError(t, g.restart())

	for _, b := range sent {
		answer, err := b.send(ctx, g.url)
		require.NoError(t, err)
		assert.True(t, answer.Replayed, "%s %d resent after the restart", b.batch.Sandbox.ExtensionInstanceID, b.batch.Sequence)
		assert.Zero(t, answer.Accepted)
	}
	for i := range sandboxes {
		answer, err := newReplayBatch(function, fmt.Sprintf("replay-sandbox-%d", i), batches+1).send(ctx, g.url)
		require.NoError(t, err)
		require.Equal(t, 6, answer.Accepted, "a new batch after the restart is taken")
	}

	// Each series' total over its reset segments (the restart resets it), summed.
	want := float64(2 * sandboxes * (batches + 1))
	total := func() (float64, error) {
		qctx, qcancel := context.WithTimeout(ctx, 30*time.Second)
		defer qcancel()
		series, _, err := prom.CounterTotals(qctx, fmt.Sprintf("faas_invocations_total{faas_name=%q}", function), 10*time.Minute)
		sum := 0.0
		for _, s := range series {
			sum += s.Value
		}
		return sum, err
	}
	deadline := time.Now().Add(queryDeadline)
	var got float64
	var err error
	for got, err = total(); (err != nil || got < want) && time.Now().Before(deadline); got, err = total() {
		time.Sleep(500 * time.Millisecond)
	}
	require.NoError(t, err)
	require.Equal(t, want, got, "invocations in Prometheus, each counted once")
	// Three flushes later it still holds: nothing counted twice arrives late.
	time.Sleep(3 * time.Second)
	got, err = total()
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

// killRound is what one kill -9 of the measurement did.
type killRound struct {
	killAfter time.Duration // since the gateway (re)started
	acked     int           // batches acknowledged before the kill
	inFlight  int           // sent, not answered when the gateway died
	// withinInterval and withinBound are the acknowledged batches whose answer came
	// within one checkpoint interval, and within interval+slack, before the kill.
	withinInterval, withinBound int
	// doubled are acknowledged batches the restarted gateway accepted again; beyond
	// the interval, how many of them were acknowledged more than an interval before.
	doubled, doubledBeyondInterval int
	inFlightTaken                  int // in-flight batches the restarted gateway took
}

// TestReplayStateKill9Bound measures what a kill -9 can still count twice. Sandboxes send
// numbered batches to the built gateway at a steady pace; the gateway is killed (SIGKILL)
// at a random moment, started again on the storage the dead process left, and every batch
// of the round is resent. An acknowledged batch accepted again is a double count. The
// receiver checkpoints every checkpoint_interval, so only batches acknowledged within
// about one interval before the kill may be doubled; the test fails if an older one is.
// The figures of each round are logged.
func TestReplayStateKill9Bound(t *testing.T) {
	const (
		function  = "e2e-replay-kill"
		sandboxes = 4
		rounds    = 8
		pace      = 20 * time.Millisecond // between one sandbox's batches
		// The receiver's default checkpoint_interval, which distribution/config.yaml keeps.
		interval = time.Second
		// A checkpoint is written a moment after its tick: the ticker's goroutine must be
		// scheduled and the storage write done, on a machine busy with the load.
		slack = 250 * time.Millisecond
	)
	sinkURL, stopSink, err := harness.Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	require.NoError(t, err)
	t.Cleanup(func() { _ = stopSink() })
	gw := startGateway(t, harness.GatewayConfig{RemoteWrite: sinkURL + "/api/v1/write", InstanceID: "kill-gateway-0"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	next := make([]uint64, sandboxes) // each sandbox's last sequence number
	var results []killRound
	for round := range rounds {
		type sent struct {
			b     replayBatch
			acked time.Time // zero: no answer before the kill
		}
		ledgers := make([][]sent, sandboxes)
		started := time.Now()
		killAfter := 1500*time.Millisecond + rand.N(2*time.Second)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i := range sandboxes {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					next[i]++
					b := newReplayBatch(function, fmt.Sprintf("kill-sandbox-%d", i), next[i])
					_, err := b.send(ctx, gw.url)
					s := sent{b: b}
					if err == nil {
						s.acked = time.Now()
					}
					ledgers[i] = append(ledgers[i], s)
					if err != nil {
						return // the gateway is gone: what it did with this one is unknown
					}
					time.Sleep(pace)
				}
			})
		}
		time.Sleep(time.Until(started.Add(killAfter)))
		killedAt := time.Now()
		gw.kill()
		close(stop)
		wg.Wait()
		require.NoError(t, gw.restart(), "round %d: starting the gateway again after the kill", round)

		r := killRound{killAfter: killAfter}
		for _, ledger := range ledgers {
			for _, s := range ledger {
				answer, err := s.b.send(ctx, gw.url)
				require.NoError(t, err, "round %d: resending %s %d", round, s.b.batch.Sandbox.ExtensionInstanceID, s.b.batch.Sequence)
				taken := !answer.Replayed
				if s.acked.IsZero() {
					r.inFlight++
					if taken {
						r.inFlightTaken++
					}
					continue
				}
				r.acked++
				before := killedAt.Sub(s.acked)
				if before <= interval {
					r.withinInterval++
				}
				if before <= interval+slack {
					r.withinBound++
				}
				if taken {
					r.doubled++
					if before > interval {
						r.doubledBeyondInterval++
					}
					assert.LessOrEqual(t, before, interval+slack,
						"round %d: %s %d was acknowledged %s before the kill, more than a checkpoint interval, and counted again",
						round, s.b.batch.Sandbox.ExtensionInstanceID, s.b.batch.Sequence, before)
				}
			}
		}
		assert.LessOrEqual(t, r.doubled, r.withinBound, "round %d", round)
		results = append(results, r)
	}

	maxDoubled, maxBound, maxInterval, sumDoubled, sumAcked := 0, 0, 0, 0, 0
	var lines []string
	for k, r := range results {
		lines = append(lines, fmt.Sprintf("| %d | %.2f | %d | %d | %d | %d | %d | %d/%d |", k+1, r.killAfter.Seconds(), r.acked,
			r.withinInterval, r.withinBound, r.doubled, r.doubledBeyondInterval, r.inFlightTaken, r.inFlight))
		maxDoubled, maxBound, maxInterval = max(maxDoubled, r.doubled), max(maxBound, r.withinBound), max(maxInterval, r.withinInterval)
		sumDoubled += r.doubled
		sumAcked += r.acked
	}
	t.Logf("kill -9 at a random moment, %d rounds, %d sandboxes sending every %s, checkpoint_interval %s:\n"+
		"| round | killed after (s) | acknowledged | within interval | within interval+%s | counted twice | of them older than the interval | in flight taken/in flight |\n%s\n"+
		"max counted twice %d; max acknowledged within the interval %d (within interval+slack %d); %d of %d acknowledged batches counted twice in all",
		rounds, sandboxes, pace, interval, slack, strings.Join(lines, "\n"), maxDoubled, maxInterval, maxBound, sumDoubled, sumAcked)
}
