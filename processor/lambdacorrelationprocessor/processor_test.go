// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdacorrelationprocessor

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv/lambdaconvtest"
	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/internal/testclock"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/processor/lambdacorrelationprocessor/internal/metadata"
	"github.com/otelcol-lambda/otelcol-lambda/processor/lambdacorrelationprocessor/internal/metadatatest"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	tests := []struct {
		id       component.ID
		expected *Config
	}{
		{id: component.NewID(metadata.Type), expected: createDefaultConfig().(*Config)},
		{
			id: component.NewIDWithName(metadata.Type, "full"),
			expected: &Config{
				Window:        2 * time.Second,
				MaxPending:    5000,
				TraceRewrites: TraceRewritesConfig{MaxEntries: 1000, TTL: 30 * time.Minute},
				StaticSources: []StaticSourceConfig{
					{Function: "orders-*", Trigger: "pubsub", MessagingSystem: "aws_sqs", Destination: "orders"},
					{Function: "api-gateway-handler", HTTPRoute: "/users/{id}"},
				},
				ForwardedPlatformSpans: "trust",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			cfg := createDefaultConfig()
			require.NoError(t, sub.Unmarshal(cfg))
			require.NoError(t, confmap.Validate(cfg))
			assert.Equal(t, tt.expected, cfg)
		})
	}
}

func TestConfigValidate(t *testing.T) {
	valid := func() *Config { return createDefaultConfig().(*Config) }
	tests := []struct {
		name        string
		mutate      func(*Config)
		expectedErr string
	}{
		{"window", func(c *Config) { c.Window = 0 }, "invalid window: 0s, the duration must be positive"},
		{"max_pending", func(c *Config) { c.MaxPending = -1 }, "invalid max_pending: -1, must be positive"},
		{"rewrites entries", func(c *Config) { c.TraceRewrites.MaxEntries = 0 }, "invalid trace_rewrites::max_entries: 0, must be positive"},
		{"rewrites ttl", func(c *Config) { c.TraceRewrites.TTL = 0 }, "invalid trace_rewrites::ttl: 0s, the duration must be positive"},
		{"static without function", func(c *Config) { c.StaticSources = []StaticSourceConfig{{Trigger: "http"}} }, "invalid static_sources[0]: function is empty"},
		{"static bad glob", func(c *Config) { c.StaticSources = []StaticSourceConfig{{Function: "a[", Trigger: "http"}} }, `invalid static_sources[0]::function "a["`},
		{"static nothing", func(c *Config) { c.StaticSources = []StaticSourceConfig{{Function: "a"}} }, "invalid static_sources[0]: names no event source"},
		{"static trigger", func(c *Config) { c.StaticSources = []StaticSourceConfig{{Function: "a", Trigger: "queue"}} }, `invalid static_sources[0]::trigger "queue"`},
		{"forwarded empty", func(c *Config) { c.ForwardedPlatformSpans = "" }, `invalid forwarded_platform_spans "": must be strip or trust`},
		{"forwarded typo", func(c *Config) { c.ForwardedPlatformSpans = "trusted" }, `invalid forwarded_platform_spans "trusted": must be strip or trust`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid()
			tt.mutate(cfg)
			assert.ErrorContains(t, confmap.Validate(cfg), tt.expectedErr)
		})
	}
	assert.NoError(t, confmap.Validate(valid()))
}

type harness struct {
	p     *correlationProcessor
	sink  *consumertest.TracesSink
	clock *testclock.Clock
	tel   *componenttest.Telemetry
}

func newHarness(t *testing.T, mutate func(*Config)) *harness {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, confmap.Validate(cfg))
	h := &harness{sink: new(consumertest.TracesSink), clock: testclock.New(invocationStart), tel: componenttest.NewTelemetry()}
	p, err := newCorrelationProcessor(metadatatest.NewSettings(h.tel), cfg, h.sink, h.clock.Now)
	require.NoError(t, err)
	h.p = p
	t.Cleanup(func() {
		require.NoError(t, h.tel.Shutdown(context.Background()))
	})
	return h
}

// consume hands spans over as the lambda_telemetry receiver's Telemetry API path does: its
// invocation and report spans keep their attributes. (The functions' spans that the tests
// send this way carry none of those attributes, so they pass exactly as from OTLP.)
func (h *harness) consume(t *testing.T, tds ...ptrace.Traces) {
	t.Helper()
	for _, td := range tds {
		require.NoError(t, h.p.ConsumeTraces(lambdaconv.WithReceiverSpans(context.Background()), td))
	}
}

// consumeOTLP hands spans over as any other receiver does (OTLP from a function, an SDK or
// another Collector): an unmarked context.
func (h *harness) consumeOTLP(t *testing.T, tds ...ptrace.Traces) {
	t.Helper()
	for _, td := range tds {
		require.NoError(t, h.p.ConsumeTraces(context.Background(), td))
	}
}

// expire releases what the window let go, as the ticker does.
func (h *harness) expire(t *testing.T) {
	t.Helper()
	require.NoError(t, h.p.releaseExpired(context.Background(), false))
}

// spans returns every span the next consumer received: the receiver's by span type and
// request id ("invocation r1", "report r1"), the others by name.
func (h *harness) spans() map[string]ptrace.Span {
	out := map[string]ptrace.Span{}
	for _, td := range h.sink.AllTraces() {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, s := range ss.Spans().All() {
					out[spanName(ss, s)] = s
				}
			}
		}
	}
	return out
}

// spanName names a span the next consumer received: the receiver's by span type and request
// id ("invocation r1", "report r1"), the others by name.
func spanName(ss ptrace.ScopeSpans, s ptrace.Span) string {
	if ss.Scope().Name() != lambdaconvtest.ScopeName {
		return s.Name()
	}
	typ, _ := s.Attributes().Get(lambdaconv.AttrSpanType)
	id, _ := s.Attributes().Get(lambdaconv.AttrFaaSInvocationID)
	return typ.Str() + " " + id.Str()
}

var (
	xrayTrace  = pcommon.TraceID{0x66, 0x5a, 0xf1, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	xrayParent = pcommon.SpanID{0xaa, 1, 2, 3, 4, 5, 6, 7}
	invSpanID  = pcommon.SpanID{0xbb, 1, 2, 3, 4, 5, 6, 7}
	sdkTrace   = pcommon.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	upstream   = pcommon.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
	fnSpanID   = pcommon.SpanID{0xcc, 1, 2, 3, 4, 5, 6, 7}
)

const fnName = "checkout"

var (
	// checkoutSandbox is the function's sandbox, as its forwarder describes it.
	checkoutSandbox = wire.Sandbox{FunctionName: fnName, MemorySizeMB: 512, ExtensionInstanceID: "sandbox-1"}
	// lambdaTrace is the trace context Lambda propagated to the invocations (X-Ray).
	lambdaTrace     = lambdaconvtest.Trace{TraceID: xrayTrace, ParentSpanID: xrayParent, SpanID: invSpanID}
	invocationStart = time.Unix(1_717_243_200, 0)
)

// invocation is the receiver's invocation span of request reqID, with the attributes a
// processor before this one may have added.
func invocation(reqID string, cold bool, attrs map[string]any) ptrace.Traces {
	inv := lambdaconvtest.Invocation{RequestID: reqID, Duration: 250 * time.Millisecond, Trace: lambdaTrace, Attributes: attrs}
	if cold {
		inv.ColdStart = telemetryapi.InitTypeOnDemand
	}
	return lambdaconvtest.NewBatch(checkoutSandbox, invocationStart).Invocation(inv).Traces
}

// report is the receiver's report span of the invocation span above.
func report(reqID string) ptrace.Traces {
	return lambdaconvtest.NewBatch(checkoutSandbox, invocationStart).
		Report(lambdaconvtest.Report{RequestID: reqID, Trace: lambdaTrace, Duration: 260 * time.Millisecond, MaxMemoryUsedMB: 64}).Traces
}

// functionSpan is a function's own root span, as an instrumentation writes it; children
// adds a child span of it.
func functionSpan(kind ptrace.SpanKind, resource, attrs map[string]any, children bool) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	_ = rs.Resource().Attributes().FromRaw(resource)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("instrumentation")
	s := ss.Spans().AppendEmpty()
	s.SetName("function")
	s.SetKind(kind)
	s.SetTraceID(sdkTrace)
	s.SetSpanID(fnSpanID)
	s.SetParentSpanID(upstream)
	_ = s.Attributes().FromRaw(attrs)
	if children {
		c := ss.Spans().AppendEmpty()
		c.SetName("child")
		c.SetKind(ptrace.SpanKindClient)
		c.SetTraceID(sdkTrace)
		c.SetSpanID(pcommon.SpanID{0xee, 1})
		c.SetParentSpanID(fnSpanID)
	}
	return td
}

func merge(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

var fnResource = map[string]any{"service.name": fnName, "faas.name": fnName, "cloud.provider": "aws"}

// goOtellambda is the span of the Go otellambda instrumentation (semconv 1.21+): no event
// source at all; with our lambdaevents package, the normalized attributes.
func goOtellambda(reqID string, extra map[string]any) map[string]any {
	return merge(map[string]any{
		"faas.invocation_id":     reqID,
		"aws.lambda.invoked_arn": "arn:aws:lambda:eu-west-1:123456789012:function:checkout",
		"cloud.account.id":       "123456789012",
	}, extra)
}

func attrs(s ptrace.Span) map[string]any { return s.Attributes().AsRaw() }

// TestConventions joins an invocation span with the function root span of each
// instrumentation and semantic-convention version, and checks the one normalized event
// source on both spans.
func TestConventions(t *testing.T) {
	sqsARN := "arn:aws:sqs:eu-west-1:123456789012:orders-queue"
	sqsWant := map[string]any{"faas.trigger": "pubsub", "messaging.system": "aws_sqs", "messaging.destination.name": "orders-queue"}
	tests := []struct {
		name     string
		kind     ptrace.SpanKind
		resource map[string]any
		attrs    map[string]any
		want     map[string]any // normalized attributes expected on the invocation span
	}{
		{
			name: "go otellambda alone names no source", kind: ptrace.SpanKindServer, resource: fnResource,
			attrs: goOtellambda("r1", nil), want: map[string]any{},
		},
		{
			name: "go otellambda with lambdaevents (SQS)", kind: ptrace.SpanKindServer, resource: fnResource,
			attrs: goOtellambda("r1", map[string]any{
				"faas.trigger": "pubsub", "messaging.system": "aws_sqs", "messaging.destination.name": "orders-queue",
				"aws.lambda.event_source.arn": sqsARN, "aws.lambda.event_source.time_unix_ms": int64(1_717_243_199_000),
			}),
			want: merge(sqsWant, map[string]any{"aws.lambda.event_source.arn": sqsARN, "aws.lambda.event_source.time_unix_ms": int64(1_717_243_199_000)}),
		},
		{
			name: "node instrumentation-aws-lambda 0.4x+ (SQS: faas.trigger only on the root)", kind: ptrace.SpanKindServer, resource: fnResource,
			attrs: map[string]any{
				"faas.invocation_id": "r1", "cloud.resource_id": "arn:aws:lambda:eu-west-1:123456789012:function:checkout",
				"cloud.account.id": "123456789012", "faas.coldstart": false, "faas.trigger": "pubsub",
			},
			want: map[string]any{"faas.trigger": "pubsub"},
		},
		{
			name: "node with our requestHook (API Gateway v1)", kind: ptrace.SpanKindServer, resource: fnResource,
			attrs: map[string]any{
				"faas.invocation_id": "r1", "faas.trigger": "http", "http.route": "/orders/{id}",
				"aws.lambda.event_source.arn":          "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/orders/{id}",
				"aws.lambda.event_source.time_unix_ms": int64(1_717_243_199_500),
			},
			want: map[string]any{
				"faas.trigger": "http", "http.route": "/orders/{id}",
				"aws.lambda.event_source.arn":          "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/orders/{id}",
				"aws.lambda.event_source.time_unix_ms": int64(1_717_243_199_500),
			},
		},
		{
			name: "node instrumentation-aws-lambda before semconv 1.21 (faas.execution, faas.id)", kind: ptrace.SpanKindServer, resource: fnResource,
			attrs: map[string]any{"faas.execution": "r1", "faas.id": "arn:aws:lambda:eu-west-1:123456789012:function:checkout", "cloud.account.id": "123456789012"},
			want:  map[string]any{},
		},
		{
			name: "python 0.4x+ API Gateway (faas.invocation_id, http.route)", kind: ptrace.SpanKindServer, resource: fnResource,
			attrs: map[string]any{"faas.invocation_id": "r1", "cloud.resource_id": "arn:aws:lambda:eu-west-1:123456789012:function:checkout", "faas.trigger": "http", "http.route": "/users/{id}", "http.method": "GET"},
			want:  map[string]any{"faas.trigger": "http", "http.route": "/users/{id}"},
		},
		{
			name: "python before semconv 1.21 (CONSUMER for SQS, faas.execution, faas.name on the span)", kind: ptrace.SpanKindConsumer,
			resource: map[string]any{"service.name": "unknown_service"},
			attrs:    map[string]any{"faas.execution": "r1", "faas.id": "arn:aws:lambda:eu-west-1:123456789012:function:checkout", "faas.name": fnName},
			want:     map[string]any{},
		},
		{
			name: "old messaging conventions: AmazonSQS, messaging.destination, messaging.url", kind: ptrace.SpanKindConsumer, resource: fnResource,
			attrs: map[string]any{"faas.execution": "r1", "messaging.system": "AmazonSQS", "messaging.destination": "orders-queue",
				"messaging.url": "https://sqs.eu-west-1.amazonaws.com/123456789012/orders-queue"},
			want: sqsWant,
		},
		{
			name: "aws-sdk style aws.sqs with a queue URL only", kind: ptrace.SpanKindConsumer, resource: fnResource,
			attrs: map[string]any{"faas.invocation_id": "r1", "messaging.system": "aws.sqs", "aws.sqs.queue.url": "https://sqs.eu-west-1.amazonaws.com/123456789012/orders-queue"},
			want:  sqsWant,
		},
		{
			name: "destination given as an ARN", kind: ptrace.SpanKindConsumer, resource: fnResource,
			attrs: map[string]any{"faas.invocation_id": "r1", "messaging.destination.name": sqsARN},
			want:  merge(sqsWant, map[string]any{"aws.lambda.event_source.arn": sqsARN}),
		},
		{
			name: "SNS (aws.sns, messaging.source.name)", kind: ptrace.SpanKindConsumer, resource: fnResource,
			attrs: map[string]any{"faas.invocation_id": "r1", "messaging.system": "AmazonSNS", "messaging.source.name": "price-changes"},
			want:  map[string]any{"faas.trigger": "pubsub", "messaging.system": "aws.sns", "messaging.destination.name": "price-changes"},
		},
		{
			name: "Kinesis from the ARN", kind: ptrace.SpanKindConsumer, resource: fnResource,
			attrs: map[string]any{"faas.invocation_id": "r1", "aws.lambda.event_source.arn": "arn:aws:kinesis:eu-west-1:123456789012:stream/clicks"},
			want: map[string]any{"faas.trigger": "pubsub", "messaging.system": "aws_kinesis", "messaging.destination.name": "clicks",
				"aws.lambda.event_source.arn": "arn:aws:kinesis:eu-west-1:123456789012:stream/clicks"},
		},
		{
			name: "DynamoDB stream from the ARN", kind: ptrace.SpanKindConsumer, resource: fnResource,
			attrs: map[string]any{"faas.invocation_id": "r1", "aws.lambda.event_source.arn": "arn:aws:dynamodb:eu-west-1:123456789012:table/orders/stream/2024-06-01T00:00:00.000"},
			want: map[string]any{"faas.trigger": "datasource", "faas.document.collection": "orders",
				"aws.lambda.event_source.arn": "arn:aws:dynamodb:eu-west-1:123456789012:table/orders/stream/2024-06-01T00:00:00.000"},
		},
		{
			name: "service.name only (no faas.name on the resource)", kind: ptrace.SpanKindServer, resource: map[string]any{"service.name": fnName},
			attrs: map[string]any{"faas.invocation_id": "r1", "faas.trigger": "timer"},
			want:  map[string]any{"faas.trigger": "timer"},
		},
	}
	normalized := []string{"faas.trigger", "messaging.system", "messaging.destination.name", "faas.document.collection", "http.route",
		"aws.lambda.event_source.arn", "aws.lambda.event_source.time_unix_ms"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.consume(t, invocation("r1", false, nil), functionSpan(tt.kind, tt.resource, tt.attrs, false))
			got := h.spans()
			require.Len(t, got, 2, "a pair is released as soon as it is complete")
			inv, fn := got["invocation r1"], got["function"]
			for _, s := range []ptrace.Span{inv, fn} {
				present := map[string]any{}
				for _, k := range normalized {
					if v, ok := s.Attributes().Get(k); ok {
						present[k] = v.AsRaw()
					}
				}
				assert.Equal(t, tt.want, present, s.Name())
			}
			assert.Equal(t, "r1", attrs(fn)["faas.invocation_id"], "the function span carries the request id under its current name")
			assert.Equal(t, sdkTrace, inv.TraceID())
			assert.Equal(t, invSpanID, fn.ParentSpanID())
			assert.Equal(t, 0, h.p.pending.len())
		})
	}
}

// TestJoinOrders checks the trace rewrite for every arrival order: invocation first,
// function first, both in one request either way round.
func TestJoinOrders(t *testing.T) {
	fn := func() ptrace.Traces {
		return functionSpan(ptrace.SpanKindServer, fnResource, goOtellambda("r1", nil), true)
	}
	inv := func() ptrace.Traces { return invocation("r1", false, nil) }
	oneRequest := func(a, b ptrace.Traces) ptrace.Traces {
		b.ResourceSpans().MoveAndAppendTo(a.ResourceSpans())
		return a
	}
	tests := []struct {
		name string
		send func(h *harness)
	}{
		{"invocation first", func(h *harness) { h.consume(t, inv()); h.clock.Add(time.Second); h.consume(t, fn()) }},
		{"function first", func(h *harness) { h.consume(t, fn()); h.clock.Add(4 * time.Second); h.consume(t, inv()) }},
		{"one request, invocation first", func(h *harness) { h.consume(t, oneRequest(inv(), fn())) }},
		{"one request, function first", func(h *harness) { h.consume(t, oneRequest(fn(), inv())) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			tt.send(h)
			got := h.spans()
			require.Len(t, got, 3)
			inv, fn, child := got["invocation r1"], got["function"], got["child"]
			// The function's trace is canonical: the invocation span joins it, in the place
			// of the function span's parent, and the function span becomes its child.
			assert.Equal(t, sdkTrace, inv.TraceID())
			assert.Equal(t, upstream, inv.ParentSpanID())
			assert.Equal(t, invSpanID, inv.SpanID())
			assert.Equal(t, sdkTrace, fn.TraceID())
			assert.Equal(t, invSpanID, fn.ParentSpanID())
			assert.Equal(t, fnSpanID, child.ParentSpanID(), "children are untouched")
			// The way back to the X-Ray trace Lambda propagated stays as a link.
			require.Equal(t, 1, inv.Links().Len())
			assert.Equal(t, xrayTrace, inv.Links().At(0).TraceID())
			assert.Equal(t, xrayParent, inv.Links().At(0).SpanID())
			assert.Equal(t, 0, h.p.pending.len())
			metadatatest.AssertEqualProcessorLambdaCorrelationPaired(t, h.tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
		})
	}
}

// TestSameTraceOnlyReparents: with X-Ray propagation the SDK's trace is Lambda's already.
func TestSameTraceOnlyReparents(t *testing.T) {
	h := newHarness(t, nil)
	fn := functionSpan(ptrace.SpanKindServer, fnResource, goOtellambda("r1", nil), false)
	s := fn.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	s.SetTraceID(xrayTrace)
	s.SetParentSpanID(xrayParent)
	h.consume(t, invocation("r1", false, nil), fn, report("r1"))
	got := h.spans()
	assert.Equal(t, xrayTrace, got["invocation r1"].TraceID())
	assert.Equal(t, xrayParent, got["invocation r1"].ParentSpanID())
	assert.Equal(t, 0, got["invocation r1"].Links().Len())
	assert.Equal(t, invSpanID, got["function"].ParentSpanID())
	assert.Equal(t, xrayTrace, got["report r1"].TraceID())
	assert.Equal(t, 0, h.p.rewrites.len(), "nothing to remember")
}

// TestLateReport: the report comes minutes after its invocation was joined, or while the
// invocation span is still held; either way it ends up in the function's trace.
func TestLateReport(t *testing.T) {
	t.Run("minutes later", func(t *testing.T) {
		h := newHarness(t, nil)
		h.consume(t, invocation("r1", false, nil), functionSpan(ptrace.SpanKindServer, fnResource, goOtellambda("r1", nil), false))
		h.clock.Add(20 * time.Minute)
		h.consume(t, report("r1"))
		rep := h.spans()["report r1"]
		assert.Equal(t, sdkTrace, rep.TraceID())
		assert.Equal(t, invSpanID, rep.ParentSpanID())
		metadatatest.AssertEqualProcessorLambdaCorrelationReportsRewritten(t, h.tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
	})
	t.Run("after the ttl", func(t *testing.T) {
		h := newHarness(t, nil)
		h.consume(t, invocation("r1", false, nil), functionSpan(ptrace.SpanKindServer, fnResource, goOtellambda("r1", nil), false))
		h.clock.Add(2 * time.Hour)
		h.consume(t, report("r1"))
		assert.Equal(t, xrayTrace, h.spans()["report r1"].TraceID(), "forgotten: passed unchanged")
	})
	t.Run("while the invocation is held", func(t *testing.T) {
		h := newHarness(t, nil)
		h.consume(t, invocation("r1", false, nil), report("r1"))
		assert.Empty(t, h.sink.AllTraces(), "the report waits with its invocation")
		h.consume(t, functionSpan(ptrace.SpanKindServer, fnResource, goOtellambda("r1", nil), false))
		got := h.spans()
		require.Len(t, got, 3)
		assert.Equal(t, sdkTrace, got["report r1"].TraceID())
		assert.Equal(t, invSpanID, got["report r1"].ParentSpanID())
	})
	t.Run("while the invocation is held, which then expires", func(t *testing.T) {
		h := newHarness(t, nil)
		h.consume(t, invocation("r1", false, nil), report("r1"))
		h.clock.Add(5 * time.Second)
		h.expire(t)
		got := h.spans()
		require.Len(t, got, 2)
		assert.Equal(t, xrayTrace, got["report r1"].TraceID())
	})
}

// TestWindowExpiry: a span whose partner never comes is passed on unchanged once the
// window closes, not before; the function span likewise.
func TestWindowExpiry(t *testing.T) {
	h := newHarness(t, nil)
	inv := invocation("r1", true, nil)
	want := ptrace.NewTraces()
	inv.CopyTo(want)
	fn := functionSpan(ptrace.SpanKindServer, fnResource, goOtellambda("r2", nil), true)
	h.consume(t, inv, fn)
	require.Len(t, h.sink.AllTraces(), 1)
	assert.Equal(t, 1, h.sink.AllTraces()[0].SpanCount(), "the function's child passes at once")
	h.clock.Add(4999 * time.Millisecond)
	h.expire(t)
	assert.Equal(t, 1, h.sink.SpanCount())
	h.clock.Add(time.Millisecond)
	h.expire(t)
	require.Len(t, h.sink.AllTraces(), 2)
	assert.Equal(t, 3, h.sink.SpanCount())
	got := h.sink.AllTraces()[1]
	assert.Equal(t, want.ResourceSpans().At(0), got.ResourceSpans().At(0), "unchanged")
	assert.Equal(t, 0, h.p.pending.len())
	metadatatest.AssertEqualProcessorLambdaCorrelationReleasedUnpaired(t, h.tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("role", "invocation"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("role", "function"))},
	}, metricdatatest.IgnoreTimestamp())
}

// TestExpiryOnConsume: held spans whose window ended also go with the next request.
func TestExpiryOnConsume(t *testing.T) {
	h := newHarness(t, nil)
	h.consume(t, invocation("r1", false, nil))
	h.clock.Add(6 * time.Second)
	h.consume(t, functionSpan(ptrace.SpanKindClient, fnResource, nil, false))
	assert.Equal(t, 2, h.sink.SpanCount())
}

// TestEviction: beyond max_pending the oldest held span goes on unchanged at once.
func TestEviction(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxPending = 2 })
	h.consume(t, invocation("r1", false, nil), invocation("r2", false, nil))
	assert.Equal(t, 0, h.sink.SpanCount())
	h.consume(t, invocation("r3", false, nil))
	require.Equal(t, 1, h.sink.SpanCount())
	_, ok := h.spans()["invocation r1"]
	assert.True(t, ok, "the oldest goes first")
	assert.Equal(t, 2, h.p.pending.len())
	metadatatest.AssertEqualProcessorLambdaCorrelationPending(t, h.tel, []metricdata.DataPoint[int64]{{Value: 2}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorLambdaCorrelationEvicted(t, h.tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("role", "invocation"))},
	}, metricdatatest.IgnoreTimestamp())
	// r2 still joins.
	h.consume(t, functionSpan(ptrace.SpanKindServer, fnResource, goOtellambda("r2", nil), false))
	assert.Equal(t, sdkTrace, h.spans()["invocation r2"].TraceID())
}

// TestFloodIsBounded: a flood of distinct request ids never holds more than max_pending
// spans, and every span comes out.
func TestFloodIsBounded(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxPending = 100; c.TraceRewrites.MaxEntries = 50 })
	const n = 10000
	for i := range n {
		id := fmt.Sprintf("flood-%d", i)
		if i%2 == 0 {
			h.consume(t, invocation(id, false, nil))
		} else {
			h.consume(t, functionSpan(ptrace.SpanKindServer, fnResource, goOtellambda(id, nil), false))
		}
		require.LessOrEqual(t, h.p.pending.len(), 100)
		require.LessOrEqual(t, len(h.p.pending.byKey), 100)
		require.LessOrEqual(t, h.p.rewrites.len(), 50)
	}
	require.NoError(t, h.p.Shutdown(context.Background()))
	assert.Equal(t, n, h.sink.SpanCount(), "nothing dropped")
	assert.Equal(t, 0, h.p.pending.len())
}

// TestRewriteCacheBounded: the memory of rewrites keeps max_entries, oldest out first.
func TestRewriteCacheBounded(t *testing.T) {
	c := newRewriteCache(3, time.Minute)
	now := time.Unix(0, 0)
	for i := range 10 {
		c.put(spanKey{span: pcommon.SpanID{byte(i)}}, pcommon.TraceID{byte(i)}, now)
		require.LessOrEqual(t, c.len(), 3)
		require.LessOrEqual(t, len(c.ring), 6)
	}
	_, ok := c.get(spanKey{span: pcommon.SpanID{6}}, now)
	assert.False(t, ok)
	tid, ok := c.get(spanKey{span: pcommon.SpanID{9}}, now)
	assert.True(t, ok)
	assert.Equal(t, pcommon.TraceID{9}, tid)
	c.put(spanKey{span: pcommon.SpanID{20}}, pcommon.TraceID{20}, now.Add(2*time.Minute))
	assert.Equal(t, 1, c.len(), "expired entries go first")
}

// TestBadInput: spans with missing or conflicting attributes pass unchanged, counted.
func TestBadInput(t *testing.T) {
	t.Run("no request id", func(t *testing.T) {
		h := newHarness(t, nil)
		inv := invocation("r1", false, nil)
		inv.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().Remove(lambdaconv.AttrFaaSInvocationID)
		want := ptrace.NewTraces()
		inv.CopyTo(want)
		h.consume(t, inv)
		require.Len(t, h.sink.AllTraces(), 1)
		assert.Equal(t, want, h.sink.AllTraces()[0])
		metadatatest.AssertEqualProcessorLambdaCorrelationInvalid(t, h.tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
	})
	t.Run("no function name", func(t *testing.T) {
		h := newHarness(t, nil)
		h.consume(t, functionSpan(ptrace.SpanKindServer, map[string]any{"service.name": "unknown_service:node"}, goOtellambda("r1", nil), false))
		assert.Equal(t, 1, h.sink.SpanCount())
	})
	t.Run("event sources that differ: the function span's wins", func(t *testing.T) {
		// The invocation span's source comes from the extension's proxy; the function's
		// instrumentation wins where both name a field (see precedence_test.go).
		h := newHarness(t, nil)
		inv := invocation("r1", false, map[string]any{"messaging.system": "aws_sqs", "messaging.destination.name": "queue-a"})
		fn := functionSpan(ptrace.SpanKindConsumer, fnResource, goOtellambda("r1", map[string]any{"messaging.system": "aws_sqs", "messaging.destination.name": "queue-b"}), false)
		h.consume(t, inv, fn)
		got := h.spans()
		assert.Equal(t, "queue-b", attrs(got["invocation r1"])["messaging.destination.name"])
		assert.Equal(t, "queue-b", attrs(got["function"])["messaging.destination.name"])
		assert.Equal(t, sdkTrace, got["invocation r1"].TraceID(), "joined")
		_, err := h.tel.GetMetric("otelcol_processor_lambda_correlation_conflicts")
		assert.Error(t, err, "no conflict counted")
	})
	t.Run("one span naming two queues", func(t *testing.T) {
		h := newHarness(t, nil)
		fn := functionSpan(ptrace.SpanKindConsumer, fnResource, goOtellambda("r1", map[string]any{"messaging.destination.name": "queue-a", "messaging.destination": "queue-b"}), false)
		h.consume(t, invocation("r1", false, nil), fn)
		assert.Equal(t, xrayTrace, h.spans()["invocation r1"].TraceID())
	})
	t.Run("function span without a trace id", func(t *testing.T) {
		h := newHarness(t, nil)
		fn := functionSpan(ptrace.SpanKindServer, fnResource, goOtellambda("r1", nil), false)
		fn.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetTraceID(pcommon.TraceID{})
		h.consume(t, invocation("r1", false, nil), fn)
		assert.Equal(t, xrayTrace, h.spans()["invocation r1"].TraceID())
		metadatatest.AssertEqualProcessorLambdaCorrelationConflicts(t, h.tel, []metricdata.DataPoint[int64]{
			{Value: 1, Attributes: attribute.NewSet(attribute.String("reason", "trace"))},
		}, metricdatatest.IgnoreTimestamp())
	})
	t.Run("duplicate invocation spans", func(t *testing.T) {
		h := newHarness(t, nil)
		h.consume(t, invocation("r1", false, nil), invocation("r1", false, nil))
		assert.Equal(t, 1, h.sink.SpanCount(), "the first goes on, the second waits")
		assert.Equal(t, 1, h.p.pending.len())
	})
}

// TestColdStart: the platform's cold start is marked on the function span when its SDK did
// not say; when the SDK said otherwise its value stays, counted.
func TestColdStart(t *testing.T) {
	h := newHarness(t, nil)
	h.consume(t, invocation("r1", true, nil), functionSpan(ptrace.SpanKindServer, fnResource, goOtellambda("r1", nil), false))
	assert.Equal(t, true, attrs(h.spans()["function"])["faas.coldstart"])

	h = newHarness(t, nil)
	h.consume(t, invocation("r1", true, nil), functionSpan(ptrace.SpanKindServer, fnResource, goOtellambda("r1", map[string]any{"faas.coldstart": false}), false))
	assert.Equal(t, false, attrs(h.spans()["function"])["faas.coldstart"])
	metadatatest.AssertEqualProcessorLambdaCorrelationConflicts(t, h.tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("reason", "coldstart"))},
	}, metricdatatest.IgnoreTimestamp())

	h = newHarness(t, nil)
	h.consume(t, invocation("r1", false, nil), functionSpan(ptrace.SpanKindServer, fnResource, goOtellambda("r1", nil), false))
	_, ok := h.spans()["function"].Attributes().Get("faas.coldstart")
	assert.False(t, ok, "a warm start adds nothing")
}

// TestProducerLinks: the producers the function span links to (SQS AWSTraceHeader,
// traceparent message attributes) are linked from the invocation span too.
func TestProducerLinks(t *testing.T) {
	h := newHarness(t, nil)
	fn := functionSpan(ptrace.SpanKindConsumer, fnResource, goOtellambda("r1", map[string]any{"messaging.system": "aws_sqs"}), false)
	s := fn.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	producer := pcommon.TraceID{0x70, 1}
	for i := range 2 {
		l := s.Links().AppendEmpty()
		l.SetTraceID(producer)
		l.SetSpanID(pcommon.SpanID{0x70, byte(i)})
		l.Attributes().PutStr("messaging.message.id", fmt.Sprint("m", i))
	}
	h.consume(t, invocation("r1", false, nil), fn)
	inv := h.spans()["invocation r1"]
	require.Equal(t, 3, inv.Links().Len(), "the X-Ray parent and two producers")
	assert.Equal(t, producer, inv.Links().At(1).TraceID())
	assert.Equal(t, "m1", inv.Links().At(2).Attributes().AsRaw()["messaging.message.id"])
}

// TestStaticSources: an uninstrumented function's invocation gets its configured source
// when its window closes; one that names its own source keeps it.
func TestStaticSources(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.StaticSources = []StaticSourceConfig{{Function: "check*", MessagingSystem: "AmazonSQS", Destination: "orders"}}
	})
	h.consume(t, invocation("r1", false, nil), invocation("r2", false, map[string]any{"faas.trigger": "timer"}))
	h.clock.Add(5 * time.Second)
	h.expire(t)
	got := h.spans()
	assert.Equal(t, map[string]any{"faas.trigger": "pubsub", "messaging.system": "aws_sqs", "messaging.destination.name": "orders"},
		pick(attrs(got["invocation r1"]), "faas.trigger", "messaging.system", "messaging.destination.name"))
	assert.Equal(t, map[string]any{"faas.trigger": "timer"}, pick(attrs(got["invocation r2"]), "faas.trigger", "messaging.system", "messaging.destination.name"))
}

func pick(m map[string]any, keys ...string) map[string]any {
	out := map[string]any{}
	for _, k := range keys {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}

// TestLifecycle: the ticker releases expired spans in real time, Shutdown flushes the rest,
// and the next consumer's error comes back to the caller.
func TestLifecycle(t *testing.T) {
	sink := new(consumertest.TracesSink)
	cfg := createDefaultConfig().(*Config)
	cfg.Window = 20 * time.Millisecond
	p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	assert.True(t, p.Capabilities().MutatesData)
	require.NoError(t, p.ConsumeTraces(lambdaconv.WithReceiverSpans(context.Background()), invocation("r1", false, nil)))
	require.Eventually(t, func() bool { return sink.SpanCount() == 1 }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, p.Shutdown(context.Background()))

	cfg = createDefaultConfig().(*Config)
	cfg.Window = time.Hour
	p, err = NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, p.ConsumeTraces(lambdaconv.WithReceiverSpans(context.Background()), invocation("r2", false, nil)))
	assert.Equal(t, 1, sink.SpanCount())
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Equal(t, 2, sink.SpanCount(), "shutdown passes held spans on")
	require.NoError(t, p.Shutdown(context.Background()))

	p, err = NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewErr(errors.New("refused")))
	require.NoError(t, err)
	assert.EqualError(t, p.ConsumeTraces(context.Background(), functionSpan(ptrace.SpanKindClient, fnResource, nil, false)), "refused")
	require.NoError(t, p.Shutdown(context.Background()), "shutdown without start")
}

// TestFunctionsWithoutTelemetryAPIAreNotHeld: a function whose own spans keep going on
// unpaired, and whose invocation spans never come (an SDK exporting straight to the
// gateway, no extension), stops paying the window; its first invocation span makes its own
// spans wait for their partner again.
func TestFunctionsWithoutTelemetryAPIAreNotHeld(t *testing.T) {
	h := newHarness(t, nil)
	for i := range uninstrumentedAfter {
		h.consume(t, functionSpan(ptrace.SpanKindServer, fnResource, goOtellambda(fmt.Sprintf("held%d", i), nil), false))
		assert.Equal(t, i, h.sink.SpanCount(), "held for a partner")
		h.clock.Add(6 * time.Second)
		h.expire(t)
	}
	require.Equal(t, uninstrumentedAfter, h.sink.SpanCount())

	h.consume(t, functionSpan(ptrace.SpanKindServer, fnResource, goOtellambda("r1", nil), false))
	assert.Equal(t, uninstrumentedAfter+1, h.sink.SpanCount(), "passed on at once")
	metadatatest.AssertEqualProcessorLambdaCorrelationNotHeld(t, h.tel,
		[]metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())

	// An invocation span of the function makes its own spans wait again: the next pair joins,
	// whichever comes first.
	h.consume(t, invocation("r2", false, nil))
	h.consume(t, functionSpan(ptrace.SpanKindServer, fnResource, goOtellambda("r3", nil), false), invocation("r3", false, nil))
	got := h.spans()
	assert.Equal(t, got["invocation r3"].SpanID(), got["function"].ParentSpanID(), "joined")
}

// TestUninstrumentedFunctionsAreNotHeld: a function whose invocation spans keep going on
// unpaired stops paying the window; its first own span makes it instrumented again.
func TestUninstrumentedFunctionsAreNotHeld(t *testing.T) {
	h := newHarness(t, func(cfg *Config) {
		cfg.StaticSources = []StaticSourceConfig{{Function: fnName, MessagingSystem: "AmazonSQS", Destination: "orders"}}
	})
	for i := range uninstrumentedAfter {
		h.consume(t, invocation(fmt.Sprintf("held%d", i), false, nil))
		assert.Equal(t, i, h.sink.SpanCount(), "held for a partner")
		h.clock.Add(6 * time.Second)
		h.expire(t)
	}
	require.Equal(t, uninstrumentedAfter, h.sink.SpanCount())

	h.consume(t, invocation("r1", false, nil))
	assert.Equal(t, uninstrumentedAfter+1, h.sink.SpanCount(), "passed on at once")
	got := h.spans()
	assert.Equal(t, "orders", attrs(got["invocation r1"])["messaging.destination.name"], "still named by static_sources")
	metadatatest.AssertEqualProcessorLambdaCorrelationNotHeld(t, h.tel,
		[]metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())

	// Its own span makes it instrumented again: the next invocation waits and joins.
	h.consume(t, functionSpan(ptrace.SpanKindServer, fnResource, goOtellambda("r2", nil), false))
	h.consume(t, invocation("r3", false, nil), functionSpan(ptrace.SpanKindServer, fnResource, goOtellambda("r3", nil), false))
	got = h.spans()
	assert.Equal(t, got["invocation r3"].SpanID(), got["function"].ParentSpanID(), "joined")
}
