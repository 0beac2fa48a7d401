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
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-lambda/otelcol-lambda/internal/testclock"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/metadatatest"
)

// newTestClock is a clock the test moves: no test waits for a probe interval to pass.
func newTestClock() *testclock.Clock {
	return testclock.New(time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC))
}

// stopClock gives a receiver the factory made a fake clock. Call it before the first
// request. Storage (replay state, write-ahead log) takes the clock at Start: a test of its
// ages passes the clock to newReceiver instead.
func stopClock(r *lambdaTelemetryReceiver) *testclock.Clock {
	c := newTestClock()
	r.now = c.Now
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
			clock := newTestClock()
			g := &pressureGate{}
			for i, s := range tt.steps {
				clock.Add(s.advance)
				switch {
				case s.observe != nil:
					g.observe(s.observe, clock.Now)
				case s.opens:
					g.observe(nil, clock.Now)
				}
				assert.Equal(t, s.want, g.admit(clock.Now), "step %d", i)
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
	clock := newTestClock()
	r, err := newReceiver(createDefaultConfig().(*Config), metadatatest.NewSettings(tt), clock.Now)
	require.NoError(t, err)
	r.nextTraces = sink
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

	clock.Add(probeInterval)
	rec = post(wire.TelemetryPath, jsonContentType, batch())
	assert.Equal(t, http.StatusOK, rec.Code, "the probe: %s", rec.Body)
	rec = post(tracesPath, protobufContentType, strings.NewReader(string(otlp)))
	assert.Equal(t, http.StatusOK, rec.Code, "open again")
	assert.Equal(t, map[string]int{"r1": 1}, invocationSpans(sink.AllTraces()))

	metadatatest.AssertEqualReceiverLambdaTelemetryRequestsRefused(t, tt,
		refusedPoints(map[string]int64{"pipeline_busy": 3}),
		metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
}
