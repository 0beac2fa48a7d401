// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdametricsconnector

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/otelcol-lambda/otelcol-lambda/connector/lambdametricsconnector/internal/metadata"
	"github.com/otelcol-lambda/otelcol-lambda/internal/acklog"
	"github.com/otelcol-lambda/otelcol-lambda/internal/filestoragetest"
	"github.com/otelcol-lambda/otelcol-lambda/internal/flushloop"
	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
)

// recordingLog is a write-ahead log that records what it was told.
type recordingLog struct {
	mu     sync.Mutex
	acks   map[uint64][]string
	closed bool
}

func (l *recordingLog) Acknowledge(acks map[uint64][]string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, keys := range acks {
		l.acks[id] = append(l.acks[id], keys...)
	}
}

func (l *recordingLog) Close() { l.mu.Lock(); l.closed = true; l.mu.Unlock() }

func (l *recordingLog) acknowledged() map[uint64][]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[uint64][]string{}
	for id, keys := range l.acks {
		out[id] = append([]string(nil), keys...)
	}
	return out
}

// TestAcknowledgesLoggedSpansOnlyOnceTheirFlushWasWritten: a span's token goes back to
// the receiver's write-ahead log after the flush that counted it was consumed, and not
// before: a failed flush keeps the tokens for the next one, which carries the same counts.
func TestAcknowledgesLoggedSpansOnlyOnceTheirFlushWasWritten(t *testing.T) {
	log := &recordingLog{acks: map[uint64][]string{}}
	name := t.Name()
	acklog.Register(name, log)
	h := newHarness(t, nil)
	require.NoError(t, h.c.Start(context.Background(), nil))

	h.send(newBatch(fnA).
		Invocation(inv{RequestID: "r1", Duration: time.Second,
			Attributes: map[string]any{lambdaconv.AttrAckToken: acklog.Token(name, 7, acklog.Key(1, lambdaconv.SpanTypeInvocation))}}).
		Report(report{RequestID: "r1", Duration: time.Second, MaxMemoryUsedMB: 60,
			Attributes: map[string]any{lambdaconv.AttrAckToken: acklog.Token(name, 7, acklog.Key(2, lambdaconv.SpanTypeReport))}}))
	assert.Empty(t, log.acknowledged(), "nothing is acknowledged before a flush")

	h.sink.err = errors.New("backend down")
	h.clock.Add(10 * time.Second)
	require.Error(t, h.c.flush(context.Background()))
	assert.Empty(t, log.acknowledged(), "a failed flush acknowledges nothing")

	h.sink.err = nil
	points := h.flush()
	require.Len(t, only(points, "faas.invocations"), 1)
	for _, v := range only(points, "faas.invocations") {
		assert.Equal(t, 1.0, v, "the flush that is acknowledged carries the count")
	}
	assert.Equal(t, map[uint64][]string{7: {"1 invocation", "2 report"}}, log.acknowledged())

	h.flush()
	assert.Len(t, log.acknowledged()[7], 2, "each token once")

	// The connector holds the registry open until its last flush: a log retired meanwhile
	// (the receiver shut down first) is closed only after it.
	acklog.Retire(name)
	assert.False(t, log.closed)
	require.NoError(t, h.c.Shutdown(context.Background()))
	assert.True(t, log.closed)
}

var storageID = filestoragetest.ID

func newStorageHost(t *testing.T, dir string) filestoragetest.Host {
	return filestoragetest.Host{storageID: filestoragetest.New(t, dir)}
}

// TestFlushInterruptedByAKillIsWrittenAgainNotReplayed: a kill -9 after Prometheus took a
// flush and before its spans were acknowledged. The next process writes that flush again
// first (Prometheus ignores what it has) and acknowledges its spans before the log
// replays, so they are not counted twice.
func TestFlushInterruptedByAKillIsWrittenAgainNotReplayed(t *testing.T) {
	dir := t.TempDir()
	withStorage := func(cfg *Config) { id := storageID; cfg.Storage = &id }
	// The storage file is named after the connector's id, the same in every process.
	sameID := func(h *harness) *harness { h.c.id = component.NewID(metadata.Type); return h }
	name := t.Name()
	token := acklog.Token(name, 3, acklog.Key(0, lambdaconv.SpanTypeInvocation))

	first := sameID(newHarness(t, withStorage))
	// The test flushes by hand; the process dies without the last flush a shutdown makes.
	first.c.flushes = flushloop.New(func(context.Context) error { return nil }, zap.NewNop())
	require.NoError(t, first.c.Start(context.Background(), newStorageHost(t, dir)))
	log := &recordingLog{acks: map[uint64][]string{}}
	acklog.Register(name, log)
	first.send(newBatch(fnA).Invocation(inv{RequestID: "r1", Duration: time.Second, Attributes: map[string]any{lambdaconv.AttrAckToken: token}}))
	// Prometheus takes the flush, and the process dies before it hears so: as far as
	// storage and the log know, the same as a write that failed.
	first.sink.err = errors.New("killed before the answer")
	first.clock.Add(10 * time.Second)
	require.Error(t, first.c.flush(context.Background()))
	written := pmetric.NewMetrics()
	// What the sink would have taken: the flush as stored.
	value, err := first.c.store.Get(context.Background(), inflightKey)
	require.NoError(t, err)
	storedTokens, stored, err := decodeInflight(value)
	require.NoError(t, err)
	assert.Equal(t, []string{token}, storedTokens)
	stored.CopyTo(written)
	assert.Empty(t, log.acknowledged(), "no acknowledgement before the answer")
	first.c.releaseAcks()
	first.c.flushes.Stop(context.Background())
	require.NoError(t, first.c.store.Close(context.Background()))
	acklog.Retire(name)

	// The next process: the connector starts before the receiver registers its log.
	second := sameID(newHarness(t, withStorage))
	require.NoError(t, second.c.Start(context.Background(), newStorageHost(t, dir)))
	early := acklog.Register(name, &recordingLog{acks: map[uint64][]string{}})
	assert.Equal(t, map[uint64][]string{3: {acklog.Key(0, lambdaconv.SpanTypeInvocation)}}, early,
		"the interrupted flush's spans are acknowledged before the log replays")
	second.clock.Add(10 * time.Second)
	require.NoError(t, second.c.flush(context.Background()))
	require.NotEmpty(t, second.sink.AllMetrics())
	assert.Equal(t, written, second.sink.AllMetrics()[0], "the stored flush is written again, first and unchanged")
	require.NoError(t, second.c.Shutdown(context.Background()))
	acklog.Retire(name)

	third := sameID(newHarness(t, withStorage))
	require.NoError(t, third.c.Start(context.Background(), newStorageHost(t, dir)))
	assert.Nil(t, third.c.resend, "written once, the stored flush is gone")
	require.NoError(t, third.c.Shutdown(context.Background()))
}

func TestInflightRecordRoundTripAndCorruption(t *testing.T) {
	md := pmetric.NewMetrics()
	md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetName("faas.invocations")
	value, err := encodeInflight([]string{"a 1 0 invocation", "a 1 2 report"}, md)
	require.NoError(t, err)
	tokens, got, err := decodeInflight(value)
	require.NoError(t, err)
	assert.Equal(t, []string{"a 1 0 invocation", "a 1 2 report"}, tokens)
	assert.Equal(t, md, got)
	for cut := range 20 {
		_, _, err := decodeInflight(value[:cut])
		assert.Error(t, err, "cut at %d", cut)
	}
	_, _, err = decodeInflight(append([]byte{9}, value[1:]...))
	assert.ErrorIs(t, err, errCorruptInflight)
}

// TestShutdownDuringAnOutageIsNotAFailure: the last flush failing (the backend is down, or
// export_watch's drain ended it) is logged; Shutdown still succeeds, so the gateway exits 0.
func TestShutdownDuringAnOutageIsNotAFailure(t *testing.T) {
	h := newHarness(t, nil)
	require.NoError(t, h.c.Start(context.Background(), nil))
	h.send(newBatch(fnA).Invocation(inv{RequestID: "r1", Duration: time.Second}))
	h.sink.err = errors.New("backend down")
	assert.NoError(t, h.c.Shutdown(context.Background()))
	assert.Empty(t, h.sink.AllMetrics())
}
