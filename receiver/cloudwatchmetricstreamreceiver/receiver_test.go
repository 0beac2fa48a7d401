// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package cloudwatchmetricstreamreceiver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otelcol-lambda/otelcol-lambda/internal/cloudwatch/cloudwatchtest"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/cloudwatchmetricstreamreceiver/internal/metadata"
)

const testAccessKey = "stream-key"

// firehosePost is one request as Firehose sends it, with the fields a case changes.
type firehosePost struct {
	method, contentType, contentEncoding, accessKey string
	body                                            []byte
}

func post(body []byte) firehosePost {
	return firehosePost{method: http.MethodPost, contentType: jsonContentType, accessKey: testAccessKey, body: body}
}

type testReceiver struct {
	url string
	tel *componenttest.Telemetry
}

func startReceiver(t *testing.T, configure func(*Config), next consumer.Metrics) testReceiver {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.HTTP.NetAddr.Endpoint = "127.0.0.1:0"
	cfg.AccessKey = testAccessKey
	if configure != nil {
		configure(cfg)
	}
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := receivertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	r, err := NewFactory().CreateMetrics(context.Background(), set, cfg, next)
	require.NoError(t, err)
	r.(*metricStreamReceiver).now = func() time.Time { return receivedAt }
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
	return testReceiver{url: "http://" + r.(*metricStreamReceiver).addr.String() + "/", tel: tel}
}

func (tr testReceiver) send(t *testing.T, p firehosePost) (int, firehoseResponse) {
	t.Helper()
	req, err := http.NewRequest(p.method, tr.url, bytes.NewReader(p.body))
	require.NoError(t, err)
	req.Header.Set(headerRequestID, "req-1")
	req.Header.Set(headerProtocolVersion, "1.0")
	if p.contentType != "" {
		req.Header.Set("Content-Type", p.contentType)
	}
	if p.contentEncoding != "" {
		req.Header.Set("Content-Encoding", p.contentEncoding)
	}
	if p.accessKey != "" {
		req.Header.Set(headerAccessKey, p.accessKey)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, jsonContentType, resp.Header.Get("Content-Type"))
	var answer firehoseResponse
	require.NoError(t, json.Unmarshal(raw, &answer), "every answer is Firehose's JSON: %s", raw)
	assert.Equal(t, "req-1", answer.RequestID, "the request id comes back")
	assert.Positive(t, answer.Timestamp)
	return resp.StatusCode, answer
}

// counts sums a counter of the receiver's telemetry by its outcome attribute.
func (tr testReceiver) counts(t *testing.T, name string) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	m, err := tr.tel.GetMetric("otelcol_" + name)
	if err != nil {
		return got
	}
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		if o, _ := dp.Attributes.Value("outcome"); dp.Value != 0 {
			got[o.AsString()] += dp.Value
		}
	}
	return got
}

func TestFirehoseAnswers(t *testing.T) {
	throttles := lambdaStatistics("Throttles", "checkout")
	twoFunctions := lambdaStatistics("ConcurrentExecutions", "checkout", "orders")
	good := cloudwatchtest.Record(throttles)
	// Another series than good's: a request holds each series at a period once.
	otherFunction := cloudwatchtest.Record(lambdaStatistics("Throttles", "payments"))
	// A gzip stream of 8 MiB of zeros is 8 KiB: over a 1 MiB bound only once decoded.
	notASummary := pmetric.NewMetrics()
	notASummary.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(1)
	bomb := cloudwatchtest.Gzip(deliveryBody("req-1", make([]byte, 8<<20)))
	tests := []struct {
		name       string
		configure  func(*Config)
		request    firehosePost
		consumeErr error

		wantStatus    int
		wantMessage   string // a part of errorMessage; empty means none
		wantPoints    int    // CloudWatch data points delivered
		wantRequests  map[string]int64
		wantRecords   map[string]int64
		wantConverted int64
		wantSkipped   int64
		wantOverLimit int64
	}{
		{
			name: "one record", request: post(deliveryBody("req-1", good)),
			wantStatus: http.StatusOK, wantPoints: 1,
			wantRequests: map[string]int64{"accepted": 1}, wantRecords: map[string]int64{"accepted": 1}, wantConverted: 1,
		},
		{
			name: "gzip", request: func() firehosePost {
				p := post(cloudwatchtest.Gzip(deliveryBody("req-1", good)))
				p.contentEncoding = "gzip"
				return p
			}(),
			wantStatus: http.StatusOK, wantPoints: 1,
			wantRequests: map[string]int64{"accepted": 1}, wantRecords: map[string]int64{"accepted": 1}, wantConverted: 1,
		},
		{
			name: "several records, one of two messages",
			request: post(deliveryBody("req-1", good,
				cloudwatchtest.Record(twoFunctions, lambdaStatistics("Throttles", "orders")), otherFunction)),
			wantStatus: http.StatusOK, wantPoints: 5,
			wantRequests: map[string]int64{"accepted": 1}, wantRecords: map[string]int64{"accepted": 3}, wantConverted: 5,
		},
		{
			name:       "a series repeated at a period is converted once, the repeat counted as skipped",
			request:    post(deliveryBody("req-1", good, good)),
			wantStatus: http.StatusOK, wantPoints: 1,
			wantRequests: map[string]int64{"accepted": 1}, wantRecords: map[string]int64{"accepted": 2}, wantConverted: 1, wantSkipped: 1,
		},
		{
			name: "no records", request: post(deliveryBody("req-1")),
			wantStatus:   http.StatusOK,
			wantRequests: map[string]int64{"accepted": 1},
		},
		{
			name:       "a malformed record among good ones is skipped, the good ones delivered once",
			request:    post(deliveryBody("req-1", good, []byte{0x05, 0x01}, otherFunction)),
			wantStatus: http.StatusOK, wantPoints: 2,
			wantRequests: map[string]int64{"accepted": 1}, wantRecords: map[string]int64{"accepted": 2, "malformed": 1}, wantConverted: 2,
		},
		{
			name:       "a data point the mapping cannot use is counted as skipped",
			request:    post(deliveryBody("req-1", good, cloudwatchtest.Record(notASummary))),
			wantStatus: http.StatusOK, wantPoints: 1,
			wantRequests: map[string]int64{"accepted": 1}, wantRecords: map[string]int64{"accepted": 2}, wantConverted: 1, wantSkipped: 1,
		},
		{
			name: "wrong access key", request: func() firehosePost { p := post(deliveryBody("req-1", good)); p.accessKey = "guess"; return p }(),
			wantStatus: http.StatusUnauthorized, wantMessage: headerAccessKey,
			wantRequests: map[string]int64{"unauthorized": 1},
		},
		{
			name: "no access key", request: func() firehosePost { p := post(deliveryBody("req-1", good)); p.accessKey = ""; return p }(),
			wantStatus: http.StatusUnauthorized, wantMessage: headerAccessKey,
			wantRequests: map[string]int64{"unauthorized": 1},
		},
		{
			name: "GET", request: func() firehosePost { p := post(nil); p.method = http.MethodGet; return p }(),
			wantStatus: http.StatusMethodNotAllowed, wantMessage: "POST",
			wantRequests: map[string]int64{"malformed": 1},
		},
		{
			name: "not JSON", request: func() firehosePost { p := post(deliveryBody("req-1", good)); p.contentType = "text/plain"; return p }(),
			wantStatus: http.StatusUnsupportedMediaType, wantMessage: jsonContentType,
			wantRequests: map[string]int64{"malformed": 1},
		},
		{
			name: "bad JSON", request: post([]byte(`{"requestId":"req-1","records":[{"data":`)),
			wantStatus: http.StatusBadRequest, wantMessage: "not a Firehose delivery request",
			wantRequests: map[string]int64{"malformed": 1},
		},
		{
			name: "bad base64", request: post([]byte(`{"requestId":"req-1","timestamp":1,"records":[{"data":"not base64!"}]}`)),
			wantStatus: http.StatusBadRequest, wantMessage: "record 0: not base64",
			wantRequests: map[string]int64{"malformed": 1}, wantRecords: map[string]int64{"malformed": 1},
		},
		{
			name: "truncated length prefix", request: post(deliveryBody("req-1", []byte{0x80})),
			wantStatus: http.StatusBadRequest, wantMessage: errBadLengthPrefix.Error(),
			wantRequests: map[string]int64{"malformed": 1}, wantRecords: map[string]int64{"malformed": 1},
		},
		{
			name: "truncated message", request: post(deliveryBody("req-1", cloudwatchtest.Record(throttles)[:20])),
			wantStatus: http.StatusBadRequest, wantMessage: errTruncatedMessage.Error(),
			wantRequests: map[string]int64{"malformed": 1}, wantRecords: map[string]int64{"malformed": 1},
		},
		{
			name: "a zero-length message", request: post(deliveryBody("req-1", append(bytes.Clone(good), 0x00))),
			wantStatus: http.StatusBadRequest, wantMessage: "record 0: message 1: " + errEmptyMessage.Error(),
			wantRequests: map[string]int64{"malformed": 1}, wantRecords: map[string]int64{"malformed": 1},
		},
		{
			name:       "more messages in a record than a metric stream writes",
			request:    post(deliveryBody("req-1", bytes.Repeat(good, maxMessagesPerRecord+1))),
			wantStatus: http.StatusBadRequest, wantMessage: errTooManyMessages.Error(),
			wantRequests: map[string]int64{"malformed": 1}, wantRecords: map[string]int64{"malformed": 1},
		},
		{
			name:       "records past max_data_points are dropped whole, the others delivered",
			configure:  func(c *Config) { c.MaxDataPoints = 3 },
			request:    post(deliveryBody("req-1", cloudwatchtest.Record(twoFunctions), cloudwatchtest.Record(twoFunctions), good)),
			wantStatus: http.StatusOK, wantPoints: 3,
			wantRequests: map[string]int64{"accepted": 1}, wantRecords: map[string]int64{"accepted": 2, "over_limit": 1},
			wantConverted: 3, wantOverLimit: 2,
		},
		{
			name: "the JSON output format", request: post(deliveryBody("req-1", []byte(`{"metric_stream_name":"s","namespace":"AWS/Lambda"}`+"\n"))),
			wantStatus: http.StatusBadRequest, wantMessage: "OpenTelemetry 1.0.0",
			wantRequests: map[string]int64{"malformed": 1}, wantRecords: map[string]int64{"malformed": 1},
		},
		{
			name:       "over max_request_body_size",
			configure:  func(c *Config) { c.HTTP.MaxRequestBodySize = 1 << 10 },
			request:    post(deliveryBody("req-1", good, good, good, good, good, good, good, good)),
			wantStatus: http.StatusRequestEntityTooLarge, wantMessage: "max_request_body_size",
			wantRequests: map[string]int64{"too_large": 1},
		},
		{
			name:       "gzip bomb",
			configure:  func(c *Config) { c.HTTP.MaxRequestBodySize = 1 << 20 },
			request:    func() firehosePost { p := post(bomb); p.contentEncoding = "gzip"; return p }(),
			wantStatus: http.StatusRequestEntityTooLarge, wantMessage: "max_request_body_size",
			wantRequests: map[string]int64{"too_large": 1},
		},
		{
			name:       "broken gzip",
			request:    func() firehosePost { p := post([]byte("not gzip")); p.contentEncoding = "gzip"; return p }(),
			wantStatus: http.StatusBadRequest, wantMessage: "decoding the body",
			wantRequests: map[string]int64{"malformed": 1},
		},
		{
			name: "pipeline refuses for now", request: post(deliveryBody("req-1", good, good)),
			consumeErr: errors.New("memory limit reached"),
			wantStatus: http.StatusServiceUnavailable, wantMessage: "memory limit reached",
			wantRequests: map[string]int64{"refused": 1}, wantRecords: map[string]int64{"refused": 2},
		},
		{
			name: "pipeline refuses for good", request: post(deliveryBody("req-1", good)),
			consumeErr: consumererror.NewPermanent(errors.New("bad data")),
			wantStatus: http.StatusBadRequest, wantMessage: "bad data",
			wantRequests: map[string]int64{"refused": 1}, wantRecords: map[string]int64{"refused": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := new(consumertest.MetricsSink)
			var next consumer.Metrics = sink
			if tt.consumeErr != nil {
				next = consumertest.NewErr(tt.consumeErr)
			}
			r := startReceiver(t, tt.configure, next)
			status, answer := r.send(t, tt.request)
			assert.Equal(t, tt.wantStatus, status, answer.ErrorMessage)
			if tt.wantMessage == "" {
				assert.Empty(t, answer.ErrorMessage)
			} else {
				assert.Contains(t, answer.ErrorMessage, tt.wantMessage)
			}
			if tt.consumeErr == nil {
				// Each CloudWatch data point is four series: sum, sample count, minimum, maximum.
				assert.Equal(t, 4*tt.wantPoints, sink.DataPointCount())
				assert.LessOrEqual(t, len(sink.AllMetrics()), 1, "a request is one call of the next consumer")
			}
			assert.Equal(t, tt.wantRequests, r.counts(t, "receiver_cloudwatch_metric_stream_requests"))
			if tt.wantRecords == nil {
				tt.wantRecords = map[string]int64{}
			}
			assert.Equal(t, tt.wantRecords, r.counts(t, "receiver_cloudwatch_metric_stream_records"))
			points := r.counts(t, "receiver_cloudwatch_metric_stream_data_points")
			assert.Equal(t, tt.wantConverted, points["converted"])
			assert.Equal(t, tt.wantSkipped, points["skipped"])
			assert.Equal(t, tt.wantOverLimit, points["over_limit"])
		})
	}
}

// A request whose header carries no request id is answered with the body's.
func TestRequestIDFromBodyWhenTheHeaderHasNone(t *testing.T) {
	r := startReceiver(t, nil, new(consumertest.MetricsSink))
	req, err := http.NewRequest(http.MethodPost, r.url, strings.NewReader(string(deliveryBody("from-body"))))
	require.NoError(t, err)
	req.Header.Set("Content-Type", jsonContentType)
	req.Header.Set(headerAccessKey, testAccessKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var answer firehoseResponse
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&answer))
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "from-body", answer.RequestID)
}

// A period that ended more than max_age ago is dropped, so that Prometheus (which refuses
// the whole write for one sample older than its out_of_order_time_window) takes the rest;
// so is one that ends more than max_future from now, which would make Prometheus refuse
// every later sample of its series, and the remote writes that carry them, until then.
func TestPeriodsOutsideMaxAgeAndMaxFutureAreDropped(t *testing.T) {
	const maxAge, maxFuture = 25 * time.Minute, 5 * time.Minute
	sink := new(consumertest.MetricsSink)
	r := startReceiver(t, func(c *Config) { c.MaxAge, c.MaxFuture = maxAge, maxFuture }, sink)
	fresh := lambdaStatistics("Throttles", "checkout")
	tooOld := lambdaStatisticsEnding(receivedAt.Add(-maxAge-time.Minute), "Throttles", "orders", "payments")
	withinMaxAge := lambdaStatisticsEnding(receivedAt.Add(-maxAge+time.Minute), "Throttles", "refunds")
	inFuture := lambdaStatisticsEnding(receivedAt.Add(maxFuture+time.Minute), "Throttles", "shipping")
	withinMaxFuture := lambdaStatisticsEnding(receivedAt.Add(maxFuture-time.Minute), "Throttles", "invoices")

	status, answer := r.send(t, post(deliveryBody("req-1",
		cloudwatchtest.Record(fresh, tooOld, inFuture), cloudwatchtest.Record(withinMaxAge, withinMaxFuture))))

	assert.Equal(t, http.StatusOK, status, answer.ErrorMessage)
	assert.Equal(t, map[string]int64{"converted": 3, "too_old": 2, "in_future": 1}, r.counts(t, "receiver_cloudwatch_metric_stream_data_points"))
	require.Len(t, sink.AllMetrics(), 1)
	functions := map[string]bool{}
	for _, rm := range sink.AllMetrics()[0].ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				for _, dp := range m.Gauge().DataPoints().All() {
					name, _ := dp.Attributes().Get("faas.name")
					functions[name.Str()] = true
				}
			}
		}
	}
	assert.Equal(t, map[string]bool{"checkout": true, "refunds": true, "invoices": true}, functions)
}

// A request whose periods are all too old is answered 200: there is nothing to retry.
func TestOnlyTooOldPeriodsAreAnswered200(t *testing.T) {
	sink := new(consumertest.MetricsSink)
	r := startReceiver(t, nil, sink)
	tooOld := lambdaStatisticsEnding(receivedAt.Add(-time.Hour), "Throttles", "checkout")

	status, answer := r.send(t, post(deliveryBody("req-1", cloudwatchtest.Record(tooOld))))

	assert.Equal(t, http.StatusOK, status, answer.ErrorMessage)
	assert.Empty(t, sink.AllMetrics(), "nothing is handed to the pipeline")
	assert.Equal(t, map[string]int64{"too_old": 1}, r.counts(t, "receiver_cloudwatch_metric_stream_data_points"))
}

// consumeCall is what a blocking consumer saw of its context.
type consumeCall struct {
	hasDeadline bool
	remaining   time.Duration // from the call to the deadline
}

// A pipeline slower than consume_timeout (a remote write that keeps retrying) is given up
// on at the deadline and answered 503 with why, before the server's write timeout would
// drop the answer and leave Firehose with a timeout.
func TestSlowPipelineIsAnswered503AtConsumeTimeout(t *testing.T) {
	const consumeTimeout = 300 * time.Millisecond
	calls := make(chan consumeCall, 1)
	blocking, err := consumer.NewMetrics(func(ctx context.Context, _ pmetric.Metrics) error {
		deadline, ok := ctx.Deadline()
		calls <- consumeCall{hasDeadline: ok, remaining: time.Until(deadline)}
		select {
		case <-ctx.Done():
			return fmt.Errorf("request is cancelled or timed out: %w", ctx.Err())
		case <-time.After(20 * consumeTimeout): // only so that a missing deadline fails instead of hanging
			return errors.New("the context was never cancelled")
		}
	})
	require.NoError(t, err)
	r := startReceiver(t, func(c *Config) {
		c.ConsumeTimeout = consumeTimeout
		c.HTTP.WriteTimeout = 40 * consumeTimeout
	}, blocking)

	status, answer := r.send(t, post(deliveryBody("req-1", cloudwatchtest.Record(lambdaStatistics("Throttles", "checkout")))))

	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Contains(t, answer.ErrorMessage, "consume_timeout (300ms)")
	assert.Contains(t, answer.ErrorMessage, context.DeadlineExceeded.Error())
	call := <-calls
	require.True(t, call.hasDeadline, "the pipeline gets a deadline")
	assert.LessOrEqual(t, call.remaining, consumeTimeout, "the deadline is consume_timeout from the request")
	assert.Greater(t, call.remaining, consumeTimeout/2, "the deadline is consume_timeout from the request, not less")
	assert.Equal(t, map[string]int64{"refused": 1}, r.counts(t, "receiver_cloudwatch_metric_stream_requests"))
	assert.Equal(t, map[string]int64{"refused": 1}, r.counts(t, "receiver_cloudwatch_metric_stream_records"))
}
