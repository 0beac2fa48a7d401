// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package translator turns a batch of Telemetry API events from one sandbox into the
// invocation, report and init spans and the log records described in internal/lambdaconv.
//
// Counting rule (docs/architecture.md, "The counting rule"): an invocation span is made
// when platform.runtimeDone arrives, and only then; a platform.report makes one only when
// the forwarder marked that it never saw that invocation's runtimeDone. Repeated events
// and replayed batches are recognised within a bounded window, so they count nothing twice.
//
// Our extension's otelcol.invocation event (what its Runtime API proxy saw: the event
// source, the function's errorType) comes before the invocation's runtimeDone, in the
// same batch or an earlier one; it is kept (a few per sandbox, see findings.go) until the
// invocation span is made, which it then describes. One that comes after it is not used.
package translator // import "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/translator"

import (
	"errors"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
)

// Scope names the instrumentation scope of what the receiver produces.
type Scope struct {
	Name    string
	Version string
}

// Rejection is an event of the batch that could not be used, by its index in the batch.
type Rejection struct {
	Index int
	Err   error
}

// MaxRejections bounds Output.Rejected: a batch of a million bad events must not cost a
// million errors. Stats counts them all.
const MaxRejections = 10

// Stats counts what a batch contained, for the receiver's own telemetry.
type Stats struct {
	Events     int // events in the batch
	Malformed  int // rejected: their record did not decode
	OutOfRange int // rejected: their record holds a value Lambda cannot produce
	Unknown    int // skipped: an event type this version does not know
	Duplicates int // skipped: an event already turned into a span
	Evicted    int // pending state dropped to stay within bounds
	// LambdaDroppedRecords is what Lambda reported dropping (platform.logsDropped).
	LambdaDroppedRecords float64
}

// Accepted is how many events of the batch were used.
func (s Stats) Accepted() int {
	return s.Events - s.Malformed - s.OutOfRange - s.Unknown - s.Duplicates
}

// Output is what one batch becomes.
type Output struct {
	Traces ptrace.Traces
	Logs   plog.Logs
	// Rejected names the first MaxRejections rejected events, in the order they were met.
	Rejected []Rejection
	Stats    Stats
	// SpanEvents is, for each span in order, the index in events of the event that made
	// it. An event makes at most one span of each span type.
	SpanEvents []int
}

// batch carries what is needed while translating one batch.
type batch struct {
	st                        *state
	events                    []telemetryapi.DecodedEvent
	sandbox                   wire.Sandbox
	scope                     Scope
	spans                     ptrace.SpanSlice
	logs                      plog.LogRecordSlice // made by the first log record; see newLog
	reportsWithoutRuntimeDone []int
	out                       *Output
}

// Translate turns the events of one batch, their records decoded (see
// telemetryapi.ScanDecoded), into spans and logs, updating the sandbox's state. The
// caller holds the sandbox's lock. Nothing the state keeps refers to the records.
func Translate(sb *Sandbox, b wire.Batch, events []telemetryapi.DecodedEvent, scope Scope) Output {
	out := Output{Traces: ptrace.NewTraces(), Logs: plog.NewLogs()}
	out.Stats.Events = len(events)

	rs := out.Traces.ResourceSpans().AppendEmpty()
	lambdaconv.MergeSandboxResource(rs.Resource().Attributes(), b.Sandbox)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName(scope.Name)
	ss.Scope().SetVersion(scope.Version)
	// Sized once: growing a slice of a few hundred spans copies it some ten times.
	n := spansAtMost(events) + len(b.ReportsWithoutRuntimeDone)
	ss.Spans().EnsureCapacity(n)
	out.SpanEvents = make([]int, 0, n)

	t := &batch{
		st:                        &sb.st,
		events:                    events,
		sandbox:                   b.Sandbox,
		scope:                     scope,
		spans:                     ss.Spans(),
		reportsWithoutRuntimeDone: sortedIndexes(b.ReportsWithoutRuntimeDone),
		out:                       &out,
	}
	if b.DroppedEvents > 0 {
		t.forwarderDropped(b.DroppedEvents)
	}
	order := inTimeOrder(events)
	for k := range events {
		i := k
		if order != nil {
			i = order[k]
		}
		t.event(i, &events[i])
		for range t.spans.Len() - len(out.SpanEvents) {
			out.SpanEvents = append(out.SpanEvents, i)
		}
	}
	if out.Traces.SpanCount() == 0 {
		out.Traces = ptrace.NewTraces()
	}
	return out
}

// spansAtMost is how many spans the events can make, besides the invocation spans of the
// reports marked as without runtimeDone: one per runtimeDone and per report.
func spansAtMost(events []telemetryapi.DecodedEvent) int {
	n := 0
	for i := range events {
		switch events[i].Decoded.(type) {
		case *telemetryapi.PlatformRuntimeDone, *telemetryapi.PlatformReport,
			*telemetryapi.PlatformInitReport, *telemetryapi.PlatformRestoreReport:
			n++
		}
	}
	return n
}

// inTimeOrder returns the indexes of events ordered by time, keeping the batch's order
// among equal times, or nil when they are in order already. Lambda delivers them in
// order; a forwarder may not.
//
// An otelcol.invocation is placed by the batch's order, not by its time: the extension puts
// it just before the runtimeDone (or marked report) it describes, and its time is when the
// event reached the proxy, earlier than the invocation's logs and read from another clock
// than Lambda's. It is left out of the check, and sorts as the event after it.
func inTimeOrder(events []telemetryapi.DecodedEvent) []int {
	if inOrderBesideFindings(events) {
		return nil
	}
	at := make([]time.Time, len(events))
	var next time.Time // of the nearest event after i that is no finding
	haveNext := false
	for i := len(events) - 1; i >= 0; i-- {
		at[i] = events[i].Time
		switch {
		case events[i].Type != telemetryapi.TypeInvocation:
			next, haveNext = at[i], true
		case haveNext:
			at[i] = next
		}
	}
	order := make([]int, len(events))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return at[a].Compare(at[b]) })
	return order
}

// inOrderBesideFindings reports whether the events but the otelcol.invocation ones are in
// time order.
func inOrderBesideFindings(events []telemetryapi.DecodedEvent) bool {
	var last time.Time
	for i := range events {
		if events[i].Type == telemetryapi.TypeInvocation {
			continue
		}
		if events[i].Time.Before(last) {
			return false
		}
		last = events[i].Time
	}
	return true
}

// sortedIndexes returns the indexes sorted, for a binary search per report: a linear one
// would make a batch of many reports, with a long list, cost their product.
func sortedIndexes(indexes []int) []int {
	if slices.IsSorted(indexes) {
		return indexes
	}
	return slices.Sorted(slices.Values(indexes))
}

func (t *batch) event(index int, ev *telemetryapi.DecodedEvent) {
	rec, err := ev.Decoded, ev.DecodeErr
	if err != nil {
		if errors.Is(err, telemetryapi.ErrUnknownEventType) {
			t.out.Stats.Unknown++
			return
		}
		t.out.Stats.Malformed++
		t.reject(index, err)
		return
	}
	// A value Lambda cannot produce rejects the event, before it changes any state.
	if err := telemetryapi.CheckLimits(ev.Type, rec); err != nil {
		t.out.Stats.OutOfRange++
		t.reject(index, err)
		return
	}
	switch r := rec.(type) {
	case *telemetryapi.PlatformStart:
		t.start(ev.Time, r)
	case *telemetryapi.PlatformRuntimeDone:
		t.runtimeDone(ev.Time, r)
	case *telemetryapi.PlatformReport:
		t.report(index, ev.Time, r)
	case *telemetryapi.PlatformInitStart:
		t.initStart(&t.st.init, ev.Time, r.InitializationType, r.Phase, r.RuntimeVersion)
	case *telemetryapi.PlatformInitRuntimeDone:
		t.st.init.runtimeDoneSpans = slices.Clone(r.Spans) // kept past the batch
	case *telemetryapi.PlatformInitReport:
		t.initReport(&t.st.init, ev.Time, lambdaconv.SpanNameInit, r.InitializationType, r.Phase, r.Status, r.ErrorType, r.Metrics.DurationMs, r.Spans)
	case *telemetryapi.PlatformRestoreStart:
		t.initStart(&t.st.restore, ev.Time, telemetryapi.InitTypeSnapStart, telemetryapi.PhaseInit, r.RuntimeVersion)
	case *telemetryapi.PlatformRestoreRuntimeDone:
		t.st.restore.runtimeDoneSpans = slices.Clone(r.Spans) // kept past the batch
	case *telemetryapi.PlatformRestoreReport:
		t.initReport(&t.st.restore, ev.Time, lambdaconv.SpanNameRestore, telemetryapi.InitTypeSnapStart, telemetryapi.PhaseInit, r.Status, r.ErrorType, r.Metrics.DurationMs, r.Spans)
	case *telemetryapi.PlatformLogsDropped:
		t.lambdaDropped(ev.Time, r)
	case *telemetryapi.PlatformExtension:
		t.platformLog(ev.Time, ev.Type, "extension "+r.Name+" "+r.State)
	case *telemetryapi.PlatformTelemetrySubscription:
		t.platformLog(ev.Time, ev.Type, "telemetry subscription "+r.Name+" "+r.State)
	case *telemetryapi.LogRecord:
		t.logRecord(ev.Time, ev.Type, r)
	case *telemetryapi.Invocation:
		if t.st.findings.add(r) {
			t.out.Stats.Evicted++
		}
	}
}

func (t *batch) reject(index int, err error) {
	if len(t.out.Rejected) < MaxRejections {
		t.out.Rejected = append(t.out.Rejected, Rejection{Index: index, Err: err})
	}
}

func (t *batch) start(at time.Time, r *telemetryapi.PlatformStart) {
	t.out.Stats.Evicted += evictOldest(t.st.started, func(s startedInvocation) time.Time { return s.start })
	t.st.started[r.RequestID] = startedInvocation{start: at, tracing: r.Tracing}
	t.st.current = r.RequestID
}

// runtimeDone makes the invocation span: the invocation is counted now, not when its
// report comes.
func (t *batch) runtimeDone(at time.Time, r *telemetryapi.PlatformRuntimeDone) {
	if t.st.current == r.RequestID {
		t.st.current = ""
	}
	key := eventKey("runtimeDone", r.RequestID, at)
	if t.st.counted.contains(key) {
		t.out.Stats.Duplicates++
		t.st.findings.take(r.RequestID) // resent with its runtimeDone: the span has it
		return
	}
	t.st.counted.add(key)

	started, haveStart := t.st.started[r.RequestID]
	delete(t.st.started, r.RequestID)
	start := at
	var duration time.Duration
	if r.Metrics != nil {
		duration = telemetryapi.MillisToDuration(r.Metrics.DurationMs)
		start = at.Add(-duration)
	}
	if haveStart {
		start = started.start
	}
	if r.Metrics == nil {
		duration = at.Sub(start)
	}
	tracing := r.Tracing
	if tracing == nil && haveStart {
		tracing = started.tracing
	}
	if !t.st.served && !t.st.cold.pending && !t.st.coldCounted && t.st.key != "" {
		// The sandbox's first invocation, and no init phase seen: when its report is in
		// this batch and tells of an init, this is the cold start (see coldFromReport).
		if rep := t.reportInBatch(r.RequestID); rep != nil && t.reportTellsOfColdStart(&rep.Metrics) {
			t.coldFromReport(start, &rep.Metrics, false)
		}
	}
	id := invocationIdentity(r.RequestID, start, tracing)
	producedBytes := r.Metrics != nil && r.Metrics.ProducedBytes != nil
	found, _ := t.st.findings.take(r.RequestID)
	span := t.invocationSpan(id, r.RequestID, start, duration, r.Status, found.errorTypeOf(r.Status, r.ErrorType),
		boolInt(producedBytes)+found.attributes())
	if producedBytes {
		span.Attributes().PutInt(lambdaconv.AttrProducedBytes, int64(*r.Metrics.ProducedBytes))
	}
	found.put(span.Attributes())
	addPhaseEvents(span, r.Spans)

	t.out.Stats.Evicted += evictOldest(t.st.finished, func(s finishedInvocation) time.Time { return s.start })
	t.st.finished[r.RequestID] = finishedInvocation{spanRef{traceID: id.traceID, spanID: id.spanID, start: start}, found.sourceRef()}
}

// invocationSpan appends the SERVER span of one invocation, marking the sandbox's first
// invocation after an init or restore as its cold start. The caller adds extra attributes
// after it.
func (t *batch) invocationSpan(id traceIdentity, requestID string, start time.Time, duration time.Duration, status, lambdaErrorType string, extra int) ptrace.Span {
	span := t.spans.AppendEmpty()
	span.SetTraceID(id.traceID)
	span.SetSpanID(id.spanID)
	span.SetParentSpanID(id.parentID)
	name := t.sandbox.FunctionName
	if name == "" {
		name = "invocation"
	}
	span.SetName(name)
	span.SetKind(ptrace.SpanKindServer)
	span.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	span.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(duration)))

	cold := t.st.cold.pending
	t.st.served = true
	t.st.coldCounted = t.st.coldCounted || cold
	attrs := span.Attributes()
	attrs.EnsureCapacity(3 + boolInt(cold) + lambdaconv.OutcomeAttributes(status, lambdaErrorType) + extra)
	attrs.PutStr(lambdaconv.AttrSpanType, lambdaconv.SpanTypeInvocation)
	attrs.PutStr(lambdaconv.AttrFaaSInvocationID, requestID)
	attrs.PutBool(lambdaconv.AttrFaaSColdstart, cold)
	if cold {
		attrs.PutStr(lambdaconv.AttrInitializationType, t.st.cold.initializationType)
		link := span.Links().AppendEmpty()
		link.SetTraceID(t.st.cold.link.traceID)
		link.SetSpanID(t.st.cold.link.spanID)
		t.st.cold = coldStart{}
	}
	lambdaconv.SetOutcome(span, attrs, status, lambdaErrorType, "")
	return span
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// addPhaseEvents adds Lambda's sub-phases (responseLatency, ...) as span events.
func addPhaseEvents(span ptrace.Span, phases []telemetryapi.Span) {
	span.Events().EnsureCapacity(span.Events().Len() + len(phases))
	for _, p := range phases {
		ev := span.Events().AppendEmpty()
		ev.SetName(p.Name)
		ev.SetTimestamp(pcommon.NewTimestampFromTime(p.Start))
		ev.Attributes().PutDouble(lambdaconv.AttrDurationMs, p.DurationMs)
	}
}

// report makes the report span, a child of the invocation span, and, only when the
// forwarder marked that it never saw the invocation's runtimeDone, the invocation span.
func (t *batch) report(index int, at time.Time, r *telemetryapi.PlatformReport) {
	key := eventKey("report", r.RequestID, at)
	if t.st.reported.contains(key) {
		t.out.Stats.Duplicates++
		t.st.findings.take(r.RequestID)
		return
	}
	t.st.reported.add(key)

	duration := telemetryapi.MillisToDuration(r.Metrics.DurationMs)
	parent, haveParent := t.st.finished[r.RequestID]
	delete(t.st.finished, r.RequestID)
	if _, marked := slices.BinarySearch(t.reportsWithoutRuntimeDone, index); !haveParent && marked {
		parent, haveParent = t.invocationFromReport(at, duration, r), true
	} else if haveParent && !t.st.coldCounted && t.st.key != "" && t.reportTellsOfColdStart(&r.Metrics) {
		// This sandbox's state made the invocation span, without a cold start: the init
		// events never came, and the report is the first to tell of the cold start.
		t.coldFromReport(parent.start, &r.Metrics, true)
	}
	// The invocation is over: a finding still kept for it came after its span, and must not
	// describe a later invocation that reuses the request id (an asynchronous retry).
	t.st.findings.take(r.RequestID)

	span := t.spans.AppendEmpty()
	start := at.Add(-duration)
	switch {
	case haveParent:
		span.SetTraceID(parent.traceID)
		span.SetParentSpanID(parent.spanID)
		start = parent.start
	case r.Tracing != nil:
		// The invocation span was made by another replica or has left the window: its
		// identity still follows from the trace context Lambda repeats in the report.
		id := invocationIdentity(r.RequestID, start, r.Tracing)
		span.SetTraceID(id.traceID)
		if sid, err := r.Tracing.ParseSpanID(); err == nil && sid != ([8]byte{}) {
			span.SetParentSpanID(sid)
		}
	default:
		span.SetTraceID(derivedTraceID("report", r.RequestID, at))
	}
	span.SetSpanID(derivedSpanID("report", r.RequestID, at))
	span.SetName(lambdaconv.SpanNameReport)
	span.SetKind(ptrace.SpanKindInternal)
	span.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	span.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(duration)))

	m := r.Metrics
	attrs := span.Attributes()
	attrs.EnsureCapacity(6 + boolInt(m.InitDurationMs != nil) + boolInt(m.RestoreDurationMs != nil) + lambdaconv.OutcomeAttributes(r.Status, r.ErrorType) +
		sourceAttributes(parent.source))
	attrs.PutStr(lambdaconv.AttrSpanType, lambdaconv.SpanTypeReport)
	attrs.PutStr(lambdaconv.AttrFaaSInvocationID, r.RequestID)
	attrs.PutDouble(lambdaconv.AttrDurationMs, m.DurationMs)
	attrs.PutDouble(lambdaconv.AttrBilledDurationMs, m.BilledDurationMs)
	attrs.PutInt(lambdaconv.AttrMemorySize, int64(m.MemorySizeBytes()))
	attrs.PutInt(lambdaconv.AttrMaxMemoryUsed, int64(m.MaxMemoryUsedBytes()))
	if m.InitDurationMs != nil {
		attrs.PutDouble(lambdaconv.AttrInitDurationMs, *m.InitDurationMs)
	}
	if m.RestoreDurationMs != nil {
		attrs.PutDouble(lambdaconv.AttrRestoreDurationMs, *m.RestoreDurationMs)
	}
	if m.BilledRestoreDurationMs != nil {
		attrs.PutDouble(lambdaconv.AttrBilledRestoreDurationMs, *m.BilledRestoreDurationMs)
	}
	lambdaconv.SetOutcome(span, attrs, r.Status, r.ErrorType, "")
	putSource(attrs, parent.source)
	addPhaseEvents(span, r.Spans)
}

// reportTellsOfColdStart reports whether the report's init or restore duration is a cold
// start: a restore always is; an init is not when the sandbox was initialised ahead of
// demand.
func (t *batch) reportTellsOfColdStart(m *telemetryapi.ReportMetrics) bool {
	return m.RestoreDurationMs != nil || (m.InitDurationMs != nil && !t.st.provisioned)
}

// reportInBatch returns the batch's platform.report of the request, or nil.
func (t *batch) reportInBatch(requestID string) *telemetryapi.PlatformReport {
	for i := range t.events {
		if r, ok := t.events[i].Decoded.(*telemetryapi.PlatformReport); ok && r.RequestID == requestID &&
			telemetryapi.CheckLimits(t.events[i].Type, r) == nil {
			return r
		}
	}
	return nil
}

// coldFromReport makes the init (or restore) span of a cold start whose phase events never
// came (an extension that subscribed late, a lost batch), from the init or restore
// duration of the first invocation's report; the phase ended as the invocation started.
// When the invocation span is still to be made, it becomes the cold start, linked to this
// span; when it went out already (late), this span carries the cold start.
func (t *batch) coldFromReport(invocationStart time.Time, m *telemetryapi.ReportMetrics, late bool) {
	p, name, initializationType, durationMs := t.reportedPhase(m)
	start := invocationStart.Add(-telemetryapi.MillisToDuration(durationMs))
	ref := spanRef{traceID: t.initTraceID(p, start), spanID: t.initSpanID(p, start), start: start}
	attrs := t.initSpan(ref, name, initializationType, telemetryapi.PhaseInit, "", durationMs).Attributes()
	attrs.PutBool(lambdaconv.AttrInitFromReport, true)
	t.st.initFromReport = true
	if late {
		attrs.PutBool(lambdaconv.AttrColdstartLate, true)
		t.st.coldCounted = true
		return
	}
	t.st.cold = coldStart{pending: true, initializationType: initializationType, link: ref}
}

// reportedPhase is the phase a cold start's report tells of: a SnapStart restore when it
// has a restore duration, else an on-demand init.
func (t *batch) reportedPhase(m *telemetryapi.ReportMetrics) (p *pendingInit, name, initializationType string, durationMs float64) {
	if m.RestoreDurationMs != nil {
		return &t.st.restore, lambdaconv.SpanNameRestore, telemetryapi.InitTypeSnapStart, *m.RestoreDurationMs
	}
	return &t.st.init, lambdaconv.SpanNameInit, telemetryapi.InitTypeOnDemand, *m.InitDurationMs
}

// invocationFromReport makes the invocation span of an invocation whose runtimeDone the
// forwarder never saw (the runtime crashed, ran out of memory, ...), from its report.
func (t *batch) invocationFromReport(at time.Time, duration time.Duration, r *telemetryapi.PlatformReport) finishedInvocation {
	start := at.Add(-duration)
	tracing := r.Tracing
	if started, ok := t.st.started[r.RequestID]; ok {
		start = started.start
		if tracing == nil {
			tracing = started.tracing
		}
		delete(t.st.started, r.RequestID)
	}
	if t.st.current == r.RequestID {
		t.st.current = ""
	}
	t.st.counted.add(eventKey("runtimeDone", r.RequestID, at))
	switch {
	case t.st.cold.pending || t.st.coldCounted || !t.reportTellsOfColdStart(&r.Metrics):
	case t.st.key == "":
		// The report says this was a cold start; a forwarder without an instance id keeps
		// no state, so its init events may have come in another batch: no init span.
		_, _, initializationType, _ := t.reportedPhase(&r.Metrics)
		t.st.cold = coldStart{pending: true, initializationType: initializationType}
	default:
		// The report says this was a cold start even though no init phase was seen.
		t.coldFromReport(start, &r.Metrics, false)
	}
	id := invocationIdentity(r.RequestID, start, tracing)
	found, _ := t.st.findings.take(r.RequestID)
	span := t.invocationSpan(id, r.RequestID, start, duration, r.Status, found.errorTypeOf(r.Status, r.ErrorType), 1+found.attributes())
	span.Attributes().PutBool(lambdaconv.AttrInvocationFromReport, true)
	found.put(span.Attributes())
	return finishedInvocation{spanRef{traceID: id.traceID, spanID: id.spanID, start: start}, found.sourceRef()}
}

// initStart opens an init or restore phase; the next invocation is its cold start unless
// Lambda initialised the sandbox ahead of demand.
func (t *batch) initStart(p *pendingInit, at time.Time, initializationType, phase, runtimeVersion string) {
	*p = pendingInit{seen: true, late: t.st.served, start: at, initializationType: initializationType, phase: phase, runtimeVersion: runtimeVersion}
	t.st.provisioned = t.st.provisioned || !t.coldKind(p)
	if !p.late {
		t.markCold(at, p)
	}
}

// markCold makes the next invocation a cold start linked to this phase's span. Provisioned
// concurrency and Managed Instances initialise before any request waits, and a SnapStart
// sandbox reports the snapshot's init (hours old): none of those is an invocation's cold
// start; a SnapStart restore is.
func (t *batch) markCold(start time.Time, p *pendingInit) {
	if !t.coldKind(p) {
		return
	}
	t.st.cold = coldStart{
		pending:            true,
		initializationType: p.initializationType,
		link:               spanRef{traceID: t.initTraceID(p, start), spanID: t.initSpanID(p, start), start: start},
	}
}

// coldKind reports whether the phase makes a cold start (see markCold).
func (t *batch) coldKind(p *pendingInit) bool {
	switch p.initializationType {
	case telemetryapi.InitTypeProvisionedConcurrency, telemetryapi.InitTypeLambdaManagedInstances:
		return false
	case telemetryapi.InitTypeSnapStart:
		return p == &t.st.restore
	}
	return true
}

// initSpan appends an init span with the attributes every init span has, for the caller
// to add to.
func (t *batch) initSpan(ref spanRef, name, initializationType, phase, runtimeVersion string, durationMs float64) ptrace.Span {
	span := t.spans.AppendEmpty()
	span.SetTraceID(ref.traceID)
	span.SetSpanID(ref.spanID)
	span.SetName(name)
	span.SetKind(ptrace.SpanKindInternal)
	span.SetStartTimestamp(pcommon.NewTimestampFromTime(ref.start))
	span.SetEndTimestamp(pcommon.NewTimestampFromTime(ref.start.Add(telemetryapi.MillisToDuration(durationMs))))
	attrs := span.Attributes()
	attrs.PutStr(lambdaconv.AttrSpanType, lambdaconv.SpanTypeInit)
	attrs.PutBool(lambdaconv.AttrFaaSColdstart, true)
	attrs.PutStr(lambdaconv.AttrInitializationType, initializationType)
	if phase != "" {
		attrs.PutStr(lambdaconv.AttrInitPhase, phase)
	}
	if runtimeVersion != "" {
		attrs.PutStr(lambdaconv.AttrRuntimeVersion, runtimeVersion)
	}
	attrs.PutDouble(lambdaconv.AttrDurationMs, durationMs)
	return span
}

func (t *batch) initTraceID(p *pendingInit, start time.Time) [16]byte {
	return derivedTraceID(t.phaseKind(p), t.st.key, start)
}

func (t *batch) initSpanID(p *pendingInit, start time.Time) [8]byte {
	return derivedSpanID(t.phaseKind(p), t.st.key, start)
}

func (t *batch) phaseKind(p *pendingInit) string {
	if p == &t.st.restore {
		return "restore"
	}
	return "init"
}

// initReport closes an init or restore phase with its span.
func (t *batch) initReport(p *pendingInit, at time.Time, name, initializationType, phase, status, lambdaErrorType string, durationMs float64, phases []telemetryapi.Span) {
	// A resent phase report (the same event in another batch) measures nothing twice.
	key := eventKey(name+" "+phase, "", at)
	if t.st.reported.contains(key) {
		t.out.Stats.Duplicates++
		return
	}
	t.st.reported.add(key)
	duration := telemetryapi.MillisToDuration(durationMs)
	if !p.seen {
		*p = pendingInit{seen: true, late: t.st.served, start: at.Add(-duration), initializationType: initializationType, phase: phase}
		if !p.late {
			t.markCold(p.start, p)
		}
	}
	if p.initializationType == "" {
		p.initializationType = initializationType
	}
	t.st.provisioned = t.st.provisioned || !t.coldKind(p)
	defer func() { *p = pendingInit{} }()
	if p.initializationType == telemetryapi.InitTypeSnapStart && name == lambdaconv.SpanNameInit {
		return // the snapshot's own init, long ago; the restore is this sandbox's cold start
	}
	late := p.late && t.coldKind(p)
	if late && t.st.initFromReport {
		// The report's init duration stood in for this phase already: its span would count
		// the init twice.
		t.out.Stats.Duplicates++
		return
	}
	// A second late phase of one cold start (an init Lambda re-ran after a failed one)
	// is measured, but the cold start counts once.
	late = late && !t.st.coldCounted

	ref := spanRef{traceID: t.initTraceID(p, p.start), spanID: t.initSpanID(p, p.start), start: p.start}
	span := t.initSpan(ref, name, p.initializationType, phase, p.runtimeVersion, durationMs)
	attrs := span.Attributes()
	if late {
		attrs.PutBool(lambdaconv.AttrColdstartLate, true)
		t.st.coldCounted = true
	}
	lambdaconv.SetOutcome(span, attrs, status, lambdaErrorType, lambdaconv.ErrorTypeInitFailure)
	addPhaseEvents(span, p.runtimeDoneSpans)
	addPhaseEvents(span, phases)
}
