// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdafleetmetricsprocessor

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-lambda/otelcol-lambda/processor/lambdafleetmetricsprocessor/internal/metadata"
	"github.com/otelcol-lambda/otelcol-lambda/processor/lambdafleetmetricsprocessor/internal/metadatatest"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	full := createDefaultConfig().(*Config)
	full.MetricsFlushInterval = 5 * time.Second
	full.MetricsExpiration = 30 * time.Minute
	full.MaxSeriesPerJob = 500
	full.MaxSeries = 5000
	full.ExponentialMaxSize = 80
	full.Gauges.SandboxTTL = 2 * time.Minute
	full.Gauges.Modes = map[string]string{"inflight_requests": ModeSum, "queue_lag_seconds": ModeMax}
	full.Streams = StreamsConfig{MaxStreams: 1000, IdleTimeout: 30 * time.Minute}
	tests := []struct {
		id      component.ID
		want    *Config
		wantErr []string
	}{
		{id: component.NewID(metadata.Type), want: createDefaultConfig().(*Config)},
		{id: component.NewIDWithName(metadata.Type, "full"), want: full},
		{id: component.NewIDWithName(metadata.Type, "bad"), wantErr: []string{
			"invalid metrics_flush_interval", "invalid metrics_expiration", "invalid max_series_per_job", "invalid max_series:",
			"invalid exponential_max_size", `invalid gauges::default_mode "newest"`, `invalid gauges::modes::x "median"`,
			"invalid gauges::sandbox_ttl", "invalid streams::max_streams", "invalid streams::idle_timeout",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			if tt.wantErr != nil {
				for _, msg := range tt.wantErr {
					assert.ErrorContains(t, err, msg)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg)
		})
	}
}

// fixture is a processor on a settable clock with a sink behind it.
type fixture struct {
	p    *fleetProcessor
	sink *consumertest.MetricsSink
	tel  *componenttest.Telemetry
	now  time.Time
}

func newFixture(t *testing.T, edit func(*Config)) *fixture {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	if edit != nil {
		edit(cfg)
	}
	f := &fixture{sink: new(consumertest.MetricsSink), tel: componenttest.NewTelemetry(), now: time.Unix(10000, 0)}
	t.Cleanup(func() { require.NoError(t, f.tel.Shutdown(context.Background())) })
	set := metadatatest.NewSettings(f.tel)
	set.Resource.Attributes().PutStr("service.instance.id", "replica-1")
	p, err := newFleetProcessor(set, cfg, f.sink, func() time.Time { return f.now })
	require.NoError(t, err)
	f.p = p
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	return f
}

func (f *fixture) at(d time.Duration) pcommon.Timestamp {
	return pcommon.NewTimestampFromTime(f.now.Add(d))
}

// flush sends the series and returns the last point of each series, by job/metric/labels.
func (f *fixture) flush(t *testing.T) map[string]pmetric.Metric {
	t.Helper()
	f.sink.Reset()
	require.NoError(t, f.p.flush(context.Background()))
	out := map[string]pmetric.Metric{}
	for _, md := range f.sink.AllMetrics() {
		for _, rm := range md.ResourceMetrics().All() {
			job, _ := rm.Resource().Attributes().Get("service.name")
			inst, _ := rm.Resource().Attributes().Get("service.instance.id")
			assert.Equal(t, "replica-1", inst.Str(), "every series is the replica's")
			assert.Equal(t, 2, rm.Resource().Attributes().Len(), "no sandbox identity on the output: %v", rm.Resource().Attributes().AsRaw())
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					out[job.Str()+"/"+m.Name()] = m
				}
			}
		}
	}
	return out
}

// sandbox is one sandbox's resource: the same job, its own faas.instance.
func sandbox(md pmetric.Metrics, job, instance string) pmetric.MetricSlice {
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", job)
	rm.Resource().Attributes().PutStr("faas.name", "orders-fn")
	rm.Resource().Attributes().PutStr("faas.instance", instance)
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("otelcol-lambda-extension/pushgateway")
	return sm.Metrics()
}

func addSum(ms pmetric.MetricSlice, name string, temporality pmetric.AggregationTemporality, monotonic bool, start, ts pcommon.Timestamp, v float64, attrs ...string) {
	m := ms.AppendEmpty()
	m.SetName(name)
	s := m.SetEmptySum()
	s.SetAggregationTemporality(temporality)
	s.SetIsMonotonic(monotonic)
	dp := s.DataPoints().AppendEmpty()
	dp.SetStartTimestamp(start)
	dp.SetTimestamp(ts)
	dp.SetDoubleValue(v)
	for i := 0; i+1 < len(attrs); i += 2 {
		dp.Attributes().PutStr(attrs[i], attrs[i+1])
	}
}

func addGauge(ms pmetric.MetricSlice, name string, ts pcommon.Timestamp, v float64) {
	m := ms.AppendEmpty()
	m.SetName(name)
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(ts)
	dp.SetDoubleValue(v)
}

func addHistogram(ms pmetric.MetricSlice, name string, temporality pmetric.AggregationTemporality, start, ts pcommon.Timestamp, bounds []float64, counts []uint64, sum float64) {
	m := ms.AppendEmpty()
	m.SetName(name)
	h := m.SetEmptyHistogram()
	h.SetAggregationTemporality(temporality)
	dp := h.DataPoints().AppendEmpty()
	dp.SetStartTimestamp(start)
	dp.SetTimestamp(ts)
	dp.ExplicitBounds().FromRaw(bounds)
	dp.BucketCounts().FromRaw(counts)
	var n uint64
	for _, c := range counts {
		n += c
	}
	dp.SetCount(n)
	dp.SetSum(sum)
}

func lastSum(t *testing.T, m pmetric.Metric) (float64, pcommon.Map) {
	t.Helper()
	require.Equal(t, pmetric.MetricTypeSum, m.Type(), m.Name())
	dps := m.Sum().DataPoints()
	dp := dps.At(dps.Len() - 1)
	return dp.DoubleValue(), dp.Attributes()
}

const delta, cumulative = pmetric.AggregationTemporalityDelta, pmetric.AggregationTemporalityCumulative

// TestSandboxesAddUp is the Pushgateway case: 8 sandboxes of one function push under one
// job; their increments make one series, not 8 that overwrite each other.
func TestSandboxesAddUp(t *testing.T) {
	f := newFixture(t, nil)
	for round := range 3 {
		md := pmetric.NewMetrics()
		for i := range 8 {
			ms := sandbox(md, "orders-consumer", string(rune('a'+i)))
			addSum(ms, "lambda_invocations_total", delta, true, f.at(0), f.at(time.Second), float64(round+1), "queue", "orders")
		}
		require.NoError(t, f.p.ConsumeMetrics(context.Background(), md))
	}
	out := f.flush(t)
	require.Len(t, out, 1)
	m := out["orders-consumer/lambda_invocations_total"]
	require.Equal(t, 2, m.Sum().DataPoints().Len(), "a zero point, then the total")
	zero := m.Sum().DataPoints().At(0)
	assert.Equal(t, 0.0, zero.DoubleValue())
	assert.Equal(t, zero.StartTimestamp(), zero.Timestamp(), "the zero point is at the series' start")
	v, attrs := lastSum(t, m)
	assert.Equal(t, 8.0*(1+2+3), v)
	assert.Equal(t, map[string]any{"queue": "orders"}, attrs.AsRaw(), "never a sandbox label")
	scope := f.sink.AllMetrics()[0].ResourceMetrics().At(0).ScopeMetrics().At(0).Scope()
	assert.Empty(t, scope.Name(), "pushes carry no scope, so no otel_scope_name label")
	assert.True(t, m.Sum().IsMonotonic())
	assert.Equal(t, cumulative, m.Sum().AggregationTemporality())

	// The next flush carries the same start time and no zero point.
	out = f.flush(t)
	m = out["orders-consumer/lambda_invocations_total"]
	require.Equal(t, 1, m.Sum().DataPoints().Len())
	assert.Equal(t, zero.StartTimestamp(), m.Sum().DataPoints().At(0).StartTimestamp(), "a stable start time")
}

// TestCumulativeStreams: SDK cumulative streams are differenced per sandbox. A stream that
// started before this process counts from its second point (it may have been counted by
// the process before); one that started after counts whole.
// TestClashingLabelsAreRenamed: a Pushgateway grouping key with instance (or a point
// attribute job) would be overwritten by the replica's instance and the job; it is kept as
// exported_instance, so two sandboxes' instance labels stay two series.
func TestClashingLabelsAreRenamed(t *testing.T) {
	f := newFixture(t, nil)
	md := pmetric.NewMetrics()
	addSum(sandbox(md, "j", "a"), "x", delta, true, f.at(0), f.at(time.Second), 2, "instance", "box0", "job", "other")
	addSum(sandbox(md, "j", "b"), "x", delta, true, f.at(0), f.at(time.Second), 12, "instance", "box1", "job", "other")
	require.NoError(t, f.p.ConsumeMetrics(context.Background(), md))
	got := map[string]float64{}
	for _, dp := range f.flush(t)["j/x"].Sum().DataPoints().All() {
		_, hasInstance := dp.Attributes().Get("instance")
		assert.False(t, hasInstance)
		job, _ := dp.Attributes().Get("exported_job")
		assert.Equal(t, "other", job.Str())
		inst, _ := dp.Attributes().Get("exported_instance")
		got[inst.Str()] = dp.DoubleValue()
	}
	assert.Equal(t, map[string]float64{"box0": 2, "box1": 12}, got, "the last point of each")
}

func TestCumulativeStreams(t *testing.T) {
	f := newFixture(t, nil)
	old, fresh := f.at(-time.Hour), f.at(time.Second)
	send := func(instance string, start pcommon.Timestamp, ts time.Duration, v float64) {
		md := pmetric.NewMetrics()
		addSum(sandbox(md, "svc", instance), "orders.processed", cumulative, true, start, f.at(ts), v)
		require.NoError(t, f.p.ConsumeMetrics(context.Background(), md))
	}
	send("old", old, 2*time.Second, 100) // baseline only
	send("new", fresh, 2*time.Second, 5)
	send("old", old, 3*time.Second, 103)
	send("new", fresh, 3*time.Second, 7)
	send("new", fresh, 3*time.Second, 7) // the same point again
	send("new", fresh+1, 4*time.Second, 1)
	v, _ := lastSum(t, f.flush(t)["svc/orders.processed"])
	assert.Equal(t, 3.0+7+1, v)
}

func TestGaugeModes(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.Gauges.Modes = map[string]string{"inflight": ModeSum, "lag": ModeMax, "free": ModeMin}
		c.Gauges.SandboxTTL = time.Minute
	})
	send := func(instance string, ts time.Duration, v float64) {
		md := pmetric.NewMetrics()
		ms := sandbox(md, "svc", instance)
		for _, name := range []string{"version", "inflight", "lag", "free"} {
			addGauge(ms, name, f.at(ts), v)
		}
		require.NoError(t, f.p.ConsumeMetrics(context.Background(), md))
	}
	send("a", 2*time.Second, 3)
	send("b", 1*time.Second, 5) // older: not the last value
	send("c", 3*time.Second, 1)
	out := f.flush(t)
	value := func(name string) float64 { return out["svc/"+name].Gauge().DataPoints().At(0).DoubleValue() }
	assert.Equal(t, 1.0, value("version"), "last: the newest point")
	assert.Equal(t, 9.0, value("inflight"), "sum")
	assert.Equal(t, 5.0, value("lag"), "max")
	assert.Equal(t, 1.0, value("free"), "min")

	f.now = f.now.Add(2 * time.Minute)
	send("a", 2*time.Minute, 2) // b and c have not reported within the TTL
	out = f.flush(t)
	assert.Equal(t, 2.0, value("inflight"))
	assert.Equal(t, 2.0, value("lag"))
}

func TestHistograms(t *testing.T) {
	f := newFixture(t, nil)
	bounds := []float64{0.1, 1}
	md := pmetric.NewMetrics()
	addHistogram(sandbox(md, "svc", "a"), "latency", delta, f.at(0), f.at(time.Second), bounds, []uint64{1, 2, 3}, 10)
	addHistogram(sandbox(md, "svc", "b"), "latency", delta, f.at(0), f.at(time.Second), bounds, []uint64{4, 0, 1}, 5)
	// Finer buckets that include the series' bounds add exactly.
	addHistogram(sandbox(md, "svc", "c"), "latency", delta, f.at(0), f.at(time.Second), []float64{0.05, 0.1, 0.5, 1}, []uint64{1, 1, 1, 1, 1}, 3)
	// Cumulative: counted whole (started after the process), then differenced.
	addHistogram(sandbox(md, "svc", "d"), "latency", cumulative, f.at(time.Millisecond), f.at(time.Second), bounds, []uint64{1, 0, 0}, 0.05)
	require.NoError(t, f.p.ConsumeMetrics(context.Background(), md))
	md = pmetric.NewMetrics()
	addHistogram(sandbox(md, "svc", "d"), "latency", cumulative, f.at(time.Millisecond), f.at(2*time.Second), bounds, []uint64{1, 1, 0}, 0.55)
	require.NoError(t, f.p.ConsumeMetrics(context.Background(), md))

	// Other bounds cannot be added exactly: refused, named, and the rest kept.
	md = pmetric.NewMetrics()
	addHistogram(sandbox(md, "svc", "e"), "latency", delta, f.at(0), f.at(time.Second), []float64{0.2}, []uint64{1, 1}, 1)
	addSum(sandbox(md, "svc", "e"), "orders", delta, true, f.at(0), f.at(time.Second), 2)
	err := f.p.ConsumeMetrics(context.Background(), md)
	require.Error(t, err)
	assert.True(t, consumererror.IsPermanent(err))
	assert.Contains(t, err.Error(), `histogram "latency" of job "svc" has the bounds [0.2]; they cannot be added exactly to the series' buckets, which need every one of the bounds [0.1 1]`)

	out := f.flush(t)
	h := out["svc/latency"].Histogram()
	dp := h.DataPoints().At(h.DataPoints().Len() - 1)
	assert.Equal(t, []uint64{1 + 4 + 2 + 1, 2 + 0 + 2 + 1, 3 + 1 + 1}, dp.BucketCounts().AsRaw())
	assert.Equal(t, uint64(18), dp.Count())
	assert.InDelta(t, 10+5+3+0.55, dp.Sum(), 1e-12)
	assert.False(t, dp.HasMin(), "min and max of sums of buckets are unknown")
	v, _ := lastSum(t, out["svc/orders"])
	assert.Equal(t, 2.0, v, "the refused point's neighbours were folded")
}

func TestExponentialHistograms(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.ExponentialMaxSize = 4 })
	md := pmetric.NewMetrics()
	for i, scale := range []int32{3, 1} {
		m := sandbox(md, "svc", string(rune('a'+i))).AppendEmpty()
		m.SetName("size")
		h := m.SetEmptyExponentialHistogram()
		h.SetAggregationTemporality(delta)
		dp := h.DataPoints().AppendEmpty()
		dp.SetScale(scale)
		dp.SetZeroCount(1)
		dp.Positive().SetOffset(0)
		dp.Positive().BucketCounts().FromRaw([]uint64{1, 1, 1, 1, 1, 1, 1, 1})
		dp.SetCount(9)
		dp.SetSum(20)
	}
	require.NoError(t, f.p.ConsumeMetrics(context.Background(), md))
	h := f.flush(t)["svc/size"].ExponentialHistogram()
	dp := h.DataPoints().At(h.DataPoints().Len() - 1)
	assert.Equal(t, uint64(18), dp.Count())
	assert.Equal(t, 40.0, dp.Sum())
	assert.Equal(t, uint64(2), dp.ZeroCount())
	assert.LessOrEqual(t, dp.Positive().BucketCounts().Len(), 4, "merged within exponential_max_size")
	var n uint64
	for _, c := range dp.Positive().BucketCounts().All() {
		n += c
	}
	assert.Equal(t, uint64(16), n)
}

func TestTypeConflictIsRefused(t *testing.T) {
	f := newFixture(t, nil)
	md := pmetric.NewMetrics()
	addSum(sandbox(md, "svc", "a"), "x", delta, true, f.at(0), f.at(time.Second), 1)
	require.NoError(t, f.p.ConsumeMetrics(context.Background(), md))
	md = pmetric.NewMetrics()
	addGauge(sandbox(md, "svc", "b"), "x", f.at(time.Second), 7)
	err := f.p.ConsumeMetrics(context.Background(), md)
	require.Error(t, err)
	assert.True(t, consumererror.IsPermanent(err))
	assert.Contains(t, err.Error(), `metric "x" of job "svc" is a gauge here, but a counter (monotonic sum) was seen first`)
	// Another job may use the name as it likes.
	md = pmetric.NewMetrics()
	addGauge(sandbox(md, "other", "c"), "x", f.at(time.Second), 7)
	require.NoError(t, f.p.ConsumeMetrics(context.Background(), md))
}

func TestInvalidIncrementsAreRefused(t *testing.T) {
	f := newFixture(t, nil)
	for _, v := range []float64{-1, posInf()} {
		md := pmetric.NewMetrics()
		addSum(sandbox(md, "svc", "a"), "x", delta, true, f.at(0), f.at(time.Second), v)
		err := f.p.ConsumeMetrics(context.Background(), md)
		require.Error(t, err, "%v", v)
		assert.True(t, consumererror.IsPermanent(err))
	}
}

func posInf() float64 { return math.Inf(1) }

func TestMaxSeriesPerJob(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxSeriesPerJob = 2 })
	md := pmetric.NewMetrics()
	ms := sandbox(md, "svc", "a")
	for _, q := range []string{"q1", "q2", "q3", "q4"} {
		addSum(ms, "msgs", delta, true, f.at(0), f.at(time.Second), 1, "queue", q)
	}
	require.NoError(t, f.p.ConsumeMetrics(context.Background(), md))
	m := f.flush(t)["svc/msgs"]
	values := map[string]float64{}
	for _, dp := range m.Sum().DataPoints().All() {
		key := "overflow"
		if q, ok := dp.Attributes().Get("queue"); ok {
			key = q.Str()
		} else {
			v, ok := dp.Attributes().Get("otel.metric.overflow")
			require.True(t, ok)
			assert.True(t, v.Bool())
		}
		values[key] = dp.DoubleValue()
	}
	assert.Equal(t, map[string]float64{"q1": 1, "q2": 1, "overflow": 2}, values, "the last point of each")
}

func TestIdleSeriesExpire(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MetricsExpiration = time.Minute })
	md := pmetric.NewMetrics()
	addSum(sandbox(md, "svc", "a"), "x", delta, true, f.at(0), f.at(time.Second), 1)
	require.NoError(t, f.p.ConsumeMetrics(context.Background(), md))
	require.Len(t, f.flush(t), 1)
	f.now = f.now.Add(30 * time.Second)
	require.Len(t, f.flush(t), 1, "not idle long enough")
	f.now = f.now.Add(31 * time.Second)
	assert.Empty(t, f.flush(t))
	assert.Empty(t, f.p.jobs, "nothing is held for an expired job")
}

func TestShutdownSendsTheSeries(t *testing.T) {
	sink := new(consumertest.MetricsSink)
	p, err := createMetrics(context.Background(), processortest.NewNopSettings(metadata.Type), createDefaultConfig(), sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), nil))
	md := pmetric.NewMetrics()
	addSum(sandbox(md, "svc", "a"), "x", delta, true, 1, 2, 3)
	require.NoError(t, p.ConsumeMetrics(context.Background(), md))
	require.NoError(t, p.Shutdown(context.Background()))
	require.Len(t, sink.AllMetrics(), 1)
	assert.Equal(t, 2, sink.AllMetrics()[0].DataPointCount(), "a zero point and the value")
}

// TestOwnTelemetry: what became of each point, what was refused and why, and what is held.
func TestOwnTelemetry(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxSeriesPerJob = 1 })
	md := pmetric.NewMetrics()
	ms := sandbox(md, "svc", "a")
	addSum(ms, "x", delta, true, f.at(0), f.at(time.Second), 1, "q", "1")
	addSum(ms, "x", delta, true, f.at(0), f.at(time.Second), 1, "q", "2")                  // overflow
	addSum(ms, "y", cumulative, true, f.at(-time.Hour), f.at(time.Second), 1, "q", "1")    // baseline (and overflow)
	addSum(ms, "z", delta, true, f.at(0), f.at(time.Second), -1)                           // refused
	addHistogram(ms, "h", delta, f.at(0), f.at(time.Second), []float64{1}, []uint64{1}, 1) // refused: 1 count for 2 buckets
	require.Error(t, f.p.ConsumeMetrics(context.Background(), md))
	f.flush(t)
	outcome := func(o string, v int64) metricdata.DataPoint[int64] {
		return metricdata.DataPoint[int64]{Attributes: attribute.NewSet(attribute.String("outcome", o)), Value: v}
	}
	metadatatest.AssertEqualProcessorLambdaFleetMetricsPoints(t, f.tel, []metricdata.DataPoint[int64]{
		outcome("folded", 1), outcome("overflow", 1), outcome("baseline", 1),
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorLambdaFleetMetricsRefused(t, f.tel, []metricdata.DataPoint[int64]{
		{Attributes: attribute.NewSet(attribute.String("reason", "invalid")), Value: 2},
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorLambdaFleetMetricsSeries(t, f.tel, []metricdata.DataPoint[int64]{{Value: 3}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorLambdaFleetMetricsStreams(t, f.tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
}

// TestHostileInputIsRefused: each point here would poison or crash fleet series, or make
// memory unbounded; each is refused with its reason, and the request's other points stay.
func TestHostileInputIsRefused(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*Config)
		send   func(f *fixture, ms pmetric.MetricSlice)
		reason string
	}{
		{"a negative cumulative counter", nil, func(f *fixture, ms pmetric.MetricSlice) {
			addSum(ms, "x", cumulative, true, f.at(time.Millisecond), f.at(time.Second), -7)
		}, "invalid"},
		{"NaN into an up-down counter", nil, func(f *fixture, ms pmetric.MetricSlice) {
			addSum(ms, "x", delta, false, f.at(0), f.at(time.Second), math.NaN())
		}, "invalid"},
		{"a time in the future", nil, func(f *fixture, ms pmetric.MetricSlice) {
			addGauge(ms, "x", f.at(100*365*24*time.Hour), 99)
		}, "invalid"},
		{"a start time in the future", nil, func(f *fixture, ms pmetric.MetricSlice) {
			addSum(ms, "x", cumulative, true, f.at(48*time.Hour), f.at(time.Second), 1)
		}, "invalid"},
		{"too many buckets", nil, func(f *fixture, ms pmetric.MetricSlice) {
			bounds := make([]float64, maxExplicitBounds+1)
			for i := range bounds {
				bounds[i] = float64(i)
			}
			addHistogram(ms, "x", delta, f.at(0), f.at(time.Second), bounds, make([]uint64, len(bounds)+1), 0)
		}, "invalid"},
		{"a count beyond 2^64 over two points", nil, func(f *fixture, ms pmetric.MetricSlice) {
			addHistogram(ms, "x", delta, f.at(0), f.at(time.Second), []float64{1}, []uint64{math.MaxUint64 - 1, 0}, 1)
			addHistogram(ms, "x", delta, f.at(0), f.at(time.Second), []float64{1}, []uint64{2, 0}, 1)
		}, "invalid"},
		{"max_series reached", func(c *Config) { c.MaxSeries = 1 }, func(f *fixture, ms pmetric.MetricSlice) {
			addSum(ms, "x", delta, true, f.at(0), f.at(time.Second), 1, "q", "1") // takes the one series
			addSum(ms, "x", delta, true, f.at(0), f.at(time.Second), 1, "q", "2")
		}, "limit"}, // and the other job's new series too

	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.edit)
			md := pmetric.NewMetrics()
			ms := sandbox(md, "svc", "a")
			tt.send(f, ms)
			addSum(sandbox(md, "other", "b"), "fine", delta, true, f.at(0), f.at(time.Second), 1)
			err := f.p.ConsumeMetrics(context.Background(), md)
			require.Error(t, err)
			assert.True(t, consumererror.IsPermanent(err))
			refused := int64(1)
			if tt.reason == "limit" {
				refused = 2
			}
			metadatatest.AssertEqualProcessorLambdaFleetMetricsRefused(t, f.tel, []metricdata.DataPoint[int64]{
				{Attributes: attribute.NewSet(attribute.String("reason", tt.reason)), Value: refused},
			}, metricdatatest.IgnoreTimestamp())
			if tt.reason != "limit" {
				v, _ := lastSum(t, f.flush(t)["other/fine"])
				assert.Equal(t, 1.0, v, "the rest of the request is kept")
			}
		})
	}
}

// TestExponentialAtTheEndsOfTheRange: two points of one series at the two ends of what
// float64 can hold, at scale 20; once made the store index out of range and left the lock
// held, so that every later request hung.
func TestExponentialAtTheEndsOfTheRange(t *testing.T) {
	f := newFixture(t, nil)
	for range 2 {
		md := pmetric.NewMetrics()
		m := sandbox(md, "svc", "a").AppendEmpty()
		m.SetName("lat")
		h := m.SetEmptyExponentialHistogram()
		h.SetAggregationTemporality(delta)
		for _, offset := range []int32{-1127219200, 1127219200} {
			dp := h.DataPoints().AppendEmpty()
			dp.SetTimestamp(f.at(time.Second))
			dp.SetScale(20)
			dp.Positive().SetOffset(offset)
			dp.Positive().BucketCounts().FromRaw([]uint64{1})
			dp.SetCount(1)
			dp.SetSum(1)
		}
		require.NoError(t, f.p.ConsumeMetrics(context.Background(), md))
	}
	h := f.flush(t)["svc/lat"].ExponentialHistogram()
	assert.Equal(t, uint64(4), h.DataPoints().At(h.DataPoints().Len()-1).Count())
}

// TestUpDownCounterBackToZero: a level that returns to exactly 0 shows 0.
func TestUpDownCounterBackToZero(t *testing.T) {
	f := newFixture(t, nil)
	for _, v := range []float64{1, -1} {
		md := pmetric.NewMetrics()
		addSum(sandbox(md, "svc", "a"), "inflight", delta, false, f.at(0), f.at(time.Second), v)
		require.NoError(t, f.p.ConsumeMetrics(context.Background(), md))
		out := f.flush(t)
		got, _ := lastSum(t, out["svc/inflight"])
		if v == -1 {
			assert.Equal(t, 0.0, got)
		}
	}
}

// TestBucketsNeverFoldIntoNone: a histogram without buckets and one with them are not the
// same series; folding the buckets away would keep nothing of them.
func TestBucketsNeverFoldIntoNone(t *testing.T) {
	f := newFixture(t, nil)
	md := pmetric.NewMetrics()
	addHistogram(sandbox(md, "svc", "a"), "h", delta, f.at(0), f.at(time.Second), nil, []uint64{1}, 1)
	addHistogram(sandbox(md, "svc", "b"), "h", delta, f.at(0), f.at(time.Second), []float64{0.1, 1, 10}, []uint64{4, 3, 2, 1}, 5)
	err := f.p.ConsumeMetrics(context.Background(), md)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "bounds")
}

// TestAttributeValuesCannotPassForSeparators: a value that holds the bytes of another
// label set's encoding is still another series.
func TestAttributeValuesCannotPassForSeparators(t *testing.T) {
	f := newFixture(t, nil)
	md := pmetric.NewMetrics()
	ms := sandbox(md, "svc", "a")
	addSum(ms, "x", delta, true, f.at(0), f.at(time.Second), 1, "a", "x\x1eb\x1f\x01y")
	addSum(ms, "x", delta, true, f.at(0), f.at(time.Second), 100, "a", "x", "b", "y")
	require.NoError(t, f.p.ConsumeMetrics(context.Background(), md))
	assert.Equal(t, 4, f.flush(t)["svc/x"].Sum().DataPoints().Len(), "two series, each a zero point and a value")
}
