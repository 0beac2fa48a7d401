// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdacorrelationprocessor

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/processor/lambdacorrelationprocessor/internal/metadatatest"
)

// proxyFindings are the event source attributes the receiver puts on an invocation span
// from the extension's Runtime API proxy (otelcol.invocation), for an SQS batch.
var proxyFindings = map[string]any{
	lambdaconv.AttrFaaSTrigger:              "pubsub",
	lambdaconv.AttrMessagingSystem:          "aws_sqs",
	lambdaconv.AttrMessagingDestinationName: "orders",
	lambdaconv.AttrEventSourceARN:           "arn:aws:sqs:eu-west-1:123456789012:orders",
	lambdaconv.AttrEventTimeUnixMs:          int64(1_717_243_199_000),
	lambdaconv.AttrBatchMessageCount:        int64(10),
}

var eventSourceKeys = []string{lambdaconv.AttrFaaSTrigger, lambdaconv.AttrMessagingSystem, lambdaconv.AttrMessagingDestinationName,
	lambdaconv.AttrFaaSDocumentCollection, lambdaconv.AttrHTTPRoute, lambdaconv.AttrEventSourceARN, lambdaconv.AttrEventTimeUnixMs,
	lambdaconv.AttrBatchMessageCount}

// TestEventSourcePrecedence: the function span's event source wins over the proxy's on the
// invocation span, field by field; the proxy's fills what the function span lacks; both
// spans end with the one result.
func TestEventSourcePrecedence(t *testing.T) {
	apiFindings := map[string]any{
		lambdaconv.AttrFaaSTrigger: "http", lambdaconv.AttrHTTPRoute: "/orders/{id}",
		lambdaconv.AttrEventSourceARN: "arn:aws:execute-api:eu-west-1:123456789012:abc/prod/GET/orders/{id}",
	}
	tests := []struct {
		name     string
		proxy    map[string]any // the invocation span's event source
		function map[string]any // the function span's
		want     map[string]any // on both spans, but for what only one of them has (wantInvOnly)
		// wantInvOnly are attributes the invocation span keeps that the processor does not
		// copy (messaging.batch.message_count is no part of the normalized source).
		wantInvOnly map[string]any
	}{
		{
			name:        "the function names nothing: the proxy's on both",
			proxy:       proxyFindings,
			want:        withoutKeys(proxyFindings, lambdaconv.AttrBatchMessageCount),
			wantInvOnly: map[string]any{lambdaconv.AttrBatchMessageCount: int64(10)},
		},
		{
			name:     "both name the same",
			proxy:    proxyFindings,
			function: map[string]any{"messaging.system": "AmazonSQS", "messaging.destination.name": "orders"},
			want:     withoutKeys(proxyFindings, lambdaconv.AttrBatchMessageCount), wantInvOnly: map[string]any{lambdaconv.AttrBatchMessageCount: int64(10)},
		},
		{
			name:     "the function names another queue and time: its values win, the proxy's fill the rest",
			proxy:    proxyFindings,
			function: map[string]any{"messaging.destination.name": "orders-v2", "aws.lambda.event_source.time_unix_ms": int64(1_717_243_199_500)},
			want: map[string]any{"faas.trigger": "pubsub", "messaging.system": "aws_sqs", "messaging.destination.name": "orders-v2",
				"aws.lambda.event_source.arn": "arn:aws:sqs:eu-west-1:123456789012:orders", "aws.lambda.event_source.time_unix_ms": int64(1_717_243_199_500)},
			wantInvOnly: map[string]any{lambdaconv.AttrBatchMessageCount: int64(10)},
		},
		{
			name:     "Node's root span knows the trigger only",
			proxy:    proxyFindings,
			function: map[string]any{"faas.trigger": "pubsub"},
			want:     withoutKeys(proxyFindings, lambdaconv.AttrBatchMessageCount), wantInvOnly: map[string]any{lambdaconv.AttrBatchMessageCount: int64(10)},
		},
		{
			name:     "the function's route wins, even a raw path",
			proxy:    apiFindings,
			function: map[string]any{"faas.trigger": "http", "http.route": "/orders/42"},
			want: map[string]any{"faas.trigger": "http", "http.route": "/orders/42",
				"aws.lambda.event_source.arn": "arn:aws:execute-api:eu-west-1:123456789012:abc/prod/GET/orders/{id}"},
		},
		{
			name:     "the function's trigger wins",
			proxy:    map[string]any{"faas.trigger": "other"},
			function: map[string]any{"faas.trigger": "timer"},
			want:     map[string]any{"faas.trigger": "timer"},
		},
		{
			name:     "no proxy: as before",
			function: map[string]any{"messaging.system": "aws_sqs", "messaging.destination.name": "orders"},
			want:     map[string]any{"faas.trigger": "pubsub", "messaging.system": "aws_sqs", "messaging.destination.name": "orders"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			fn := functionSpan(ptrace.SpanKindServer, fnResource, goOtellambda("r1", tc.function), false)
			h.consume(t, invocation("r1", false, tc.proxy), fn)
			got := h.spans()
			inv, fnSpan := got["invocation r1"], got["function"]
			assert.Equal(t, sdkTrace, inv.TraceID(), "joined")
			wantInv := merge(tc.want, tc.wantInvOnly)
			assert.Equal(t, wantInv, pickKeys(attrs(inv), eventSourceKeysBut()...), "invocation span")
			assert.Equal(t, tc.want, pickKeys(attrs(fnSpan), eventSourceKeysBut()...), "function span: the same set, normalized")
			_, err := h.tel.GetMetric("otelcol_processor_lambda_correlation_conflicts")
			assert.Error(t, err, "no conflict")
		})
	}
}

// TestEventSourceNamedTwiceByOneSpan: an invocation span whose own attributes name two
// sources (a broken proxy) is a conflict, as a function span naming two is: both spans go
// on unchanged, counted.
func TestEventSourceNamedTwiceByOneSpan(t *testing.T) {
	h := newHarness(t, nil)
	broken := merge(proxyFindings, map[string]any{lambdaconv.AttrMessagingDestinationName: "payments"}) // the ARN names orders
	h.consume(t, invocation("r1", false, broken), functionSpan(ptrace.SpanKindServer, fnResource, goOtellambda("r1", nil), false))
	got := h.spans()
	assert.Equal(t, xrayTrace, got["invocation r1"].TraceID(), "not joined")
	assert.Equal(t, "payments", attrs(got["invocation r1"])[lambdaconv.AttrMessagingDestinationName])
	assert.Empty(t, pickKeys(attrs(got["function"]), eventSourceKeysBut()...))
	metadatatest.AssertEqualProcessorLambdaCorrelationConflicts(t, h.tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("reason", "event_source"))},
	}, metricdatatest.IgnoreTimestamp())
}

// TestStaticSourcesYieldToTheProxy: static_sources name the source of an invocation span
// that names none; the proxy's findings are the invocation's own, and stay.
func TestStaticSourcesYieldToTheProxy(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.StaticSources = []StaticSourceConfig{{Function: "check*", MessagingSystem: "AmazonSQS", Destination: "static-queue"}}
	})
	h.consume(t, invocation("r1", false, proxyFindings))
	h.clock.Add(5 * time.Second)
	h.expire(t)
	assert.Equal(t, proxyFindings, pickKeys(attrs(h.spans()["invocation r1"]), eventSourceKeysBut()...))
}

// pickKeys returns the entries of m under keys, leaving out what m lacks.
func pickKeys(m map[string]any, keys ...string) map[string]any {
	out := map[string]any{}
	for _, k := range keys {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}

// withoutKeys returns m without the entries under keys.
func withoutKeys(m map[string]any, keys ...string) map[string]any {
	out := merge(m, nil)
	for _, k := range keys {
		delete(out, k)
	}
	return out
}

// eventSourceKeysBut returns the event source keys but those given.
func eventSourceKeysBut(except ...string) []string {
	var out []string
	for _, k := range eventSourceKeys {
		skip := false
		for _, e := range except {
			skip = skip || k == e
		}
		if !skip {
			out = append(out, k)
		}
	}
	return out
}
