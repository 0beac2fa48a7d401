// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdametricsconnector

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-lambda/otelcol-lambda/connector/lambdametricsconnector/internal/metadata"
	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
)

// fakeClock is the injected clock: tests move it, nothing sleeps.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeClock) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeClock) Add(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// fn is a function's resource as the receiver writes it.
type fn struct {
	name, version, region, arch string
	memMiB, timeoutMs           int64
	instance                    string
}

func (f fn) resource(r pcommon.Resource) {
	a := r.Attributes()
	a.PutStr(lambdaconv.AttrServiceName, f.name)
	a.PutStr(lambdaconv.AttrFaaSName, f.name)
	a.PutStr(lambdaconv.AttrFaaSVersion, f.version)
	a.PutStr(lambdaconv.AttrCloudRegion, f.region)
	a.PutStr(lambdaconv.AttrCloudAccountID, "123456789012")
	a.PutStr(lambdaconv.AttrCloudResourceID, "arn:aws:lambda:"+f.region+":123456789012:function:"+f.name)
	a.PutStr(lambdaconv.AttrHostArch, f.arch)
	a.PutInt(lambdaconv.AttrFaaSMaxMemory, f.memMiB<<20)
	if f.timeoutMs > 0 {
		a.PutInt(lambdaconv.AttrTimeoutMs, f.timeoutMs)
	}
	if f.instance != "" {
		a.PutStr(lambdaconv.AttrFaaSInstance, f.instance)
	}
}

// inv is one invocation span.
type inv struct {
	id       string
	dur      time.Duration
	errType  string
	cold     bool
	initType string
	attrs    map[string]any
	seq      byte
}

// batch builds spans of one function.
type batch struct {
	f     fn
	td    ptrace.Traces
	spans ptrace.SpanSlice
}

func newBatch(f fn) *batch {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	f.resource(rs.Resource())
	return &batch{f: f, td: td, spans: rs.ScopeSpans().AppendEmpty().Spans()}
}

func (b *batch) invocation(i inv) *batch {
	s := b.spans.AppendEmpty()
	s.SetName(b.f.name)
	s.SetKind(ptrace.SpanKindServer)
	s.SetTraceID(pcommon.TraceID{1, i.seq, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	s.SetSpanID(pcommon.SpanID{2, i.seq, 3, 4, 5, 6, 7, 8})
	s.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(i.dur)))
	a := s.Attributes()
	a.PutStr(lambdaconv.AttrSpanType, lambdaconv.SpanTypeInvocation)
	a.PutStr(lambdaconv.AttrFaaSInvocationID, i.id)
	a.PutBool(lambdaconv.AttrFaaSColdstart, i.cold)
	if i.errType != "" {
		a.PutStr(lambdaconv.AttrStatus, "error")
		a.PutStr(lambdaconv.AttrErrorType, i.errType)
		s.Status().SetCode(ptrace.StatusCodeError)
	} else {
		a.PutStr(lambdaconv.AttrStatus, "success")
	}
	if i.initType != "" {
		a.PutStr(lambdaconv.AttrInitializationType, i.initType)
	}
	require.NoError(nil, a.FromRaw(merge(a.AsRaw(), i.attrs)))
	return b
}

func merge(a, b map[string]any) map[string]any {
	for k, v := range b {
		a[k] = v
	}
	return a
}

func (b *batch) report(id string, billedMs, maxUsedMiB, initMs int64) *batch {
	s := b.spans.AppendEmpty()
	s.SetName(lambdaconv.SpanNameReport)
	s.SetKind(ptrace.SpanKindInternal)
	a := s.Attributes()
	a.PutStr(lambdaconv.AttrSpanType, lambdaconv.SpanTypeReport)
	a.PutStr(lambdaconv.AttrFaaSInvocationID, id)
	a.PutInt(lambdaconv.AttrDurationMs, billedMs)
	a.PutInt(lambdaconv.AttrBilledDurationMs, billedMs)
	a.PutInt(lambdaconv.AttrMemorySize, b.f.memMiB<<20)
	a.PutInt(lambdaconv.AttrMaxMemoryUsed, maxUsedMiB<<20)
	a.PutStr(lambdaconv.AttrStatus, "success")
	if initMs > 0 {
		a.PutInt(lambdaconv.AttrInitDurationMs, initMs)
	}
	return b
}

func (b *batch) init(initType string, dur time.Duration) *batch {
	s := b.spans.AppendEmpty()
	s.SetName(lambdaconv.SpanNameInit)
	s.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(dur)))
	a := s.Attributes()
	a.PutStr(lambdaconv.AttrSpanType, lambdaconv.SpanTypeInit)
	a.PutStr(lambdaconv.AttrInitializationType, initType)
	a.PutStr(lambdaconv.AttrInitPhase, "init")
	return b
}

// sink is a MetricsSink that can be told to fail.
type sink struct {
	consumertest.MetricsSink
	err error
}

func (s *sink) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	if s.err != nil {
		return s.err
	}
	return s.MetricsSink.ConsumeMetrics(ctx, md)
}

type harness struct {
	t     *testing.T
	clock *fakeClock
	sink  *sink
	c     *lambdaMetrics
}

func newHarness(t *testing.T, mutate func(*Config)) *harness {
	cfg := createDefaultConfig().(*Config)
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	h := &harness{t: t, clock: &fakeClock{t: t0.Add(time.Second)}, sink: new(sink)}
	set := connectortest.NewNopSettings(metadata.Type)
	set.Resource.Attributes().PutStr("service.name", "otelcol-lambda")
	set.Resource.Attributes().PutStr("service.instance.id", "replica-1")
	c, err := newConnector(set, cfg, h.sink, h.clock.Now)
	require.NoError(t, err)
	h.c = c
	return h
}

func (h *harness) send(bs ...*batch) {
	for _, b := range bs {
		require.NoError(h.t, h.c.ConsumeTraces(context.Background(), b.td))
	}
}

// flush moves the clock and flushes, returning the points of that flush.
func (h *harness) flush() map[string]float64 {
	h.clock.Add(10 * time.Second)
	before := len(h.sink.AllMetrics())
	require.NoError(h.t, h.c.flush(context.Background()))
	all := h.sink.AllMetrics()
	if len(all) == before {
		return map[string]float64{}
	}
	return flatten(all[len(all)-1])
}

// flatten renders the last point of each series as "name{k=v,...}" (histograms as _count,
// _sum and _bucket{le=...}), as Prometheus would see them before renaming.
func flatten(md pmetric.Metrics) map[string]float64 {
	out := map[string]float64{}
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				switch m.Type() {
				case pmetric.MetricTypeSum:
					for p := 0; p < m.Sum().DataPoints().Len(); p++ {
						dp := m.Sum().DataPoints().At(p)
						out[m.Name()+labels(dp.Attributes(), "")] = value(dp)
					}
				case pmetric.MetricTypeGauge:
					for p := 0; p < m.Gauge().DataPoints().Len(); p++ {
						dp := m.Gauge().DataPoints().At(p)
						out[m.Name()+labels(dp.Attributes(), "")] = value(dp)
					}
				case pmetric.MetricTypeHistogram:
					for p := 0; p < m.Histogram().DataPoints().Len(); p++ {
						dp := m.Histogram().DataPoints().At(p)
						out[m.Name()+"_count"+labels(dp.Attributes(), "")] = float64(dp.Count())
						out[m.Name()+"_sum"+labels(dp.Attributes(), "")] = dp.Sum()
						var cum uint64
						for b := 0; b < dp.BucketCounts().Len(); b++ {
							cum += dp.BucketCounts().At(b)
							le := "+Inf"
							if b < dp.ExplicitBounds().Len() {
								le = fmt.Sprint(dp.ExplicitBounds().At(b))
							}
							if dp.BucketCounts().At(b) > 0 {
								out[m.Name()+"_bucket"+labels(dp.Attributes(), le)] = float64(cum)
							}
						}
					}
				case pmetric.MetricTypeExponentialHistogram:
					for p := 0; p < m.ExponentialHistogram().DataPoints().Len(); p++ {
						dp := m.ExponentialHistogram().DataPoints().At(p)
						out[m.Name()+"_count"+labels(dp.Attributes(), "")] = float64(dp.Count())
						out[m.Name()+"_sum"+labels(dp.Attributes(), "")] = dp.Sum()
					}
				}
			}
		}
	}
	return out
}

func value(dp pmetric.NumberDataPoint) float64 {
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return float64(dp.IntValue())
	}
	return dp.DoubleValue()
}

func labels(attrs pcommon.Map, le string) string {
	var parts []string
	for k, v := range attrs.All() {
		if k == lambdaconv.AttrFaaSVersion || k == lambdaconv.AttrCloudAccountID {
			continue // the same in every test; checked once in TestOutputIdentity
		}
		parts = append(parts, k+"="+v.AsString())
	}
	if le != "" {
		parts = append(parts, "le="+le)
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

var (
	fnA = fn{name: "orders", version: "7", region: "eu-west-1", arch: "amd64", memMiB: 512, timeoutMs: 3000, instance: "sandbox-1"}
	fnB = fn{name: "billing", version: "$LATEST", region: "us-east-1", arch: "arm64", memMiB: 1024, instance: "sandbox-2"}
)

// only keeps the points of the named metrics.
func only(points map[string]float64, names ...string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range points {
		for _, n := range names {
			if strings.HasPrefix(k, n+"{") {
				out[k] = v
			}
		}
	}
	return out
}

func TestCountsInvocationsFromInvocationSpansOnly(t *testing.T) {
	http := map[string]any{lambdaconv.AttrFaaSTrigger: "http", lambdaconv.AttrHTTPRoute: "/orders/{id}"}
	sqs := map[string]any{lambdaconv.AttrFaaSTrigger: "pubsub", lambdaconv.AttrMessagingSystem: "aws_sqs", lambdaconv.AttrMessagingDestinationName: "billing-queue"}
	tests := []struct {
		name    string
		batches []*batch
		metrics []string
		want    map[string]float64
	}{
		{
			name: "cold, warm, errors and timeouts by trigger",
			batches: []*batch{
				newBatch(fnA).
					invocation(inv{id: "a1", dur: 250 * time.Millisecond, cold: true, initType: "on-demand", attrs: http, seq: 1}).
					invocation(inv{id: "a2", dur: 125 * time.Millisecond, attrs: http, seq: 2}).
					invocation(inv{id: "a3", dur: 500 * time.Millisecond, errType: lambdaconv.ErrorTypeFunction, attrs: http, seq: 3}).
					invocation(inv{id: "a4", dur: 3 * time.Second, errType: lambdaconv.ErrorTypeTimeout, attrs: http, seq: 4}),
				newBatch(fnB).
					invocation(inv{id: "b1", dur: time.Second, cold: true, initType: "provisioned-concurrency", attrs: sqs, seq: 5}).
					invocation(inv{id: "b2", dur: 2 * time.Second, errType: lambdaconv.ErrorTypeOutOfMemory, attrs: sqs, seq: 6}),
			},
			metrics: []string{"faas.invocations", "faas.errors", "faas.timeouts", "faas.coldstarts"},
			want: map[string]float64{
				"faas.invocations{cloud.region=eu-west-1,faas.name=orders,faas.trigger=http,http.route=/orders/{id}}":                                                                                         4,
				"faas.errors{cloud.region=eu-west-1,error.type=function_error,faas.name=orders,faas.trigger=http,http.route=/orders/{id}}":                                                                    1,
				"faas.errors{cloud.region=eu-west-1,error.type=timeout,faas.name=orders,faas.trigger=http,http.route=/orders/{id}}":                                                                           1,
				"faas.timeouts{cloud.region=eu-west-1,faas.name=orders,faas.trigger=http,http.route=/orders/{id}}":                                                                                            1,
				"faas.coldstarts{cloud.region=eu-west-1,faas.name=orders,faas.trigger=http,http.route=/orders/{id},initialization_type=on-demand}":                                                            1,
				"faas.invocations{cloud.region=us-east-1,faas.name=billing,faas.trigger=pubsub,messaging.destination.name=billing-queue,messaging.system=aws_sqs}":                                            2,
				"faas.errors{cloud.region=us-east-1,error.type=out_of_memory,faas.name=billing,faas.trigger=pubsub,messaging.destination.name=billing-queue,messaging.system=aws_sqs}":                        1,
				"faas.coldstarts{cloud.region=us-east-1,faas.name=billing,faas.trigger=pubsub,initialization_type=provisioned-concurrency,messaging.destination.name=billing-queue,messaging.system=aws_sqs}": 1,
			},
		},
		{
			name: "an asynchronous retry reuses the request id and is a second invocation",
			batches: []*batch{newBatch(fnA).
				invocation(inv{id: "same", dur: time.Second, errType: lambdaconv.ErrorTypeFunction, seq: 1}).
				invocation(inv{id: "same", dur: time.Second, seq: 2})},
			metrics: []string{"faas.invocations", "faas.errors"},
			want: map[string]float64{
				"faas.invocations{cloud.region=eu-west-1,faas.name=orders}":                      2,
				"faas.errors{cloud.region=eu-west-1,error.type=function_error,faas.name=orders}": 1,
			},
		},
		{
			name: "an invocation made from a report counts once, reports never count",
			batches: []*batch{
				newBatch(fnA).invocation(inv{id: "r1", dur: time.Second, attrs: map[string]any{lambdaconv.AttrInvocationFromReport: true}, seq: 1}),
				newBatch(fnA).report("r1", 1000, 100, 0).report("r2", 1000, 100, 0),
			},
			metrics: []string{"faas.invocations"},
			want:    map[string]float64{"faas.invocations{cloud.region=eu-west-1,faas.name=orders}": 1},
		},
		{
			name: "generic spans are not invocations by default",
			batches: func() []*batch {
				b := newBatch(fn{name: "sdk-only", region: "eu-west-1", arch: "amd64", memMiB: 128})
				s := b.spans.AppendEmpty()
				s.SetKind(ptrace.SpanKindServer)
				return []*batch{b}
			}(),
			metrics: []string{"faas.invocations"},
			want:    map[string]float64{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.send(tt.batches...)
			assert.Equal(t, tt.want, only(h.flush(), tt.metrics...))
		})
	}
}

func TestInvokeDurationHistogramAndExemplars(t *testing.T) {
	h := newHarness(t, nil)
	h.send(newBatch(fnA).
		invocation(inv{id: "1", dur: 125 * time.Millisecond, cold: true, initType: "on-demand", seq: 1}).
		invocation(inv{id: "2", dur: 125 * time.Millisecond, seq: 2}).
		invocation(inv{id: "3", dur: 1500 * time.Millisecond, seq: 3}))
	got := only(h.flush(), "faas.invoke_duration_count", "faas.invoke_duration_sum", "faas.invoke_duration_bucket")
	assert.Equal(t, map[string]float64{
		"faas.invoke_duration_count{cloud.region=eu-west-1,faas.coldstart=true,faas.name=orders}":           1,
		"faas.invoke_duration_sum{cloud.region=eu-west-1,faas.coldstart=true,faas.name=orders}":             0.125,
		"faas.invoke_duration_bucket{cloud.region=eu-west-1,faas.coldstart=true,faas.name=orders,le=0.25}":  1,
		"faas.invoke_duration_count{cloud.region=eu-west-1,faas.coldstart=false,faas.name=orders}":          2,
		"faas.invoke_duration_sum{cloud.region=eu-west-1,faas.coldstart=false,faas.name=orders}":            1.625,
		"faas.invoke_duration_bucket{cloud.region=eu-west-1,faas.coldstart=false,faas.name=orders,le=0.25}": 1,
		"faas.invoke_duration_bucket{cloud.region=eu-west-1,faas.coldstart=false,faas.name=orders,le=2.5}":  2,
	}, got)

	// Exemplars: the last span of each bucket, with its trace and span id, exported once.
	dp := lastHistogramPoint(t, h, "faas.invoke_duration", false)
	require.Equal(t, 2, dp.Exemplars().Len())
	ids := []string{dp.Exemplars().At(0).TraceID().String(), dp.Exemplars().At(1).TraceID().String()}
	assert.ElementsMatch(t, []string{"0102030405060708090a0b0c0d0e0f10", "0103030405060708090a0b0c0d0e0f10"}, ids)
	h.flush()
	assert.Zero(t, lastHistogramPoint(t, h, "faas.invoke_duration", false).Exemplars().Len())
}

func lastHistogramPoint(t *testing.T, h *harness, name string, cold bool) pmetric.HistogramDataPoint {
	all := h.sink.AllMetrics()
	ms := all[len(all)-1].ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for i := 0; i < ms.Len(); i++ {
		if ms.At(i).Name() != name {
			continue
		}
		dps := ms.At(i).Histogram().DataPoints()
		for p := dps.Len() - 1; p >= 0; p-- {
			if v, _ := dps.At(p).Attributes().Get(lambdaconv.AttrFaaSColdstart); v.Bool() == cold {
				return dps.At(p)
			}
		}
	}
	t.Fatalf("no %s point", name)
	return pmetric.NewHistogramDataPoint()
}

func TestReportsFeedBilledDurationMemoryAndCostNeverInvocations(t *testing.T) {
	h := newHarness(t, nil)
	h.send(newBatch(fnA).invocation(inv{id: "a1", dur: 900 * time.Millisecond, cold: true, initType: "on-demand", seq: 1}))
	first := h.flush()
	assert.Equal(t, 1.0, first["faas.invocations{cloud.region=eu-west-1,faas.name=orders}"], "RED does not wait for the report")

	// The reports arrive minutes later, with the next thaw.
	h.clock.Add(5 * time.Minute)
	h.send(newBatch(fnA).report("a1", 1000, 200, 180), newBatch(fnB).report("b1", 2000, 700, 0).report("b2", 500, 300, 0))
	got := only(h.flush(), "faas.invocations", "aws.lambda.billed_duration", "aws.lambda.cost", "faas.mem_usage_count", "faas.mem_usage_sum",
		"faas.init_duration_count", "aws.lambda.memory_size", "aws.lambda.timeout")
	// cost = requests * 0.20/1M + GB * s * price: 0.5 GB * 1 s on amd64; 1 GB * 2.5 s on arm64.
	costA := 0.0000002 + 0.5*1*0.0000166667
	costB := 2*0.0000002 + 1*2*0.0000133334 + 1*0.5*0.0000133334
	assert.Equal(t, 1.0, got["faas.invocations{cloud.region=eu-west-1,faas.name=orders}"])
	assert.Len(t, only(got, "faas.invocations"), 1, "reports never count invocations")
	assert.Equal(t, 1.0, got["aws.lambda.billed_duration{cloud.region=eu-west-1,faas.name=orders}"])
	assert.Equal(t, 2.5, got["aws.lambda.billed_duration{cloud.region=us-east-1,faas.name=billing}"])
	assert.InDelta(t, costA, got["aws.lambda.cost{cloud.region=eu-west-1,faas.name=orders}"], 1e-15)
	assert.InDelta(t, costB, got["aws.lambda.cost{cloud.region=us-east-1,faas.name=billing}"], 1e-15)
	assert.Equal(t, float64(200<<20), got["faas.mem_usage_sum{cloud.region=eu-west-1,faas.name=orders}"])
	assert.Equal(t, 2.0, got["faas.mem_usage_count{cloud.region=us-east-1,faas.name=billing}"])
	assert.Equal(t, float64(512<<20), got["aws.lambda.memory_size{cloud.region=eu-west-1,faas.name=orders}"])
	assert.Equal(t, float64(1024<<20), got["aws.lambda.memory_size{cloud.region=us-east-1,faas.name=billing}"])
	assert.Equal(t, 3.0, got["aws.lambda.timeout{cloud.region=eu-west-1,faas.name=orders}"])
	assert.Len(t, only(got, "aws.lambda.timeout"), 1, "no timeout known for billing")
	assert.Empty(t, only(got, "faas.init_duration_count"), "init duration comes from init spans, not from reports")
}

func TestPricesPerRegionAndArchitecture(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Prices = append(c.Prices, PriceConfig{Region: "us-east-1", Architecture: "arm64", PerRequest: 1, PerGBSecond: 2})
		c.Prices = c.Prices[1:] // no amd64 price: amd64 reports add no cost
	})
	h.send(newBatch(fnA).report("a", 1000, 10, 0), newBatch(fnB).report("b", 1500, 10, 0))
	got := only(h.flush(), "aws.lambda.cost")
	assert.Equal(t, map[string]float64{"aws.lambda.cost{cloud.region=us-east-1,faas.name=billing}": 1 + 1*1.5*2}, got)
}

func TestInitDurationFromInitSpans(t *testing.T) {
	h := newHarness(t, nil)
	h.send(newBatch(fnA).init("on-demand", 250*time.Millisecond).init("on-demand", 500*time.Millisecond),
		newBatch(fnB).init("provisioned-concurrency", 2*time.Second))
	got := only(h.flush(), "faas.init_duration_count", "faas.init_duration_sum")
	assert.Equal(t, map[string]float64{
		"faas.init_duration_count{cloud.region=eu-west-1,faas.name=orders,initialization_type=on-demand}":                2,
		"faas.init_duration_sum{cloud.region=eu-west-1,faas.name=orders,initialization_type=on-demand}":                  0.75,
		"faas.init_duration_count{cloud.region=us-east-1,faas.name=billing,initialization_type=provisioned-concurrency}": 1,
		"faas.init_duration_sum{cloud.region=us-east-1,faas.name=billing,initialization_type=provisioned-concurrency}":   2,
	}, got)
}

func TestEventAge(t *testing.T) {
	h := newHarness(t, nil)
	sent := t0.Add(-1500 * time.Millisecond).UnixMilli()
	h.send(newBatch(fnA).
		invocation(inv{id: "1", dur: time.Second, attrs: map[string]any{lambdaconv.AttrEventTimeUnixMs: sent}, seq: 1}).
		invocation(inv{id: "2", dur: time.Second, seq: 2}))
	got := only(h.flush(), "aws.lambda.event_age_count", "aws.lambda.event_age_sum")
	assert.Equal(t, map[string]float64{
		"aws.lambda.event_age_count{cloud.region=eu-west-1,faas.name=orders}": 1,
		"aws.lambda.event_age_sum{cloud.region=eu-west-1,faas.name=orders}":   1.5,
	}, got)
}

// TestCumulativeWithZeroStart checks temporality, the stable start time and the zero point
// that lets increase() see a new series' first increment.
func TestCumulativeWithZeroStart(t *testing.T) {
	h := newHarness(t, nil)
	h.send(newBatch(fnA).invocation(inv{id: "1", dur: time.Second, seq: 1}))
	arrival := pcommon.NewTimestampFromTime(h.clock.Now())
	h.flush()
	h.send(newBatch(fnA).invocation(inv{id: "2", dur: time.Second, seq: 2}), newBatch(fnA).invocation(inv{id: "3", dur: time.Second, seq: 3}))
	h.flush()
	h.flush() // nothing new: the series is exported again, unchanged

	var got [][3]int64 // start, timestamp, value of each faas.invocations point
	for _, md := range h.sink.AllMetrics() {
		ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
		for i := 0; i < ms.Len(); i++ {
			if m := ms.At(i); m.Name() == "faas.invocations" {
				assert.Equal(t, pmetric.AggregationTemporalityCumulative, m.Sum().AggregationTemporality())
				assert.True(t, m.Sum().IsMonotonic())
				for p := 0; p < m.Sum().DataPoints().Len(); p++ {
					dp := m.Sum().DataPoints().At(p)
					got = append(got, [3]int64{int64(dp.StartTimestamp()), int64(dp.Timestamp()), dp.IntValue()})
				}
			}
		}
	}
	start := int64(arrival)
	flush := func(n int) int64 {
		return int64(pcommon.NewTimestampFromTime(t0.Add(time.Second + time.Duration(n)*10*time.Second)))
	}
	assert.Equal(t, [][3]int64{{start, start, 0}, {start, flush(1), 1}, {start, flush(2), 3}, {start, flush(3), 3}}, got)
}

func TestCardinalityLimitOverflow(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.CardinalityLimit = 2 })
	for i, route := range []string{"/a", "/b", "/c", "/d"} {
		h.send(newBatch(fnA).invocation(inv{id: route, dur: time.Second, attrs: map[string]any{lambdaconv.AttrHTTPRoute: route}, seq: byte(i)}))
	}
	got := only(h.flush(), "faas.invocations")
	assert.Len(t, got, 3)
	assert.Equal(t, 2.0, got["faas.invocations{otel.metric.overflow=true}"])
	var total float64
	for _, v := range got {
		total += v
	}
	assert.Equal(t, 4.0, total, "the overflow series keeps the count exact")
}

func TestFunctionsOverLimitGoToOverflow(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.CardinalityLimit = 1 })
	h.send(newBatch(fnA).invocation(inv{id: "1", dur: time.Second, seq: 1}), newBatch(fnB).invocation(inv{id: "2", dur: time.Second, seq: 2}))
	assert.Equal(t, map[string]float64{
		"faas.invocations{cloud.region=eu-west-1,faas.name=orders}": 1,
		"faas.invocations{otel.metric.overflow=true}":               1,
	}, only(h.flush(), "faas.invocations"))
}

func TestIdleSeriesExpire(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MetricsExpiration = time.Minute })
	h.send(newBatch(fnA).invocation(inv{id: "1", dur: time.Second, seq: 1}))
	assert.NotEmpty(t, only(h.flush(), "faas.invocations", "aws.lambda.memory_size"))
	h.clock.Add(2 * time.Minute)
	h.send(newBatch(fnB).invocation(inv{id: "2", dur: time.Second, seq: 2}))
	got := h.flush()
	for k := range got {
		assert.NotContains(t, k, "faas.name=orders", "a function that is gone stops being exported")
	}
	assert.Equal(t, 1.0, got["faas.invocations{cloud.region=us-east-1,faas.name=billing}"])
}

func TestSDKSpans(t *testing.T) {
	sdkOnly := fn{name: "sdk-only", region: "eu-west-1", arch: "amd64", memMiB: 128}
	build := func(f fn) *batch {
		b := newBatch(f)
		for i, k := range []ptrace.SpanKind{ptrace.SpanKindServer, ptrace.SpanKindConsumer, ptrace.SpanKindClient, ptrace.SpanKindInternal} {
			s := b.spans.AppendEmpty()
			s.SetKind(k)
			s.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
			s.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Second)))
			if i == 1 {
				s.Status().SetCode(ptrace.StatusCodeError)
			}
		}
		return b
	}
	h := newHarness(t, func(c *Config) { c.SDKSpans.Enabled = true })
	// The function spans of a sandbox with our extension (faas.instance) never count: its
	// platform events do.
	h.send(build(sdkOnly), build(fnA))
	assert.Equal(t, map[string]float64{
		"faas.invocations{cloud.region=eu-west-1,faas.name=sdk-only}":                      2,
		"faas.errors{cloud.region=eu-west-1,error.type=function_error,faas.name=sdk-only}": 1,
	}, only(h.flush(), "faas.invocations", "faas.errors"))
}

func TestExponentialHistograms(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Histograms.Exponential = &ExponentialHistogramConfig{MaxSize: 20} })
	b := newBatch(fnA)
	for i := 1; i <= 100; i++ {
		b.invocation(inv{id: fmt.Sprint(i), dur: time.Duration(i) * 10 * time.Millisecond, seq: byte(i)})
	}
	h.send(b)
	got := h.flush()
	assert.Equal(t, 100.0, got["faas.invoke_duration_count{cloud.region=eu-west-1,faas.coldstart=false,faas.name=orders}"])
	assert.InDelta(t, 50.5, got["faas.invoke_duration_sum{cloud.region=eu-west-1,faas.coldstart=false,faas.name=orders}"], 1e-9)
	all := h.sink.AllMetrics()
	ms := all[len(all)-1].ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for i := 0; i < ms.Len(); i++ {
		if ms.At(i).Name() == "faas.invoke_duration" {
			dps := ms.At(i).ExponentialHistogram().DataPoints()
			dp := dps.At(dps.Len() - 1)
			assert.LessOrEqual(t, dp.Positive().BucketCounts().Len(), 20)
			var n uint64
			for _, c := range dp.Positive().BucketCounts().AsRaw() {
				n += c
			}
			assert.Equal(t, uint64(100), n+dp.ZeroCount())
		}
	}
}

func TestOutputIdentity(t *testing.T) {
	h := newHarness(t, nil)
	h.send(newBatch(fnA).invocation(inv{id: "1", dur: time.Second, seq: 1}))
	h.flush()
	md := h.sink.AllMetrics()[0]
	require.Equal(t, 1, md.ResourceMetrics().Len())
	assert.Equal(t, map[string]any{"service.name": "otelcol-lambda", "service.instance.id": "replica-1"},
		md.ResourceMetrics().At(0).Resource().Attributes().AsRaw())
	assert.Equal(t, metadata.ScopeName, md.ResourceMetrics().At(0).ScopeMetrics().At(0).Scope().Name())
	dp := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints().At(0)
	assert.Equal(t, map[string]any{"faas.name": "orders", "faas.version": "7", "cloud.account.id": "123456789012", "cloud.region": "eu-west-1"},
		dp.Attributes().AsRaw(), "no sandbox, request or resource ids")
}

func TestFlushOnShutdownAndLifecycle(t *testing.T) {
	sink := new(consumertest.MetricsSink)
	cfg := createDefaultConfig().(*Config)
	cfg.MetricsFlushInterval = time.Hour
	c, err := NewFactory().CreateTracesToMetrics(context.Background(), connectortest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background(), componenttest.NewNopHost()))
	assert.False(t, c.Capabilities().MutatesData)
	require.NoError(t, c.ConsumeTraces(context.Background(), newBatch(fnA).invocation(inv{id: "1", dur: time.Second, seq: 1}).td))
	assert.Zero(t, sink.DataPointCount(), "nothing before the flush interval")
	require.NoError(t, c.Shutdown(context.Background()))
	require.NoError(t, c.Shutdown(context.Background()))
	assert.Equal(t, 1.0, flatten(sink.AllMetrics()[0])["faas.invocations{cloud.region=eu-west-1,faas.name=orders}"])
}

func TestFlushReportsConsumerError(t *testing.T) {
	h := newHarness(t, nil)
	h.sink.err = errors.New("backend down")
	h.send(newBatch(fnA).invocation(inv{id: "1", dur: time.Second, seq: 1}))
	h.clock.Add(time.Second)
	assert.EqualError(t, h.c.flush(context.Background()), "backend down")
	// The counts are cumulative: the next successful flush carries them.
	h.sink.err = nil
	assert.Equal(t, 1.0, h.flush()["faas.invocations{cloud.region=eu-west-1,faas.name=orders}"])
}
