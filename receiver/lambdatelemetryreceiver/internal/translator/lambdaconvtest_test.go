// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package translator_test

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv/lambdaconvtest"
	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/metadata"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/translator"
)

// TestLambdaconvtestMakesWhatTranslateMakes holds the spans that every consumer's tests
// and benchmarks build with lambdaconvtest equal to what the receiver makes from the same
// events, so that those tests cannot drift from the receiver.
func TestLambdaconvtestMakesWhatTranslateMakes(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	ms := time.Millisecond
	sandbox := wire.Sandbox{
		FunctionName: "orders", FunctionVersion: "7", FunctionARN: "arn:aws:lambda:eu-west-1:123456789012:function:orders",
		Region: "eu-west-1", AccountID: "123456789012", MemorySizeMB: 512, Architecture: "arm64", Runtime: "python3.12",
		TimeoutMs: 3000, ExtensionInstanceID: "2026/12/01/[$LATEST]0123456789abcdef",
	}
	trace := func(n byte) lambdaconvtest.Trace {
		return lambdaconvtest.Trace{
			TraceID:      pcommon.TraceID{0x69, 0x2d, 0x6e, 0xc0, n, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
			ParentSpanID: pcommon.SpanID{0xaa, n, 2, 3, 4, 5, 6, 7},
			SpanID:       pcommon.SpanID{0xbb, n, 2, 3, 4, 5, 6, 7},
		}
	}
	f := func(v float64) *float64 { return &v }
	// invocation is an invocation's platform.start, runtimeDone and report, Lambda's way:
	// runtimeDone after the handler, the report after the extensions.
	invocation := func(start time.Time, id string, tr lambdaconvtest.Trace, durMs, reportMs float64, status, errorType string, initMs *float64) []event {
		end := start.Add(telemetryapi.MillisToDuration(durMs))
		return []event{
			{at: start, typ: telemetryapi.TypePlatformStart, record: &telemetryapi.PlatformStart{RequestID: id, Tracing: tr.TraceContext()}},
			{at: end, typ: telemetryapi.TypePlatformRuntimeDone, record: &telemetryapi.PlatformRuntimeDone{RequestID: id, Status: status, ErrorType: errorType, Tracing: tr.TraceContext(),
				Metrics: &telemetryapi.RuntimeDoneMetrics{DurationMs: durMs, ProducedBytes: f(512)}}},
			{at: end.Add(20 * ms), typ: telemetryapi.TypePlatformReport, record: &telemetryapi.PlatformReport{RequestID: id, Status: status, ErrorType: errorType, Tracing: tr.TraceContext(),
				Metrics: telemetryapi.ReportMetrics{DurationMs: reportMs, BilledDurationMs: 1000, MemorySizeMB: 512, MaxMemoryUsedMB: 80, InitDurationMs: initMs}}},
		}
	}

	tests := []struct {
		name   string
		events [][]event
		want   *lambdaconvtest.Batch
	}{
		{
			name: "on-demand cold start, warm invocations, errors, a report without its runtimeDone",
			events: [][]event{
				{
					{at: t0, typ: telemetryapi.TypePlatformInitStart, record: &telemetryapi.PlatformInitStart{InitializationType: telemetryapi.InitTypeOnDemand, Phase: telemetryapi.PhaseInit, RuntimeVersion: "python:3.12.v30"}},
					{at: t0.Add(180 * ms), typ: telemetryapi.TypePlatformInitReport, record: &telemetryapi.PlatformInitReport{InitializationType: telemetryapi.InitTypeOnDemand, Phase: telemetryapi.PhaseInit,
						Status: telemetryapi.StatusSuccess, Metrics: telemetryapi.InitReportMetrics{DurationMs: 180}}},
				},
				invocation(t0.Add(200*ms), "r1", trace(1), 250, 260.5, telemetryapi.StatusSuccess, "", f(180)),
				invocation(t0.Add(time.Second), "r2", trace(2), 100, 101, lambdaconvtest.FunctionError.Status, lambdaconvtest.FunctionError.ErrorType, nil),
				invocation(t0.Add(2*time.Second), "r3", trace(3), 3000, 3000, lambdaconvtest.Timeout.Status, lambdaconvtest.Timeout.ErrorType, nil),
				{
					{at: t0.Add(6 * time.Second), typ: telemetryapi.TypePlatformStart, record: &telemetryapi.PlatformStart{RequestID: "r4", Tracing: trace(4).TraceContext()}},
					{at: t0.Add(6*time.Second + 300*ms), typ: telemetryapi.TypePlatformReport, withoutRuntimeDone: true, record: &telemetryapi.PlatformReport{RequestID: "r4", Status: lambdaconvtest.OutOfMemory.Status,
						ErrorType: lambdaconvtest.OutOfMemory.ErrorType, Tracing: trace(4).TraceContext(),
						Metrics: telemetryapi.ReportMetrics{DurationMs: 290, BilledDurationMs: 290, MemorySizeMB: 512, MaxMemoryUsedMB: 512}}},
				},
			},
			want: lambdaconvtest.NewBatch(sandbox, t0).
				Init(lambdaconvtest.Init{Duration: 180 * ms, RuntimeVersion: "python:3.12.v30"}).
				Invocation(lambdaconvtest.Invocation{RequestID: "r1", Start: t0.Add(200 * ms), Duration: 250 * ms,
					ColdStart: telemetryapi.InitTypeOnDemand, Trace: trace(1), ProducedBytes: 512}).
				Report(lambdaconvtest.Report{RequestID: "r1", Start: t0.Add(200 * ms), Trace: trace(1), Duration: 260500 * time.Microsecond,
					BilledDuration: time.Second, MaxMemoryUsedMB: 80, InitDuration: 180 * ms}).
				Invocation(lambdaconvtest.Invocation{RequestID: "r2", Start: t0.Add(time.Second), Duration: 100 * ms,
					Outcome: lambdaconvtest.FunctionError, Trace: trace(2), ProducedBytes: 512}).
				Report(lambdaconvtest.Report{RequestID: "r2", Start: t0.Add(time.Second), Trace: trace(2), Duration: 101 * ms,
					BilledDuration: time.Second, MaxMemoryUsedMB: 80, Outcome: lambdaconvtest.FunctionError}).
				Invocation(lambdaconvtest.Invocation{RequestID: "r3", Start: t0.Add(2 * time.Second), Duration: 3 * time.Second,
					Outcome: lambdaconvtest.Timeout, Trace: trace(3), ProducedBytes: 512}).
				Report(lambdaconvtest.Report{RequestID: "r3", Start: t0.Add(2 * time.Second), Trace: trace(3), Duration: 3 * time.Second,
					BilledDuration: time.Second, MaxMemoryUsedMB: 80, Outcome: lambdaconvtest.Timeout}).
				Invocation(lambdaconvtest.Invocation{RequestID: "r4", Start: t0.Add(6 * time.Second), Duration: 290 * ms,
					Outcome: lambdaconvtest.OutOfMemory, Trace: trace(4), FromReport: true}).
				Report(lambdaconvtest.Report{RequestID: "r4", Start: t0.Add(6 * time.Second), Trace: trace(4), Duration: 290 * ms,
					MaxMemoryUsedMB: 512, Outcome: lambdaconvtest.OutOfMemory}),
		},
		{
			name: "the extension's proxy findings: event source, and the function's errorType Lambda did not give",
			events: [][]event{{
				{at: t0, typ: telemetryapi.TypePlatformStart, record: &telemetryapi.PlatformStart{RequestID: "r1", Tracing: trace(1).TraceContext()}},
				{at: t0.Add(ms), typ: telemetryapi.TypeInvocation, record: &telemetryapi.Invocation{RequestID: "r1", ErrorType: "ValueError",
					Source: &telemetryapi.EventSource{Kind: "sqs", Trigger: "pubsub", MessagingSystem: "aws_sqs", Destination: "orders",
						ARN: "arn:aws:sqs:eu-west-1:123456789012:orders", EventTimeUnixMs: t0.UnixMilli() - 2000, BatchSize: 10}}},
				{at: t0.Add(40 * ms), typ: telemetryapi.TypePlatformRuntimeDone, record: &telemetryapi.PlatformRuntimeDone{RequestID: "r1", Status: telemetryapi.StatusError,
					Tracing: trace(1).TraceContext(), Metrics: &telemetryapi.RuntimeDoneMetrics{DurationMs: 40}}},
				{at: t0.Add(41 * ms), typ: telemetryapi.TypePlatformReport, record: &telemetryapi.PlatformReport{RequestID: "r1", Status: telemetryapi.StatusError,
					Tracing: trace(1).TraceContext(), Metrics: telemetryapi.ReportMetrics{DurationMs: 41, BilledDurationMs: 41, MemorySizeMB: 512, MaxMemoryUsedMB: 80}}},
			}},
			want: lambdaconvtest.NewBatch(sandbox, t0).
				Invocation(lambdaconvtest.Invocation{RequestID: "r1", Start: t0, Duration: 40 * ms, Trace: trace(1),
					Outcome: lambdaconvtest.Outcome{Status: telemetryapi.StatusError, ErrorType: "ValueError"},
					Attributes: map[string]any{
						lambdaconv.AttrFaaSTrigger: "pubsub", lambdaconv.AttrMessagingSystem: "aws_sqs", lambdaconv.AttrMessagingDestinationName: "orders",
						lambdaconv.AttrEventSourceARN: "arn:aws:sqs:eu-west-1:123456789012:orders", lambdaconv.AttrEventTimeUnixMs: t0.UnixMilli() - 2000,
						lambdaconv.AttrBatchMessageCount: 10,
					}}).
				Report(lambdaconvtest.Report{RequestID: "r1", Start: t0, Trace: trace(1), Duration: 41 * ms, BilledDuration: 41 * ms,
					MaxMemoryUsedMB: 80, Outcome: lambdaconvtest.Outcome{Status: telemetryapi.StatusError},
					Attributes: map[string]any{
						lambdaconv.AttrFaaSTrigger: "pubsub", lambdaconv.AttrMessagingSystem: "aws_sqs", lambdaconv.AttrMessagingDestinationName: "orders",
						lambdaconv.AttrEventSourceARN: "arn:aws:sqs:eu-west-1:123456789012:orders",
					}}),
		},
		{
			name: "SnapStart restore",
			events: [][]event{
				{
					{at: t0, typ: telemetryapi.TypePlatformRestoreStart, record: &telemetryapi.PlatformRestoreStart{RuntimeVersion: "java:21.v20"}},
					{at: t0.Add(300 * ms), typ: telemetryapi.TypePlatformRestoreReport, record: &telemetryapi.PlatformRestoreReport{Status: telemetryapi.StatusSuccess, Metrics: telemetryapi.InitReportMetrics{DurationMs: 300}}},
				},
				invocation(t0.Add(400*ms), "r1", trace(1), 40, 41, telemetryapi.StatusSuccess, "", nil),
			},
			want: lambdaconvtest.NewBatch(sandbox, t0).
				Init(lambdaconvtest.Init{InitializationType: telemetryapi.InitTypeSnapStart, Duration: 300 * ms, RuntimeVersion: "java:21.v20"}).
				Invocation(lambdaconvtest.Invocation{RequestID: "r1", Start: t0.Add(400 * ms), Duration: 40 * ms,
					ColdStart: telemetryapi.InitTypeSnapStart, Trace: trace(1), ProducedBytes: 512}).
				Report(lambdaconvtest.Report{RequestID: "r1", Start: t0.Add(400 * ms), Trace: trace(1), Duration: 41 * ms,
					BilledDuration: time.Second, MaxMemoryUsedMB: 80}),
		},
		{
			name: "SnapStart restore whose events never came: the report stands in",
			events: [][]event{{
				{at: t0.Add(time.Second), typ: telemetryapi.TypePlatformStart, record: &telemetryapi.PlatformStart{RequestID: "r1", Tracing: trace(1).TraceContext()}},
				{at: t0.Add(time.Second + 150*ms), typ: telemetryapi.TypePlatformRuntimeDone, record: &telemetryapi.PlatformRuntimeDone{RequestID: "r1", Status: telemetryapi.StatusSuccess,
					Tracing: trace(1).TraceContext(), Metrics: &telemetryapi.RuntimeDoneMetrics{DurationMs: 150}}},
				{at: t0.Add(time.Second + 160*ms), typ: telemetryapi.TypePlatformReport, record: &telemetryapi.PlatformReport{RequestID: "r1", Status: telemetryapi.StatusSuccess,
					Tracing: trace(1).TraceContext(), Metrics: telemetryapi.ReportMetrics{DurationMs: 149.5, BilledDurationMs: 313, MemorySizeMB: 512, MaxMemoryUsedMB: 163,
						RestoreDurationMs: f(789.5), BilledRestoreDurationMs: f(163)}}},
			}},
			want: lambdaconvtest.NewBatch(sandbox, t0).
				Init(lambdaconvtest.Init{InitializationType: telemetryapi.InitTypeSnapStart, Start: t0.Add(time.Second - 789500*time.Microsecond),
					Duration: 789500 * time.Microsecond, FromReport: true}).
				Invocation(lambdaconvtest.Invocation{RequestID: "r1", Start: t0.Add(time.Second), Duration: 150 * ms,
					ColdStart: telemetryapi.InitTypeSnapStart, Trace: trace(1)}).
				Report(lambdaconvtest.Report{RequestID: "r1", Start: t0.Add(time.Second), Trace: trace(1), Duration: 149500 * time.Microsecond,
					BilledDuration: 313 * ms, MaxMemoryUsedMB: 163, RestoreDuration: 789500 * time.Microsecond, BilledRestoreDuration: 163 * ms}),
		},
		{
			name: "failed provisioned-concurrency init, then a warm invocation",
			events: [][]event{
				{
					{at: t0, typ: telemetryapi.TypePlatformInitStart, record: &telemetryapi.PlatformInitStart{InitializationType: telemetryapi.InitTypeProvisionedConcurrency, Phase: telemetryapi.PhaseInit}},
					{at: t0.Add(2 * time.Second), typ: telemetryapi.TypePlatformInitReport, record: &telemetryapi.PlatformInitReport{InitializationType: telemetryapi.InitTypeProvisionedConcurrency,
						Phase: telemetryapi.PhaseInit, Status: telemetryapi.StatusError, ErrorType: "Runtime.ExitError",
						Metrics: telemetryapi.InitReportMetrics{DurationMs: 2000}}},
				},
				invocation(t0.Add(time.Minute), "r1", trace(1), 40, 41, telemetryapi.StatusSuccess, "", nil),
			},
			want: lambdaconvtest.NewBatch(sandbox, t0).
				Init(lambdaconvtest.Init{InitializationType: telemetryapi.InitTypeProvisionedConcurrency, Duration: 2 * time.Second,
					Outcome: lambdaconvtest.Outcome{Status: telemetryapi.StatusError, ErrorType: "Runtime.ExitError"}}).
				Invocation(lambdaconvtest.Invocation{RequestID: "r1", Start: t0.Add(time.Minute), Duration: 40 * ms, Trace: trace(1), ProducedBytes: 512}).
				Report(lambdaconvtest.Report{RequestID: "r1", Start: t0.Add(time.Minute), Trace: trace(1), Duration: 41 * ms,
					BilledDuration: time.Second, MaxMemoryUsedMB: 80}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			batch := wire.Batch{Sandbox: sandbox}
			var events []telemetryapi.Event
			for i, e := range slices.Concat(tt.events...) {
				ev, err := telemetryapi.NewEvent(e.at, e.typ, e.record)
				require.NoError(t, err)
				events = append(events, ev)
				if e.withoutRuntimeDone {
					batch.ReportsWithoutRuntimeDone = append(batch.ReportsWithoutRuntimeDone, i)
				}
			}
			out := translator.Translate(translator.NewSandbox(sandbox.ExtensionInstanceID), batch, telemetryapi.DecodeRecords(events), translator.Scope{Name: metadata.ScopeName})
			require.Empty(t, out.Rejected)
			got, want := out.Traces, tt.want.Traces
			require.Equal(t, 1, got.ResourceSpans().Len())
			require.Equal(t, want.SpanCount(), got.SpanCount())
			adoptDerivedIDs(want, got)
			sortAttributes(want)
			sortAttributes(got)
			wantRS, gotRS := want.ResourceSpans().At(0), got.ResourceSpans().At(0)
			assert.Equal(t, wantRS.Resource(), gotRS.Resource())
			assert.Equal(t, wantRS.ScopeSpans().At(0).Scope(), gotRS.ScopeSpans().At(0).Scope())
			// Span by span, in JSON: a difference reads as the field that differs.
			for i, g := range gotRS.ScopeSpans().At(0).Spans().All() {
				w := wantRS.ScopeSpans().At(0).Spans().At(i)
				assert.JSONEq(t, spanJSON(t, w), spanJSON(t, g), "span %d (%s)", i, g.Name())
			}
		})
	}
}

// event is one Telemetry API event; withoutRuntimeDone marks a report the forwarder
// flagged as coming without its runtimeDone.
type event struct {
	at                 time.Time
	typ                string
	record             any
	withoutRuntimeDone bool
}

// adoptDerivedIDs gives want the ids the receiver derives with hashes of its own, which no
// consumer reads the value of: the report and init span ids and the init span's trace.
// That the report is the invocation's child and the cold start links to its init span is
// still checked: the parent and the link must match once adopted.
func adoptDerivedIDs(want, got ptrace.Traces) {
	wantSpans := want.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	gotSpans := got.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	initTraces, initSpans := map[pcommon.TraceID]pcommon.TraceID{}, map[pcommon.SpanID]pcommon.SpanID{}
	for i := range wantSpans.Len() {
		w, g := wantSpans.At(i), gotSpans.At(i)
		spanType, _ := w.Attributes().Get(lambdaconv.AttrSpanType)
		switch spanType.Str() {
		case lambdaconv.SpanTypeInit:
			initTraces[w.TraceID()], initSpans[w.SpanID()] = g.TraceID(), g.SpanID()
			w.SetTraceID(g.TraceID())
			w.SetSpanID(g.SpanID())
		case lambdaconv.SpanTypeReport:
			w.SetSpanID(g.SpanID())
		case lambdaconv.SpanTypeInvocation:
			for _, l := range w.Links().All() {
				if id, ok := initTraces[l.TraceID()]; ok {
					l.SetTraceID(id)
				}
				if id, ok := initSpans[l.SpanID()]; ok {
					l.SetSpanID(id)
				}
			}
		}
	}
}

func spanJSON(t *testing.T, s ptrace.Span) string {
	t.Helper()
	td := ptrace.NewTraces()
	s.CopyTo(td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty())
	b, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	require.NoError(t, err)
	return string(b)
}

// sortAttributes puts every attribute map in key order: the order the receiver writes them
// in is not part of what it makes.
func sortAttributes(td ptrace.Traces) {
	sortMap := func(m pcommon.Map) {
		raw := m.AsRaw()
		m.Clear()
		for _, k := range slices.Sorted(maps.Keys(raw)) {
			_ = m.PutEmpty(k).FromRaw(raw[k])
		}
	}
	for _, rs := range td.ResourceSpans().All() {
		sortMap(rs.Resource().Attributes())
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				sortMap(s.Attributes())
				for _, l := range s.Links().All() {
					sortMap(l.Attributes())
				}
			}
		}
	}
}
