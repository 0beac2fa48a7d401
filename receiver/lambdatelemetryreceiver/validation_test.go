// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/metadatatest"
)

// repeatArray is a JSON array of n copies of element.
func repeatArray(element string, n int) string {
	var b strings.Builder
	b.Grow(n * (len(element) + 1))
	b.WriteString("[")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(element)
	}
	b.WriteString("]")
	return b.String()
}

// refusedPoints is receiver_lambda_telemetry_requests_refused as the receiver reports it:
// every reason, from 0 (startAlertedCountersAtZero), with the counts given.
func refusedPoints(counts map[string]int64) []metricdata.DataPoint[int64] {
	var points []metricdata.DataPoint[int64]
	for _, reason := range []string{"pipeline_busy", "malformed", "too_large", "too_many_items", "unattributed", "invalid_sandbox", "log_full"} {
		points = append(points, metricdata.DataPoint[int64]{Value: counts[reason], Attributes: attribute.NewSet(attribute.String("reason", reason))})
	}
	return points
}

func eventsPoint(outcome string, n int64) metricdata.DataPoint[int64] {
	return metricdata.DataPoint[int64]{Value: n, Attributes: attribute.NewSet(attribute.String("outcome", outcome))}
}

// TestTelemetryAnswerIsBoundedWhateverTheBody: the answer names at most
// maxListedRejections events and counts the rest, and a body of nothing but bad elements is
// refused once maxRejectedElements of them were seen (a 5 MB body of zeros once got a
// 319 MB answer).
func TestTelemetryAnswerIsBoundedWhateverTheBody(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	traces := new(consumertest.TracesSink)
	c := telemetryClient{t: t, url: startReceiverWithSettings(t, sinks{traces: traces}, nil, metadatatest.NewSettings(tt))}
	b := wire.Batch{Sandbox: testSandbox}
	malformedRecord := `{"time":"2024-06-01T12:00:00.000Z","type":"platform.runtimeDone","record":{"requestId":5}}`

	tests := []struct {
		name          string
		body          string
		wantCode      int
		wantAccepted  int
		wantListed    []int
		wantCount     int
		wantError     string
		wantSpanCount int
	}{
		{name: "a million zeros", body: repeatArray("0", 1_000_000), wantCode: http.StatusBadRequest,
			wantListed: []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, wantCount: maxRejectedElements + 1,
			wantError: "more than 64 elements are not Telemetry API events (the first at index 0: the element is not a JSON object)"},
		{name: "a few bad elements among good events", body: `[0,` + oneInvocation("r1", "01") + `,"x",{}]`, wantCode: http.StatusOK,
			wantAccepted: 3, wantListed: []int{0, 4, 5}, wantCount: 3, wantSpanCount: 2},
		{name: "bad records are counted past the listed ones", body: repeatArray(malformedRecord, 1000), wantCode: http.StatusBadRequest,
			wantListed: []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, wantCount: 1000, wantError: "no event of the batch could be used"},
		{name: "bad elements and bad records, lowest indexes named", body: `[` + malformedRecord + `,0,` + malformedRecord + `,` + oneInvocation("r2", "02") + `]`,
			wantCode: http.StatusOK, wantAccepted: 3, wantListed: []int{0, 1, 2}, wantCount: 3, wantSpanCount: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			traces.Reset()
			code, answer, _ := c.post(b, tc.body)
			assert.Equal(t, tc.wantCode, code)
			assert.Equal(t, tc.wantAccepted, answer.Accepted)
			var listed []int
			for _, r := range answer.Rejected {
				listed = append(listed, r.Index)
				assert.NotEmpty(t, r.Error)
			}
			assert.Equal(t, tc.wantListed, listed)
			assert.Equal(t, tc.wantCount, answer.RejectedCount)
			assert.Contains(t, answer.Error, tc.wantError)
			assert.Equal(t, tc.wantSpanCount, traces.SpanCount())
		})
	}
	metadatatest.AssertEqualReceiverLambdaTelemetryRequestsRefused(t, tt,
		refusedPoints(map[string]int64{"malformed": 1}), metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
}

// TestTelemetryBatchNeedsAFunctionIdentity: a batch that names no function is refused,
// whichever form it comes in, and counted as such: nothing of it reaches a series without
// faas_name.
func TestTelemetryBatchNeedsAFunctionIdentity(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	traces := new(consumertest.TracesSink)
	base := startReceiverWithSettings(t, sinks{traces: traces}, nil, metadatatest.NewSettings(tt))
	c := telemetryClient{t: t, url: base}

	anonymous := testSandbox
	anonymous.FunctionName = ""
	code, answer, _ := c.post(wire.Batch{Sandbox: anonymous, Sequence: 1}, `[`+oneInvocation("r1", "01")+`]`)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, answer.Error, "the batch names no function: send the Lambda-Function-Name header")

	env, err := json.Marshal(wire.Envelope{Sandbox: anonymous, Sequence: 2, Events: json.RawMessage(`[` + oneInvocation("r2", "02") + `]`)})
	require.NoError(t, err)
	resp, body := post(t, base+wire.TelemetryPath, jsonContentType, env)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, string(body), "names no function")

	assert.Zero(t, traces.SpanCount())
	metadatatest.AssertEqualReceiverLambdaTelemetryRequestsRefused(t, tt,
		refusedPoints(map[string]int64{"unattributed": 2}), metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
	_, err = tt.GetMetric("otelcol_receiver_lambda_telemetry_events")
	assert.Error(t, err, "no event of a refused batch is counted")
}

// TestSandboxFactsOutsideLambdasLimitsAreRefused: a label value from the client that Lambda
// could not have produced refuses the request with a message naming the field and the
// limit, on the telemetry path and on OTLP alike.
func TestSandboxFactsOutsideLambdasLimitsAreRefused(t *testing.T) {
	tests := []struct {
		name      string
		mutate    func(*wire.Sandbox)
		wantError string
	}{
		{name: "a 100,000-character function name", mutate: func(s *wire.Sandbox) { s.FunctionName = strings.Repeat("f", 100_000) },
			wantError: `invalid Lambda-Function-Name header "ffff`},
		{name: "a version that is not one", mutate: func(s *wire.Sandbox) { s.FunctionVersion = "1 OR 1=1" },
			wantError: "invalid Lambda-Function-Version header"},
		{name: "an account of 13 digits", mutate: func(s *wire.Sandbox) { s.AccountID = "1234567890123" },
			wantError: "invalid Lambda-Account-Id header \"1234567890123\": want an AWS account id: 12 digits"},
		{name: "a region that is not one", mutate: func(s *wire.Sandbox) { s.Region = "moon" }, wantError: "invalid Lambda-Region header"},
		{name: "memory beyond Lambda's", mutate: func(s *wire.Sandbox) { s.MemorySizeMB = 1e6 }, wantError: "want 128 to 10240"},
	}
	refusals := make([]sandboxRefusal, len(tests))
	for i, tc := range tests {
		sandbox := testSandbox
		tc.mutate(&sandbox)
		refusals[i] = sandboxRefusal{name: tc.name, wantError: tc.wantError, setHeaders: sandbox.SetHeaders}
	}
	assertSandboxRefusals(t, refusals)
}

// sandboxRefusal is sandbox headers a request must be refused for.
type sandboxRefusal struct {
	name       string
	setHeaders func(http.Header)
	wantError  string
}

// assertSandboxRefusals sends a request with each refusal's headers on the telemetry path
// and on OTLP, and asserts that each is refused with a bounded 400 that says why, that
// nothing reaches the pipeline, and that every refusal is counted invalid_sandbox.
func assertSandboxRefusals(t *testing.T, refusals []sandboxRefusal) {
	t.Helper()
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	traces := new(consumertest.TracesSink)
	base := startReceiverWithSettings(t, sinks{traces: traces}, nil, metadatatest.NewSettings(tt))
	otlpBody, err := ptraceotlp.NewExportRequestFromTraces(testTraces()).MarshalProto()
	require.NoError(t, err)
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			for _, answer := range refusalsOnBothPaths(t, base, otlpBody, r.setHeaders) {
				assert.Equal(t, http.StatusBadRequest, answer.status, answer.path)
				assert.Contains(t, answer.msg, r.wantError, answer.path)
				assert.Less(t, answer.size, 1024, "the answer quotes a bounded part of the value")
			}
		})
	}
	assert.Zero(t, traces.SpanCount())
	metadatatest.AssertEqualReceiverLambdaTelemetryRequestsRefused(t, tt,
		refusedPoints(map[string]int64{"invalid_sandbox": int64(2 * len(refusals))}),
		metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
}

// TestValuesLambdaCannotProduceAreRejectedAndCounted: a duration of 1e308 ms or below 0
// rejects its event, which is counted as out_of_range, and the invocation is not counted:
// it once added 9.2e9 s to the duration sum, or was taken as 0.
func TestValuesLambdaCannotProduceAreRejectedAndCounted(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	traces := new(consumertest.TracesSink)
	c := telemetryClient{t: t, url: startReceiverWithSettings(t, sinks{traces: traces}, nil, metadatatest.NewSettings(tt))}

	runtimeDone := func(id, durationMs string) string {
		return `{"time":"2024-06-01T12:00:01.040Z","type":"platform.runtimeDone","record":{"requestId":"` + id +
			`","status":"success","metrics":{"durationMs":` + durationMs + `}}}`
	}
	body := `[` + runtimeDone("huge", "1e308") + `,` + runtimeDone("negative", "-40") + `,` + runtimeDone("fine", "40") + `,` +
		`{"time":"1970-01-01T00:00:00.000Z","type":"platform.start","record":{"requestId":"epoch"}}]`
	code, answer, _ := c.post(wire.Batch{Sandbox: testSandbox, Sequence: 1}, body)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, 1, answer.Accepted)
	assert.Equal(t, 3, answer.RejectedCount)
	require.Len(t, answer.Rejected, 3)
	assert.Equal(t, "platform.runtimeDone record: metrics.durationMs = 1e+308 is outside what Lambda produces (0 to 960000 ms)", answer.Rejected[0].Error)
	assert.Contains(t, answer.Rejected[1].Error, "metrics.durationMs = -40")
	assert.Contains(t, answer.Rejected[2].Error, `"time" is outside what Lambda produces`)
	assert.Equal(t, map[string]int{"fine": 1}, invocationSpans(traces.AllTraces()))

	metadatatest.AssertEqualReceiverLambdaTelemetryEvents(t, tt,
		[]metricdata.DataPoint[int64]{eventsPoint("accepted", 1), eventsPoint("out_of_range", 3)},
		metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
}

func TestReportIndexesMustBeInTheBatch(t *testing.T) {
	c := telemetryClient{t: t, url: startReceiver(t, sinks{traces: new(consumertest.TracesSink)}, nil)}
	code, answer, _ := c.post(wire.Batch{Sandbox: testSandbox, ReportsWithoutRuntimeDone: []int{1, 3}}, `[`+oneInvocation("r1", "01")+`]`)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "the reports without runtimeDone (Lambda-Reports-Without-Runtime-Done) include event 3, and the batch has 3 events", answer.Error)
}

// TestRemapSkipsRejectedElements: the indexes of reports without runtimeDone name batch
// elements; once elements are rejected they are turned into indexes of the decoded events.
func TestRemapSkipsRejectedElements(t *testing.T) {
	d := decodedEvents{positions: []int{0, 2, 3, 5}, total: 6}
	got, err := d.remap([]int{5, 1, 3, 3})
	require.NoError(t, err)
	assert.Equal(t, []int{2, 3}, got)
	for _, n := range []int{0, 1, 1000} {
		_, err := (&decodedEvents{total: n}).remap([]int{n})
		assert.ErrorContains(t, err, "include event "+strconv.Itoa(n))
	}
}

// TestOTLPErrorAnswersAreBounded: an OTLP request that does not decode gets a short
// google.rpc.Status, whatever it holds: decoders' messages may quote the input.
func TestOTLPErrorAnswersAreBounded(t *testing.T) {
	base := startReceiver(t, sinks{traces: new(consumertest.TracesSink)}, nil)
	long := strings.Repeat("x", 1<<20)
	for _, tc := range []struct{ contentType, body string }{
		{jsonContentType, `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"` + long + `"}]}]}]}`},
		{jsonContentType, `{"resourceSpans":` + long + `}`},
		{jsonContentType, `{"` + long + `":1,`},
		{protobufContentType, "\x0a\xff\xff\xff\x0f" + long},
	} {
		resp, body := post(t, base+tracesPath, tc.contentType, []byte(tc.body))
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
		assert.Less(t, len(body), 2048, "%s: %.200s", tc.contentType, body)
		assert.Contains(t, decodeStatus(t, tc.contentType, body).GetMessage(), "cannot decode the OTLP request")
	}

	// A header quoted in the message: once answered whole.
	otlpBody, err := ptraceotlp.NewExportRequestFromTraces(testTraces()).MarshalProto()
	require.NoError(t, err)
	for _, header := range []string{wire.HeaderBatchSequence, wire.HeaderMemorySizeMB, wire.HeaderFunctionName} {
		req, err := http.NewRequest(http.MethodPost, base+tracesPath, strings.NewReader(string(otlpBody)))
		require.NoError(t, err)
		req.Header.Set("Content-Type", protobufContentType)
		req.Header.Set(header, strings.Repeat("9", 200_000))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, header)
		assert.Less(t, len(body), 1024, header)
	}
}

// pathAnswer is the answer of one path to a request with bad sandbox headers.
type pathAnswer struct {
	path   string
	status int
	msg    string // the error the answer gives
	size   int    // of the whole answer
}

// refusalsOnBothPaths sends a valid Telemetry API batch and a valid OTLP/protobuf request
// with the headers setHeaders writes, and returns each path's answer.
func refusalsOnBothPaths(t *testing.T, base string, otlpBody []byte, setHeaders func(http.Header)) []pathAnswer {
	t.Helper()
	var answers []pathAnswer
	for _, target := range []struct{ path, contentType, body string }{
		{wire.TelemetryPath, jsonContentType, `[` + oneInvocation("r1", "01") + `]`},
		{tracesPath, protobufContentType, string(otlpBody)},
	} {
		req, err := http.NewRequest(http.MethodPost, base+target.path, strings.NewReader(target.body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", target.contentType)
		setHeaders(req.Header)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		raw, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		resp.Body.Close()
		answer := pathAnswer{path: target.path, status: resp.StatusCode, size: len(raw)}
		if target.path == tracesPath {
			answer.msg = decodeStatus(t, target.contentType, raw).GetMessage()
		} else {
			var body telemetryResponse
			require.NoError(t, json.Unmarshal(raw, &body), "%s", raw)
			answer.msg = body.Error
		}
		answers = append(answers, answer)
	}
	return answers
}

// TestAlertedCountersStartAtZero: the counters alerts watch for any increase exist at 0
// before the first request, so that Prometheus sees the first drop or refusal as one.
func TestAlertedCountersStartAtZero(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	startReceiverWithSettings(t, sinks{traces: new(consumertest.TracesSink)}, nil, metadatatest.NewSettings(tt))
	zero := []metricdata.DataPoint[int64]{{Value: 0}}
	metadatatest.AssertEqualReceiverLambdaTelemetryForwarderDroppedEvents(t, tt, zero, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
	metadatatest.AssertEqualReceiverLambdaTelemetryLambdaDroppedRecords(t, tt, zero, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
	metadatatest.AssertEqualReceiverLambdaTelemetryRequestsRefused(t, tt, refusedPoints(nil), metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
}
