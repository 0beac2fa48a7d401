// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package telemetry

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/layer/internal/queue"
)

func event(t *testing.T, typ string, record any) telemetryapi.Event {
	t.Helper()
	ev, err := telemetryapi.NewEvent(time.Unix(1700000000, 0), typ, record)
	require.NoError(t, err)
	return ev
}

func runtimeDone(t *testing.T, id string) telemetryapi.Event {
	return event(t, telemetryapi.TypePlatformRuntimeDone, telemetryapi.PlatformRuntimeDone{RequestID: id, Status: "success"})
}

func report(t *testing.T, id string) telemetryapi.Event {
	return event(t, telemetryapi.TypePlatformReport, telemetryapi.PlatformReport{RequestID: id, Status: "success"})
}

func newListener() (*Listener, *queue.Queue[Item]) {
	q := queue.New(1<<20, Item.Size)
	return New(q), q
}

func marks(items []Item) []bool {
	out := make([]bool, len(items))
	for i, it := range items {
		out[i] = it.ReportWithoutRuntimeDone
	}
	return out
}

func TestReportsAreMarkedWhenRuntimeDoneIsMissing(t *testing.T) {
	l, q := newListener()
	l.Add([]telemetryapi.Event{runtimeDone(t, "a")})
	l.Add([]telemetryapi.Event{report(t, "a"), report(t, "b"), runtimeDone(t, "c"), report(t, "c")})
	// An asynchronous retry reuses a request id: each report pairs with one runtimeDone.
	l.Add([]telemetryapi.Event{runtimeDone(t, "a"), report(t, "a"), report(t, "a")})
	items := q.Take(1<<20, 0)
	assert.Equal(t, []bool{false, false, true, false, false, false, false, true}, marks(items))
}

func TestServeHTTP(t *testing.T) {
	l, q := newListener()
	body, err := telemetryapi.AppendEvents(nil, []telemetryapi.Event{runtimeDone(t, "x"), event(t, telemetryapi.TypeFunction, "hello")})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	l.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body))))
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, 2, q.Len())

	rec = httptest.NewRecorder()
	l.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`[{"time":`)))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Equal(t, uint64(1), q.TakeDropped())
	assert.Equal(t, Stats{Deliveries: 1, Events: 2, Malformed: 1}, l.Stats())

	rec = httptest.NewRecorder()
	l.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
}

func TestWaits(t *testing.T) {
	l, _ := newListener()
	go l.Add([]telemetryapi.Event{runtimeDone(t, "r1")})
	assert.True(t, l.WaitRuntimeDone(context.Background(), "r1"))
	assert.True(t, l.WaitInvocationEnd(context.Background(), "r1"))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.False(t, l.WaitRuntimeDone(ctx, "r2"))
	assert.False(t, l.WaitReport(ctx, "r2"))
	// A crash: the report without runtimeDone ends the wait too.
	l.Add([]telemetryapi.Event{report(t, "r2")})
	assert.True(t, l.WaitInvocationEnd(ctx, "r2"))
}

func types(items []Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Event.Type
	}
	return out
}

func invocationRecord(t *testing.T, it Item) telemetryapi.Invocation {
	t.Helper()
	require.Equal(t, telemetryapi.TypeInvocation, it.Event.Type)
	var rec telemetryapi.Invocation
	require.NoError(t, json.Unmarshal(it.Event.Record, &rec))
	return rec
}

func TestNoFindingLeavesTheQueueAsItWas(t *testing.T) {
	events := []telemetryapi.Event{
		event(t, telemetryapi.TypePlatformStart, telemetryapi.PlatformStart{RequestID: "a"}),
		runtimeDone(t, "a"), report(t, "a"), report(t, "b"), event(t, telemetryapi.TypeFunction, "log line"),
	}
	l, q := newListener()
	l.Add(events)
	items := q.Take(1<<20, 0)
	want := make([]Item, len(events))
	for i, ev := range events {
		want[i] = Item{Event: ev, ReportWithoutRuntimeDone: i == 3}
	}
	assert.Equal(t, want, items)
}

// TestFindingGoesJustBeforeRuntimeDone: the proxy's finding of an invocation is queued
// right before its platform.runtimeDone, with the errorType the runtime posted, once.
func TestFindingGoesJustBeforeRuntimeDone(t *testing.T) {
	l, q := newListener()
	received := time.Date(2026, 12, 1, 10, 0, 0, 123_456_789, time.UTC)
	source := &telemetryapi.EventSource{Kind: "sqs", Trigger: "pubsub", MessagingSystem: "aws_sqs", Destination: "orders", BatchSize: 2}
	l.NoteInvocation("a", received, source)
	l.NoteInvocation("b", received, nil)
	l.NoteErrorType("b", "Handled")
	l.Add([]telemetryapi.Event{
		event(t, telemetryapi.TypePlatformStart, telemetryapi.PlatformStart{RequestID: "a"}),
		event(t, telemetryapi.TypeFunction, "working"),
		runtimeDone(t, "a"),
		report(t, "x"), // another invocation's: no finding
	})
	l.Add([]telemetryapi.Event{runtimeDone(t, "b"), report(t, "a"), report(t, "b")})
	// A second runtimeDone of a (an asynchronous retry) carries nothing: the finding went.
	l.Add([]telemetryapi.Event{runtimeDone(t, "a")})
	items := q.Take(1<<20, 0)
	assert.Equal(t, []string{
		telemetryapi.TypePlatformStart, telemetryapi.TypeFunction, telemetryapi.TypeInvocation, telemetryapi.TypePlatformRuntimeDone, telemetryapi.TypePlatformReport,
		telemetryapi.TypeInvocation, telemetryapi.TypePlatformRuntimeDone, telemetryapi.TypePlatformReport, telemetryapi.TypePlatformReport,
		telemetryapi.TypePlatformRuntimeDone,
	}, types(items))
	assert.Equal(t, telemetryapi.Invocation{RequestID: "a", Source: source}, invocationRecord(t, items[2]))
	assert.Equal(t, received.Truncate(time.Millisecond), items[2].Event.Time, "when the proxy received the event")
	assert.Equal(t, telemetryapi.Invocation{RequestID: "b", ErrorType: "Handled"}, invocationRecord(t, items[5]))
	assert.False(t, items[2].ReportWithoutRuntimeDone)

	// Too late: the runtimeDone of b already went with its finding.
	l.NoteErrorType("b", "Late")
	assert.Equal(t, Stats{Deliveries: 3, Events: 8, Findings: 2, LostErrorTypes: 1}, l.Stats())
}

func TestFindingGoesBeforeAMarkedReport(t *testing.T) {
	l, q := newListener()
	l.NoteInvocation("crashed", time.Unix(1700000000, 0), &telemetryapi.EventSource{Kind: "sns"})
	l.Add([]telemetryapi.Event{report(t, "crashed")})
	items := q.Take(1<<20, 0)
	assert.Equal(t, []string{telemetryapi.TypeInvocation, telemetryapi.TypePlatformReport}, types(items))
	assert.Equal(t, []bool{false, true}, marks(items))
	assert.Equal(t, "sns", invocationRecord(t, items[0]).Source.Kind)
}

func TestFindingsAreBounded(t *testing.T) {
	l, q := newListener()
	// Findings whose runtimeDone never comes (no platform stream, say) are forgotten,
	// oldest first, beyond maxTracked.
	for i := range maxTracked + 10 {
		l.NoteInvocation(strconv.Itoa(i), time.Unix(1700000000, 0), nil)
	}
	assert.Len(t, l.findings, maxTracked)
	assert.Len(t, l.findingOrder, maxTracked)
	assert.Equal(t, 10, l.Stats().ForgottenFindings)
	l.Add([]telemetryapi.Event{runtimeDone(t, "0"), runtimeDone(t, strconv.Itoa(maxTracked+9))})
	items := q.Take(1<<20, 0)
	assert.Equal(t, []string{telemetryapi.TypePlatformRuntimeDone, telemetryapi.TypeInvocation, telemetryapi.TypePlatformRuntimeDone}, types(items),
		"the oldest was forgotten, the newest kept")
	assert.Len(t, l.findings, maxTracked-1)
	assert.Len(t, l.findingOrder, maxTracked-1)
	// Noting the same request id twice keeps one finding.
	l.NoteInvocation("again", time.Unix(1700000000, 0), nil)
	l.NoteInvocation("again", time.Unix(1700000000, 0), nil)
	assert.Len(t, l.findingOrder, maxTracked)
}
