// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package exportwatchextension

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configmiddleware"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-lambda/otelcol-lambda/extension/exportwatchextension/internal/metadata"
	"github.com/otelcol-lambda/otelcol-lambda/extension/exportwatchextension/internal/metadatatest"
	"github.com/otelcol-lambda/otelcol-lambda/internal/testclock"
)

type testWatch struct {
	*exportWatch
	logs   *observer.ObservedLogs
	tel    *componenttest.Telemetry
	clock  *testclock.Clock
	client *http.Client
}

// newTestWatch makes the extension with observed logs and telemetry, a hand-moved clock,
// and an HTTP client whose transport goes through it, as confighttp builds it.
func newTestWatch(t *testing.T, mutate func(*Config)) *testWatch {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	core, logs := observer.New(zapcore.InfoLevel)
	set := metadatatest.NewSettings(tel)
	set.Logger = zap.New(core)
	ext, err := NewFactory().Create(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	w := ext.(*exportWatch)
	clock := testclock.New(time.Unix(1_000_000, 0))
	w.now = clock.Now

	base := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(base.CloseIdleConnections)
	wrap, err := w.GetHTTPRoundTripper(context.Background())
	require.NoError(t, err)
	rt, err := wrap(context.Background(), base)
	require.NoError(t, err)
	return &testWatch{exportWatch: w, logs: logs, tel: tel, clock: clock, client: &http.Client{Transport: rt}}
}

// post sends body to url as an exporter does, and reads and closes the answer.
func (tw *testWatch) post(ctx context.Context, url string, body []byte) (status int, answer string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	resp, err := tw.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func (tw *testWatch) messages() []string {
	var msgs []string
	for _, e := range tw.logs.All() {
		msgs = append(msgs, e.Message)
	}
	return msgs
}

func requestsPoint(endpoint, outcome string, n int64) metricdata.DataPoint[int64] {
	return metricdata.DataPoint[int64]{
		Attributes: attribute.NewSet(attribute.String("endpoint", endpoint), attribute.String("outcome", outcome)),
		Value:      n,
	}
}

func endpointSet(endpoint string) attribute.Set {
	return attribute.NewSet(attribute.String("endpoint", endpoint))
}

// closedURL is the URL of a port that nothing listens on: a backend that is down.
func closedURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return "http://" + addr + "/api/v1/write"
}

// TestFailureIsLoudThenQuietThenRecovered is the log and metrics an operator sees through
// an outage: a warning with the reason at the first failed request, nothing for each retry,
// one summary per log_interval, an info line when the backend answers again.
func TestFailureIsLoudThenQuietThenRecovered(t *testing.T) {
	var healthy atomic.Bool
	errorPage := "out of order sample\n\n<html>" + strings.Repeat("x", 4096) + "</html>"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if healthy.Load() {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, errorPage)
	}))
	defer srv.Close()
	tw := newTestWatch(t, func(cfg *Config) { cfg.LogInterval = time.Minute })
	url := srv.URL + "/api/v1/write?tenant=secret"
	endpoint := srv.URL + "/api/v1/write"
	ctx := context.Background()

	status, answer, err := tw.post(ctx, url, []byte("batch"))
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, errorPage, answer, "the exporter still reads the whole answer after the watch read its start")
	require.Equal(t, 1, tw.logs.Len())
	first := tw.logs.All()[0]
	assert.Equal(t, zapcore.WarnLevel, first.Level)
	assert.Equal(t, msgFailed, first.Message)
	assert.Equal(t, endpoint, first.ContextMap()["endpoint"], "named without its query")
	reason := first.ContextMap()["reason"].(string)
	assert.True(t, strings.HasPrefix(reason, "503 Service Unavailable: out of order sample <html>xxx"), reason)
	assert.LessOrEqual(t, len(reason), len("503 Service Unavailable: ")+maxExcerpt, "the excerpt is bounded")

	metadatatest.AssertEqualExtensionExportWatchConsecutiveFailures(t, tw.tel,
		[]metricdata.DataPoint[int64]{{Attributes: endpointSet(endpoint), Value: 1}}, metricdatatest.IgnoreTimestamp())

	// The retries: counted, not logged.
	for range 5 {
		tw.clock.Add(5 * time.Second)
		_, _, err = tw.post(ctx, url, []byte("batch"))
		require.NoError(t, err)
	}
	assert.Equal(t, 1, tw.logs.Len(), "retries within log_interval are not logged: %v", tw.messages())
	metadatatest.AssertEqualExtensionExportWatchFailingDuration(t, tw.tel,
		[]metricdata.DataPoint[float64]{{Attributes: endpointSet(endpoint), Value: 25}}, metricdatatest.IgnoreTimestamp())

	tw.clock.Add(time.Minute)
	_, _, err = tw.post(ctx, url, []byte("batch"))
	require.NoError(t, err)
	require.Equal(t, 2, tw.logs.Len())
	summary := tw.logs.All()[1]
	assert.Equal(t, msgStillFailing, summary.Message)
	assert.Equal(t, int64(7), summary.ContextMap()["failed_requests"])

	healthy.Store(true)
	tw.clock.Add(time.Second)
	status, _, err = tw.post(ctx, url, []byte("batch"))
	require.NoError(t, err)
	assert.Equal(t, http.StatusNoContent, status)
	require.Equal(t, 3, tw.logs.Len())
	recovered := tw.logs.All()[2]
	assert.Equal(t, zapcore.InfoLevel, recovered.Level)
	assert.Equal(t, msgRecovered, recovered.Message)
	assert.Equal(t, int64(7), recovered.ContextMap()["failed_requests"])
	assert.Equal(t, "1m26s", recovered.ContextMap()["down_for"])

	metadatatest.AssertEqualExtensionExportWatchRequests(t, tw.tel, []metricdata.DataPoint[int64]{
		requestsPoint(endpoint, outcomeErrorResponse, 7),
		requestsPoint(endpoint, outcomeSuccess, 1),
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualExtensionExportWatchConsecutiveFailures(t, tw.tel,
		[]metricdata.DataPoint[int64]{{Attributes: endpointSet(endpoint), Value: 0}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualExtensionExportWatchFailingDuration(t, tw.tel,
		[]metricdata.DataPoint[float64]{{Attributes: endpointSet(endpoint), Value: 0}}, metricdatatest.IgnoreTimestamp())
	require.NoError(t, tw.Shutdown(ctx))
	assert.Equal(t, 3, tw.logs.Len(), "no drain line without a shutdown of the service")
}

// TestFailureReasons: what the first warning says for each way a backend fails.
func TestFailureReasons(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer slow.Close()
	defer close(release)
	unauthorized := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "bad token", http.StatusUnauthorized)
	}))
	defer unauthorized.Close()
	down := closedURL(t)

	tests := []struct {
		name        string
		url         string
		timeout     time.Duration
		wantOutcome string
		wantReason  string
	}{
		{name: "down", url: down, wantOutcome: outcomeTransportError, wantReason: "connection refused"},
		{name: "slow", url: slow.URL + "/v1/traces", timeout: 50 * time.Millisecond, wantOutcome: outcomeTransportError, wantReason: "context deadline exceeded"},
		{name: "401", url: unauthorized.URL + "/v1/traces", wantOutcome: outcomeErrorResponse, wantReason: "401 Unauthorized: bad token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tw := newTestWatch(t, nil)
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			_, _, _ = tw.post(ctx, tt.url, []byte("batch"))
			require.Equal(t, 1, tw.logs.Len())
			entry := tw.logs.All()[0]
			assert.Equal(t, msgFailed, entry.Message)
			assert.Contains(t, entry.ContextMap()["reason"], tt.wantReason)
			endpoint := strings.SplitN(tt.url, "?", 2)[0]
			metadatatest.AssertEqualExtensionExportWatchRequests(t, tw.tel,
				[]metricdata.DataPoint[int64]{requestsPoint(endpoint, tt.wantOutcome, 1)}, metricdatatest.IgnoreTimestamp())
			require.NoError(t, tw.Shutdown(context.Background()))
		})
	}
}

// TestEndpointNeverNamesCredentials: user info and query stay out of logs and metrics.
func TestEndpointNeverNamesCredentials(t *testing.T) {
	tw := newTestWatch(t, nil)
	down := closedURL(t)
	_, _, err := tw.post(context.Background(), strings.Replace(down, "http://", "http://user:pass@", 1)+"?token=t", nil)
	require.Error(t, err)
	require.Equal(t, 1, tw.logs.Len())
	assert.Equal(t, down, tw.logs.All()[0].ContextMap()["endpoint"])
	require.NoError(t, tw.Shutdown(context.Background()))
}

// blockingServer accepts requests and answers none until the test ends: a backend that
// hangs. hits counts the requests that reached it.
func blockingServer(t *testing.T) (url string, hits *atomic.Int64, arrived <-chan struct{}) {
	hits = &atomic.Int64{}
	arrivedCh := make(chan struct{}, 16)
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		arrivedCh <- struct{}{}
		select {
		case <-done:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() {
		close(done)
		srv.Close()
	})
	return srv.URL + "/api/v1/write", hits, arrivedCh
}

// TestDrainTimeoutCancelsInFlightAndRefusesLater is the bounded shutdown: after NotReady
// and drain_timeout, a request stuck on a backend that never answers ends, later requests
// fail at once without reaching the network, both with a permanent error that says why,
// and the shutdown logs and counts them.
func TestDrainTimeoutCancelsInFlightAndRefusesLater(t *testing.T) {
	url, hits, arrived := blockingServer(t)
	tw := newTestWatch(t, func(cfg *Config) { cfg.DrainTimeout = 100 * time.Millisecond })
	body := []byte("a batch of ten")

	inFlight := make(chan error, 1)
	go func() {
		_, _, err := tw.post(context.Background(), url, body)
		inFlight <- err
	}()
	<-arrived
	require.NoError(t, tw.NotReady())

	var err error
	select {
	case err = <-inFlight:
	case <-time.After(30 * time.Second):
		t.Fatal("the request in flight was not canceled after drain_timeout")
	}
	require.Error(t, err)
	assert.ErrorIs(t, err, errDrainTimeout)
	assert.True(t, consumererror.IsPermanent(err), "an exporterhelper must not retry it: %v", err)
	assert.Contains(t, err.Error(), "canceled in flight")

	_, _, err = tw.post(context.Background(), url, body)
	require.Error(t, err)
	assert.ErrorIs(t, err, errDrainTimeout)
	assert.True(t, consumererror.IsPermanent(err))
	assert.Contains(t, err.Error(), "not sent")
	assert.Equal(t, int64(1), hits.Load(), "a request after drain_timeout never reaches the backend")

	require.NoError(t, tw.Shutdown(context.Background()))
	drainLines := tw.logs.FilterMessageSnippet("at shutdown").All()
	require.Len(t, drainLines, 1, "%v", tw.messages())
	line := drainLines[0]
	assert.Equal(t, zapcore.WarnLevel, line.Level)
	assert.Equal(t, int64(1), line.ContextMap()["canceled_requests"])
	assert.Equal(t, int64(1), line.ContextMap()["refused_requests"])
	assert.Equal(t, int64(2*len(body)), line.ContextMap()["unwritten_bytes"])

	metadatatest.AssertEqualExtensionExportWatchRequests(t, tw.tel, []metricdata.DataPoint[int64]{
		requestsPoint(url, outcomeCanceled, 1),
		requestsPoint(url, outcomeRefused, 1),
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualExtensionExportWatchUnwrittenBytes(t, tw.tel,
		[]metricdata.DataPoint[int64]{{Attributes: endpointSet(url), Value: int64(2 * len(body))}}, metricdatatest.IgnoreTimestamp())
}

// TestDrainEndsRetryLoops: prometheus_remote_write retries a failed request itself, with
// cenkalti/backoff v7 and in the caller's goroutine (no queue: the flush's). A request that
// drain_timeout ended must stop that loop at once, in flight or refused, or the shutdown
// would wait for retry_on_failure's max_elapsed_time.
func TestDrainEndsRetryLoops(t *testing.T) {
	url, _, arrived := blockingServer(t)
	tw := newTestWatch(t, func(cfg *Config) { cfg.DrainTimeout = 100 * time.Millisecond })
	attempt := func() (int, error) {
		status, _, err := tw.post(context.Background(), url, []byte("a batch"))
		return status, err
	}
	retry := func() (attempts int, err error) {
		_, err = backoff.Retry(context.Background(), func() (int, error) {
			attempts++
			return attempt()
		}, backoff.WithBackOff(backoff.NewConstantBackOff(time.Millisecond)), backoff.WithMaxElapsedTime(time.Minute))
		return attempts, err
	}

	type result struct {
		attempts int
		err      error
	}
	inFlight := make(chan result, 1)
	go func() {
		n, err := retry()
		inFlight <- result{n, err}
	}()
	<-arrived
	require.NoError(t, tw.NotReady())
	var r result
	select {
	case r = <-inFlight:
	case <-time.After(30 * time.Second):
		t.Fatal("the retry loop went on after drain_timeout canceled its request")
	}
	assert.Equal(t, 1, r.attempts, "the canceled request is not retried")
	assert.ErrorIs(t, r.err, backoff.ErrPermanent)
	assert.ErrorIs(t, r.err, errDrainTimeout)
	assert.True(t, consumererror.IsPermanent(r.err), "an exporterhelper must not retry it either: %v", r.err)

	n, err := retry()
	assert.Equal(t, 1, n, "a refused request is not retried")
	assert.ErrorIs(t, err, backoff.ErrPermanent)
	assert.Contains(t, err.Error(), "not sent")
	require.NoError(t, tw.Shutdown(context.Background()))
}

// TestDrainLetsRequestsThroughUntilTheDeadline: NotReady alone stops nothing; a drain that
// wrote everything says so in one info line.
func TestDrainLetsRequestsThroughUntilTheDeadline(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	tw := newTestWatch(t, func(cfg *Config) { cfg.DrainTimeout = time.Hour })
	require.NoError(t, tw.NotReady())
	require.NoError(t, tw.NotReady(), "a second notice changes nothing")
	status, _, err := tw.post(context.Background(), srv.URL, []byte("batch"))
	require.NoError(t, err)
	assert.Equal(t, http.StatusNoContent, status)
	require.NoError(t, tw.Shutdown(context.Background()))
	drained := tw.logs.FilterMessage("Exports drained at shutdown").All()
	require.Len(t, drained, 1, "%v", tw.messages())
	assert.Equal(t, zapcore.InfoLevel, drained[0].Level)
	assert.Empty(t, tw.logs.FilterMessageSnippet("not written").All())
}

// TestDrainCountsFailuresBeforeTheDeadline: with the backend down, each queued batch fails
// at its one attempt before drain_timeout; the drain line says so.
func TestDrainCountsFailuresBeforeTheDeadline(t *testing.T) {
	tw := newTestWatch(t, func(cfg *Config) { cfg.DrainTimeout = time.Hour })
	down := closedURL(t)
	require.NoError(t, tw.NotReady())
	for range 3 {
		_, _, err := tw.post(context.Background(), down, []byte("batch"))
		require.Error(t, err)
		assert.NotErrorIs(t, err, errDrainTimeout)
	}
	require.NoError(t, tw.Shutdown(context.Background()))
	lines := tw.logs.FilterMessageSnippet("not written at shutdown").All()
	require.Len(t, lines, 1, "%v", tw.messages())
	assert.Equal(t, int64(3), lines[0].ContextMap()["failed_requests"])
	assert.Equal(t, int64(0), lines[0].ContextMap()["refused_requests"])
}

// TestConfigHTTPMiddleware: an exporter's confighttp client with
// `middlewares: [{id: export_watch}]` sends its requests through the extension.
func TestConfigHTTPMiddleware(t *testing.T) {
	tw := newTestWatch(t, func(cfg *Config) { cfg.DrainTimeout = time.Millisecond })
	url, hits, _ := blockingServer(t)
	id := component.NewID(metadata.Type)
	cc := confighttp.NewDefaultClientConfig()
	cc.Endpoint = url
	cc.Middlewares = []configmiddleware.Config{{ID: id}}
	client, err := cc.ToClient(context.Background(), map[component.ID]component.Component{id: tw.exportWatch}, componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	defer client.CloseIdleConnections()

	require.NoError(t, tw.NotReady())
	require.Eventually(t, tw.drained.Load, 30*time.Second, time.Millisecond)
	resp, err := client.Post(url, "application/x-protobuf", strings.NewReader("batch"))
	if resp != nil {
		resp.Body.Close()
	}
	require.Error(t, err)
	assert.ErrorIs(t, err, errDrainTimeout)
	assert.Zero(t, hits.Load())
	require.NoError(t, tw.Shutdown(context.Background()))
}

// TestRedirectIsNotAFailure: http.Client follows a redirect with a second request through
// the middleware; the backend took the request, and nothing is logged.
func TestRedirectIsNotAFailure(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/old" {
			http.Redirect(w, r, "/new", http.StatusTemporaryRedirect)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	tw := newTestWatch(t, nil)
	status, _, err := tw.post(context.Background(), srv.URL+"/old", []byte("batch"))
	require.NoError(t, err)
	assert.Equal(t, http.StatusNoContent, status)
	assert.Zero(t, tw.logs.Len())
	metadatatest.AssertEqualExtensionExportWatchRequests(t, tw.tel, []metricdata.DataPoint[int64]{
		requestsPoint(srv.URL+"/old", outcomeSuccess, 1),
		requestsPoint(srv.URL+"/new", outcomeSuccess, 1),
	}, metricdatatest.IgnoreTimestamp())
	require.NoError(t, tw.Shutdown(context.Background()))
}
