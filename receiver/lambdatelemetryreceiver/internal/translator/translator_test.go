// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package translator

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

var testScope = Scope{Name: "lambdatelemetryreceiver", Version: "test"}

// batchResult is one batch's output, as the golden files hold it.
type batchResult struct {
	Replayed bool            `json:"replayed,omitempty"`
	Traces   json.RawMessage `json:"traces,omitempty"`
	Logs     json.RawMessage `json:"logs,omitempty"`
	Rejected []int           `json:"rejected,omitempty"`
	Stats    Stats           `json:"stats"`
}

// runScenario feeds the batches of testdata/scenarios/<name>.json through Translate as
// the receiver does: one state per forwarder instance, replays acknowledged and skipped.
func runScenario(t *testing.T, name string) ([]batchResult, []Output) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "scenarios", name+".json"))
	require.NoError(t, err)
	var envelopes []json.RawMessage
	require.NoError(t, json.Unmarshal(data, &envelopes))

	sandboxes := map[string]*Sandbox{}
	var results []batchResult
	var outputs []Output
	for _, raw := range envelopes {
		b, eventsJSON, err := wire.DecodeEnvelope(raw)
		require.NoError(t, err)
		events, err := telemetryapi.DecodeEvents(eventsJSON)
		require.NoError(t, err)

		key := b.Sandbox.ExtensionInstanceID
		sb := NewSandbox(key)
		if key != "" {
			if existing, ok := sandboxes[key]; ok {
				sb = existing
			}
			sandboxes[key] = sb
		}
		sb.Lock()
		if sb.Replayed(b.Sequence) {
			sb.Unlock()
			results = append(results, batchResult{Replayed: true})
			continue
		}
		out := Translate(sb, b, telemetryapi.DecodeRecords(events), testScope)
		sb.Accepted(b.Sequence)
		sb.Unlock()

		res := batchResult{Stats: out.Stats}
		for _, r := range out.Rejected {
			res.Rejected = append(res.Rejected, r.Index)
		}
		if out.Traces.SpanCount() > 0 {
			res.Traces = marshalTraces(t, out.Traces)
		}
		if out.Logs.LogRecordCount() > 0 {
			res.Logs = marshalLogs(t, out.Logs)
		}
		results = append(results, res)
		outputs = append(outputs, out)
	}
	return results, outputs
}

func marshalTraces(t *testing.T, td ptrace.Traces) json.RawMessage {
	b, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	require.NoError(t, err)
	return b
}

func marshalLogs(t *testing.T, ld plog.Logs) json.RawMessage {
	b, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
	require.NoError(t, err)
	return b
}

// checkGolden compares the scenario's whole output with its golden file.
func checkGolden(t *testing.T, name string, results []batchResult) {
	t.Helper()
	got, err := json.MarshalIndent(results, "", "  ")
	require.NoError(t, err)
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, append(got, '\n'), 0o600))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run 'go test -update' to create the golden file")
	assert.JSONEq(t, string(want), string(got))
}

// spansOfType returns the spans of one lambdaconv span type across outputs.
func spansOfType(outputs []Output, spanType string) []ptrace.Span {
	var out []ptrace.Span
	for _, o := range outputs {
		rss := o.Traces.ResourceSpans()
		for i := range rss.Len() {
			sss := rss.At(i).ScopeSpans()
			for j := range sss.Len() {
				spans := sss.At(j).Spans()
				for k := range spans.Len() {
					s := spans.At(k)
					if v, ok := s.Attributes().Get(lambdaconv.AttrSpanType); ok && v.Str() == spanType {
						out = append(out, s)
					}
				}
			}
		}
	}
	return out
}

func attr(s ptrace.Span, key string) string {
	v, ok := s.Attributes().Get(key)
	if !ok {
		return ""
	}
	return v.AsString()
}

// invocationCounts is how many invocation spans each request id got.
func invocationCounts(outputs []Output) map[string]int {
	counts := map[string]int{}
	for _, s := range spansOfType(outputs, lambdaconv.SpanTypeInvocation) {
		counts[attr(s, lambdaconv.AttrFaaSInvocationID)]++
	}
	return counts
}

func findSpan(t *testing.T, spans []ptrace.Span, requestID string) ptrace.Span {
	t.Helper()
	for _, s := range spans {
		if attr(s, lambdaconv.AttrFaaSInvocationID) == requestID {
			return s
		}
	}
	t.Fatalf("no span for %s", requestID)
	return ptrace.Span{}
}

func TestScenarioColdStart(t *testing.T) {
	results, outputs := runScenario(t, "cold_start")
	checkGolden(t, "cold_start", results)

	assert.Equal(t, map[string]int{"req-cold": 1, "req-warm": 1}, invocationCounts(outputs))
	invocations := spansOfType(outputs, lambdaconv.SpanTypeInvocation)
	cold := findSpan(t, invocations, "req-cold")
	assert.Equal(t, "true", attr(cold, lambdaconv.AttrFaaSColdstart))
	assert.Equal(t, "on-demand", attr(cold, lambdaconv.AttrInitializationType))
	assert.Equal(t, "false", attr(findSpan(t, invocations, "req-warm"), lambdaconv.AttrFaaSColdstart))
	assert.Equal(t, ptrace.SpanKindServer, cold.Kind())
	assert.Equal(t, "checkout", cold.Name())
	assert.Equal(t, 250*time.Millisecond, cold.EndTimestamp().AsTime().Sub(cold.StartTimestamp().AsTime()))
	assert.Equal(t, 2, cold.Events().Len(), "responseLatency and responseDuration")

	inits := spansOfType(outputs, lambdaconv.SpanTypeInit)
	require.Len(t, inits, 1)
	require.Equal(t, 1, cold.Links().Len(), "the cold invocation links to its init span")
	assert.Equal(t, inits[0].SpanID(), cold.Links().At(0).SpanID())
	assert.Equal(t, inits[0].TraceID(), cold.Links().At(0).TraceID())
	assert.Equal(t, 190*time.Millisecond, inits[0].EndTimestamp().AsTime().Sub(inits[0].StartTimestamp().AsTime()))

	// The report came minutes later, in the next batch: still the invocation's child.
	reports := spansOfType(outputs, lambdaconv.SpanTypeReport)
	require.Len(t, reports, 1)
	assert.Equal(t, cold.TraceID(), reports[0].TraceID())
	assert.Equal(t, cold.SpanID(), reports[0].ParentSpanID())
	assert.Equal(t, "253", attr(reports[0], lambdaconv.AttrBilledDurationMs))
	assert.Equal(t, "536870912", attr(reports[0], lambdaconv.AttrMemorySize))
	assert.Equal(t, "91226112", attr(reports[0], lambdaconv.AttrMaxMemoryUsed))
	assert.Equal(t, "190", attr(reports[0], lambdaconv.AttrInitDurationMs))

	// The text log line written during the invocation is in its trace.
	logs := outputs[0].Logs.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	var found bool
	for i := range logs.Len() {
		if strings.Contains(logs.At(i).Body().Str(), "charging the card") {
			found = true
			assert.Equal(t, cold.TraceID(), logs.At(i).TraceID())
			assert.Equal(t, cold.SpanID(), logs.At(i).SpanID())
		}
	}
	assert.True(t, found)
}

func TestScenarioXRayAndLogs(t *testing.T) {
	results, outputs := runScenario(t, "xray_and_logs")
	checkGolden(t, "xray_and_logs", results)

	invocations := spansOfType(outputs, lambdaconv.SpanTypeInvocation)
	require.Len(t, invocations, 1)
	inv := invocations[0]
	assert.Equal(t, "665b0e403f9a6c2b1d4e5f6a7b8c9d0e", inv.TraceID().String(), "trace id from the X-Ray Root")
	assert.Equal(t, "24ac8d3e1c1a1c2f", inv.SpanID().String(), "span id Lambda gave the invocation")
	assert.Equal(t, "53995c3f42cd8ad8", inv.ParentSpanID().String(), "parent from the X-Ray header")
	assert.Equal(t, lambdaconv.ErrorTypeFunction, attr(inv, lambdaconv.AttrErrorType))
	assert.Equal(t, "CardDeclinedError", attr(inv, lambdaconv.AttrLambdaErrorType))
	assert.Equal(t, ptrace.StatusCodeError, inv.Status().Code())

	reports := spansOfType(outputs, lambdaconv.SpanTypeReport)
	require.Len(t, reports, 1)
	assert.Equal(t, inv.SpanID(), reports[0].ParentSpanID())

	logs := outputs[0].Logs.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	require.Equal(t, 2, logs.Len())
	jsonLog := logs.At(0)
	assert.Equal(t, "card declined", jsonLog.Body().Str())
	assert.Equal(t, plog.SeverityNumberError, jsonLog.SeverityNumber())
	assert.Equal(t, inv.TraceID(), jsonLog.TraceID())
	assert.Equal(t, inv.SpanID(), jsonLog.SpanID())
	orderID, _ := jsonLog.Attributes().Get("orderId")
	assert.Equal(t, "o-77", orderID.Str())
	attempt, _ := jsonLog.Attributes().Get("attempt")
	assert.Equal(t, int64(2), attempt.Int(), "JSON numbers stay numbers")
	assert.Equal(t, "[otelcol-lambda-extension] flushing", logs.At(1).Body().Str())
	assert.True(t, logs.At(1).TraceID().IsEmpty(), "extension logs are not the function's")
}

func TestScenarioSnapStart(t *testing.T) {
	results, outputs := runScenario(t, "snapstart")
	checkGolden(t, "snapstart", results)

	inits := spansOfType(outputs, lambdaconv.SpanTypeInit)
	require.Len(t, inits, 1, "the snapshot's own init, hours old, is not this sandbox's cold start")
	assert.Equal(t, lambdaconv.SpanNameRestore, inits[0].Name())
	inv := findSpan(t, spansOfType(outputs, lambdaconv.SpanTypeInvocation), "req-snap")
	assert.Equal(t, "true", attr(inv, lambdaconv.AttrFaaSColdstart))
	assert.Equal(t, "snap-start", attr(inv, lambdaconv.AttrInitializationType))
	assert.Equal(t, inits[0].SpanID(), inv.Links().At(0).SpanID())
	assert.Equal(t, "310", attr(spansOfType(outputs, lambdaconv.SpanTypeReport)[0], lambdaconv.AttrRestoreDurationMs))
}

func TestScenarioFailures(t *testing.T) {
	results, outputs := runScenario(t, "failures")
	checkGolden(t, "failures", results)

	assert.Equal(t, map[string]int{"req-timeout": 1, "req-exit": 1, "req-oom": 1, "req-ext": 1}, invocationCounts(outputs),
		"the unmarked report without runtimeDone counts nothing")
	invocations := spansOfType(outputs, lambdaconv.SpanTypeInvocation)
	for requestID, want := range map[string]string{
		"req-timeout": lambdaconv.ErrorTypeTimeout,
		"req-exit":    lambdaconv.ErrorTypeRuntimeExit,
		"req-oom":     lambdaconv.ErrorTypeOutOfMemory,
		"req-ext":     lambdaconv.ErrorTypeExtension,
	} {
		assert.Equal(t, want, attr(findSpan(t, invocations, requestID), lambdaconv.AttrErrorType), requestID)
	}
	oom := findSpan(t, invocations, "req-oom")
	assert.Equal(t, "true", attr(oom, lambdaconv.AttrInvocationFromReport))
	assert.Equal(t, "2024-06-01 12:02:00 +0000 UTC", oom.StartTimestamp().AsTime().String(), "start from platform.start")
	assert.Len(t, spansOfType(outputs, lambdaconv.SpanTypeReport), 4, "every report is a report span")

	stats := outputs[0].Stats
	assert.Equal(t, 1, stats.Unknown)
	assert.Equal(t, 1, stats.Malformed)
	assert.InDelta(t, 123.0, stats.LambdaDroppedRecords, 0)
	require.Len(t, outputs[0].Rejected, 1)
	assert.Equal(t, 11, outputs[0].Rejected[0].Index)
	assert.Contains(t, outputs[0].Rejected[0].Err.Error(), "platform.runtimeDone")
}

func TestScenarioReplaysAndDuplicates(t *testing.T) {
	results, outputs := runScenario(t, "replays_and_duplicates")
	checkGolden(t, "replays_and_duplicates", results)

	assert.True(t, results[1].Replayed, "a batch with an accepted sequence number is acknowledged and skipped")
	// req-a once at 12:00:00 (whatever the repeats), and once more at 12:01:10: Lambda's
	// retry of an asynchronous invocation reuses the request id and is a real invocation.
	assert.Equal(t, map[string]int{"req-a": 2}, invocationCounts(outputs))
	assert.Len(t, spansOfType(outputs, lambdaconv.SpanTypeReport), 1)
	assert.Equal(t, 1, outputs[0].Stats.Duplicates)
	assert.Equal(t, 2, outputs[1].Stats.Duplicates)
}

func TestScenarioReorderedAndMissing(t *testing.T) {
	results, outputs := runScenario(t, "reordered_and_missing")
	checkGolden(t, "reordered_and_missing", results)

	assert.Equal(t, map[string]int{"req-r": 1, "req-nostart": 1, "req-pc": 1}, invocationCounts(outputs))
	invocations := spansOfType(outputs, lambdaconv.SpanTypeInvocation)
	r := findSpan(t, invocations, "req-r")
	assert.Equal(t, "2024-06-01 12:00:00 +0000 UTC", r.StartTimestamp().AsTime().String())
	report := spansOfType(outputs, lambdaconv.SpanTypeReport)[0]
	assert.Equal(t, r.SpanID(), report.ParentSpanID(), "sorted by time, the report finds its invocation")

	noStart := findSpan(t, invocations, "req-nostart")
	assert.Equal(t, "2024-06-01 12:00:01 +0000 UTC", noStart.StartTimestamp().AsTime().String(), "start derived from runtimeDone's duration")

	pc := findSpan(t, invocations, "req-pc")
	assert.Equal(t, "false", attr(pc, lambdaconv.AttrFaaSColdstart), "provisioned concurrency initialised ahead of the request")
	assert.Equal(t, "legacy-forwarder", pc.Name())
}

func TestRestoreRollsBackState(t *testing.T) {
	events, err := telemetryapi.DecodeEvents([]byte(`[
		{"time":"2024-06-01T12:00:00.000Z","type":"platform.initStart","record":{"initializationType":"on-demand","phase":"init"}},
		{"time":"2024-06-01T12:00:00.100Z","type":"platform.start","record":{"requestId":"r"}},
		{"time":"2024-06-01T12:00:00.200Z","type":"platform.runtimeDone","record":{"requestId":"r","status":"success","metrics":{"durationMs":100}}}]`))
	require.NoError(t, err)
	b := wire.Batch{Sandbox: wire.Sandbox{FunctionName: "f", ExtensionInstanceID: "x"}, Sequence: 1}
	sb := NewSandbox("x")

	sb.Lock()
	cp := sb.Checkpoint()
	first := Translate(sb, b, telemetryapi.DecodeRecords(events), testScope)
	sb.Restore(cp) // the pipeline refused the batch
	second := Translate(sb, b, telemetryapi.DecodeRecords(events), testScope)
	sb.Accepted(b.Sequence)
	sb.Unlock()

	assert.Equal(t, first.Traces, second.Traces, "the retry is translated as the first attempt was")
	assert.Equal(t, map[string]int{"r": 1}, invocationCounts([]Output{second}))
	assert.True(t, sb.Replayed(1))
}

func TestPendingStateIsBounded(t *testing.T) {
	sb := NewSandbox("x")
	var buf bytes.Buffer
	buf.WriteString("[")
	start := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	n := maxPendingPerSandbox + 10
	for i := range n {
		if i > 0 {
			buf.WriteString(",")
		}
		ts := start.Add(time.Duration(i) * time.Millisecond).Format(telemetryapi.TimeLayout)
		buf.WriteString(`{"time":"` + ts + `","type":"platform.start","record":{"requestId":"r` + time.Duration(i).String() + `"}}`)
	}
	buf.WriteString("]")
	events, err := telemetryapi.DecodeEvents(buf.Bytes())
	require.NoError(t, err)
	sb.Lock()
	out := Translate(sb, wire.Batch{}, telemetryapi.DecodeRecords(events), testScope)
	sb.Unlock()
	assert.Len(t, sb.st.started, maxPendingPerSandbox)
	assert.Equal(t, 10, out.Stats.Evicted)
	_, oldestKept := sb.st.started["r0s"]
	assert.False(t, oldestKept, "the oldest entries go first")
}

func TestScenarioInitFailure(t *testing.T) {
	results, outputs := runScenario(t, "init_failure")
	checkGolden(t, "init_failure", results)

	inits := spansOfType(outputs, lambdaconv.SpanTypeInit)
	require.Len(t, inits, 2, "the timed-out init and the init Lambda re-ran inside the invocation")
	for _, s := range inits {
		assert.Equal(t, lambdaconv.ErrorTypeInitFailure, attr(s, lambdaconv.AttrErrorType))
		assert.Equal(t, ptrace.StatusCodeError, s.Status().Code())
	}
	assert.Equal(t, "init", attr(inits[0], lambdaconv.AttrInitPhase))
	assert.Equal(t, "timeout", attr(inits[0], lambdaconv.AttrStatus))
	assert.Equal(t, 1, inits[0].Events().Len(), "initRuntimeDone's phases")
	assert.Equal(t, "invoke", attr(inits[1], lambdaconv.AttrInitPhase))

	inv := findSpan(t, spansOfType(outputs, lambdaconv.SpanTypeInvocation), "req-after-init-failure")
	assert.Equal(t, "true", attr(inv, lambdaconv.AttrFaaSColdstart))
	assert.Equal(t, inits[1].SpanID(), inv.Links().At(0).SpanID(), "linked to the init it waited for")
	assert.Equal(t, lambdaconv.ErrorTypeUnhandled, attr(inv, lambdaconv.AttrErrorType))
}
