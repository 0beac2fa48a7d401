// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package forward

import (
	"context"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/layer/internal/queue"
	"github.com/otelcol-lambda/otelcol-lambda/layer/internal/telemetry"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/gatewaytest"
)

func queues(t *testing.T, n int) (*queue.Queue[telemetry.Item], *queue.Queue[Payload]) {
	t.Helper()
	events := queue.New(1<<20, telemetry.Item.Size)
	for i := range n {
		ev, err := telemetryapi.NewEvent(time.Unix(1700000000, 0), telemetryapi.TypeFunction, "line "+string(rune('a'+i%26)))
		require.NoError(t, err)
		events.Push(telemetry.Item{Event: ev})
	}
	return events, queue.New(1<<20, Payload.Size)
}

// gatewayAnswering is a gateway stand-in that answers every batch with status.
func gatewayAnswering(t *testing.T, status int) *gatewaytest.Gateway {
	gw := gatewaytest.New()
	t.Cleanup(gw.Close)
	gw.SetPolicy(func(*http.Request, []telemetryapi.Event) int { return status })
	return gw
}

func newSender(t *testing.T, url string, mod func(*Options)) *Sender {
	t.Helper()
	opts := Options{
		Endpoint: url, Gzip: true, MaxBatchBytes: 1 << 20,
		Sandbox: func() wire.Sandbox { return wire.Sandbox{FunctionName: "fn", ExtensionInstanceID: "i-1"} },
	}
	if mod != nil {
		mod(&opts)
	}
	s, err := New(opts)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

func TestBatchesAreLimitedInBytes(t *testing.T) {
	gw := gatewaytest.New()
	defer gw.Close()
	s := newSender(t, gw.URL, func(o *Options) { o.MaxBatchBytes = 200 })
	events, payloads := queues(t, 10)
	require.NoError(t, s.Flush(context.Background(), events, payloads))
	assert.Len(t, gw.Accepted(), 10)
	assert.Greater(t, len(gw.Batches()), 1)
	for i, b := range gw.Batches() {
		assert.Equal(t, uint64(i+1), b.Batch.Sequence)
		assert.Equal(t, "fn", b.Batch.Sandbox.FunctionName)
	}
	assert.Equal(t, 10, s.Stats().Events)
}

func TestRetryAfterBeyondTheBudgetKeepsTheBatch(t *testing.T) {
	gw := gatewayAnswering(t, http.StatusTooManyRequests)
	s := newSender(t, gw.URL, nil)
	events, payloads := queues(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	// Retry-After: 1 (second) does not fit in 200 ms: give up at once, keep the batch.
	assert.ErrorIs(t, s.Flush(ctx, events, payloads), ErrGatewayUnavailable)
	assert.Len(t, gw.Batches(), 1)
	gw.SetPolicy(nil)
	require.NoError(t, s.Flush(context.Background(), events, payloads))
	batches := gw.Batches()
	require.Len(t, batches, 2)
	assert.Equal(t, batches[0].Raw, batches[1].Raw, "the same batch")
	assert.Equal(t, batches[0].Batch.Sequence, batches[1].Batch.Sequence, "under the same number")
}

func TestRefusedBatchesAreDroppedAndCounted(t *testing.T) {
	gw := gatewayAnswering(t, http.StatusBadRequest)
	s := newSender(t, gw.URL, func(o *Options) { o.Gzip = false })
	events, payloads := queues(t, 4)
	require.NoError(t, s.Flush(context.Background(), events, payloads))
	assert.Equal(t, uint64(4), s.Stats().DroppedEvents)
	gw.SetPolicy(nil)
	more, _ := queues(t, 1)
	events.Push(more.Take(1<<20, 0)...)
	require.NoError(t, s.Flush(context.Background(), events, payloads))
	last := gw.Batches()[len(gw.Batches())-1]
	assert.Equal(t, uint64(4), last.Batch.DroppedEvents, "the next accepted batch says what was lost")
	assert.Empty(t, last.Header.Get("Content-Encoding"))
}

func TestSingleEventTooLargeIsDropped(t *testing.T) {
	gw := gatewayAnswering(t, http.StatusRequestEntityTooLarge)
	s := newSender(t, gw.URL, nil)
	events, payloads := queues(t, 4)
	require.NoError(t, s.Flush(context.Background(), events, payloads))
	assert.Equal(t, uint64(4), s.Stats().DroppedEvents)
	assert.Equal(t, uint64(4), events.TakeDropped())
}

func TestPayloadsKeepTheirBytesAndHeaders(t *testing.T) {
	gw := gatewaytest.New()
	defer gw.Close()
	s := newSender(t, gw.URL, func(o *Options) { o.Token = "tok" })
	gw.Token = "tok"
	events, payloads := queues(t, 0)
	payloads.Push(Payload{Path: "/v1/traces", ContentType: "application/x-protobuf", ContentEncoding: "gzip", Body: []byte{1, 2, 3}})
	require.NoError(t, s.Flush(context.Background(), events, payloads))
	got := gw.Payloads()
	require.Len(t, got, 1)
	assert.Equal(t, []byte{1, 2, 3}, got[0].Body)
	assert.Equal(t, "gzip", got[0].Header.Get("Content-Encoding"))
	assert.Equal(t, "fn", got[0].Header.Get(wire.HeaderFunctionName))
}

func TestCAFile(t *testing.T) {
	gw := gatewaytest.NewTLS()
	defer gw.Close()
	// Without the CA the handshake fails; with it the batch goes.
	events, payloads := queues(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	plain := newSender(t, gw.URL, nil)
	assert.Error(t, plain.Flush(ctx, events, payloads))

	ca := filepath.Join(t.TempDir(), "ca.pem")
	cert := gw.Certificate()
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600))
	withCA := newSender(t, gw.URL, func(o *Options) { o.CAFile = ca })
	events, payloads = queues(t, 1) // the first sender keeps its batch pending
	require.NoError(t, withCA.Flush(context.Background(), events, payloads))
	assert.Len(t, gw.Accepted(), 1)

	bad := filepath.Join(t.TempDir(), "bad.pem")
	require.NoError(t, os.WriteFile(bad, []byte("not a certificate"), 0o600))
	_, err := New(Options{Endpoint: gw.URL, CAFile: bad})
	assert.ErrorContains(t, err, "holds no PEM certificate")
}

// countingSource owes one new payload per Collect, numbering its bodies.
type countingSource struct{ collected int }

func (c *countingSource) Collect() *Payload {
	c.collected++
	return &Payload{Path: "/v1/metrics", ContentType: "application/json", Body: []byte{byte('0' + c.collected)}}
}

// TestSourcePayloadIsResentAsItIsUntilAccepted: what a source handed over (pushed
// increments, no longer owed by it) is resent byte for byte, with its sequence number,
// until the gateway accepts it; the source is asked again only then. OTLP payloads get
// sequence numbers from the same counter as telemetry batches.
func TestSourcePayloadIsResentAsItIsUntilAccepted(t *testing.T) {
	gw := gatewayAnswering(t, http.StatusServiceUnavailable)
	s := newSender(t, gw.URL, func(o *Options) { o.Gzip = false }) // bodies readable here
	events, payloads := queues(t, 0)
	payloads.Push(Payload{Path: "/v1/traces", ContentType: "application/x-protobuf", Body: []byte("spans")})
	src := &countingSource{}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, s.Flush(ctx, events, payloads), ErrGatewayUnavailable)
	gw.SetPolicy(nil)
	require.NoError(t, s.Flush(context.Background(), events, payloads, src))
	require.NoError(t, s.Flush(context.Background(), events, payloads, src))

	seqs := map[string][]string{}
	for _, p := range gw.Payloads() {
		seqs[p.Path] = append(seqs[p.Path], p.Header.Get(wire.HeaderBatchSequence)+":"+string(p.Body))
	}
	traces := seqs["/v1/traces"]
	require.GreaterOrEqual(t, len(traces), 2, "refused, then accepted")
	for _, got := range traces {
		assert.Equal(t, "1:spans", got, "the same number and bytes on every attempt")
	}
	assert.Equal(t, []string{"2:1", "3:2"}, seqs["/v1/metrics"], "a new payload only after the last was accepted")

	// A source's payload refused for now is kept, not collected again.
	gw.SetPolicy(func(*http.Request, []telemetryapi.Event) int { return http.StatusServiceUnavailable })
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	assert.ErrorIs(t, s.Flush(ctx2, events, payloads, src), ErrGatewayUnavailable)
	gw.SetPolicy(nil)
	require.NoError(t, s.Flush(context.Background(), events, payloads, src))
	all := gw.Payloads()
	kept, fresh := all[len(all)-2], all[len(all)-1]
	assert.Equal(t, "4:3", kept.Header.Get(wire.HeaderBatchSequence)+":"+string(kept.Body), "the kept payload, resent as it was")
	assert.Equal(t, "5:4", fresh.Header.Get(wire.HeaderBatchSequence)+":"+string(fresh.Body), "then what was owed since")
	assert.Equal(t, 4, src.collected)
}

// TestFlushAfterAResendCollectsWhatCameSince: when a flush resends a source's payload that
// an earlier flush could not deliver, what the source took in since is owed too and must
// go in the same flush: the last flush, at SHUTDOWN, would lose it otherwise.
func TestFlushAfterAResendCollectsWhatCameSince(t *testing.T) {
	gw := gatewaytest.New()
	defer gw.Close()
	s := newSender(t, gw.URL, func(o *Options) { o.Gzip = false })
	events, payloads := queues(t, 0)
	src := &countingSource{}
	gw.SetPolicy(func(*http.Request, []telemetryapi.Event) int { return http.StatusServiceUnavailable })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, s.Flush(ctx, events, payloads, src), ErrGatewayUnavailable)
	gw.SetPolicy(nil)
	require.NoError(t, s.Flush(context.Background(), events, payloads, src))
	var accepted []string
	for _, p := range gw.Payloads() {
		if p.Status == http.StatusOK {
			accepted = append(accepted, string(p.Body))
		}
	}
	assert.Equal(t, []string{"1", "2"}, accepted, "the resent payload, then what was owed since")
}

// TestUnacknowledgedGoesOutBeforeAnythingNewIsNumbered: the gateway takes a number older
// than the recent ones as a resend, which holds only if nothing new is numbered while an
// older request waits for its acknowledgement.
func TestUnacknowledgedGoesOutBeforeAnythingNewIsNumbered(t *testing.T) {
	gw := gatewaytest.New()
	defer gw.Close()
	s := newSender(t, gw.URL, func(o *Options) { o.Gzip = false })
	events, payloads := queues(t, 0)
	payloads.Push(Payload{Path: "/v1/traces", ContentType: "application/x-protobuf", Body: []byte("spans")})
	gw.SetPolicy(func(*http.Request, []telemetryapi.Event) int { return http.StatusServiceUnavailable })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, s.Flush(ctx, events, payloads), ErrGatewayUnavailable)

	// New events arrive; the kept payload (number 1) must go before their batch is numbered.
	more, _ := queues(t, 3)
	var order []string
	gw.SetPolicy(func(r *http.Request, _ []telemetryapi.Event) int {
		order = append(order, r.URL.Path+" "+r.Header.Get(wire.HeaderBatchSequence)) // in arrival order
		return 0
	})
	require.NoError(t, s.Flush(context.Background(), more, payloads))
	assert.Equal(t, []string{"/v1/traces 1", wire.TelemetryPath + " 2"}, order)
}

// TestRefusedPayloadsAreLogged: a payload the gateway refuses for good, as too large or
// as bad, is dropped with a log line.
func TestRefusedPayloadsAreLogged(t *testing.T) {
	for _, status := range []int{http.StatusRequestEntityTooLarge, http.StatusBadRequest} {
		gw := gatewaytest.New()
		var logs []string
		s := newSender(t, gw.URL, func(o *Options) {
			o.Logf = func(format string, args ...any) { logs = append(logs, fmt.Sprintf(format, args...)) }
		})
		gw.SetPolicy(func(*http.Request, []telemetryapi.Event) int { return status })
		events, payloads := queues(t, 0)
		require.NoError(t, s.Flush(context.Background(), events, payloads, &countingSource{}))
		gw.Close()
		assert.Equal(t, 1, s.Stats().DroppedPayloads, "HTTP %d", status)
		require.NotEmpty(t, logs, "HTTP %d", status)
		assert.Contains(t, logs[len(logs)-1], "/v1/metrics", "HTTP %d", status)
		assert.Contains(t, logs[len(logs)-1], "dropped", "HTTP %d", status)
	}
}
