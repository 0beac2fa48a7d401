// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package translator

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
)

var findingsT0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// fev is one event of a findings test: at is milliseconds after findingsT0.
type fev struct {
	at     int
	typ    string
	record any
	marked bool // a report the forwarder marked as without runtimeDone
}

func fStart(at int, id string) fev {
	return fev{at: at, typ: telemetryapi.TypePlatformStart, record: &telemetryapi.PlatformStart{RequestID: id}}
}

func fDone(at int, id, status, errorType string) fev {
	return fev{at: at, typ: telemetryapi.TypePlatformRuntimeDone, record: &telemetryapi.PlatformRuntimeDone{RequestID: id,
		Status: status, ErrorType: errorType, Metrics: &telemetryapi.RuntimeDoneMetrics{DurationMs: 90}}}
}

func fReport(at int, id, status, errorType string, marked bool) fev {
	return fev{at: at, typ: telemetryapi.TypePlatformReport, marked: marked, record: &telemetryapi.PlatformReport{RequestID: id,
		Status: status, ErrorType: errorType, Metrics: telemetryapi.ReportMetrics{DurationMs: 95, BilledDurationMs: 95, MemorySizeMB: 128, MaxMemoryUsedMB: 60}}}
}

func fLog(at int, line string) fev {
	return fev{at: at, typ: telemetryapi.TypeFunction, record: line}
}

// sqsSource is what the proxy finds in an SQS event.
var sqsSource = telemetryapi.EventSource{Kind: "sqs", Trigger: lambdaconv.TriggerPubSub, MessagingSystem: lambdaconv.MessagingSystemSQS,
	Destination: "orders", ARN: "arn:aws:sqs:us-east-1:123456789012:orders", EventTimeUnixMs: findingsT0.UnixMilli() - 1000, BatchSize: 10}

// sqsAttributes are the attributes sqsSource puts on an invocation span.
var sqsAttributes = map[string]any{
	lambdaconv.AttrFaaSTrigger:              lambdaconv.TriggerPubSub,
	lambdaconv.AttrMessagingSystem:          lambdaconv.MessagingSystemSQS,
	lambdaconv.AttrMessagingDestinationName: "orders",
	lambdaconv.AttrEventSourceARN:           "arn:aws:sqs:us-east-1:123456789012:orders",
	lambdaconv.AttrEventTimeUnixMs:          findingsT0.UnixMilli() - 1000,
	lambdaconv.AttrBatchMessageCount:        int64(10),
}

func fFinding(at int, id string, source *telemetryapi.EventSource, errorType string) fev {
	return fev{at: at, typ: telemetryapi.TypeInvocation, record: &telemetryapi.Invocation{RequestID: id, Source: source, ErrorType: errorType}}
}

var findingsSandbox = wire.Sandbox{FunctionName: "orders-consumer", Region: "us-east-1", AccountID: "123456789012",
	ExtensionInstanceID: "2026/12/01/[$LATEST]f1nd1ng5"}

// translateBatches translates each batch in turn with one sandbox state, as the receiver
// does for the batches of one extension instance (a new state per batch for a keyless one).
func translateBatches(t *testing.T, key string, batches ...[]fev) []Output {
	t.Helper()
	sb := NewSandbox(key)
	var outs []Output
	for _, events := range batches {
		if key == "" {
			sb = NewSandbox("")
		}
		outs = append(outs, translateWith(t, sb, key, events))
	}
	return outs
}

func translateWith(t *testing.T, sb *Sandbox, key string, events []fev) Output {
	t.Helper()
	sandbox := findingsSandbox
	sandbox.ExtensionInstanceID = key
	b := wire.Batch{Sandbox: sandbox}
	var evs []telemetryapi.Event
	for i, e := range events {
		ev, err := telemetryapi.NewEvent(findingsT0.Add(time.Duration(e.at)*time.Millisecond), e.typ, e.record)
		require.NoError(t, err)
		evs = append(evs, ev)
		if e.marked {
			b.ReportsWithoutRuntimeDone = append(b.ReportsWithoutRuntimeDone, i)
		}
	}
	sb.Lock()
	defer sb.Unlock()
	return Translate(sb, b, telemetryapi.DecodeRecords(evs), testScope)
}

// eventSourceAttributes returns the attributes of a span that a finding can set, by key.
func eventSourceAttributes(s ptrace.Span) map[string]any {
	got := map[string]any{}
	for _, k := range []string{lambdaconv.AttrFaaSTrigger, lambdaconv.AttrMessagingSystem, lambdaconv.AttrMessagingDestinationName,
		lambdaconv.AttrFaaSDocumentCollection, lambdaconv.AttrHTTPRoute, lambdaconv.AttrEventSourceARN,
		lambdaconv.AttrEventTimeUnixMs, lambdaconv.AttrBatchMessageCount} {
		if v, ok := s.Attributes().Get(k); ok {
			got[k] = v.AsRaw()
		}
	}
	return got
}

func TestFindingsDescribeTheInvocationSpan(t *testing.T) {
	const id = "8f5e1b2c-0000-4000-8000-000000000001"
	apiSource := &telemetryapi.EventSource{Kind: "apigateway-rest", Trigger: lambdaconv.TriggerHTTP, Route: "/orders/{id}",
		ARN: "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/orders/{id}"}
	s3Source := &telemetryapi.EventSource{Kind: "s3", Trigger: lambdaconv.TriggerDatasource, Collection: "uploads", BatchSize: 0}
	tests := []struct {
		name    string
		key     string // the extension instance id; "" for a keyless forwarder
		batches [][]fev
		// want are the event source attributes of the invocation span; errorType its
		// aws.lambda.error_type and errorClass its error.type ("" for none).
		want                  map[string]any
		errorType, errorClass string
		evicted               int
	}{
		{
			name: "in the same batch, just before runtimeDone",
			key:  findingsSandbox.ExtensionInstanceID,
			batches: [][]fev{{fStart(0, id), fLog(5, "working"), fFinding(1, id, &sqsSource, ""), fDone(90, id, "success", ""),
				fReport(95, id, "success", "", false)}},
			want: sqsAttributes,
		},
		{
			name:    "in an earlier batch of the sandbox",
			key:     findingsSandbox.ExtensionInstanceID,
			batches: [][]fev{{fStart(0, id), fFinding(1, id, &sqsSource, "")}, {fDone(90, id, "success", ""), fReport(95, id, "success", "", false)}},
			want:    sqsAttributes,
		},
		{
			name:    "after runtimeDone, in the same batch: not used",
			key:     findingsSandbox.ExtensionInstanceID,
			batches: [][]fev{{fStart(0, id), fDone(90, id, "success", ""), fFinding(91, id, &sqsSource, ""), fReport(95, id, "success", "", false)}},
			want:    map[string]any{},
		},
		{
			name:    "after runtimeDone, in a later batch: not used",
			key:     findingsSandbox.ExtensionInstanceID,
			batches: [][]fev{{fStart(0, id), fDone(90, id, "error", "")}, {fFinding(91, id, &sqsSource, "ValueError"), fReport(95, id, "error", "", false)}},
			want:    map[string]any{}, errorClass: lambdaconv.ErrorTypeFunction,
		},
		{
			name: "for a report marked as without runtimeDone",
			key:  findingsSandbox.ExtensionInstanceID,
			batches: [][]fev{{fStart(0, id), fFinding(1, id, apiSource, "Runtime.OutOfMemory"),
				fReport(95, id, "error", "", true)}},
			want: map[string]any{lambdaconv.AttrFaaSTrigger: lambdaconv.TriggerHTTP, lambdaconv.AttrHTTPRoute: "/orders/{id}",
				lambdaconv.AttrEventSourceARN: apiSource.ARN},
			errorType: "Runtime.OutOfMemory", errorClass: lambdaconv.ErrorTypeOutOfMemory,
		},
		{
			name:    "keyless forwarder, same batch",
			batches: [][]fev{{fStart(0, id), fFinding(1, id, s3Source, ""), fDone(90, id, "success", "")}},
			want:    map[string]any{lambdaconv.AttrFaaSTrigger: lambdaconv.TriggerDatasource, lambdaconv.AttrFaaSDocumentCollection: "uploads"},
		},
		{
			name:    "keyless forwarder, earlier batch: not kept",
			batches: [][]fev{{fStart(0, id), fFinding(1, id, s3Source, "")}, {fDone(90, id, "success", "")}},
			want:    map[string]any{},
		},
		{
			name:    "the function's errorType when Lambda gives none",
			key:     findingsSandbox.ExtensionInstanceID,
			batches: [][]fev{{fStart(0, id), fFinding(1, id, &sqsSource, "ValueError"), fDone(90, id, "error", "")}},
			want:    sqsAttributes, errorType: "ValueError", errorClass: lambdaconv.ErrorTypeFunction,
		},
		{
			name:    "Lambda's own errorType wins",
			key:     findingsSandbox.ExtensionInstanceID,
			batches: [][]fev{{fStart(0, id), fFinding(1, id, nil, "ValueError"), fDone(90, id, "failure", "Runtime.ExitError")}},
			want:    map[string]any{}, errorType: "Runtime.ExitError", errorClass: lambdaconv.ErrorTypeRuntimeExit,
		},
		{
			name:    "an errorType of a successful invocation is no error",
			key:     findingsSandbox.ExtensionInstanceID,
			batches: [][]fev{{fStart(0, id), fFinding(1, id, nil, "ValueError"), fDone(90, id, "success", "")}},
			want:    map[string]any{},
		},
		{
			name: "bounded: the oldest finding goes for a newer one",
			key:  findingsSandbox.ExtensionInstanceID,
			batches: func() [][]fev {
				first := []fev{fFinding(0, id, &sqsSource, "")}
				for i := range maxFindingsPerSandbox {
					first = append(first, fFinding(1+i, fmt.Sprintf("never-%d", i), &sqsSource, ""))
				}
				return [][]fev{first, {fStart(20, id), fDone(90, id, "success", "")}}
			}(),
			want:    map[string]any{},
			evicted: 1,
		},
		{
			name: "within the bound, the newest finding of a request is its",
			key:  findingsSandbox.ExtensionInstanceID,
			batches: func() [][]fev {
				first := []fev{fFinding(0, id, s3Source, "")}
				for i := range maxFindingsPerSandbox - 1 {
					first = append(first, fFinding(1+i, fmt.Sprintf("never-%d", i), s3Source, ""))
				}
				return [][]fev{first, {fStart(20, id), fFinding(21, id, &sqsSource, ""), fDone(90, id, "success", "")}}
			}(),
			want: sqsAttributes,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			outs := translateBatches(t, tc.key, tc.batches...)
			invocations := spansOfType(outs, lambdaconv.SpanTypeInvocation)
			require.Len(t, invocations, 1)
			inv := invocations[0]
			assert.Equal(t, tc.want, eventSourceAttributes(inv))
			assert.Equal(t, tc.errorType, attr(inv, lambdaconv.AttrLambdaErrorType))
			assert.Equal(t, tc.errorClass, attr(inv, lambdaconv.AttrErrorType))
			if tc.errorClass != "" {
				assert.Equal(t, ptrace.StatusCodeError, inv.Status().Code())
			}
			if tc.errorType != "" {
				assert.Equal(t, tc.errorType, inv.Status().Message())
			}
			evicted := 0
			for _, o := range outs {
				assert.Empty(t, o.Rejected)
				evicted += o.Stats.Evicted
			}
			assert.Equal(t, tc.evicted, evicted, "findings dropped at the bound")
			// The report span names the same source, for the billed duration, memory and
			// cost per event source; the event's time and batch size stay on the invocation.
			naming := maps.Clone(tc.want)
			delete(naming, lambdaconv.AttrEventTimeUnixMs)
			delete(naming, lambdaconv.AttrBatchMessageCount)
			for _, s := range spansOfType(outs, lambdaconv.SpanTypeReport) {
				assert.Equal(t, naming, eventSourceAttributes(s), "the report span names its invocation's event source")
			}
		})
	}
}

// TestWithoutFindingsSpansAreAsBefore: the findings add attributes to the invocation span
// and change nothing else; a batch without them makes what it made before they existed.
func TestWithoutFindingsSpansAreAsBefore(t *testing.T) {
	const id = "r1"
	plain := []fev{fStart(0, id), fLog(5, "working"), fDone(90, id, "error", ""), fReport(95, id, "error", "", false)}
	withFinding := []fev{fStart(0, id), fLog(5, "working"), fFinding(1, id, &sqsSource, "ValueError"), fDone(90, id, "error", ""),
		fReport(95, id, "error", "", false)}
	key := findingsSandbox.ExtensionInstanceID
	without := translateBatches(t, key, plain)[0]
	with := translateBatches(t, key, withFinding)[0]

	require.Equal(t, without.Traces.SpanCount(), with.Traces.SpanCount())
	stripped := with.Traces
	for _, s := range spansOfType([]Output{with}, lambdaconv.SpanTypeReport) {
		for k := range sqsAttributes {
			s.Attributes().Remove(k)
		}
	}
	for _, s := range spansOfType([]Output{with}, lambdaconv.SpanTypeInvocation) {
		for k := range sqsAttributes {
			s.Attributes().Remove(k)
		}
		// The function's errorType, which Lambda did not give, is the only outcome change.
		assert.Equal(t, "ValueError", attr(s, lambdaconv.AttrLambdaErrorType))
		s.Attributes().Remove(lambdaconv.AttrLambdaErrorType)
		s.Status().SetMessage("error")
	}
	assert.JSONEq(t, string(marshalTraces(t, without.Traces)), string(marshalTraces(t, stripped)))
	assert.Equal(t, []int{2, 3}, without.SpanEvents)
	assert.Equal(t, []int{3, 4}, with.SpanEvents, "each span's event is its runtimeDone, its report: acknowledgement keys follow")
	assert.Equal(t, without.Stats.Events+1, with.Stats.Events)
	assert.Equal(t, without.Stats.Accepted()+1, with.Stats.Accepted(), "the finding is an accepted event")
}

// TestFindingsDoNotForceASort: the finding's time (when the proxy got the event) is before
// the invocation's logs; that alone must not make the batch look out of order, and a batch
// that sorts keeps each finding just before the event after it.
func TestFindingsDoNotForceASort(t *testing.T) {
	events := []fev{fStart(0, "r1"), fLog(5, "a"), fLog(6, "b"), fFinding(1, "r1", &sqsSource, ""), fDone(90, "r1", "success", "")}
	var decoded []telemetryapi.DecodedEvent
	for _, e := range events {
		decoded = append(decoded, telemetryapi.DecodedEvent{Time: findingsT0.Add(time.Duration(e.at) * time.Millisecond), Type: e.typ, Decoded: e.record})
	}
	assert.Nil(t, inTimeOrder(decoded))
	decoded[1].Time, decoded[2].Time = decoded[2].Time, decoded[1].Time
	assert.Equal(t, []int{0, 2, 1, 3, 4}, inTimeOrder(decoded), "other events out of order still sort; the finding stays before its runtimeDone")

	// A finding whose time (the proxy's clock) is past its runtimeDone's, in a batch that
	// sorts: it still describes the invocation.
	outs := translateBatches(t, findingsSandbox.ExtensionInstanceID,
		[]fev{fStart(0, "r1"), fLog(6, "b"), fLog(5, "a"), fFinding(95, "r1", &sqsSource, ""), fDone(90, "r1", "success", "")})
	inv := spansOfType(outs, lambdaconv.SpanTypeInvocation)
	require.Len(t, inv, 1)
	assert.Equal(t, sqsAttributes, eventSourceAttributes(inv[0]))
}

// TestBadFindingsAreRejectedAlone: a finding Lambda's limits refuse, or that does not
// decode, is rejected and counted like any bad record; the invocation is counted as if it
// had none.
func TestBadFindingsAreRejectedAlone(t *testing.T) {
	long := sqsSource
	long.Destination = strings.Repeat("q", telemetryapi.MaxEventSourceNameLen+1)
	outs := translateBatches(t, findingsSandbox.ExtensionInstanceID,
		[]fev{fStart(0, "r1"), fFinding(1, "r1", &long, ""), fDone(90, "r1", "success", "")})
	out := outs[0]
	assert.Equal(t, 1, out.Stats.OutOfRange)
	require.Len(t, out.Rejected, 1)
	assert.Equal(t, 1, out.Rejected[0].Index)
	assert.True(t, errors.Is(out.Rejected[0].Err, telemetryapi.ErrOutOfRange))
	inv := spansOfType(outs, lambdaconv.SpanTypeInvocation)
	require.Len(t, inv, 1)
	assert.Empty(t, eventSourceAttributes(inv[0]))

	// A record that does not decode: an integer written as a fraction.
	events, err := telemetryapi.DecodeEvents([]byte(`[
		{"time":"2026-12-01T10:00:00.000Z","type":"platform.start","record":{"requestId":"r2"}},
		{"time":"2026-12-01T10:00:00.001Z","type":"otelcol.invocation","record":{"requestId":"r2","eventSource":{"kind":"sqs","batchSize":1.5}}},
		{"time":"2026-12-01T10:00:00.090Z","type":"platform.runtimeDone","record":{"requestId":"r2","status":"success"}}]`))
	require.NoError(t, err)
	sb := NewSandbox(findingsSandbox.ExtensionInstanceID)
	sb.Lock()
	out = Translate(sb, wire.Batch{Sandbox: findingsSandbox}, telemetryapi.DecodeRecords(events), testScope)
	sb.Unlock()
	assert.Equal(t, 1, out.Stats.Malformed)
	require.Len(t, out.Rejected, 1)
	assert.Equal(t, 1, out.Rejected[0].Index)
	assert.Equal(t, 1, out.Traces.SpanCount())
}

// TestFindingsReplayAndRollBack: the findings are sandbox state like any other, so a
// batch translated again after a roll-back (the pipeline refused it), and the batches of
// a write-ahead log replayed in order into a new state, make the same spans.
func TestFindingsReplayAndRollBack(t *testing.T) {
	key := findingsSandbox.ExtensionInstanceID
	first := []fev{fStart(0, "r1"), fFinding(1, "r1", &sqsSource, "ValueError")}
	second := []fev{fDone(90, "r1", "error", ""), fReport(95, "r1", "error", "", false)}

	sb := NewSandbox(key)
	translateWith(t, sb, key, first)
	cp := sb.Checkpoint()
	refused := translateWith(t, sb, key, second)
	sb.Restore(cp)
	retried := translateWith(t, sb, key, second)
	assert.JSONEq(t, string(marshalTraces(t, refused.Traces)), string(marshalTraces(t, retried.Traces)))
	inv := spansOfType([]Output{retried}, lambdaconv.SpanTypeInvocation)
	require.Len(t, inv, 1)
	assert.Equal(t, sqsAttributes, eventSourceAttributes(inv[0]), "the roll-back restored the finding the refused attempt used")
	assert.Equal(t, "ValueError", attr(inv[0], lambdaconv.AttrLambdaErrorType))

	replayed := translateBatches(t, key, first, second)
	assert.JSONEq(t, string(marshalTraces(t, retried.Traces)), string(marshalTraces(t, replayed[1].Traces)))
}

// TestFindingsAddNoAllocationBeyondTheirAttributes keeps the state fixed-size: a finding
// kept and taken allocates nothing in the state itself.
func TestFindingsAddNoAllocationBeyondTheirAttributes(t *testing.T) {
	var f findings
	rec := &telemetryapi.Invocation{RequestID: "r1", Source: &sqsSource}
	allocs := testing.AllocsPerRun(100, func() {
		f.add(rec)
		f.take("r1")
	})
	assert.Zero(t, allocs)
}

// TestLateFindingDescribesNoLaterInvocation: a finding that came after its invocation span
// is dropped with the invocation's report, so an asynchronous retry, which reuses the
// request id, is not described by it.
func TestLateFindingDescribesNoLaterInvocation(t *testing.T) {
	outs := translateBatches(t, findingsSandbox.ExtensionInstanceID,
		[]fev{fStart(0, "r1"), fDone(90, "r1", "error", "")},
		[]fev{fFinding(91, "r1", &sqsSource, "ValueError"), fReport(95, "r1", "error", "", false)},
		[]fev{fStart(60_000, "r1"), fDone(60_090, "r1", "error", "")})
	invocations := spansOfType(outs, lambdaconv.SpanTypeInvocation)
	require.Len(t, invocations, 2)
	for _, inv := range invocations {
		assert.Empty(t, eventSourceAttributes(inv))
		assert.Empty(t, attr(inv, lambdaconv.AttrLambdaErrorType))
	}
}

// TestScenarioProxyFindings runs the findings through the scenario harness: SQS and a
// Kinesis batch whose report stands in for its runtimeDone, an API Gateway invocation whose
// finding came a batch before its runtimeDone and names the function's errorType, a late
// finding (not used), a refused one, a resent batch, and a keyless forwarder's S3 event.
func TestScenarioProxyFindings(t *testing.T) {
	results, outputs := runScenario(t, "proxy_findings")
	checkGolden(t, "proxy_findings", results)

	invocations := spansOfType(outputs, lambdaconv.SpanTypeInvocation)
	assert.Equal(t, map[string]int{"req-sqs": 1, "req-api": 1, "req-late": 1, "req-oom": 1, "req-s3": 1}, invocationCounts(outputs))
	assert.Equal(t, sqsAttributesOf("orders", "arn:aws:sqs:us-east-1:123456789012:orders", 1764583199000, 10),
		eventSourceAttributes(findSpan(t, invocations, "req-sqs")))
	api := findSpan(t, invocations, "req-api")
	assert.Equal(t, "/orders/{id}", attr(api, lambdaconv.AttrHTTPRoute))
	assert.Equal(t, "ValueError", attr(api, lambdaconv.AttrLambdaErrorType))
	assert.Equal(t, lambdaconv.ErrorTypeFunction, attr(api, lambdaconv.AttrErrorType))
	assert.Empty(t, eventSourceAttributes(findSpan(t, invocations, "req-late")))
	oom := findSpan(t, invocations, "req-oom")
	assert.Equal(t, "clicks", attr(oom, lambdaconv.AttrMessagingDestinationName))
	assert.Equal(t, "Runtime.OutOfMemory", attr(oom, lambdaconv.AttrLambdaErrorType), "Lambda's errorType")
	assert.Equal(t, "uploads", attr(findSpan(t, invocations, "req-s3"), lambdaconv.AttrFaaSDocumentCollection))

	assert.True(t, results[2].Replayed)
	assert.Equal(t, 1, outputs[1].Stats.OutOfRange, "the finding with a kind that is no token")
	require.Len(t, outputs[1].Rejected, 1)
	assert.Equal(t, 9, outputs[1].Rejected[0].Index)
}

func sqsAttributesOf(queue, arn string, eventMs, batch int64) map[string]any {
	return map[string]any{
		lambdaconv.AttrFaaSTrigger: lambdaconv.TriggerPubSub, lambdaconv.AttrMessagingSystem: lambdaconv.MessagingSystemSQS,
		lambdaconv.AttrMessagingDestinationName: queue, lambdaconv.AttrEventSourceARN: arn,
		lambdaconv.AttrEventTimeUnixMs: eventMs, lambdaconv.AttrBatchMessageCount: batch,
	}
}
