// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/metadata"
)

type sinks struct {
	traces  consumer.Traces
	metrics consumer.Metrics
	logs    consumer.Logs
}

// startReceiver starts the receiver on a free loopback port with the given sinks (nil
// leaves that signal without a pipeline) and returns its base URL.
func startReceiver(t *testing.T, s sinks, mutate func(*Config)) string {
	t.Helper()
	return startReceiverWithSettings(t, s, mutate, receivertest.NewNopSettings(metadata.Type))
}

func startReceiverWithSettings(t *testing.T, s sinks, mutate func(*Config), set receiver.Settings) string {
	t.Helper()
	factory := NewFactory()
	cfg := factory.CreateDefaultConfig().(*Config)
	cfg.HTTP.NetAddr.Endpoint = "127.0.0.1:0"
	if mutate != nil {
		mutate(cfg)
	}
	ctx := context.Background()

	// As the Collector does: create every signal's receiver first, then start them.
	var started []component.Component
	if s.traces != nil {
		r, err := factory.CreateTraces(ctx, set, cfg, s.traces)
		require.NoError(t, err)
		started = append(started, r)
	}
	if s.metrics != nil {
		r, err := factory.CreateMetrics(ctx, set, cfg, s.metrics)
		require.NoError(t, err)
		started = append(started, r)
	}
	if s.logs != nil {
		r, err := factory.CreateLogs(ctx, set, cfg, s.logs)
		require.NoError(t, err)
		started = append(started, r)
	}
	for _, r := range started {
		require.NoError(t, r.Start(ctx, componenttest.NewNopHost()))
		t.Cleanup(func() { require.NoError(t, r.Shutdown(ctx)) })
	}
	return "http://" + sharedReceiver(t, cfg).addr.String()
}

// sharedReceiver returns the started receiver instance behind cfg.
func sharedReceiver(t *testing.T, cfg *Config) *lambdaTelemetryReceiver {
	t.Helper()
	c, err := receivers.LoadOrStore(cfg, func() (*lambdaTelemetryReceiver, error) {
		return nil, errors.New("the receiver should exist already")
	})
	require.NoError(t, err)
	require.NotNil(t, c.Unwrap().addr)
	return c.Unwrap()
}

func testTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for _, name := range []string{"a", "b", "c"} {
		s := spans.AppendEmpty()
		s.SetName(name)
		s.SetKind(ptrace.SpanKindServer)
	}
	return td
}

func testMetrics() pmetric.Metrics {
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("orders")
	m.SetEmptySum().DataPoints().AppendEmpty().SetIntValue(7)
	return md
}

func testLogs() plog.Logs {
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("hello")
	return ld
}

func post(t *testing.T, url, contentType string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, respBody
}

func TestOTLPHTTPAcceptsEachSignalInBothEncodings(t *testing.T) {
	traces, metrics, logs := new(consumertest.TracesSink), new(consumertest.MetricsSink), new(consumertest.LogsSink)
	base := startReceiver(t, sinks{traces: traces, metrics: metrics, logs: logs}, nil)

	traceReq := ptraceotlp.NewExportRequestFromTraces(testTraces())
	metricReq := pmetricotlp.NewExportRequestFromMetrics(testMetrics())
	logReq := plogotlp.NewExportRequestFromLogs(testLogs())

	type marshaler interface {
		MarshalProto() ([]byte, error)
		MarshalJSON() ([]byte, error)
	}
	tests := []struct {
		name string
		path string
		req  marshaler
	}{
		{name: "traces", path: tracesPath, req: traceReq},
		{name: "metrics", path: metricsPath, req: metricReq},
		{name: "logs", path: logsPath, req: logReq},
	}
	for _, tt := range tests {
		for _, enc := range []string{protobufContentType, jsonContentType} {
			t.Run(tt.name+"/"+enc, func(t *testing.T) {
				var body []byte
				var err error
				if enc == protobufContentType {
					body, err = tt.req.MarshalProto()
				} else {
					body, err = tt.req.MarshalJSON()
				}
				require.NoError(t, err)
				resp, _ := post(t, base+tt.path, enc, body)
				assert.Equal(t, http.StatusOK, resp.StatusCode)
				assert.Equal(t, enc, resp.Header.Get("Content-Type"))
			})
		}
	}
	assert.Equal(t, 6, traces.SpanCount())
	assert.Equal(t, 2, metrics.DataPointCount())
	assert.Equal(t, 2, logs.LogRecordCount())
	require.Len(t, traces.AllTraces(), 2)
	assert.Equal(t, testTraces(), traces.AllTraces()[0])
}

// decodeStatus reads the google.rpc.Status that OTLP/HTTP puts in an error response.
func decodeStatus(t *testing.T, contentType string, body []byte) *spb.Status {
	t.Helper()
	st := &spb.Status{}
	if strings.HasPrefix(contentType, protobufContentType) {
		require.NoError(t, proto.Unmarshal(body, st))
	} else {
		require.NoError(t, protojson.Unmarshal(body, st))
	}
	return st
}

func TestOTLPHTTPBadInput(t *testing.T) {
	sink := new(consumertest.TracesSink)
	base := startReceiver(t, sinks{traces: sink}, func(cfg *Config) { cfg.HTTP.MaxRequestBodySize = 1024 })

	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        []byte
		wantCode    int
		wantMessage string
	}{
		{name: "wrong content type", method: http.MethodPost, path: tracesPath, contentType: "text/plain", body: []byte("x"),
			wantCode: http.StatusUnsupportedMediaType, wantMessage: "unsupported content type text/plain"},
		{name: "malformed protobuf", method: http.MethodPost, path: tracesPath, contentType: protobufContentType, body: []byte{0xff, 0xff, 0xff},
			wantCode: http.StatusBadRequest, wantMessage: "cannot decode the OTLP request"},
		{name: "malformed json", method: http.MethodPost, path: tracesPath, contentType: jsonContentType, body: []byte(`{"resourceSpans":[`),
			wantCode: http.StatusBadRequest, wantMessage: "cannot decode the OTLP request"},
		{name: "body over the limit", method: http.MethodPost, path: tracesPath, contentType: jsonContentType, body: bytes.Repeat([]byte(" "), 4096),
			wantCode: http.StatusRequestEntityTooLarge, wantMessage: "cannot read the request body"},
		{name: "wrong method", method: http.MethodGet, path: tracesPath, contentType: jsonContentType,
			wantCode: http.StatusMethodNotAllowed, wantMessage: "use POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, base+tt.path, bytes.NewReader(tt.body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", tt.contentType)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, tt.wantCode, resp.StatusCode)
			assert.Contains(t, decodeStatus(t, resp.Header.Get("Content-Type"), body).GetMessage(), tt.wantMessage)
		})
	}
	assert.Zero(t, sink.SpanCount(), "nothing from a refused request reaches the pipeline")
}

// TestReadBody checks that the Content-Length readBody sizes its buffer from is only a
// hint: the body is read to its end whatever the header says.
func TestReadBody(t *testing.T) {
	small := []byte(`[{"type":"function","record":"x"}]`)
	large := bytes.Repeat([]byte("x"), maxBodyPreallocation+100)
	tests := []struct {
		name          string
		body          []byte
		contentLength int64
	}{
		{name: "announced", body: small, contentLength: int64(len(small))},
		{name: "unknown length", body: small, contentLength: -1},
		{name: "announced too short", body: small, contentLength: 3},
		{name: "announced too long", body: small, contentLength: 1 << 30},
		{name: "beyond the preallocation", body: large, contentLength: int64(len(large))},
		{name: "empty", body: nil, contentLength: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, wire.TelemetryPath, io.NopCloser(bytes.NewReader(tt.body)))
			req.ContentLength = tt.contentLength
			body, code, err := readBody(req, 0)
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, code)
			assert.Equal(t, string(tt.body), string(body))
		})
	}
}

func TestOTLPHTTPSignalWithoutPipelineIsNotFound(t *testing.T) {
	base := startReceiver(t, sinks{traces: new(consumertest.TracesSink)}, nil)
	body, err := pmetricotlp.NewExportRequestFromMetrics(testMetrics()).MarshalProto()
	require.NoError(t, err)
	resp, _ := post(t, base+metricsPath, protobufContentType, body)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestOTLPHTTPPipelineRefusal(t *testing.T) {
	tests := []struct {
		name           string
		err            error
		wantCode       int
		wantRetryAfter string
	}{
		{name: "retryable", err: errors.New("memory limit reached"), wantCode: http.StatusServiceUnavailable, wantRetryAfter: retryAfterSeconds},
		{name: "permanent", err: consumererror.NewPermanent(errors.New("bad data")), wantCode: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := startReceiver(t, sinks{traces: consumertest.NewErr(tt.err)}, nil)
			body, err := ptraceotlp.NewExportRequestFromTraces(testTraces()).MarshalProto()
			require.NoError(t, err)
			resp, respBody := post(t, base+tracesPath, protobufContentType, body)
			assert.Equal(t, tt.wantCode, resp.StatusCode)
			assert.Equal(t, tt.wantRetryAfter, resp.Header.Get("Retry-After"))
			assert.Equal(t, tt.err.Error(), decodeStatus(t, resp.Header.Get("Content-Type"), respBody).GetMessage())
		})
	}
}

// TestOTLPResendCountsOnce: a forwarder's numbered OTLP request whose acknowledgement got
// lost is resent with the same number; the pipeline gets it once. A request refused for now
// (503) was not taken, so its resend is.
func TestOTLPResendCountsOnce(t *testing.T) {
	sink := new(consumertest.MetricsSink)
	refuse := true
	next, err := consumer.NewMetrics(func(ctx context.Context, md pmetric.Metrics) error {
		if refuse {
			refuse = false
			return errors.New("memory limit reached")
		}
		return sink.ConsumeMetrics(ctx, md)
	})
	require.NoError(t, err)
	var cfg *Config
	base := startReceiver(t, sinks{metrics: next}, func(c *Config) { cfg = c })
	clock := stopClock(sharedReceiver(t, cfg))
	md := pmetric.NewMetrics()
	md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(1)
	body, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	require.NoError(t, err)
	send := func(instance, seq string) int {
		req, err := http.NewRequest(http.MethodPost, base+metricsPath, bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", protobufContentType)
		req.Header.Set(wire.HeaderFunctionName, "fn")
		req.Header.Set(wire.HeaderExtensionInstanceID, instance)
		req.Header.Set(wire.HeaderBatchSequence, seq)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusServiceUnavailable, send("sandbox-a", "7"))
	clock.Add(probeInterval) // the retry comes when Retry-After says
	assert.Equal(t, http.StatusOK, send("sandbox-a", "7"), "the retry of a refused request is taken")
	assert.Equal(t, http.StatusOK, send("sandbox-a", "7"), "a resend is acknowledged")
	assert.Equal(t, http.StatusOK, send("sandbox-b", "7"), "another sandbox's 7 is another request")
	assert.Equal(t, http.StatusOK, send("sandbox-a", "8"))
	assert.Equal(t, 3, sink.DataPointCount())

	// A resend that comes after more numbered requests than the gateway remembers is older
	// than every number it remembers: still a resend (the forwarder resends before it
	// numbers anything new).
	for seq := 9; seq <= 300; seq++ {
		require.Equal(t, http.StatusOK, send("sandbox-a", strconv.Itoa(seq)))
	}
	before := sink.DataPointCount()
	assert.Equal(t, http.StatusOK, send("sandbox-a", "7"))
	assert.Equal(t, before, sink.DataPointCount(), "the old number was not counted again")
}

func TestShutdownWithoutStart(t *testing.T) {
	r, err := NewFactory().CreateTraces(context.Background(), receivertest.NewNopSettings(metadata.Type), createDefaultConfig(), consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, r.Shutdown(context.Background()))
}

func TestStartFailsOnBusyPort(t *testing.T) {
	base := startReceiver(t, sinks{traces: new(consumertest.TracesSink)}, nil)
	cfg := createDefaultConfig().(*Config)
	cfg.HTTP.NetAddr.Endpoint = strings.TrimPrefix(base, "http://")
	r, err := NewFactory().CreateTraces(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.Error(t, r.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, r.Shutdown(context.Background()))
}
