// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/metadata"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/metadatatest"
)

// fakeClock is a clock the test moves: no test waits for a probe interval to pass.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// stopClock gives the receiver's pressure gates a fake clock. Call it before the first
// request.
func stopClock(r *lambdaTelemetryReceiver) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	for _, g := range []*pressureGate{&r.gates.traces, &r.gates.metrics, &r.gates.logs} {
		g.now = c.now
	}
	return c
}

func TestPressureGate(t *testing.T) {
	busy := errors.New("data refused due to high memory usage")
	type step struct {
		advance time.Duration
		observe error // observed before admit, when not nil
		opens   bool  // observe nil (success) before admit
		want    bool  // what admit answers
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{name: "open admits everything", steps: []step{{want: true}, {want: true}}},
		{name: "a refusal for now closes it for an interval", steps: []step{
			{observe: busy, want: false},
			{advance: probeInterval / 2, want: false},
		}},
		{name: "one probe per interval while closed", steps: []step{
			{observe: busy, want: false},
			{advance: probeInterval, want: true},
			{want: false},
			{advance: probeInterval / 2, want: false},
			{advance: probeInterval / 2, want: true},
			{want: false},
		}},
		{name: "a probe the pipeline takes opens it", steps: []step{
			{observe: busy, want: false},
			{advance: probeInterval, want: true},
			{opens: true, want: true},
			{want: true},
		}},
		{name: "a probe refused again keeps it closed", steps: []step{
			{observe: busy, want: false},
			{advance: probeInterval, want: true},
			{observe: busy, want: false},
			{advance: probeInterval, want: true},
		}},
		{name: "a permanent error is about the data, not the pipeline", steps: []step{
			{observe: consumererror.NewPermanent(errors.New("bad data")), want: true},
		}},
		{name: "a cancelled request says nothing", steps: []step{
			{observe: context.Canceled, want: true},
			{observe: context.DeadlineExceeded, want: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{}
			g := &pressureGate{now: clock.now}
			for i, s := range tt.steps {
				clock.advance(s.advance)
				switch {
				case s.observe != nil:
					g.observe(s.observe)
				case s.opens:
					g.observe(nil)
				}
				assert.Equal(t, s.want, g.admit(), "step %d", i)
			}
		})
	}
}

// unreadBody fails the test when the handler reads it.
type unreadBody struct{ t *testing.T }

func (b unreadBody) Read([]byte) (int, error) {
	b.t.Error("the body was read")
	return 0, io.EOF
}

// TestBusyPipelineRefusesBeforeReading: once the pipeline refused data for now (the
// memory_limiter), the next requests get 503 and Retry-After without their body being read,
// and are counted; a probe per interval finds out when the pipeline takes data again.
func TestBusyPipelineRefusesBeforeReading(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	sink := &failingOnce{err: errors.New("data refused due to high memory usage")}
	r, err := newReceiver(createDefaultConfig().(*Config), metadatatest.NewSettings(tt))
	require.NoError(t, err)
	r.nextTraces = sink
	clock := stopClock(r)
	h := r.handler()

	post := func(path, contentType string, body io.Reader) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, path, body)
		req.Header.Set("Content-Type", contentType)
		wire.Batch{Sandbox: testSandbox}.SetHeaders(req.Header)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	batch := func() io.Reader { return strings.NewReader(`[` + oneInvocation("r1", "01") + `]`) }
	otlp, err := ptraceotlp.NewExportRequestFromTraces(testTraces()).MarshalProto()
	require.NoError(t, err)

	rec := post(wire.TelemetryPath, jsonContentType, batch())
	require.Equal(t, http.StatusServiceUnavailable, rec.Code, "the pipeline refused: %s", rec.Body)

	for _, tc := range []struct{ path, contentType string }{
		{wire.TelemetryPath, jsonContentType},
		{tracesPath, protobufContentType},
		{tracesPath, jsonContentType},
	} {
		rec = post(tc.path, tc.contentType, unreadBody{t})
		assert.Equal(t, http.StatusServiceUnavailable, rec.Code, tc.path)
		assert.Equal(t, retryAfterSeconds, rec.Header().Get("Retry-After"))
		assert.Equal(t, tc.contentType, rec.Header().Get("Content-Type"))
		if tc.path == wire.TelemetryPath {
			assert.JSONEq(t, `{"accepted":0,"error":"`+errPipelineBusy.Error()+`"}`, rec.Body.String())
		} else {
			assert.Equal(t, errPipelineBusy.Error(), decodeStatus(t, tc.contentType, rec.Body.Bytes()).GetMessage())
		}
	}

	clock.advance(probeInterval)
	rec = post(wire.TelemetryPath, jsonContentType, batch())
	assert.Equal(t, http.StatusOK, rec.Code, "the probe: %s", rec.Body)
	rec = post(tracesPath, protobufContentType, strings.NewReader(string(otlp)))
	assert.Equal(t, http.StatusOK, rec.Code, "open again")
	assert.Equal(t, map[string]int{"r1": 1}, invocationSpans(sink.AllTraces()))

	metadatatest.AssertEqualReceiverLambdaTelemetryRequestsRefused(t, tt,
		[]metricdata.DataPoint[int64]{{Value: 3, Attributes: attribute.NewSet(attribute.String("reason", "pipeline_busy"))}},
		metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
}

// shared is the component a factory returns for the receiver: one per configuration.
type shared interface {
	Unwrap() *lambdaTelemetryReceiver
}

// TestBusyPipelineRefusesGRPCBeforeDecoding: over gRPC the refusal is Unavailable with a
// RetryInfo, made from the call's headers before its message is read.
func TestBusyPipelineRefusesGRPCBeforeDecoding(t *testing.T) {
	sink := &failingOnce{err: errors.New("data refused due to high memory usage")}
	cfg := createDefaultConfig().(*Config)
	cfg.HTTP.NetAddr.Endpoint = "127.0.0.1:0"
	grpcCfg := configgrpc.NewDefaultServerConfig()
	grpcCfg.NetAddr.Endpoint = freeLoopbackAddr(t)
	cfg.GRPC = configoptional.Some(grpcCfg)
	recv, err := NewFactory().CreateTraces(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	r := recv.(shared).Unwrap()
	clock := stopClock(r)
	require.NoError(t, recv.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, recv.Shutdown(context.Background())) })

	conn, err := grpc.NewClient(grpcCfg.NetAddr.Endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	export := func() error {
		_, err := client.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(testTraces()))
		return err
	}

	require.Equal(t, codes.Unavailable, status.Code(export()), "the pipeline refused")
	err = export()
	st := status.Convert(err)
	require.Equal(t, codes.Unavailable, st.Code())
	assert.Equal(t, errPipelineBusy.Error(), st.Message(), "refused by the gate, not the pipeline")
	require.Len(t, st.Details(), 1)
	assert.Equal(t, probeInterval, st.Details()[0].(*errdetails.RetryInfo).GetRetryDelay().AsDuration())

	clock.advance(probeInterval)
	require.NoError(t, export(), "the probe")
	require.NoError(t, export(), "open again")
	assert.Equal(t, 2*testTraces().SpanCount(), sink.SpanCount())
}
