// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdametricsconnector

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-lambda/otelcol-lambda/connector/lambdametricsconnector/internal/metadata"
	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv/lambdaconvtest"
	"github.com/otelcol-lambda/otelcol-lambda/internal/testclock"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
)

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// fnA and fnB are two functions' sandboxes, as their forwarders describe them.
var (
	fnA = wire.Sandbox{FunctionName: "orders", FunctionVersion: "7", Region: "eu-west-1", AccountID: "123456789012",
		FunctionARN: "arn:aws:lambda:eu-west-1:123456789012:function:orders", Architecture: "x86_64", MemorySizeMB: 512, TimeoutMs: 3000,
		ExtensionInstanceID: "sandbox-1"}
	fnB = wire.Sandbox{FunctionName: "billing", FunctionVersion: "$LATEST", Region: "us-east-1", AccountID: "123456789012",
		FunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:billing", Architecture: "arm64", MemorySizeMB: 1024,
		ExtensionInstanceID: "sandbox-2"}
)

// The receiver's spans, built as it makes them.
type (
	inv    = lambdaconvtest.Invocation
	report = lambdaconvtest.Report
)

// newBatch starts a batch of the function's spans, starting at t0.
func newBatch(fn wire.Sandbox) *lambdaconvtest.Batch { return lambdaconvtest.NewBatch(fn, t0) }

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
	t     testing.TB
	clock *testclock.Clock
	sink  *sink
	c     *lambdaMetrics
}

// newHarness is the connector on a test clock, as replica-1 of the gateway, writing to a
// sink that can be told to fail.
func newHarness(t testing.TB, mutate func(*Config)) *harness {
	set := connectortest.NewNopSettings(metadata.Type)
	set.Resource.Attributes().PutStr("service.name", "otelcol-lambda")
	set.Resource.Attributes().PutStr("service.instance.id", "replica-1")
	return newHarnessWithSettings(t, set, mutate)
}

func newHarnessWithSettings(t testing.TB, set connector.Settings, mutate func(*Config)) *harness {
	cfg := createDefaultConfig().(*Config)
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	h := &harness{t: t, clock: testclock.New(t0.Add(time.Second)), sink: new(sink)}
	c, err := newConnector(set, cfg, h.sink, h.clock.Now)
	require.NoError(t, err)
	h.c = c
	return h
}

func (h *harness) send(bs ...*lambdaconvtest.Batch) {
	for _, b := range bs {
		require.NoError(h.t, h.c.ConsumeTraces(context.Background(), b.Traces))
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
		batches []*lambdaconvtest.Batch
		metrics []string
		want    map[string]float64
	}{
		{
			name: "cold, warm, errors and timeouts by trigger",
			batches: []*lambdaconvtest.Batch{
				newBatch(fnA).
					Invocation(inv{RequestID: "a1", Duration: 250 * time.Millisecond, ColdStart: "on-demand", Attributes: http}).
					Invocation(inv{RequestID: "a2", Duration: 125 * time.Millisecond, Attributes: http}).
					Invocation(inv{RequestID: "a3", Duration: 500 * time.Millisecond, Outcome: lambdaconvtest.FunctionError, Attributes: http}).
					Invocation(inv{RequestID: "a4", Duration: 3 * time.Second, Outcome: lambdaconvtest.Timeout, Attributes: http}),
				newBatch(fnB).
					Invocation(inv{RequestID: "b1", Duration: time.Second, ColdStart: "provisioned-concurrency", Attributes: sqs}).
					Invocation(inv{RequestID: "b2", Duration: 2 * time.Second, Outcome: lambdaconvtest.OutOfMemory, Attributes: sqs}),
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
			batches: []*lambdaconvtest.Batch{newBatch(fnA).
				Invocation(inv{RequestID: "same", Duration: time.Second, Outcome: lambdaconvtest.FunctionError}).
				Invocation(inv{RequestID: "same", Start: t0.Add(time.Minute), Duration: time.Second})},
			metrics: []string{"faas.invocations", "faas.errors"},
			want: map[string]float64{
				"faas.invocations{cloud.region=eu-west-1,faas.name=orders}":                      2,
				"faas.errors{cloud.region=eu-west-1,error.type=function_error,faas.name=orders}": 1,
			},
		},
		{
			name: "an invocation made from a report counts once, reports never count",
			batches: []*lambdaconvtest.Batch{
				newBatch(fnA).Invocation(inv{RequestID: "r1", Duration: time.Second, FromReport: true}),
				newBatch(fnA).
					Report(report{RequestID: "r1", Duration: time.Second, MaxMemoryUsedMB: 100}).
					Report(report{RequestID: "r2", Duration: time.Second, MaxMemoryUsedMB: 100}),
			},
			metrics: []string{"faas.invocations"},
			want:    map[string]float64{"faas.invocations{cloud.region=eu-west-1,faas.name=orders}": 1},
		},
		{
			name: "generic spans are not invocations by default",
			batches: func() []*lambdaconvtest.Batch {
				b := newBatch(wire.Sandbox{FunctionName: "sdk-only", Region: "eu-west-1", Architecture: "x86_64", MemorySizeMB: 128})
				s := b.Spans().AppendEmpty()
				s.SetKind(ptrace.SpanKindServer)
				return []*lambdaconvtest.Batch{b}
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
	b := newBatch(fnA).
		Invocation(inv{RequestID: "1", Duration: 125 * time.Millisecond, ColdStart: "on-demand"}).
		Invocation(inv{RequestID: "2", Duration: 125 * time.Millisecond}).
		Invocation(inv{RequestID: "3", Duration: 1500 * time.Millisecond})
	h.send(b)
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
	assert.ElementsMatch(t, []string{b.Spans().At(1).TraceID().String(), b.Spans().At(2).TraceID().String()}, ids)
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
	h.send(newBatch(fnA).Invocation(inv{RequestID: "a1", Duration: 900 * time.Millisecond, ColdStart: "on-demand"}))
	first := h.flush()
	assert.Equal(t, 1.0, first["faas.invocations{cloud.region=eu-west-1,faas.name=orders}"], "RED does not wait for the report")

	// The reports arrive minutes later, with the next thaw.
	h.clock.Add(5 * time.Minute)
	h.send(newBatch(fnA).Report(report{RequestID: "a1", Duration: time.Second, MaxMemoryUsedMB: 200, InitDuration: 180 * time.Millisecond}),
		newBatch(fnB).
			Report(report{RequestID: "b1", Duration: 2 * time.Second, MaxMemoryUsedMB: 700}).
			Report(report{RequestID: "b2", Duration: 500 * time.Millisecond, MaxMemoryUsedMB: 300}))
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
	h.send(newBatch(fnA).Report(report{RequestID: "a", Duration: time.Second, MaxMemoryUsedMB: 10}),
		newBatch(fnB).Report(report{RequestID: "b", Duration: 1500 * time.Millisecond, MaxMemoryUsedMB: 10}))
	got := only(h.flush(), "aws.lambda.cost")
	assert.Equal(t, map[string]float64{"aws.lambda.cost{cloud.region=us-east-1,faas.name=billing}": 1 + 1*1.5*2}, got)
}

func TestInitDurationFromInitSpans(t *testing.T) {
	h := newHarness(t, nil)
	h.send(newBatch(fnA).
		Init(lambdaconvtest.Init{InitializationType: "on-demand", Duration: 250 * time.Millisecond}).
		Init(lambdaconvtest.Init{InitializationType: "on-demand", Duration: 500 * time.Millisecond}),
		newBatch(fnB).Init(lambdaconvtest.Init{InitializationType: "provisioned-concurrency", Duration: 2 * time.Second}))
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
		Invocation(inv{RequestID: "1", Duration: time.Second, Attributes: map[string]any{lambdaconv.AttrEventTimeUnixMs: sent}}).
		Invocation(inv{RequestID: "2", Duration: time.Second}))
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
	h.send(newBatch(fnA).Invocation(inv{RequestID: "1", Duration: time.Second}))
	arrival := pcommon.NewTimestampFromTime(h.clock.Now())
	h.flush()
	h.send(newBatch(fnA).Invocation(inv{RequestID: "2", Duration: time.Second}), newBatch(fnA).Invocation(inv{RequestID: "3", Duration: time.Second}))
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
	for _, route := range []string{"/a", "/b", "/c", "/d"} {
		h.send(newBatch(fnA).Invocation(inv{RequestID: route, Duration: time.Second, Attributes: map[string]any{lambdaconv.AttrHTTPRoute: route}}))
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
	h.send(newBatch(fnA).Invocation(inv{RequestID: "1", Duration: time.Second}), newBatch(fnB).Invocation(inv{RequestID: "2", Duration: time.Second}))
	assert.Equal(t, map[string]float64{
		"faas.invocations{cloud.region=eu-west-1,faas.name=orders}": 1,
		"faas.invocations{otel.metric.overflow=true}":               1,
	}, only(h.flush(), "faas.invocations"))
}

func TestIdleSeriesExpire(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MetricsExpiration = time.Minute })
	h.send(newBatch(fnA).Invocation(inv{RequestID: "1", Duration: time.Second}))
	assert.NotEmpty(t, only(h.flush(), "faas.invocations", "aws.lambda.memory_size"))
	h.clock.Add(2 * time.Minute)
	h.send(newBatch(fnB).Invocation(inv{RequestID: "2", Duration: time.Second}))
	got := h.flush()
	for k := range got {
		assert.NotContains(t, k, "faas.name=orders", "a function that is gone stops being exported")
	}
	assert.Equal(t, 1.0, got["faas.invocations{cloud.region=us-east-1,faas.name=billing}"])
}

func TestSDKSpans(t *testing.T) {
	sdkOnly := wire.Sandbox{FunctionName: "sdk-only", Region: "eu-west-1", Architecture: "x86_64", MemorySizeMB: 128}
	build := func(f wire.Sandbox) *lambdaconvtest.Batch {
		b := newBatch(f)
		for i, k := range []ptrace.SpanKind{ptrace.SpanKindServer, ptrace.SpanKindConsumer, ptrace.SpanKindClient, ptrace.SpanKindInternal} {
			s := b.Spans().AppendEmpty()
			s.SetKind(k)
			s.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
			s.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Second)))
			if i == 1 {
				s.Status().SetCode(ptrace.StatusCodeError)
			}
		}
		return b
	}
	// An SDK's AWS Lambda resource detector names the sandbox's log stream in faas.instance:
	// that is no sign of the extension.
	detected := wire.Sandbox{FunctionName: "sdk-detector", Region: "eu-west-1"}
	withDetector := build(detected)
	withDetector.Traces.ResourceSpans().At(0).Resource().Attributes().PutStr(lambdaconv.AttrFaaSInstance, "2026/12/01/[$LATEST]5d1edb9e525d486696cf01a3503487bc")
	h := newHarness(t, func(c *Config) { c.SDKSpans.Enabled = true })
	// The function spans the extension forwarded (fnA has an extension instance) never
	// count: its platform events do.
	h.send(build(sdkOnly), build(fnA), withDetector)
	assert.Equal(t, map[string]float64{
		"faas.invocations{cloud.region=eu-west-1,faas.name=sdk-only}":                          2,
		"faas.errors{cloud.region=eu-west-1,error.type=function_error,faas.name=sdk-only}":     1,
		"faas.invocations{cloud.region=eu-west-1,faas.name=sdk-detector}":                      2,
		"faas.errors{cloud.region=eu-west-1,error.type=function_error,faas.name=sdk-detector}": 1,
	}, only(h.flush(), "faas.invocations", "faas.errors"))
}

func TestExponentialHistograms(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Histograms.Exponential = &ExponentialHistogramConfig{MaxSize: 20} })
	b := newBatch(fnA)
	for i := 1; i <= 100; i++ {
		b.Invocation(inv{RequestID: fmt.Sprint(i), Duration: time.Duration(i) * 10 * time.Millisecond})
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
	h.send(newBatch(fnA).Invocation(inv{RequestID: "1", Duration: time.Second}))
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
	require.NoError(t, c.ConsumeTraces(context.Background(), newBatch(fnA).Invocation(inv{RequestID: "1", Duration: time.Second}).Traces))
	assert.Zero(t, sink.DataPointCount(), "nothing before the flush interval")
	require.NoError(t, c.Shutdown(context.Background()))
	require.NoError(t, c.Shutdown(context.Background()))
	assert.Equal(t, 1.0, flatten(sink.AllMetrics()[0])["faas.invocations{cloud.region=eu-west-1,faas.name=orders}"])
}

func TestFlushReportsConsumerError(t *testing.T) {
	h := newHarness(t, nil)
	h.sink.err = errors.New("backend down")
	h.send(newBatch(fnA).Invocation(inv{RequestID: "1", Duration: time.Second}))
	h.clock.Add(time.Second)
	assert.EqualError(t, h.c.flush(context.Background()), "backend down")
	// The counts are cumulative: the next successful flush carries them.
	h.sink.err = nil
	assert.Equal(t, 1.0, h.flush()["faas.invocations{cloud.region=eu-west-1,faas.name=orders}"])
}
