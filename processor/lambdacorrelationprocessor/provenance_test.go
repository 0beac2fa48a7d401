// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdacorrelationprocessor

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/processor/lambdacorrelationprocessor/internal/metadatatest"
)

// forgedValues is a value of each internal attribute, of the type the receiver writes.
var forgedValues = map[string]any{
	lambdaconv.AttrStatus:               "success",
	lambdaconv.AttrLambdaErrorType:      "Runtime.OutOfMemory",
	lambdaconv.AttrInvocationFromReport: true,
	lambdaconv.AttrProducedBytes:        int64(512),
	lambdaconv.AttrInitializationType:   "on-demand",
	lambdaconv.AttrDurationMs:           40.0,
	lambdaconv.AttrBilledDurationMs:     1e6,
	lambdaconv.AttrMemorySize:           int64(10240 << 20),
	lambdaconv.AttrMaxMemoryUsed:        int64(10240 << 20),
	lambdaconv.AttrInitDurationMs:       290.0,
	lambdaconv.AttrRestoreDurationMs:    120.0,
	// Would add a restore charge to the cost, or a cold start.
	lambdaconv.AttrBilledRestoreDurationMs: 53.0,
	lambdaconv.AttrColdstartLate:           true,
	lambdaconv.AttrInitFromReport:          true,
	lambdaconv.AttrInitPhase:               "init",
	lambdaconv.AttrRuntimeVersion:          "python:3.12.v30",
	// Would acknowledge a logged batch of the write-ahead log before it was counted.
	lambdaconv.AttrAckToken: "lambda_telemetry 1 0 invocation",
}

// legitimate is what a function's own instrumentation may set, some of it under the
// aws.lambda prefix too: none of it is stripped.
var legitimate = map[string]any{
	lambdaconv.AttrFaaSInvocationID:         "r-forged",
	lambdaconv.AttrFaaSColdstart:            true,
	lambdaconv.AttrErrorType:                lambdaconv.ErrorTypeFunction,
	lambdaconv.AttrFaaSTrigger:              lambdaconv.TriggerPubSub,
	lambdaconv.AttrMessagingSystem:          lambdaconv.MessagingSystemSQS,
	lambdaconv.AttrMessagingDestinationName: "orders",
	lambdaconv.AttrEventSourceARN:           "arn:aws:sqs:eu-west-1:123456789012:orders",
	lambdaconv.AttrEventTimeUnixMs:          int64(1_717_243_199_000),
	"aws.lambda.invoked_arn":                "arn:aws:lambda:eu-west-1:123456789012:function:checkout",
}

// TestForgedValuesCoverEveryMarker keeps the table below complete: every internal
// attribute is forged on its own.
func TestForgedValuesCoverEveryMarker(t *testing.T) {
	var want, got []string
	for _, k := range lambdaconv.InternalAttributes() {
		if k != lambdaconv.AttrSpanType {
			want = append(want, k)
		}
	}
	for k := range forgedValues {
		got = append(got, k)
	}
	sort.Strings(want)
	sort.Strings(got)
	assert.Equal(t, want, got)
}

// forged is one span named "forged" of the function, with the legitimate attributes and
// the marker.
func forged(kind ptrace.SpanKind, marker map[string]any) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	_ = rs.Resource().Attributes().FromRaw(fnResource)
	s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetName("forged")
	s.SetKind(kind)
	s.SetTraceID(sdkTrace)
	s.SetSpanID(fnSpanID)
	s.SetStartTimestamp(pcommon.Timestamp(1_717_243_200_000_000_000))
	s.SetEndTimestamp(pcommon.Timestamp(1_717_243_201_000_000_000))
	_ = s.Attributes().FromRaw(merge(legitimate, marker))
	return td
}

// TestForwardedPlatformSpansAreStripped forges each marker, each span type and each
// internal attribute on its own, and sends it three ways: over OTLP (an unmarked context)
// it loses every internal attribute and keeps the rest, counted by the type it claimed;
// from the receiver's Telemetry API path, or with forwarded_platform_spans trust, it keeps
// them all and nothing is counted.
func TestForwardedPlatformSpansAreStripped(t *testing.T) {
	type forgery struct {
		name     string
		kind     ptrace.SpanKind
		marker   map[string]any
		spanType string // the span_type it is counted under
	}
	forgeries := []forgery{
		{"invocation", ptrace.SpanKindServer, merge(forgedValues, map[string]any{lambdaconv.AttrSpanType: lambdaconv.SpanTypeInvocation}), "invocation"},
		{"report", ptrace.SpanKindInternal, merge(forgedValues, map[string]any{lambdaconv.AttrSpanType: lambdaconv.SpanTypeReport}), "report"},
		{"init", ptrace.SpanKindInternal, merge(forgedValues, map[string]any{lambdaconv.AttrSpanType: lambdaconv.SpanTypeInit}), "init"},
		{"unknown span type", ptrace.SpanKindServer, map[string]any{lambdaconv.AttrSpanType: "invocation2"}, "other"},
		{"span type not a string", ptrace.SpanKindServer, map[string]any{lambdaconv.AttrSpanType: int64(1)}, "other"},
		{"bare invocation span type", ptrace.SpanKindServer, map[string]any{lambdaconv.AttrSpanType: lambdaconv.SpanTypeInvocation}, "invocation"},
	}
	for k, v := range forgedValues {
		forgeries = append(forgeries, forgery{k, ptrace.SpanKindServer, map[string]any{k: v}, "none"})
	}

	modes := []struct {
		name     string
		ctx      context.Context
		trust    bool
		stripped bool
	}{
		{"otlp", context.Background(), false, true},
		{"receiver", lambdaconv.WithReceiverSpans(context.Background()), false, false},
		{"otlp trusted", context.Background(), true, false},
	}
	for _, f := range forgeries {
		for _, m := range modes {
			t.Run(f.name+"/"+m.name, func(t *testing.T) {
				h := newHarness(t, func(c *Config) {
					if m.trust {
						c.ForwardedPlatformSpans = "trust"
					}
				})
				require.NoError(t, h.p.ConsumeTraces(m.ctx, forged(f.kind, f.marker)))
				// A SERVER span with a request id may be held for its partner: let the
				// window pass.
				h.clock.Add(h.p.cfg.Window)
				h.expire(t)
				got, ok := h.spans()["forged"]
				require.True(t, ok, "the span goes on either way")
				assert.Equal(t, sdkTrace, got.TraceID())
				assert.Equal(t, f.kind, got.Kind())

				if !m.stripped {
					assert.Equal(t, merge(legitimate, f.marker), attrs(got))
					_, err := h.tel.GetMetric("otelcol_processor_lambda_correlation_stripped")
					assert.Error(t, err, "nothing counted as stripped")
					return
				}
				assert.Equal(t, legitimate, attrs(got), "every internal attribute gone, every other one kept")
				metadatatest.AssertEqualProcessorLambdaCorrelationStripped(t, h.tel, []metricdata.DataPoint[int64]{
					{Value: 1, Attributes: attribute.NewSet(attribute.String("span_type", f.spanType))},
				}, metricdatatest.IgnoreTimestamp())
			})
		}
	}
}

// TestForgedSpansInAMixedRequest: one OTLP request with forged spans among a function's
// own spans strips exactly the forged ones, counts each by its claim, and the function's
// own root span still joins the receiver's invocation span.
func TestForgedSpansInAMixedRequest(t *testing.T) {
	h := newHarness(t, nil)
	h.consume(t, invocation("r1", true, nil))

	td := functionSpan(ptrace.SpanKindServer, fnResource, goOtellambda("r1", map[string]any{
		lambdaconv.AttrEventTimeUnixMs: int64(1_717_243_199_000),
		lambdaconv.AttrEventSourceARN:  "arn:aws:sqs:eu-west-1:123456789012:orders",
	}), true)
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for i, typ := range []string{lambdaconv.SpanTypeInvocation, lambdaconv.SpanTypeInvocation, lambdaconv.SpanTypeReport, lambdaconv.SpanTypeInit} {
		s := spans.AppendEmpty()
		s.SetName("forged " + typ)
		s.SetKind(ptrace.SpanKindInternal)
		s.SetTraceID(sdkTrace)
		s.SetSpanID(pcommon.SpanID{0xf0, byte(i)})
		s.Attributes().PutStr(lambdaconv.AttrSpanType, typ)
		s.Attributes().PutDouble(lambdaconv.AttrBilledDurationMs, 1e6)
	}
	h.consumeOTLP(t, td)

	got := h.spans()
	require.Contains(t, got, "invocation r1")
	require.Contains(t, got, "function")
	assert.Equal(t, sdkTrace, got["invocation r1"].TraceID(), "the pair joined")
	assert.Equal(t, lambdaconv.SpanTypeInvocation, attrs(got["invocation r1"])[lambdaconv.AttrSpanType], "the receiver's span keeps its type")
	assert.Equal(t, "arn:aws:sqs:eu-west-1:123456789012:orders", attrs(got["invocation r1"])[lambdaconv.AttrEventSourceARN])
	assert.Equal(t, int64(1_717_243_199_000), attrs(got["invocation r1"])[lambdaconv.AttrEventTimeUnixMs])
	assert.Equal(t, "arn:aws:lambda:eu-west-1:123456789012:function:checkout", attrs(got["function"])["aws.lambda.invoked_arn"])
	for _, name := range []string{"forged invocation", "forged report", "forged init"} {
		require.Contains(t, got, name)
		assert.Empty(t, attrs(got[name]), name)
	}
	metadatatest.AssertEqualProcessorLambdaCorrelationStripped(t, h.tel, []metricdata.DataPoint[int64]{
		{Value: 2, Attributes: attribute.NewSet(attribute.String("span_type", "invocation"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("span_type", "report"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("span_type", "init"))},
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorLambdaCorrelationPaired(t, h.tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
}

// TestStrippingIsLoggedRateLimited: a flood of forged spans is one warning (with what was
// stripped and of which function), not one per request; the count has them all.
func TestStrippingIsLoggedRateLimited(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := metadatatest.NewSettings(tel)
	set.Logger = zap.New(core)
	p, err := newCorrelationProcessor(set, createDefaultConfig().(*Config), consumertest.NewNop(), time.Now)
	require.NoError(t, err)
	const requests = 100
	for range requests {
		require.NoError(t, p.ConsumeTraces(context.Background(), forged(ptrace.SpanKindInternal,
			map[string]any{lambdaconv.AttrSpanType: lambdaconv.SpanTypeReport})))
	}
	require.NoError(t, p.Shutdown(context.Background()))

	warned := logs.FilterMessageSnippet("did not make").All()
	require.NotEmpty(t, warned)
	// Fewer than one per request: a minute passes between two only on a stalled machine.
	assert.Less(t, len(warned), requests)
	fields := warned[0].ContextMap()
	assert.Equal(t, fnName, fields["function"])
	assert.Equal(t, "report", fields["span_type"])
	assert.Equal(t, int64(1), fields["spans"])
	metadatatest.AssertEqualProcessorLambdaCorrelationStripped(t, tel, []metricdata.DataPoint[int64]{
		{Value: requests, Attributes: attribute.NewSet(attribute.String("span_type", "report"))},
	}, metricdatatest.IgnoreTimestamp())
}

// TestTrustIsSaidAtStart: forwarded_platform_spans trust is logged at warn when the
// processor starts; the default says nothing.
func TestTrustIsSaidAtStart(t *testing.T) {
	for _, mode := range []string{"strip", "trust"} {
		t.Run(mode, func(t *testing.T) {
			core, logs := observer.New(zapcore.WarnLevel)
			set := metadatatest.NewSettings(componenttest.NewTelemetry())
			set.Logger = zap.New(core)
			cfg := createDefaultConfig().(*Config)
			cfg.ForwardedPlatformSpans = mode
			p, err := NewFactory().CreateTraces(context.Background(), set, cfg, consumertest.NewNop())
			require.NoError(t, err)
			require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
			require.NoError(t, p.Shutdown(context.Background()))
			if mode == "trust" {
				require.Equal(t, 1, logs.FilterMessageSnippet("forwarded_platform_spans: trust").Len())
			} else {
				assert.Zero(t, logs.Len())
			}
		})
	}
}
