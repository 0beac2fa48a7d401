// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
)

// What users send, and nothing else: the platform's view of each invocation as Telemetry
// API events in numbered batches (what the extension forwards; the gateway's receiver makes
// the invocation, report and init spans from them), and the function's own root spans over
// OTLP (what its instrumentation exports), which carry the event source. Spans that claim
// to be the receiver's are never sent from here except to check that they count nothing
// (provenance_e2e_test.go).

// lambdaFn is one function and one of its sandboxes, as the extension describes it.
type lambdaFn struct {
	name, region, arch string // arch as host.arch: amd64 or arm64
	memMiB, timeoutMs  int64
	sandbox            string // the extension's instance id
}

// wireSandbox is the sandbox as the extension sends it in a batch's headers.
func (fn lambdaFn) wireSandbox() wire.Sandbox {
	arch := fn.arch
	if arch == "amd64" {
		arch = "x86_64"
	}
	return wire.Sandbox{
		FunctionName: fn.name, FunctionVersion: "$LATEST", Region: fn.region, AccountID: "123456789012",
		FunctionARN:  "arn:aws:lambda:" + fn.region + ":123456789012:function:" + fn.name,
		MemorySizeMB: float64(fn.memMiB), Architecture: arch, TimeoutMs: float64(fn.timeoutMs),
		ExtensionInstanceID: fn.sandbox,
	}
}

// invocationSpec is one invocation.
type invocationSpec struct {
	seq       byte // its trace and span ids
	requestID string
	dur       time.Duration
	errorType string // lambdaconv.ErrorType*: how it failed, "" for success
	// cold: the sandbox's first invocation after its init (the init comes from init).
	cold bool
	// fromReport: the extension never saw its runtimeDone (the runtime was killed); it is
	// counted from its report, which must come in a batch of this sandbox (report).
	fromReport bool
	eventAge   time.Duration // 0: the function's span names no event-source timestamp
	// source is what the function's own root span says of the event source.
	source map[string]string
}

func traceIDOf(seq byte) pcommon.TraceID {
	return pcommon.TraceID{0xe2, 0xe, seq, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, seq}
}

// invocationSpanIDOf is the span id Lambda gives an invocation with active tracing, which
// the receiver's invocation span takes.
func invocationSpanIDOf(seq byte) pcommon.SpanID { return pcommon.SpanID{0xe2, seq, 3, 4, 5, 6, 7, 8} }

// xrayTracing is the trace context of platform events with active tracing: the Root is
// the trace id (the receiver's invocation span's, and the function's SDK continues it),
// spanId the invocation's span id.
func xrayTracing(seq byte) *telemetryapi.TraceContext {
	tid, sid := traceIDOf(seq), invocationSpanIDOf(seq)
	h := hex.EncodeToString(tid[:])
	return &telemetryapi.TraceContext{Type: telemetryapi.TracingTypeXRay, Value: "Root=1-" + h[:8] + "-" + h[8:] + ";Sampled=1",
		SpanID: hex.EncodeToString(sid[:])}
}

// lambdaSandbox accumulates one sandbox's Telemetry API events until post sends them as
// its next numbered batch, and the function's own root spans until functionSpans hands
// them over.
type lambdaSandbox struct {
	t          *testing.T
	fn         lambdaFn
	start      time.Time
	events     []telemetryapi.Event
	fromReport map[string]bool // request ids counted from their report
	reports    []int           // indexes in events of the reports to count from
	sequence   uint64
	// A sandbox runs one invocation at a time: the next starts at next; starts and ends
	// are the invocations' by seq.
	next         time.Time
	starts, ends map[byte]time.Time

	fnTraces ptrace.Traces
	fnSpans  ptrace.SpanSlice
}

func newLambdaSandbox(t *testing.T, fn lambdaFn, start time.Time) *lambdaSandbox {
	l := &lambdaSandbox{t: t, fn: fn, start: start, fromReport: map[string]bool{}, next: start,
		starts: map[byte]time.Time{}, ends: map[byte]time.Time{}}
	l.resetFunctionSpans()
	return l
}

func (l *lambdaSandbox) add(at time.Time, typ string, record any) {
	l.t.Helper()
	ev, err := telemetryapi.NewEvent(at, typ, record)
	require.NoError(l.t, err)
	l.events = append(l.events, ev)
}

// init is the sandbox's init phase, ending 100 ms before its start: on-demand and
// provisioned-concurrency inits, or a SnapStart restore for snap-start.
func (l *lambdaSandbox) init(initType string, dur time.Duration) *lambdaSandbox {
	begin := l.start.Add(-dur - 100*time.Millisecond)
	end := begin.Add(dur)
	metrics := telemetryapi.InitReportMetrics{DurationMs: float64(dur.Milliseconds())}
	if initType == telemetryapi.InitTypeSnapStart {
		l.add(begin, telemetryapi.TypePlatformRestoreStart, telemetryapi.PlatformRestoreStart{})
		l.add(end, telemetryapi.TypePlatformRestoreRuntimeDone, telemetryapi.PlatformRestoreRuntimeDone{Status: telemetryapi.StatusSuccess})
		l.add(end, telemetryapi.TypePlatformRestoreReport, telemetryapi.PlatformRestoreReport{Status: telemetryapi.StatusSuccess, Metrics: metrics})
		return l
	}
	l.add(begin, telemetryapi.TypePlatformInitStart, telemetryapi.PlatformInitStart{InitializationType: initType, Phase: telemetryapi.PhaseInit})
	l.add(end, telemetryapi.TypePlatformInitRuntimeDone, telemetryapi.PlatformInitRuntimeDone{InitializationType: initType,
		Phase: telemetryapi.PhaseInit, Status: telemetryapi.StatusSuccess})
	l.add(end, telemetryapi.TypePlatformInitReport, telemetryapi.PlatformInitReport{InitializationType: initType,
		Phase: telemetryapi.PhaseInit, Status: telemetryapi.StatusSuccess, Metrics: metrics})
	return l
}

// lambdaOutcome is how Lambda reports an error class: status and errorType.
func lambdaOutcome(errorType string) (status, lambdaErrorType string) {
	switch errorType {
	case "":
		return telemetryapi.StatusSuccess, ""
	case lambdaconv.ErrorTypeTimeout:
		return telemetryapi.StatusTimeout, "Sandbox.Timedout"
	case lambdaconv.ErrorTypeOutOfMemory:
		return telemetryapi.StatusError, "Runtime.OutOfMemory"
	case lambdaconv.ErrorTypeFunction:
		return telemetryapi.StatusError, "Handled"
	}
	panic("no Lambda outcome for error type " + errorType)
}

// invocation adds its platform.start and platform.runtimeDone (only platform.start when
// fromReport), and the function's root span. It starts 10 ms after the sandbox's previous
// invocation ended (times in milliseconds, as Lambda's are): the receiver makes invocation
// spans in the order of their runtimeDone, and a cold start is the sandbox's first.
func (l *lambdaSandbox) invocation(in invocationSpec) *lambdaSandbox {
	l.t.Helper()
	_, dup := l.starts[in.seq]
	require.False(l.t, dup, "seq %d used twice", in.seq)
	start := l.next
	l.starts[in.seq], l.ends[in.seq] = start, start.Add(in.dur)
	l.next = start.Add(in.dur + 10*time.Millisecond)
	status, lambdaErrorType := lambdaOutcome(in.errorType)
	l.add(start, telemetryapi.TypePlatformStart, telemetryapi.PlatformStart{RequestID: in.requestID, Tracing: xrayTracing(in.seq)})
	if in.fromReport {
		l.fromReport[in.requestID] = true
	} else {
		l.add(start.Add(in.dur), telemetryapi.TypePlatformRuntimeDone, telemetryapi.PlatformRuntimeDone{
			RequestID: in.requestID, Status: status, ErrorType: lambdaErrorType,
			Metrics: &telemetryapi.RuntimeDoneMetrics{DurationMs: float64(in.dur.Milliseconds())}, Tracing: xrayTracing(in.seq),
		})
	}

	// The function's root span, as otellambda (with instrumentation/go/lambdaevents) writes
	// it: it continues Lambda's X-Ray trace, so it is in the invocation's trace.
	s := l.fnSpans.AppendEmpty()
	s.SetName(l.fn.name)
	s.SetKind(ptrace.SpanKindServer)
	s.SetTraceID(traceIDOf(in.seq))
	s.SetSpanID(pcommon.SpanID{0xf1, in.seq, 3, 4, 5, 6, 7, 8})
	s.SetStartTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Millisecond)))
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(in.dur)))
	a := s.Attributes()
	a.PutStr(lambdaconv.AttrFaaSInvocationID, in.requestID)
	a.PutStr("aws.lambda.invoked_arn", l.fn.wireSandbox().FunctionARN)
	if in.errorType == lambdaconv.ErrorTypeFunction {
		s.Status().SetCode(ptrace.StatusCodeError)
	}
	if in.eventAge > 0 {
		a.PutInt(lambdaconv.AttrEventTimeUnixMs, start.Add(-in.eventAge).UnixMilli())
	}
	for k, v := range in.source {
		a.PutStr(k, v)
	}
	return l
}

// report adds invocation seq's platform.report, as Lambda writes it after the invoke phase
// (the extensions' time included); it counts the invocation when it was one fromReport.
func (l *lambdaSandbox) report(seq byte, requestID string, billedMs, maxUsedMiB int64) *lambdaSandbox {
	l.t.Helper()
	if l.fromReport[requestID] {
		l.reports = append(l.reports, len(l.events))
		delete(l.fromReport, requestID)
	}
	end, ok := l.ends[seq]
	require.True(l.t, ok, "no invocation %d to report", seq)
	at := end.Add(5 * time.Millisecond)
	l.add(at, telemetryapi.TypePlatformReport, telemetryapi.PlatformReport{
		RequestID: requestID, Status: telemetryapi.StatusSuccess, Tracing: xrayTracing(seq),
		Metrics: telemetryapi.ReportMetrics{DurationMs: float64(billedMs), BilledDurationMs: float64(billedMs),
			MemorySizeMB: float64(l.fn.memMiB), MaxMemoryUsedMB: float64(maxUsedMiB)},
	})
	return l
}

// post sends the events added since the last post as the sandbox's next batch, as the
// extension does, and requires the receiver to take every event.
func (l *lambdaSandbox) post(base string) {
	l.t.Helper()
	body, err := telemetryapi.AppendEvents(nil, l.events)
	require.NoError(l.t, err)
	l.sequence++
	code, answer := postBatch(l.t, base, wire.Batch{Sandbox: l.fn.wireSandbox(), Sequence: l.sequence, ReportsWithoutRuntimeDone: l.reports}, body, false)
	require.Equal(l.t, http.StatusOK, code, answer.Error)
	require.Empty(l.t, answer.Rejected, fmt.Sprintf("%+v", answer))
	require.Equal(l.t, len(l.events), answer.Accepted)
	l.events, l.reports = nil, nil
}

// functionSpans returns the function's root spans added since the last call: its SDK's
// OTLP export (resource: its service and function name only, as an SDK without the AWS
// resource detector sets it).
func (l *lambdaSandbox) functionSpans() ptrace.Traces {
	td := l.fnTraces
	l.resetFunctionSpans()
	return td
}

func (l *lambdaSandbox) resetFunctionSpans() {
	l.fnTraces = ptrace.NewTraces()
	rs := l.fnTraces.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr(lambdaconv.AttrServiceName, l.fn.name)
	rs.Resource().Attributes().PutStr(lambdaconv.AttrFaaSName, l.fn.name)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/github.com/aws/aws-lambda-go/otellambda")
	l.fnSpans = ss.Spans()
}

// postOTLP sends spans to lambda_telemetry's OTLP/HTTP traces path in the given encoding.
func postOTLP(t *testing.T, base, contentType string, td ptrace.Traces) {
	t.Helper()
	require.Equal(t, http.StatusOK, post(t, base+"/v1/traces", contentType, marshal(t, td, contentType)))
}
