// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package loadgen

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
)

func pushConfig() PushConfig {
	return PushConfig{Prefix: "p", Jobs: 3, Functions: 5, Sandboxes: 40, Flushes: 6, MaxInvocations: 8, ErrorRate: 0.1,
		Replay: 0.2, Recycle: 0.2, Seed: 3, Start: testStart}
}

func generatePush(t *testing.T) *PushFleet {
	t.Helper()
	f, err := GeneratePush(pushConfig())
	require.NoError(t, err)
	return f
}

// pushTotals folds decoded OTLP requests as the gateway must: delta sums and histograms
// added, the gauge's newest point kept per job.
type pushTotals struct {
	mu       sync.Mutex
	counters map[PushSeries]float64
	hists    map[PushSeries]*HistogramTruth
	gauges   map[string]float64
	gaugeAt  map[string]uint64
	points   int
	batches  int
}

func newPushTotals() *pushTotals {
	return &pushTotals{counters: map[PushSeries]float64{}, hists: map[PushSeries]*HistogramTruth{},
		gauges: map[string]float64{}, gaugeAt: map[string]uint64{}}
}

func (p *pushTotals) fold(t *testing.T, body []byte) {
	req := pmetricotlp.NewExportRequest()
	require.NoError(t, req.UnmarshalJSON(body))
	md := req.Metrics()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.batches++
	p.points += md.DataPointCount()
	for _, rm := range md.ResourceMetrics().All() {
		job, ok := rm.Resource().Attributes().Get("service.name")
		require.True(t, ok)
		for _, sm := range rm.ScopeMetrics().All() {
			require.Equal(t, PushScope, sm.Scope().Name())
			for _, m := range sm.Metrics().All() {
				switch m.Name() {
				case PushCounter:
					require.Equal(t, pmetric.MetricTypeSum, m.Type())
					require.True(t, m.Sum().IsMonotonic())
					require.Equal(t, pmetric.AggregationTemporalityDelta, m.Sum().AggregationTemporality())
					for _, dp := range m.Sum().DataPoints().All() {
						route, _ := dp.Attributes().Get("route")
						status, _ := dp.Attributes().Get("status")
						p.counters[PushSeries{Job: job.Str(), Route: route.Str(), Status: status.Str()}] += dp.DoubleValue()
					}
				case PushHistogram:
					require.Equal(t, pmetric.AggregationTemporalityDelta, m.Histogram().AggregationTemporality())
					for _, dp := range m.Histogram().DataPoints().All() {
						require.Equal(t, PushBuckets, dp.ExplicitBounds().AsRaw())
						require.Equal(t, len(PushBuckets)+1, dp.BucketCounts().Len())
						route, _ := dp.Attributes().Get("route")
						k := PushSeries{Job: job.Str(), Route: route.Str()}
						h := p.hists[k]
						if h == nil {
							h = &HistogramTruth{Buckets: make([]uint64, len(PushBuckets)+1)}
							p.hists[k] = h
						}
						h.Count += dp.Count()
						h.Sum += dp.Sum()
						var n uint64
						for i, c := range dp.BucketCounts().All() {
							h.Buckets[i] += c
							n += c
						}
						require.Equal(t, dp.Count(), n, "the buckets add up to the count")
					}
				case PushGauge:
					dp := m.Gauge().DataPoints().At(0)
					if ts := uint64(dp.Timestamp()); ts >= p.gaugeAt[job.Str()] {
						p.gaugeAt[job.Str()], p.gauges[job.Str()] = ts, dp.DoubleValue()
					}
				default:
					t.Fatalf("unexpected metric %q", m.Name())
				}
			}
		}
	}
}

func (p *pushTotals) requireTruth(t *testing.T, f *PushFleet) {
	t.Helper()
	assert.Equal(t, f.Truth.Counters, p.counters)
	require.Equal(t, len(f.Truth.Histograms), len(p.hists))
	for k, want := range f.Truth.Histograms {
		got := p.hists[k]
		require.NotNil(t, got, "%v", k)
		assert.Equal(t, want.Count, got.Count, "%v", k)
		assert.Equal(t, want.Sum, got.Sum, "%v: sums of whole 1/1024 s are exact in any order", k)
		assert.Equal(t, want.Buckets, got.Buckets, "%v", k)
	}
	assert.Equal(t, f.LastGauge(nil), p.gauges)
}

func TestGeneratePushMatchesItsTruth(t *testing.T) {
	f := generatePush(t)
	cfg := f.Config
	require.Len(t, f.Sandboxes, cfg.Sandboxes)
	totals := newPushTotals()
	instances := map[string]string{} // instance -> function
	lastSeq := map[string]uint64{}
	invocations := 0
	for s, flushes := range f.Sandboxes {
		require.Len(t, flushes, cfg.Flushes)
		for k, b := range flushes {
			require.Equal(t, s, b.Sandbox)
			totals.fold(t, b.Body)
			invocations += b.Invocations

			// The extension's headers: the sandbox, and a sequence number that grows per
			// instance (with gaps: Telemetry API batches share the counter) from the start.
			batch, err := wire.BatchFromHeaders(b.Header)
			require.NoError(t, err)
			require.Equal(t, b.Function, batch.Sandbox.FunctionName)
			require.Equal(t, b.Instance, batch.Sandbox.ExtensionInstanceID)
			require.Equal(t, b.Sequence, batch.Sequence)
			require.Equal(t, ContentTypeJSON, b.Header.Get("Content-Type"))
			if fn, ok := instances[b.Instance]; ok {
				require.Equal(t, b.Function, fn, "an instance runs one function")
				require.Greater(t, b.Sequence, lastSeq[b.Instance])
				require.False(t, b.FirstOfInstance)
			} else {
				require.True(t, b.FirstOfInstance)
				require.LessOrEqual(t, b.Sequence, uint64(3))
				if k > 0 {
					require.NotEqual(t, flushes[k-1].Instance, b.Instance, "a recycled sandbox")
				}
			}
			instances[b.Instance], lastSeq[b.Instance] = b.Function, b.Sequence

			// The resource, as the extension's pushSource writes it.
			req := pmetricotlp.NewExportRequest()
			require.NoError(t, req.UnmarshalJSON(b.Body))
			res := req.Metrics().ResourceMetrics().At(0).Resource().Attributes().AsRaw()
			assert.Equal(t, b.Job, res["service.name"])
			assert.Equal(t, b.Function, res["faas.name"])
			assert.Equal(t, b.Instance, res["faas.instance"])
			assert.Equal(t, "aws_lambda", res["cloud.platform"])
			assert.Equal(t, b.Points, req.Metrics().DataPointCount())
		}
	}
	totals.requireTruth(t, f)
	assert.Equal(t, f.Truth.Invocations, invocations)
	assert.Equal(t, f.Truth.Batches, cfg.Sandboxes*cfg.Flushes)
	assert.Equal(t, f.Truth.Points, totals.points)
	assert.Len(t, instances, f.Truth.Instances)
	assert.Greater(t, f.Truth.Instances, cfg.Sandboxes, "some sandboxes were recycled")
	assert.Greater(t, f.Truth.Replays, 0)
	var total float64
	for _, v := range f.Truth.Counters {
		total += v
	}
	assert.Equal(t, float64(f.Truth.Invocations), total)
	assert.Len(t, f.Jobs(), cfg.Jobs)

	// Durations over the last bound land in +Inf's own bucket.
	var inf uint64
	for _, h := range f.Truth.Histograms {
		inf += h.Buckets[len(PushBuckets)]
		assert.Equal(t, h.Count, h.Cumulative(len(PushBuckets)))
	}
	assert.Greater(t, inf, uint64(0))

	again, err := GeneratePush(pushConfig())
	require.NoError(t, err)
	assert.Equal(t, f.Sandboxes, again.Sandboxes, "the same config gives the same load")
}

func TestPushLeLabel(t *testing.T) {
	assert.Equal(t, "0.005", LeLabel(0))
	assert.Equal(t, "1", LeLabel(9))
	assert.Equal(t, "10", LeLabel(len(PushBuckets)-1))
	assert.Equal(t, "+Inf", LeLabel(len(PushBuckets)))
	assert.Equal(t, 0, bucketOf(0.005), "le is inclusive")
	assert.Equal(t, 1, bucketOf(0.0051))
	assert.Equal(t, len(PushBuckets), bucketOf(10.5))
}

func TestPushRoundAndLastGauge(t *testing.T) {
	f := generatePush(t)
	head, tail := f.Round(0, 2), f.Round(2, 100)
	for s := range f.Sandboxes {
		require.Len(t, head[s], 2)
		require.Len(t, tail[s], f.Config.Flushes-2)
		require.Equal(t, f.Sandboxes[s][2].Sequence, tail[s][0].Sequence)
	}
	// The newest point of a job is from the last round, its highest sandbox.
	last := f.LastGauge(nil)
	require.Len(t, last, f.Config.Jobs)
	for _, flushes := range f.Sandboxes {
		b := flushes[len(flushes)-1]
		assert.GreaterOrEqual(t, last[b.Job], b.Gauge)
	}
	odd := f.LastGauge(func(b *PushBatch) bool { return b.Sandbox%2 == 1 })
	for job, v := range odd {
		assert.LessOrEqual(t, v, last[job])
	}
}

// gatewayStub dedupes (instance, sequence) as the receiver does, refuses a share of first
// attempts with 503 before taking them, and folds what it takes. The sender's own stand-in:
// it scripts refusals, which the real gateway does not do on demand.
type gatewayStub struct {
	t        *testing.T
	totals   *pushTotals
	mu       sync.Mutex
	seen     map[string]bool
	lastSeq  map[string]uint64
	attempts map[string]int
	requests atomic.Int64
	replays  atomic.Int64
	refuse   func(key string, attempt int) int // status to answer instead, 0 to take
}

func newGatewayStub(t *testing.T, refuse func(string, int) int) *gatewayStub {
	return &gatewayStub{t: t, totals: newPushTotals(), seen: map[string]bool{}, lastSeq: map[string]uint64{},
		attempts: map[string]int{}, refuse: refuse}
}

func (g *gatewayStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.requests.Add(1)
	if r.URL.Path != MetricsPath || r.Header.Get("Content-Type") != ContentTypeJSON {
		http.Error(w, "wrong path or type", http.StatusNotFound)
		return
	}
	body, _ := io.ReadAll(r.Body)
	b, err := wire.BatchFromHeaders(r.Header)
	if err != nil || b.Sequence == 0 || b.Sandbox.ExtensionInstanceID == "" {
		http.Error(w, "no sequence", http.StatusBadRequest)
		return
	}
	key := b.Sandbox.ExtensionInstanceID + "/" + strconv.FormatUint(b.Sequence, 10)
	g.mu.Lock()
	g.attempts[key]++
	attempt := g.attempts[key]
	if g.seen[key] {
		g.mu.Unlock()
		g.replays.Add(1)
		w.WriteHeader(http.StatusOK)
		return
	}
	if code := g.refuse(key, attempt); code != 0 {
		g.mu.Unlock()
		http.Error(w, "busy", code)
		return
	}
	// A sandbox's flushes arrive in order.
	if last := g.lastSeq[b.Sandbox.ExtensionInstanceID]; b.Sequence <= last {
		g.mu.Unlock()
		g.t.Errorf("instance %s: sequence %d after %d", b.Sandbox.ExtensionInstanceID, b.Sequence, last)
		http.Error(w, "out of order", http.StatusBadRequest)
		return
	}
	g.lastSeq[b.Sandbox.ExtensionInstanceID] = b.Sequence
	g.seen[key] = true
	g.mu.Unlock()
	g.totals.fold(g.t, body)
	w.WriteHeader(http.StatusOK)
}

func TestSendPushRetriesAndReplaysCountOnce(t *testing.T) {
	f := generatePush(t)
	// Every third flush is refused twice (503, then 429) before it is taken.
	g := newGatewayStub(t, func(key string, attempt int) int {
		if len(key)%3 == 0 && attempt <= 2 {
			return []int{http.StatusServiceUnavailable, http.StatusTooManyRequests}[attempt-1]
		}
		return 0
	})
	srv := httptest.NewServer(g)
	defer srv.Close()
	st, err := SendPush(context.Background(), SendConfig{URL: srv.URL, Workers: 6, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}, f.Sandboxes)
	require.NoError(t, err)
	g.totals.requireTruth(t, f)
	assert.Equal(t, int64(f.Truth.Batches), st.Generated)
	assert.Equal(t, st.Generated, st.Acknowledged)
	assert.Equal(t, st.Generated, st.Sent)
	assert.Equal(t, int64(f.Truth.Replays), st.Replayed)
	assert.Equal(t, int64(f.Truth.Replays), g.replays.Load(), "every replay reached the gateway")
	assert.Equal(t, int64(f.Truth.Points), st.AcknowledgedPoints)
	assert.Equal(t, int64(f.Truth.Invocations), st.AcknowledgedInvocations)
	assert.Positive(t, st.Retried)
	assert.Equal(t, st.Retried, st.Refused)
	assert.Equal(t, g.requests.Load(), st.Attempts)
	assert.Equal(t, st.Generated+st.Replayed+st.Retried, st.Attempts)
}

func TestSendPushHoldsReplays(t *testing.T) {
	f := generatePush(t)
	g := newGatewayStub(t, func(string, int) int { return 0 })
	srv := httptest.NewServer(g)
	defer srv.Close()
	var hold atomic.Bool
	hold.Store(true)
	st, err := SendPush(context.Background(), SendConfig{URL: srv.URL, Workers: 3, HoldReplays: &hold}, f.Sandboxes)
	require.NoError(t, err)
	g.totals.requireTruth(t, f)
	assert.Zero(t, st.Replayed)
	assert.Equal(t, int64(f.Truth.Replays), st.ReplaysHeld)
	assert.Zero(t, g.replays.Load())
}

func TestSendPushRateAndPermanentError(t *testing.T) {
	f, err := GeneratePush(PushConfig{Prefix: "r", Jobs: 1, Functions: 1, Sandboxes: 4, Flushes: 5, Seed: 1, Start: testStart})
	require.NoError(t, err)
	g := newGatewayStub(t, func(string, int) int { return 0 })
	srv := httptest.NewServer(g)
	defer srv.Close()
	began := time.Now()
	st, err := SendPush(context.Background(), SendConfig{URL: srv.URL, Workers: 4, Rate: 100}, f.Sandboxes)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(began), 150*time.Millisecond, "20 flushes at 100/s")
	assert.Equal(t, int64(20), st.Acknowledged)

	bad := newGatewayStub(t, func(string, int) int { return http.StatusBadRequest })
	srv2 := httptest.NewServer(bad)
	defer srv2.Close()
	st, err = SendPush(context.Background(), SendConfig{URL: srv2.URL, Workers: 2}, f.Sandboxes)
	require.ErrorContains(t, err, "permanent answer 400")
	assert.Zero(t, st.Acknowledged)
}

func TestSendPushRetriesAnUnreachableGateway(t *testing.T) {
	f, err := GeneratePush(PushConfig{Prefix: "u", Jobs: 2, Functions: 2, Sandboxes: 6, Flushes: 3, Seed: 2, Start: testStart})
	require.NoError(t, err)
	g := newGatewayStub(t, func(string, int) int { return 0 })
	// The gateway is down at first: the listener exists only after a while.
	reserved, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := reserved.Addr().String()
	require.NoError(t, reserved.Close())
	done := make(chan struct{})
	var (
		st      Stats
		sendErr error
	)
	go func() {
		defer close(done)
		st, sendErr = SendPush(context.Background(), SendConfig{URL: "http://" + addr, Workers: 2, MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}, f.Sandboxes)
	}()
	time.Sleep(100 * time.Millisecond)
	restarted := &http.Server{Handler: g, ReadHeaderTimeout: time.Second}
	ln, lerr := net.Listen("tcp", addr)
	require.NoError(t, lerr)
	go func() { _ = restarted.Serve(ln) }()
	defer restarted.Close()
	<-done
	require.NoError(t, sendErr)
	g.totals.requireTruth(t, f)
	assert.Positive(t, st.Unreachable)
}
