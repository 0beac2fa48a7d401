// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/metadata"
)

// sqsFinding is the otelcol.invocation event the extension writes for an SQS invocation
// whose handler raised ValueError.
func sqsFinding(requestID, second string) string {
	return `{"time":"2024-06-01T12:00:` + second + `.001Z","type":"otelcol.invocation","record":{"requestId":"` + requestID + `",` +
		`"eventSource":{"kind":"sqs","trigger":"pubsub","messagingSystem":"aws_sqs","destination":"orders",` +
		`"arn":"arn:aws:sqs:us-east-1:123456789012:orders","eventTimeUnixMs":1717243199000,"batchSize":10},"errorType":"ValueError"}}`
}

// failedInvocationEnd is the runtimeDone and report of an invocation whose handler failed:
// Lambda says "error" and gives no errorType.
func failedInvocationEnd(requestID, second string) string {
	return `{"time":"2024-06-01T12:00:` + second + `.040Z","type":"platform.runtimeDone","record":{"requestId":"` + requestID + `","status":"error","metrics":{"durationMs":40}}},` +
		`{"time":"2024-06-01T12:00:` + second + `.050Z","type":"platform.report","record":{"requestId":"` + requestID + `","status":"error","metrics":{"durationMs":41,"billedDurationMs":41,"memorySizeMB":128,"maxMemoryUsedMB":60}}}`
}

func startEvent(requestID, second string) string {
	return `{"time":"2024-06-01T12:00:` + second + `.000Z","type":"platform.start","record":{"requestId":"` + requestID + `"}}`
}

// invocationSpansOf returns the invocation spans the sink received.
func invocationSpansOf(traces []ptrace.Traces) []ptrace.Span {
	var out []ptrace.Span
	for _, td := range traces {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, s := range ss.Spans().All() {
					if v, ok := s.Attributes().Get(lambdaconv.AttrSpanType); ok && v.Str() == lambdaconv.SpanTypeInvocation {
						out = append(out, s)
					}
				}
			}
		}
	}
	return out
}

func assertSQSFinding(t *testing.T, span ptrace.Span) {
	t.Helper()
	attrs := span.Attributes().AsRaw()
	for k, want := range map[string]any{
		lambdaconv.AttrFaaSTrigger: "pubsub", lambdaconv.AttrMessagingSystem: "aws_sqs",
		lambdaconv.AttrMessagingDestinationName: "orders", lambdaconv.AttrEventSourceARN: "arn:aws:sqs:us-east-1:123456789012:orders",
		lambdaconv.AttrEventTimeUnixMs: int64(1717243199000), lambdaconv.AttrBatchMessageCount: int64(10),
		lambdaconv.AttrErrorType: lambdaconv.ErrorTypeFunction, lambdaconv.AttrLambdaErrorType: "ValueError",
	} {
		assert.Equal(t, want, attrs[k], k)
	}
}

// TestFindingsOverHTTP: the extension's otelcol.invocation is a known event on the
// receiver's Telemetry API path; its findings describe the invocation span made in a later
// batch of the same extension instance, and a bad one is rejected alone.
func TestFindingsOverHTTP(t *testing.T) {
	traces := new(consumertest.TracesSink)
	c := telemetryClient{t: t, url: startReceiver(t, sinks{traces: traces}, nil)}

	code, answer, _ := c.post(batch("ext-1", 1), `[`+startEvent("r1", "01")+`,`+sqsFinding("r1", "01")+`]`)
	require.Equal(t, http.StatusOK, code, answer.Error)
	assert.Equal(t, 2, answer.Accepted)
	assert.Zero(t, answer.RejectedCount)

	bad := `{"time":"2024-06-01T12:00:01.002Z","type":"otelcol.invocation","record":{"requestId":"r9","eventSource":{"kind":"sqs","batchSize":-1}}}`
	code, answer, _ = c.post(batch("ext-1", 2), `[`+failedInvocationEnd("r1", "01")+`,`+bad+`]`)
	require.Equal(t, http.StatusOK, code, answer.Error)
	assert.Equal(t, 2, answer.Accepted)
	assert.Equal(t, 1, answer.RejectedCount)
	require.Len(t, answer.Rejected, 1)
	assert.Equal(t, 2, answer.Rejected[0].Index)
	assert.Contains(t, answer.Rejected[0].Error, "eventSource.batchSize")

	spans := invocationSpansOf(traces.AllTraces())
	require.Len(t, spans, 1)
	assertSQSFinding(t, spans[0])
}

// TestFindingsSurviveTheWriteAheadLog: a logged batch replayed after a kill makes the
// invocation span its finding described when the batch was accepted.
func TestFindingsSurviveTheWriteAheadLog(t *testing.T) {
	dir := t.TempDir()
	running := startDurable(t, storageHost{storageID: newFileStorage(t, dir)}, receivertest.NewNopSettings(metadata.Type), withWriteAheadLog)
	body := `[` + startEvent("r1", "01") + `,` + sqsFinding("r1", "01") + `,` + failedInvocationEnd("r1", "01") + `]`
	require.Equal(t, 4, running.post(batch("ext-1", 1), body).Accepted)
	first := invocationSpansOf(running.traces.AllTraces())
	require.Len(t, first, 1)
	assertSQSFinding(t, first[0])
	killed := copyStorage(t, dir)

	restarted := startDurable(t, storageHost{storageID: newFileStorage(t, killed)}, receivertest.NewNopSettings(metadata.Type), withWriteAheadLog)
	replayed := invocationSpansOf(restarted.traces.AllTraces())
	require.Len(t, replayed, 1, "the unacknowledged invocation span is sent again")
	assert.Equal(t, first[0].Attributes().AsRaw(), replayed[0].Attributes().AsRaw())
	assert.Equal(t, first[0].Status(), replayed[0].Status())
}
