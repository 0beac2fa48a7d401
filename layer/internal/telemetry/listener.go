// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package telemetry is the extension's Telemetry API destination: Lambda POSTs JSON arrays
// of events to it. It queues the events for the gateway as they are, notes each
// invocation's platform.runtimeDone and platform.report (the flush logic waits for them),
// and marks a report whose runtimeDone it never saw (the runtime crashed or ran out of
// memory), so that the gateway counts that invocation from its report, exactly once.
//
// It also carries what the Runtime API proxy found of each invocation (its event source,
// the function's errorType) to the gateway: noted by request id, each finding is queued as
// an otelcol.invocation event just before that invocation's platform.runtimeDone, or before
// its marked platform.report, so that the gateway meets it before the event that counts
// the invocation.
//
// The handler never logs: with the extension stream subscribed, our own log lines would
// come back as events.
package telemetry // import "github.com/otelcol-lambda/otelcol-lambda/layer/internal/telemetry"

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/layer/internal/queue"
)

// Item is one event waiting for the gateway.
type Item struct {
	Event telemetryapi.Event
	// ReportWithoutRuntimeDone marks a platform.report whose runtimeDone never came.
	ReportWithoutRuntimeDone bool
}

// Size is what an item costs in the queue's budget (about its encoded size).
func (it Item) Size() int { return len(it.Event.Record) + len(it.Event.Type) + 48 }

// maxTracked bounds the request ids remembered (runtimeDone without report yet, recent
// ones for waiters, findings waiting for their runtimeDone); a sandbox runs one invocation
// at a time, so a few suffice.
const maxTracked = 64

// maxBodyBytes bounds one delivery; Lambda's maxBytes is at most 1 MiB, and log records
// add their envelope.
const maxBodyBytes = 8 << 20

// Listener receives Telemetry API deliveries.
type Listener struct {
	queue *queue.Queue[Item]

	mu             sync.Mutex
	changed        chan struct{}
	pendingReports map[string]int // runtimeDone seen, report not yet, per request id
	pendingOrder   []string
	runtimeDone    recent
	reports        recent
	findings       map[string]*finding // by request id, until its runtimeDone or marked report
	findingOrder   []string
	deliveries     int
	events         int
	malformed      int
	queuedFindings int
	forgotten      int
	lostErrorTypes int
	droppedFields  int

	server *http.Server
	ln     net.Listener
	wg     sync.WaitGroup
}

// recent is a bounded set of request ids.
type recent struct {
	ids  [maxTracked]string
	next int
}

func (r *recent) add(id string) {
	r.ids[r.next%maxTracked] = id
	r.next++
}

func (r *recent) has(id string) bool {
	for _, v := range r.ids {
		if v == id && id != "" {
			return true
		}
	}
	return false
}

// finding is what the Runtime API proxy saw of one invocation.
type finding struct {
	received  time.Time // when the proxy received the event from Lambda
	source    *telemetryapi.EventSource
	errorType string
}

// New returns a listener that queues events on q.
func New(q *queue.Queue[Item]) *Listener {
	return &Listener{
		queue: q, changed: make(chan struct{}),
		pendingReports: make(map[string]int), findings: make(map[string]*finding),
	}
}

// NoteInvocation records the event source the proxy found in an invocation's event,
// received from Lambda at received (source nil: not known). It is queued, as an
// otelcol.invocation event, with the invocation's platform.runtimeDone (or its marked
// platform.report). Beyond maxTracked findings waiting, the oldest is forgotten.
func (l *Listener) NoteInvocation(requestID string, received time.Time, source *telemetryapi.EventSource) {
	if requestID == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.findings[requestID]; !ok {
		l.findingOrder = append(l.findingOrder, requestID)
	}
	l.findings[requestID] = &finding{received: received, source: source}
	for len(l.findingOrder) > maxTracked {
		if _, ok := l.findings[l.findingOrder[0]]; ok {
			delete(l.findings, l.findingOrder[0])
			l.forgotten++
		}
		l.findingOrder = l.findingOrder[1:]
	}
}

// NoteErrorType adds the errorType the function's runtime posted to the invocation's
// finding. Best effort: once the invocation's runtimeDone was queued (or if the
// invocation was never noted), it is lost, and counted.
func (l *Listener) NoteErrorType(requestID, errorType string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f, ok := l.findings[requestID]; ok {
		f.errorType = errorType
		return
	}
	l.lostErrorTypes++
}

// CountDroppedFields counts the fields of findings the agent dropped before noting them,
// as out of the bounds the gateway checks (see telemetryapi's Invocation.DropOutOfBounds).
func (l *Listener) CountDroppedFields(n int) {
	if n == 0 {
		return
	}
	l.mu.Lock()
	l.droppedFields += n
	l.mu.Unlock()
}

// appendFindingLocked appends the otelcol.invocation event of requestID, if one was
// noted, and forgets it.
func (l *Listener) appendFindingLocked(items []Item, requestID string) []Item {
	f, ok := l.findings[requestID]
	if !ok {
		return items
	}
	delete(l.findings, requestID)
	if i := slices.Index(l.findingOrder, requestID); i >= 0 {
		l.findingOrder = slices.Delete(l.findingOrder, i, i+1)
	}
	ev, err := telemetryapi.NewEvent(f.received, telemetryapi.TypeInvocation,
		telemetryapi.Invocation{RequestID: requestID, Source: f.source, ErrorType: f.errorType})
	if err != nil {
		return items // cannot happen: the record is plain data
	}
	l.queuedFindings++
	return append(items, Item{Event: ev})
}

// Listen binds host:port (port 0: any free one), serves, and returns the destination URI
// to subscribe with.
func (l *Listener) Listen(host string, port int) (string, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return "", err
	}
	l.ln = ln
	l.server = &http.Server{Handler: l, ReadHeaderTimeout: 5 * time.Second}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		_ = l.server.Serve(ln)
	}()
	_, actualPort, _ := net.SplitHostPort(ln.Addr().String())
	return "http://" + net.JoinHostPort(host, actualPort), nil
}

// Close stops serving.
func (l *Listener) Close() error {
	if l.server == nil {
		return nil
	}
	err := l.server.Close()
	l.wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// ServeHTTP takes one delivery.
func (l *Listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	events, err := telemetryapi.DecodeEvents(body)
	if err != nil {
		l.mu.Lock()
		l.malformed++
		l.mu.Unlock()
		l.queue.AddDropped(1)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	l.Add(events)
	w.WriteHeader(http.StatusOK)
}

// Add queues events as if Lambda delivered them.
func (l *Listener) Add(events []telemetryapi.Event) {
	items := make([]Item, 0, len(events))
	l.mu.Lock()
	for _, ev := range events {
		item := Item{Event: ev}
		switch ev.Type {
		case telemetryapi.TypePlatformRuntimeDone:
			if id := requestID(ev); id != "" {
				l.runtimeDone.add(id)
				if l.pendingReports[id] == 0 {
					l.pendingOrder = append(l.pendingOrder, id)
				}
				l.pendingReports[id]++
				l.trimPendingLocked()
				items = l.appendFindingLocked(items, id)
			}
		case telemetryapi.TypePlatformReport:
			id := requestID(ev)
			l.reports.add(id)
			if l.pendingReports[id] > 0 {
				l.pendingReports[id]--
				if l.pendingReports[id] == 0 {
					delete(l.pendingReports, id)
				}
			} else {
				item.ReportWithoutRuntimeDone = true
				items = l.appendFindingLocked(items, id)
			}
		}
		items = append(items, item)
	}
	l.deliveries++
	l.events += len(events)
	// Queue before waking the waiters: a waiter that learns of a runtimeDone flushes at
	// once, and the event must be in the queue by then.
	l.queue.Push(items...)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// trimPendingLocked forgets the oldest request ids beyond maxTracked.
func (l *Listener) trimPendingLocked() {
	for len(l.pendingOrder) > maxTracked {
		delete(l.pendingReports, l.pendingOrder[0])
		l.pendingOrder = l.pendingOrder[1:]
	}
}

// requestID decodes the request id of a start, runtimeDone or report record.
func requestID(ev telemetryapi.Event) string {
	rec, err := ev.DecodeRecord()
	if err != nil {
		return ""
	}
	switch r := rec.(type) {
	case *telemetryapi.PlatformRuntimeDone:
		return r.RequestID
	case *telemetryapi.PlatformReport:
		return r.RequestID
	}
	return ""
}

// WaitRuntimeDone waits until the runtimeDone of requestID arrived, or ctx ends. It
// reports whether it arrived.
func (l *Listener) WaitRuntimeDone(ctx context.Context, requestID string) bool {
	return l.wait(ctx, func() bool { return l.runtimeDone.has(requestID) })
}

// WaitInvocationEnd waits until the runtimeDone of requestID arrived, or its report (the
// invocation ended without runtimeDone: a crash), or ctx ends. It reports whether either
// arrived.
func (l *Listener) WaitInvocationEnd(ctx context.Context, requestID string) bool {
	return l.wait(ctx, func() bool { return l.runtimeDone.has(requestID) || l.reports.has(requestID) })
}

// WaitReport waits until the report of requestID arrived, or ctx ends.
func (l *Listener) WaitReport(ctx context.Context, requestID string) bool {
	return l.wait(ctx, func() bool { return l.reports.has(requestID) })
}

func (l *Listener) wait(ctx context.Context, cond func() bool) bool {
	for {
		l.mu.Lock()
		ok := cond()
		ch := l.changed
		l.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			l.mu.Lock()
			defer l.mu.Unlock()
			return cond()
		}
	}
}

// Stats are counts for the extension's own log.
type Stats struct {
	Deliveries, Events, Malformed int
	// Findings counts the otelcol.invocation events queued; ForgottenFindings those
	// dropped, unqueued, beyond the bound (their runtimeDone never came); LostErrorTypes
	// the errorTypes that came after their invocation's finding was queued.
	Findings, ForgottenFindings, LostErrorTypes int
	// DroppedFields counts the fields of findings dropped as out of the gateway's bounds
	// (the rest of each finding was kept).
	DroppedFields int
}

// Stats returns the counts so far.
func (l *Listener) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{
		Deliveries: l.deliveries, Events: l.events, Malformed: l.malformed,
		Findings: l.queuedFindings, ForgottenFindings: l.forgotten, LostErrorTypes: l.lostErrorTypes,
		DroppedFields: l.droppedFields,
	}
}
