// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
)

// functionSpans is a function's own OTLP spans: one SERVER root span per request id, as
// otellambda with instrumentation/go/lambdaevents writes it, plus a child each.
func functionSpans(fn string, attrs map[string]any, requestIDs ...string) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr(lambdaconv.AttrServiceName, fn)
	rs.Resource().Attributes().PutStr(lambdaconv.AttrFaaSName, fn)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/github.com/aws/aws-lambda-go/otellambda")
	now := time.Now()
	for i, id := range requestIDs {
		tid := pcommon.TraceID{0xc0, byte(len(fn)), byte(i), 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
		root := ss.Spans().AppendEmpty()
		root.SetName(fn)
		root.SetKind(ptrace.SpanKindServer)
		root.SetTraceID(tid)
		root.SetSpanID(pcommon.SpanID{0xc1, byte(i), 3})
		root.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
		root.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(30 * time.Millisecond)))
		a := root.Attributes()
		a.PutStr(lambdaconv.AttrFaaSInvocationID, id)
		a.PutStr("aws.lambda.invoked_arn", "arn:aws:lambda:eu-west-1:123456789012:function:"+fn)
		_ = a.FromRaw(mergeAttrs(a.AsRaw(), attrs))
		child := ss.Spans().AppendEmpty()
		child.SetName("dynamodb.PutItem")
		child.SetKind(ptrace.SpanKindClient)
		child.SetTraceID(tid)
		child.SetSpanID(pcommon.SpanID{0xc2, byte(i), 3})
		child.SetParentSpanID(root.SpanID())
		child.SetStartTimestamp(root.StartTimestamp())
		child.SetEndTimestamp(root.EndTimestamp())
	}
	return td
}

func mergeAttrs(a, b map[string]any) map[string]any {
	for k, v := range b {
		a[k] = v
	}
	return a
}

// TestCorrelationSplitsREDByEventSource sends the platform's view of invocations (Telemetry
// API batches, as the extension does) and the functions' own spans (OTLP, with SQS
// attributes for one function and API Gateway attributes for another, in both arrival
// orders), and checks that Prometheus holds faas_invocations_total split by event source,
// exactly, with the invocation whose function span never came counted unlabelled once its
// window closed.
func TestCorrelationSplitsREDByEventSource(t *testing.T) {
	s := startStack(t)
	base := s.URL
	sqsFn := wire.Sandbox{FunctionName: "e2e-corr-orders", FunctionVersion: "1", Region: "eu-west-1", AccountID: "123456789012",
		MemorySizeMB: 256, Architecture: "x86_64", ExtensionInstanceID: "e2e-corr-sandbox-1"}
	apiFn := sqsFn
	apiFn.FunctionName, apiFn.ExtensionInstanceID = "e2e-corr-api", "e2e-corr-sandbox-2"

	sqs := map[string]any{
		"faas.trigger": "pubsub", "messaging.system": "aws_sqs", "messaging.destination.name": "orders-queue",
		"aws.lambda.event_source.arn": "arn:aws:sqs:eu-west-1:123456789012:orders-queue",
	}
	// Older conventions on purpose: the processor normalizes them.
	api := map[string]any{"faas.trigger": "http", "http.route": "/orders/{id}", "http.method": "GET"}

	// SQS function: its spans come first, the platform's batch after.
	otlp := func(td ptrace.Traces) {
		require.Equal(t, http.StatusOK, post(t, base+"/v1/traces", "application/x-protobuf", marshal(t, td, "application/x-protobuf")))
	}
	otlp(functionSpans(sqsFn.FunctionName, sqs, "sqs-1", "sqs-2"))
	code, answer := postBatch(t, base, wire.Batch{Sandbox: sqsFn, Sequence: 1},
		[]byte("["+invocationEvents("sqs-1", 1)+","+invocationEvents("sqs-2", 2)+"]"), false)
	require.Equal(t, http.StatusOK, code, answer.Error)

	// API function: the platform's batch first (with one invocation whose function span
	// never comes), its spans after.
	code, answer = postBatch(t, base, wire.Batch{Sandbox: apiFn, Sequence: 1},
		[]byte("["+invocationEvents("api-1", 1)+","+invocationEvents("api-2", 2)+","+invocationEvents("api-lost", 3)+"]"), false)
	require.Equal(t, http.StatusOK, code, answer.Error)
	otlp(functionSpans(apiFn.FunctionName, api, "api-1", "api-2"))

	keys := []string{"faas_name", "faas_trigger", "messaging_system", "messaging_destination_name", "http_route"}
	s.eventually(t, `sum by (faas_name, faas_trigger, messaging_system, messaging_destination_name, http_route) (faas_invocations_total{job="otelcol-lambda",faas_name=~"e2e-corr-.*"})`,
		map[string]float64{
			"faas_name=e2e-corr-orders,faas_trigger=pubsub,messaging_system=aws_sqs,messaging_destination_name=orders-queue,http_route=": 2,
			"faas_name=e2e-corr-api,faas_trigger=http,messaging_system=,messaging_destination_name=,http_route=/orders/{id}":             2,
			"faas_name=e2e-corr-api,faas_trigger=,messaging_system=,messaging_destination_name=,http_route=":                             1,
		}, keys...)
	s.eventually(t, `sum by (messaging_destination_name) (faas_invocations_total{job="otelcol-lambda",faas_name=~"e2e-corr-.*",messaging_destination_name!=""})`,
		map[string]float64{"messaging_destination_name=orders-queue": 2}, "messaging_destination_name")
	s.eventually(t, `sum by (http_route) (faas_invocations_total{job="otelcol-lambda",faas_name=~"e2e-corr-.*",http_route!=""})`,
		map[string]float64{"http_route=/orders/{id}": 2}, "http_route")

	// The processor's own telemetry, scraped from the gateway: 4 pairs, 1 invocation span
	// released unpaired, nothing held.
	s.eventually(t, `sum({__name__=~"otelcol_processor_lambda_correlation_paired(_total)?",job="otelcol-lambda-gateway"})`,
		map[string]float64{"": 4})
	s.eventually(t, `sum by (role) ({__name__=~"otelcol_processor_lambda_correlation_released_unpaired(_total)?",job="otelcol-lambda-gateway"})`,
		map[string]float64{"role=invocation": 1}, "role")
	s.eventually(t, `sum({__name__=~"otelcol_processor_lambda_correlation_pending",job="otelcol-lambda-gateway"})`,
		map[string]float64{"": 0})
}
