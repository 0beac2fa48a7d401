// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package lambdaconvtest builds the spans the lambda_telemetry receiver makes from
// Telemetry API events (internal/lambdaconv describes them): a sandbox's resource and its
// invocation, report and init spans. Tests and benchmarks of what consumes those spans (the
// lambda_correlation processor, the lambda_metrics connector, the testbed) build them here
// rather than by hand, so that they all feed what the receiver really sends.
//
// The spans are described in the receiver's own inputs (the forwarder's wire.Sandbox,
// Lambda's status and errorType, its trace context, its durations), and a test of the
// receiver's translator (lambdaconvtest_test.go in its package) checks that the same
// events make the same spans there. What this package does not make: the Telemetry API
// sub-phases (responseLatency, ...) the receiver adds as span events, which no consumer
// reads; and ids the receiver derives from its own hashes, which here are hashes of the
// same inputs but not the same values. The resource and the outcome are written by the
// receiver's own functions (lambdaconv.MergeSandboxResource, lambdaconv.SetOutcome); the
// spans' layout is restated here, because the translator builds spans from decoded events
// and state this package does not have, and that test holds the two equal.
package lambdaconvtest // import "github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv/lambdaconvtest"

import (
	"encoding/binary"
	"encoding/hex"
	"hash/fnv"
	"maps"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
)

// ScopeName is the instrumentation scope of the receiver's spans (its metadata.ScopeName).
const ScopeName = "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver"

// Outcome is how Lambda says an invocation, a report or an init phase ended: its status
// and errorType. The zero Outcome is a success.
type Outcome struct {
	Status    string // telemetryapi.Status*; "" is telemetryapi.StatusSuccess
	ErrorType string // Lambda's errorType, e.g. Runtime.OutOfMemory
}

// The outcomes tests use most, as Lambda reports them.
var (
	FunctionError = Outcome{Status: telemetryapi.StatusError, ErrorType: "Handled"}
	Timeout       = Outcome{Status: telemetryapi.StatusTimeout, ErrorType: "Sandbox.Timedout"}
	OutOfMemory   = Outcome{Status: telemetryapi.StatusError, ErrorType: "Runtime.OutOfMemory"}
)

// Trace is the trace context Lambda propagated to an invocation with active tracing: the
// X-Ray trace, the X-Ray parent and the span id Lambda gave the invocation (the invocation
// span's id). Zero ids are derived from the request id and the start, as the receiver
// does when Lambda gives none.
type Trace struct {
	TraceID      pcommon.TraceID
	ParentSpanID pcommon.SpanID
	SpanID       pcommon.SpanID
}

// TraceContext is t as Lambda writes it in platform.start, runtimeDone and report.
func (t Trace) TraceContext() *telemetryapi.TraceContext {
	return &telemetryapi.TraceContext{
		Type: telemetryapi.TracingTypeXRay,
		Value: "Root=1-" + hex.EncodeToString(t.TraceID[:4]) + "-" + hex.EncodeToString(t.TraceID[4:]) +
			";Parent=" + hex.EncodeToString(t.ParentSpanID[:]) + ";Sampled=1",
		SpanID: hex.EncodeToString(t.SpanID[:]),
	}
}

// ids fills in what Lambda did not give.
func (t Trace) ids(requestID string, start time.Time) Trace {
	if t.TraceID.IsEmpty() {
		t.TraceID = derivedTraceID("invocation", requestID, start)
	}
	if t.SpanID.IsEmpty() {
		t.SpanID = derivedSpanID("invocation", requestID, start)
	}
	return t
}

// Invocation describes one invocation span: what platform.start and runtimeDone said.
type Invocation struct {
	RequestID string
	Start     time.Time // the batch's start when zero
	Duration  time.Duration
	Outcome   Outcome
	// ColdStart is the initialization type (telemetryapi.InitType*) of the cold start this
	// invocation is; empty for a warm invocation.
	ColdStart     string
	Trace         Trace
	ProducedBytes int64 // the response's size; 0 when Lambda reports none
	// FromReport marks the span the receiver makes from a platform.report whose
	// runtimeDone the forwarder never saw.
	FromReport bool
	// Attributes are added after the receiver's: what the correlation processor adds (the
	// event source) or the receiver's write-ahead mode (the ack token).
	Attributes map[string]any
}

// Report describes one report span: what platform.report said.
type Report struct {
	RequestID string
	// Start is the invocation's start (the batch's start when zero) and Trace the
	// invocation's trace: the report span is its child.
	Start    time.Time
	Trace    Trace
	Duration time.Duration
	// BilledDuration is Duration rounded up to the millisecond, as Lambda bills, when zero.
	BilledDuration time.Duration
	// MemorySizeMB is the sandbox's when zero.
	MemorySizeMB    float64
	MaxMemoryUsedMB float64
	// InitDuration and RestoreDuration are reported on the first invocation after a cold
	// start or a SnapStart restore; 0 when absent.
	InitDuration, RestoreDuration time.Duration
	// BilledRestoreDuration is the billed part of RestoreDuration; 0 when absent.
	BilledRestoreDuration time.Duration
	Outcome               Outcome
	Attributes            map[string]any // as Invocation.Attributes
}

// Init describes one init span: an init phase, or with telemetryapi.InitTypeSnapStart a
// SnapStart restore (the receiver makes no span of a snapshot's own init).
type Init struct {
	InitializationType string // telemetryapi.InitTypeOnDemand when empty
	Phase              string // telemetryapi.PhaseInit when empty
	Start              time.Time
	Duration           time.Duration
	Outcome            Outcome
	RuntimeVersion     string
	// FromReport marks the span the receiver makes from a report's init or restore
	// duration when the phase's events never came; such a span has no outcome.
	FromReport bool
	// Late marks the span that carries a cold start learnt after its invocation span.
	Late       bool
	Attributes map[string]any // as Invocation.Attributes
}

// Batch is what the receiver hands on for one batch of one sandbox: one resource made from
// the sandbox, the receiver's scope, and the spans in the order they were added.
type Batch struct {
	Traces  ptrace.Traces
	sandbox wire.Sandbox
	start   time.Time
	spans   ptrace.SpanSlice
	// initLink is the last init span added: the cold start that follows links to it.
	initLink Trace
}

// NewBatch starts a batch of sandbox's spans; start is when the spans begin that have no
// Start of their own.
func NewBatch(sandbox wire.Sandbox, start time.Time) *Batch {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	lambdaconv.MergeSandboxResource(rs.Resource().Attributes(), sandbox)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName(ScopeName)
	return &Batch{Traces: td, sandbox: sandbox, start: start, spans: ss.Spans()}
}

// Spans are the batch's spans, for a test to change one or to add spans of another kind.
func (b *Batch) Spans() ptrace.SpanSlice { return b.spans }

// Invocation adds an invocation span.
func (b *Batch) Invocation(inv Invocation) *Batch {
	start := b.startOr(inv.Start)
	ids := inv.Trace.ids(inv.RequestID, start)
	s := b.spans.AppendEmpty()
	s.SetTraceID(ids.TraceID)
	s.SetSpanID(ids.SpanID)
	s.SetParentSpanID(ids.ParentSpanID)
	name := b.sandbox.FunctionName
	if name == "" {
		name = "invocation"
	}
	s.SetName(name)
	s.SetKind(ptrace.SpanKindServer)
	setTimes(s, start, inv.Duration)
	a := s.Attributes()
	a.PutStr(lambdaconv.AttrSpanType, lambdaconv.SpanTypeInvocation)
	a.PutStr(lambdaconv.AttrFaaSInvocationID, inv.RequestID)
	a.PutBool(lambdaconv.AttrFaaSColdstart, inv.ColdStart != "")
	if inv.ColdStart != "" {
		a.PutStr(lambdaconv.AttrInitializationType, inv.ColdStart)
		// The receiver links a cold start to its init span, made now or in an earlier batch.
		initSpan := b.initLink
		if initSpan.SpanID.IsEmpty() {
			initSpan = Trace{TraceID: derivedTraceID("init", b.sandbox.ExtensionInstanceID, time.Time{}),
				SpanID: derivedSpanID("init", b.sandbox.ExtensionInstanceID, time.Time{})}
		}
		link := s.Links().AppendEmpty()
		link.SetTraceID(initSpan.TraceID)
		link.SetSpanID(initSpan.SpanID)
	}
	setOutcome(s, inv.Outcome, "")
	if inv.ProducedBytes > 0 {
		a.PutInt(lambdaconv.AttrProducedBytes, inv.ProducedBytes)
	}
	if inv.FromReport {
		a.PutBool(lambdaconv.AttrInvocationFromReport, true)
	}
	putAll(a, inv.Attributes)
	return b
}

// Report adds a report span.
func (b *Batch) Report(r Report) *Batch {
	start := b.startOr(r.Start)
	parent := r.Trace.ids(r.RequestID, start)
	s := b.spans.AppendEmpty()
	s.SetTraceID(parent.TraceID)
	s.SetSpanID(derivedSpanID("report", r.RequestID, start))
	s.SetParentSpanID(parent.SpanID)
	s.SetName(lambdaconv.SpanNameReport)
	s.SetKind(ptrace.SpanKindInternal)
	setTimes(s, start, r.Duration)
	billed := r.BilledDuration
	if billed == 0 {
		billed = (r.Duration + time.Millisecond - 1).Truncate(time.Millisecond)
	}
	memory := r.MemorySizeMB
	if memory == 0 {
		memory = b.sandbox.MemorySizeMB
	}
	a := s.Attributes()
	a.PutStr(lambdaconv.AttrSpanType, lambdaconv.SpanTypeReport)
	a.PutStr(lambdaconv.AttrFaaSInvocationID, r.RequestID)
	a.PutDouble(lambdaconv.AttrDurationMs, millis(r.Duration))
	a.PutDouble(lambdaconv.AttrBilledDurationMs, millis(billed))
	a.PutInt(lambdaconv.AttrMemorySize, memoryBytes(memory))
	a.PutInt(lambdaconv.AttrMaxMemoryUsed, memoryBytes(r.MaxMemoryUsedMB))
	if r.InitDuration > 0 {
		a.PutDouble(lambdaconv.AttrInitDurationMs, millis(r.InitDuration))
	}
	if r.RestoreDuration > 0 {
		a.PutDouble(lambdaconv.AttrRestoreDurationMs, millis(r.RestoreDuration))
	}
	if r.BilledRestoreDuration > 0 {
		a.PutDouble(lambdaconv.AttrBilledRestoreDurationMs, millis(r.BilledRestoreDuration))
	}
	setOutcome(s, r.Outcome, "")
	putAll(a, r.Attributes)
	return b
}

// Init adds an init span; the next cold invocation of the batch links to it.
func (b *Batch) Init(i Init) *Batch {
	start := b.startOr(i.Start)
	initType, phase, name := i.InitializationType, i.Phase, lambdaconv.SpanNameInit
	if initType == "" {
		initType = telemetryapi.InitTypeOnDemand
	}
	if phase == "" {
		phase = telemetryapi.PhaseInit
	}
	if initType == telemetryapi.InitTypeSnapStart {
		name = lambdaconv.SpanNameRestore
	}
	b.initLink = Trace{TraceID: derivedTraceID(name, b.sandbox.ExtensionInstanceID, start),
		SpanID: derivedSpanID(name, b.sandbox.ExtensionInstanceID, start)}
	s := b.spans.AppendEmpty()
	s.SetTraceID(b.initLink.TraceID)
	s.SetSpanID(b.initLink.SpanID)
	s.SetName(name)
	s.SetKind(ptrace.SpanKindInternal)
	setTimes(s, start, i.Duration)
	a := s.Attributes()
	a.PutStr(lambdaconv.AttrSpanType, lambdaconv.SpanTypeInit)
	a.PutBool(lambdaconv.AttrFaaSColdstart, true)
	a.PutStr(lambdaconv.AttrInitializationType, initType)
	a.PutStr(lambdaconv.AttrInitPhase, phase)
	if i.RuntimeVersion != "" {
		a.PutStr(lambdaconv.AttrRuntimeVersion, i.RuntimeVersion)
	}
	a.PutDouble(lambdaconv.AttrDurationMs, millis(i.Duration))
	if i.FromReport {
		a.PutBool(lambdaconv.AttrInitFromReport, true)
	}
	if i.Late {
		a.PutBool(lambdaconv.AttrColdstartLate, true)
	}
	if !i.FromReport {
		setOutcome(s, i.Outcome, lambdaconv.ErrorTypeInitFailure)
	}
	putAll(a, i.Attributes)
	return b
}

func (b *Batch) startOr(start time.Time) time.Time {
	if start.IsZero() {
		return b.start
	}
	return start
}

// setOutcome writes the outcome as the receiver does; a test's empty status is a success.
func setOutcome(s ptrace.Span, o Outcome, errClass string) {
	if o.Status == "" {
		o.Status = telemetryapi.StatusSuccess
	}
	lambdaconv.SetOutcome(s, s.Attributes(), o.Status, o.ErrorType, errClass)
}

func setTimes(s ptrace.Span, start time.Time, d time.Duration) {
	s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(d)))
}

// putAll adds extra in key order, so that equal inputs give equal spans.
func putAll(attrs pcommon.Map, extra map[string]any) {
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		if err := attrs.PutEmpty(k).FromRaw(extra[k]); err != nil {
			panic(err) // a test gave a value pdata cannot hold
		}
	}
}

// millis is d in Lambda's float milliseconds.
func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// memoryBytes is Lambda's MB (MiB) in bytes, as the receiver writes memory.
func memoryBytes(mb float64) int64 { return int64(telemetryapi.MBToBytes(mb)) }

func derivedTraceID(kind, key string, t time.Time) pcommon.TraceID {
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[:8], hash(1, kind, key, t))
	binary.BigEndian.PutUint64(id[8:], hash(2, kind, key, t))
	return id
}

func derivedSpanID(kind, key string, t time.Time) pcommon.SpanID {
	var id pcommon.SpanID
	binary.BigEndian.PutUint64(id[:], hash(3, kind, key, t)|1) // never the invalid zero id
	return id
}

func hash(seed byte, kind, key string, t time.Time) uint64 {
	h := fnv.New64a()
	h.Write([]byte{seed})
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write([]byte(key))
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano())))
	return h.Sum64()
}
