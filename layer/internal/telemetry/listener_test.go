// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
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
