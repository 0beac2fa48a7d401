// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configauth"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/metadata"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/metadatatest"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/translator"
)

// oneInvocation is the three platform events of a warm invocation.
func oneInvocation(requestID, second string) string {
	return `{"time":"2024-06-01T12:00:` + second + `.000Z","type":"platform.start","record":{"requestId":"` + requestID + `"}},` +
		`{"time":"2024-06-01T12:00:` + second + `.040Z","type":"platform.runtimeDone","record":{"requestId":"` + requestID + `","status":"success","metrics":{"durationMs":40}}},` +
		`{"time":"2024-06-01T12:00:` + second + `.050Z","type":"platform.report","record":{"requestId":"` + requestID + `","status":"success","metrics":{"durationMs":41,"billedDurationMs":41,"memorySizeMB":128,"maxMemoryUsedMB":60}}}`
}

var testSandbox = wire.Sandbox{
	FunctionName: "orders", FunctionVersion: "7", Region: "us-east-1", AccountID: "123456789012",
	MemorySizeMB: 128, Architecture: "x86_64", ExtensionInstanceID: "ext-1",
}

type telemetryClient struct {
	t   *testing.T
	url string
}

// post sends a batch in the bare-array form and returns the status and decoded answer.
func (c telemetryClient) post(b wire.Batch, body string, mutate ...func(*http.Request)) (int, telemetryResponse, http.Header) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.url+wire.TelemetryPath, strings.NewReader(body))
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", "application/json")
	b.SetHeaders(req.Header)
	for _, m := range mutate {
		m(req)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	var answer telemetryResponse
	require.NoError(c.t, json.Unmarshal(raw, &answer), string(raw))
	return resp.StatusCode, answer, resp.Header
}

func invocationSpans(td []ptrace.Traces) map[string]int {
	counts := map[string]int{}
	for _, t := range td {
		for i := range t.ResourceSpans().Len() {
			ss := t.ResourceSpans().At(i).ScopeSpans()
			for j := range ss.Len() {
				spans := ss.At(j).Spans()
				for k := range spans.Len() {
					if v, ok := spans.At(k).Attributes().Get(lambdaconv.AttrSpanType); ok && v.Str() == lambdaconv.SpanTypeInvocation {
						id, _ := spans.At(k).Attributes().Get(lambdaconv.AttrFaaSInvocationID)
						counts[id.Str()]++
					}
				}
			}
		}
	}
	return counts
}

func TestTelemetryBatchBecomesSpansAndLogs(t *testing.T) {
	traces, logs := new(consumertest.TracesSink), new(consumertest.LogsSink)
	c := telemetryClient{t: t, url: startReceiver(t, sinks{traces: traces, logs: logs}, nil)}

	body := `[` + oneInvocation("r1", "01") + `,{"time":"2024-06-01T12:00:01.010Z","type":"function","record":"hello"}]`
	code, answer, _ := c.post(wire.Batch{Sandbox: testSandbox, Sequence: 1}, body)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, telemetryResponse{Accepted: 4}, answer)

	assert.Equal(t, map[string]int{"r1": 1}, invocationSpans(traces.AllTraces()))
	assert.Equal(t, 2, traces.SpanCount(), "invocation and report spans")
	res := traces.AllTraces()[0].ResourceSpans().At(0).Resource().Attributes()
	name, _ := res.Get(lambdaconv.AttrServiceName)
	assert.Equal(t, "orders", name.Str())
	arch, _ := res.Get(lambdaconv.AttrHostArch)
	assert.Equal(t, "amd64", arch.Str())
	require.Equal(t, 1, logs.LogRecordCount())
	lr := logs.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	assert.Equal(t, "hello", lr.Body().Str())
	assert.False(t, lr.TraceID().IsEmpty(), "a log written during an invocation is in its trace")
}

func TestTelemetryEnvelopeForm(t *testing.T) {
	traces := new(consumertest.TracesSink)
	base := startReceiver(t, sinks{traces: traces}, nil)
	env, err := json.Marshal(wire.Envelope{Sandbox: testSandbox, Sequence: 1, Events: json.RawMessage(`[` + oneInvocation("r1", "01") + `]`)})
	require.NoError(t, err)
	resp, body := post(t, base+wire.TelemetryPath, "application/json", env)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Equal(t, map[string]int{"r1": 1}, invocationSpans(traces.AllTraces()))
}

func TestTelemetryReplayCountsNothingTwice(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	traces := new(consumertest.TracesSink)
	base := startReceiverWithSettings(t, sinks{traces: traces}, nil, metadatatest.NewSettings(tt))
	c := telemetryClient{t: t, url: base}

	b := wire.Batch{Sandbox: testSandbox, Sequence: 7}
	body := `[` + oneInvocation("r1", "01") + `]`
	code, first, _ := c.post(b, body)
	require.Equal(t, http.StatusOK, code)
	code, second, _ := c.post(b, body)
	require.Equal(t, http.StatusOK, code)
	assert.False(t, first.Replayed)
	assert.True(t, second.Replayed)

	// Another sandbox may use the same sequence number.
	other := b
	other.Sandbox.ExtensionInstanceID = "ext-2"
	code, third, _ := c.post(other, `[`+oneInvocation("r2", "02")+`]`)
	require.Equal(t, http.StatusOK, code)
	assert.False(t, third.Replayed)

	assert.Equal(t, map[string]int{"r1": 1, "r2": 1}, invocationSpans(traces.AllTraces()))
	metadatatest.AssertEqualReceiverLambdaTelemetryBatchesReplayed(t, tt,
		[]metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
	metadatatest.AssertEqualReceiverLambdaTelemetryEvents(t, tt,
		[]metricdata.DataPoint[int64]{{Value: 6, Attributes: attribute.NewSet(attribute.String("outcome", "accepted"))}},
		metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
}

// A sequence number far past the highest accepted is refused: accepted, it would make every
// later batch of the sandbox look older than the replay window, and drop it as a replay.
func TestTelemetrySequenceJumpIsRefused(t *testing.T) {
	traces := new(consumertest.TracesSink)
	c := telemetryClient{t: t, url: startReceiver(t, sinks{traces: traces}, nil)}

	code, _, _ := c.post(wire.Batch{Sandbox: testSandbox, Sequence: 1}, `[`+oneInvocation("r1", "01")+`]`)
	require.Equal(t, http.StatusOK, code)
	code, jumped, _ := c.post(wire.Batch{Sandbox: testSandbox, Sequence: 2 + translator.MaxSequenceJump}, `[`+oneInvocation("r2", "02")+`]`)
	require.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, jumped.Error, "Lambda-Batch-Sequence")
	code, next, _ := c.post(wire.Batch{Sandbox: testSandbox, Sequence: 2}, `[`+oneInvocation("r3", "03")+`]`)
	require.Equal(t, http.StatusOK, code)
	assert.False(t, next.Replayed)
	// The largest jump allowed is taken.
	code, _, _ = c.post(wire.Batch{Sandbox: testSandbox, Sequence: 2 + translator.MaxSequenceJump}, `[`+oneInvocation("r4", "04")+`]`)
	require.Equal(t, http.StatusOK, code)

	assert.Equal(t, map[string]int{"r1": 1, "r3": 1, "r4": 1}, invocationSpans(traces.AllTraces()))
}

// failingOnce refuses the first batch as a busy pipeline would, then accepts.
type failingOnce struct {
	consumertest.TracesSink
	mu     sync.Mutex
	failed bool
	err    error
}

func (f *failingOnce) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	f.mu.Lock()
	if !f.failed {
		f.failed = true
		f.mu.Unlock()
		return f.err
	}
	f.mu.Unlock()
	return f.TracesSink.ConsumeTraces(ctx, td)
}

func TestTelemetryRefusedBatchIsCountedOnceWhenRetried(t *testing.T) {
	sink := &failingOnce{err: errors.New("memory limit reached")}
	var cfg *Config
	c := telemetryClient{t: t, url: startReceiver(t, sinks{traces: sink}, func(c *Config) { cfg = c })}
	clock := stopClock(sharedReceiver(t, cfg))

	b := wire.Batch{Sandbox: testSandbox, Sequence: 1}
	// A cold start: the retry must still see the pending cold start and the sequence as new.
	body := `[{"time":"2024-06-01T12:00:00.000Z","type":"platform.initStart","record":{"initializationType":"on-demand","phase":"init"}},` + oneInvocation("r1", "01") + `]`
	code, answer, header := c.post(b, body)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, retryAfterSeconds, header.Get("Retry-After"))
	assert.Equal(t, "memory limit reached", answer.Error)

	clock.Add(probeInterval) // the retry comes when Retry-After says
	code, answer, _ = c.post(b, body)
	require.Equal(t, http.StatusOK, code)
	assert.False(t, answer.Replayed)
	require.Equal(t, map[string]int{"r1": 1}, invocationSpans(sink.AllTraces()))
	span := sink.AllTraces()[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	cold, _ := span.Attributes().Get(lambdaconv.AttrFaaSColdstart)
	assert.True(t, cold.Bool(), "the rolled-back state still marks the cold start")
}

func TestTelemetryBadInput(t *testing.T) {
	traces := new(consumertest.TracesSink)
	base := startReceiver(t, sinks{traces: traces}, func(cfg *Config) { cfg.HTTP.MaxRequestBodySize = 4096 })
	c := telemetryClient{t: t, url: base}
	b := wire.Batch{Sandbox: testSandbox}

	tests := []struct {
		name      string
		body      string
		mutate    func(*http.Request)
		wantCode  int
		wantError string
	}{
		{name: "wrong content type", body: "[]", mutate: func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") },
			wantCode: http.StatusUnsupportedMediaType, wantError: "unsupported content type text/plain"},
		{name: "not JSON", body: "hello", wantCode: http.StatusBadRequest, wantError: "neither a JSON array"},
		{name: "truncated array", body: `[{"time":"2024-06-01T12:00:00.000Z"`, wantCode: http.StatusBadRequest, wantError: "not valid JSON"},
		{name: "empty body", body: "", wantCode: http.StatusBadRequest, wantError: "the body is empty"},
		{name: "bad sequence header", body: "[]", mutate: func(r *http.Request) { r.Header.Set(wire.HeaderBatchSequence, "x") },
			wantCode: http.StatusBadRequest, wantError: "invalid Lambda-Batch-Sequence header"},
		{name: "envelope without events", body: `{"sandbox":{}}`, wantCode: http.StatusBadRequest, wantError: `no "events" array`},
		{name: "over the size limit", body: "[" + strings.Repeat(" ", 5000) + "]", wantCode: http.StatusRequestEntityTooLarge, wantError: "cannot read the request body"},
		{name: "wrong method", body: "", mutate: func(r *http.Request) { r.Method = http.MethodPut },
			wantCode: http.StatusMethodNotAllowed, wantError: "use POST"},
		{name: "every event malformed", body: `[{"time":"2024-06-01T12:00:00.000Z","type":"platform.runtimeDone","record":{"requestId":5}}]`,
			wantCode: http.StatusBadRequest, wantError: "no event of the batch could be used"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mutate []func(*http.Request)
			if tt.mutate != nil {
				mutate = append(mutate, tt.mutate)
			}
			code, answer, _ := c.post(b, tt.body, mutate...)
			assert.Equal(t, tt.wantCode, code)
			assert.Contains(t, answer.Error, tt.wantError)
		})
	}
	assert.Zero(t, traces.SpanCount(), "nothing from a refused request reaches the pipeline")
}

func TestTelemetryPartiallyMalformedBatch(t *testing.T) {
	traces := new(consumertest.TracesSink)
	c := telemetryClient{t: t, url: startReceiver(t, sinks{traces: traces}, nil)}
	// Index 1 has a bad time, index 3 a bad record, index 4 a platform type this version
	// does not know (skipped, not rejected: a newer Lambda's), indexes 5 and 6 no type of
	// Lambda's (a runtime's JSON log line that reached the stream): the other events still
	// count, and the answer names the rejected ones with the reason.
	body := `[{"time":"2024-06-01T12:00:00.000Z","type":"platform.start","record":{"requestId":"r1"}},` +
		`{"time":"yesterday","type":"platform.start","record":{"requestId":"r0"}},` +
		`{"time":"2024-06-01T12:00:00.040Z","type":"platform.runtimeDone","record":{"requestId":"r1","status":"success","metrics":{"durationMs":40}}},` +
		`{"time":"2024-06-01T12:00:00.050Z","type":"platform.report","record":{"requestId":"r1","metrics":"lots"}},` +
		`{"time":"2024-06-01T12:00:00.060Z","type":"platform.future","record":{}},` +
		`{"time":"2024-06-01T12:00:00.070Z","type":"","record":{"level":"INFO","message":"hello"}},` +
		`{"time":"2024-06-01T12:00:00.080Z","type":"INFO","record":"hello"}]`
	code, answer, _ := c.post(wire.Batch{Sandbox: testSandbox, Sequence: 1, ReportsWithoutRuntimeDone: []int{3}}, body)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, 2, answer.Accepted)
	require.Len(t, answer.Rejected, 4)
	assert.Equal(t, 4, answer.RejectedCount)
	assert.Equal(t, 1, answer.Rejected[0].Index)
	assert.Equal(t, 3, answer.Rejected[1].Index)
	assert.Contains(t, answer.Rejected[1].Error, "platform.report")
	assert.Equal(t, rejectedEvent{Index: 5, Error: `the event's "type" is empty`}, answer.Rejected[2])
	assert.Equal(t, rejectedEvent{Index: 6, Error: `the event's "type" "INFO" is none of Lambda's (function, extension, platform.<name>)`}, answer.Rejected[3])
	assert.Equal(t, map[string]int{"r1": 1}, invocationSpans(traces.AllTraces()))
}

func TestTelemetryGzipBody(t *testing.T) {
	traces := new(consumertest.TracesSink)
	c := telemetryClient{t: t, url: startReceiver(t, sinks{traces: traces}, nil)}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write([]byte(`[` + oneInvocation("r1", "01") + `]`))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	code, answer, _ := c.post(wire.Batch{Sandbox: testSandbox, Sequence: 1}, buf.String(), func(r *http.Request) {
		r.Header.Set("Content-Encoding", "gzip")
	})
	require.Equal(t, http.StatusOK, code, answer.Error)
	assert.Equal(t, map[string]int{"r1": 1}, invocationSpans(traces.AllTraces()))
}

// tokenAuth is a server authenticator that wants one bearer token.
type tokenAuth struct {
	component.StartFunc
	component.ShutdownFunc
}

func (tokenAuth) Authenticate(ctx context.Context, headers map[string][]string) (context.Context, error) {
	for k, v := range headers {
		if strings.EqualFold(k, "Authorization") && len(v) == 1 && v[0] == "Bearer s3cret" {
			return ctx, nil
		}
	}
	return ctx, errors.New("a valid bearer token is required")
}

type hostWithAuth struct{ component.Host }

func (hostWithAuth) GetExtensions() map[component.ID]component.Component {
	return map[component.ID]component.Component{component.MustNewID("tokenauth"): tokenAuth{}}
}

func TestTelemetryRequiresAuthWhenConfigured(t *testing.T) {
	traces := new(consumertest.TracesSink)
	cfg := createDefaultConfig().(*Config)
	cfg.HTTP.NetAddr.Endpoint = "127.0.0.1:0"
	cfg.HTTP.Auth = configoptional.Some(confighttp.AuthConfig{Config: configauth.Config{AuthenticatorID: component.MustNewID("tokenauth")}})
	r, err := NewFactory().CreateTraces(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, traces)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), hostWithAuth{componenttest.NewNopHost()}))
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
	c := telemetryClient{t: t, url: "http://" + sharedReceiver(t, cfg).addr.String()}

	req, err := http.NewRequest(http.MethodPost, c.url+wire.TelemetryPath, strings.NewReader(`[`+oneInvocation("r1", "01")+`]`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Zero(t, traces.SpanCount())

	code, _, _ := c.post(wire.Batch{Sandbox: testSandbox, Sequence: 1}, `[`+oneInvocation("r1", "01")+`]`, func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer s3cret")
	})
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, map[string]int{"r1": 1}, invocationSpans(traces.AllTraces()))
}

func TestOTLPFromForwarderGetsSandboxResource(t *testing.T) {
	traces := new(consumertest.TracesSink)
	base := startReceiver(t, sinks{traces: traces}, nil)
	td := testTraces() // its resource has service.name=checkout, set by the SDK
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, base+tracesPath, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", protobufContentType)
	testSandbox.SetHeaders(req.Header)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	attrs := traces.AllTraces()[0].ResourceSpans().At(0).Resource().Attributes()
	name, _ := attrs.Get(lambdaconv.AttrServiceName)
	assert.Equal(t, "checkout", name.Str(), "what the SDK set is kept")
	instance, _ := attrs.Get(lambdaconv.AttrFaaSInstance)
	assert.Equal(t, "ext-1", instance.Str(), "what the SDK did not set comes from the sandbox")
}

var _ consumer.Traces = (*failingOnce)(nil)

// TestTelemetryOutputOutlivesTheReusedBody: a request's body buffer is reused by the next
// request, so nothing a batch hands to the pipelines may point into it: what the first
// batch made must read the same after the second overwrote the buffer.
func TestTelemetryOutputOutlivesTheReusedBody(t *testing.T) {
	traces, logs := new(consumertest.TracesSink), new(consumertest.LogsSink)
	r, err := newReceiver(createDefaultConfig().(*Config), receivertest.NewNopSettings(metadata.Type), time.Now)
	require.NoError(t, err)
	r.nextTraces, r.nextLogs = traces, logs
	h := r.handler()
	header := http.Header{}
	wire.Batch{Sandbox: testSandbox}.SetHeaders(header)
	header.Set("Content-Type", jsonContentType)
	batch := func(requestID, second string) []byte {
		return []byte(`[` + oneInvocation(requestID, second) + `,{"time":"2024-06-01T12:00:` + second +
			`.010Z","type":"function","record":{"message":"m-` + requestID + `","requestId":"` + requestID +
			`","customer":"c-` + requestID + `","order":{"id":"o-` + requestID + `"}}}]`)
	}
	first, second := batch("r1", "01"), batch("r2", "02")
	require.Len(t, second, len(first), "the second body must fit in the first one's buffer")

	serve(t, h, wire.TelemetryPath, header, first)
	require.Len(t, traces.AllTraces(), 1)
	require.Len(t, logs.AllLogs(), 1)
	tracesJSON := func() string {
		b, err := (&ptrace.JSONMarshaler{}).MarshalTraces(traces.AllTraces()[0])
		require.NoError(t, err)
		return string(b)
	}
	logsJSON := func() string {
		b, err := (&plog.JSONMarshaler{}).MarshalLogs(logs.AllLogs()[0])
		require.NoError(t, err)
		return string(b)
	}
	spansBefore, logsBefore := tracesJSON(), logsJSON()
	require.Contains(t, logsBefore, "c-r1")

	serve(t, h, wire.TelemetryPath, header, second)
	require.Len(t, traces.AllTraces(), 2)
	assert.Equal(t, spansBefore, tracesJSON())
	assert.Equal(t, logsBefore, logsJSON())
}
