// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
)

// TestConnectorDerivesLambdaMetricsInPrometheus sends a known set of invocations (cold,
// warm, errors, a timeout, two triggers, an asynchronous retry reusing its request id, one
// invocation counted from its report) and, in later batches, their reports, as users send
// them: the platform's events as the extension forwards them, the functions' own spans
// (with the event source) over OTLP/gRPC. Then it reads every metric of the contract
// (connector/lambdametricsconnector/README.md, "Metrics") back from the real Prometheus, by its exact name.
func TestConnectorDerivesLambdaMetricsInPrometheus(t *testing.T) {
	s := startStack(t)
	base := s.URL
	start := time.Now().Add(-time.Minute).Truncate(time.Millisecond) // event times are in ms
	orders := lambdaFn{name: "e2e-orders", region: "eu-west-1", arch: "amd64", memMiB: 512, timeoutMs: 3000, sandbox: "sandbox-orders-1"}
	billing := lambdaFn{name: "e2e-billing", region: "us-east-1", arch: "arm64", memMiB: 1024, sandbox: "sandbox-billing-1"}
	httpSource := map[string]string{lambdaconv.AttrFaaSTrigger: "http", lambdaconv.AttrHTTPRoute: "/orders/{id}"}
	sqsSource := map[string]string{lambdaconv.AttrFaaSTrigger: "pubsub", lambdaconv.AttrMessagingSystem: "aws_sqs", lambdaconv.AttrMessagingDestinationName: "billing-queue"}

	// Every invocation's function span comes before its platform events, the timeout's and
	// the out-of-memory kill's too (an instrumentation that ends its root span when the work
	// is handed over), so that each pair joins at once and every invocation names its
	// source; invocations whose span never comes are TestCorrelationSplitsREDByEventSource's.
	// The functions' spans go to the stock otlp receiver (gRPC), the batches to
	// lambda_telemetry.
	ordersSb := newLambdaSandbox(t, orders, start).
		init(telemetryapi.InitTypeOnDemand, 500*time.Millisecond).
		invocation(invocationSpec{seq: 1, requestID: "o-1", dur: 250 * time.Millisecond, cold: true, source: httpSource}).
		invocation(invocationSpec{seq: 2, requestID: "o-2", dur: 125 * time.Millisecond, source: httpSource}).
		invocation(invocationSpec{seq: 3, requestID: "o-3", dur: 500 * time.Millisecond, source: httpSource}).
		invocation(invocationSpec{seq: 4, requestID: "o-4", dur: time.Second, errorType: lambdaconv.ErrorTypeFunction, source: httpSource}).
		invocation(invocationSpec{seq: 5, requestID: "o-5", dur: 3 * time.Second, errorType: lambdaconv.ErrorTypeTimeout, source: httpSource})
	exportGRPC(t, s.Addrs.GRPC, ordersSb.functionSpans())
	ordersSb.post(base)

	// A SnapStart function: its restore is the cold start. (A provisioned-concurrency init is
	// none: Lambda ran it before any request waited, and the receiver marks no invocation.)
	billingSb := newLambdaSandbox(t, billing, start).
		init(telemetryapi.InitTypeSnapStart, 2*time.Second).
		invocation(invocationSpec{seq: 6, requestID: "b-1", dur: time.Second, cold: true, eventAge: 2 * time.Second, source: sqsSource}).
		invocation(invocationSpec{seq: 7, requestID: "b-2", dur: 2 * time.Second, errorType: lambdaconv.ErrorTypeOutOfMemory, eventAge: 500 * time.Millisecond, source: sqsSource}).
		// An asynchronous invocation that failed, and (in the next batch) its retry: one
		// request id, two invocations.
		invocation(invocationSpec{seq: 8, requestID: "b-retry", dur: 500 * time.Millisecond, errorType: lambdaconv.ErrorTypeFunction, source: sqsSource})
	exportGRPC(t, s.Addrs.GRPC, billingSb.functionSpans())
	billingSb.post(base)
	billingSb.invocation(invocationSpec{seq: 9, requestID: "b-retry", dur: 500 * time.Millisecond, source: sqsSource}).
		// The forwarder never saw this one's runtimeDone: the receiver counts it from its
		// report, which the batch marks.
		invocation(invocationSpec{seq: 10, requestID: "b-5", dur: 250 * time.Millisecond, fromReport: true, source: sqsSource}).
		report(10, "b-5", 250, 330)
	exportGRPC(t, s.Addrs.GRPC, billingSb.functionSpans())
	billingSb.post(base)

	sel := `{job="otelcol-lambda",faas_name=~"e2e-orders|e2e-billing"}`
	o := "faas_name=e2e-orders,cloud_region=eu-west-1"
	b := "faas_name=e2e-billing,cloud_region=us-east-1"

	// RED does not wait for the reports.
	s.eventually(t, `sum by (faas_name, cloud_region, faas_trigger, http_route, messaging_system, messaging_destination_name) (faas_invocations_total`+sel+`)`,
		map[string]float64{
			o + ",faas_trigger=http,http_route=/orders/{id},messaging_system=,messaging_destination_name=":           5,
			b + ",faas_trigger=pubsub,http_route=,messaging_system=aws_sqs,messaging_destination_name=billing-queue": 5,
		}, "faas_name", "cloud_region", "faas_trigger", "http_route", "messaging_system", "messaging_destination_name")
	s.eventually(t, `sum by (faas_name, error_type) (faas_errors_total`+sel+`)`, map[string]float64{
		"faas_name=e2e-orders,error_type=function_error":  1,
		"faas_name=e2e-orders,error_type=timeout":         1,
		"faas_name=e2e-billing,error_type=out_of_memory":  1,
		"faas_name=e2e-billing,error_type=function_error": 1,
	}, "faas_name", "error_type")
	s.eventually(t, `sum by (faas_name) (faas_timeouts_total`+sel+`)`, map[string]float64{"faas_name=e2e-orders": 1}, "faas_name")
	s.eventually(t, `sum by (faas_name, initialization_type) (faas_coldstarts_total`+sel+`)`, map[string]float64{
		"faas_name=e2e-orders,initialization_type=on-demand":   1,
		"faas_name=e2e-billing,initialization_type=snap-start": 1,
	}, "faas_name", "initialization_type")
	s.eventually(t, `sum by (faas_name, faas_coldstart) (faas_invoke_duration_seconds_sum`+sel+`)`, map[string]float64{
		"faas_name=e2e-orders,faas_coldstart=true":   0.25,
		"faas_name=e2e-orders,faas_coldstart=false":  4.625,
		"faas_name=e2e-billing,faas_coldstart=true":  1,
		"faas_name=e2e-billing,faas_coldstart=false": 3.25,
	}, "faas_name", "faas_coldstart")
	s.eventually(t, `sum by (faas_name, faas_coldstart) (faas_invoke_duration_seconds_count`+sel+`)`, map[string]float64{
		"faas_name=e2e-orders,faas_coldstart=true":   1,
		"faas_name=e2e-orders,faas_coldstart=false":  4,
		"faas_name=e2e-billing,faas_coldstart=true":  1,
		"faas_name=e2e-billing,faas_coldstart=false": 4,
	}, "faas_name", "faas_coldstart")
	s.eventually(t, `sum by (le) (faas_invoke_duration_seconds_bucket{job="otelcol-lambda",faas_name="e2e-orders",faas_coldstart="false",le=~"0.1|0.25|0.5|1|2.5|5|\\+Inf"})`,
		map[string]float64{"le=0.1": 0, "le=0.25": 1, "le=0.5": 2, "le=1": 3, "le=2.5": 3, "le=5": 4, "le=+Inf": 4}, "le")
	s.eventually(t, `sum by (faas_name, initialization_type) (faas_init_duration_seconds_sum`+sel+`)`, map[string]float64{
		"faas_name=e2e-orders,initialization_type=on-demand": 0.5,
	}, "faas_name", "initialization_type")
	s.eventually(t, `sum by (faas_name) (aws_lambda_restore_duration_seconds_sum`+sel+`)`, map[string]float64{"faas_name=e2e-billing": 2}, "faas_name")
	s.eventually(t, `sum by (faas_name) (aws_lambda_event_age_seconds_sum`+sel+`)`, map[string]float64{"faas_name=e2e-billing": 2.5}, "faas_name")
	s.eventually(t, `sum by (faas_name) (aws_lambda_event_age_seconds_count`+sel+`)`, map[string]float64{"faas_name=e2e-billing": 2}, "faas_name")
	s.eventually(t, `aws_lambda_memory_size_bytes`+sel, map[string]float64{o: 512 << 20, b: 1024 << 20}, "faas_name", "cloud_region")
	s.eventually(t, `aws_lambda_timeout_seconds`+sel, map[string]float64{o: 3}, "faas_name", "cloud_region")

	// ... their reports minutes later (here: later), as Lambda delivers them at the
	// sandbox's next thaw: in the sandboxes' next batches. (b-5's came with it.)
	ordersSb.report(1, "o-1", 250, 100).report(2, "o-2", 125, 110).report(3, "o-3", 500, 120).
		report(4, "o-4", 1000, 130).report(5, "o-5", 3000, 140).post(base)
	billingSb.report(6, "b-1", 1000, 300).report(7, "b-2", 2000, 1024).report(8, "b-retry", 500, 310).
		report(9, "b-retry", 500, 320).post(base)

	s.eventually(t, `sum by (faas_name) (aws_lambda_billed_duration_seconds_total`+sel+`)`,
		map[string]float64{"faas_name=e2e-orders": 4.875, "faas_name=e2e-billing": 4.25}, "faas_name")
	s.eventually(t, `sum by (faas_name) (faas_mem_usage_bytes_count`+sel+`)`, map[string]float64{"faas_name=e2e-orders": 5, "faas_name=e2e-billing": 5}, "faas_name")
	s.eventually(t, `sum by (faas_name) (faas_mem_usage_bytes_sum`+sel+`)`,
		map[string]float64{"faas_name=e2e-orders": (100 + 110 + 120 + 130 + 140) << 20, "faas_name=e2e-billing": (300 + 1024 + 310 + 320 + 330) << 20}, "faas_name")
	// cost = requests * 0.20 USD/1M + memory GB (MiB/1024) * billed s * USD per GB-s.
	wantCost := map[string]float64{
		"faas_name=e2e-orders":  5*0.0000002 + 0.5*4.875*0.0000166667,
		"faas_name=e2e-billing": 5*0.0000002 + 1*4.25*0.0000133334,
	}
	s.eventuallyWithin(t, `sum by (faas_name) (aws_lambda_cost_usd_total`+sel+`)`, wantCost, 1e-12, "faas_name")
	// Reports never count invocations; the counts are unchanged after several more flushes.
	time.Sleep(3 * time.Second)
	s.eventually(t, `sum by (faas_name) (faas_invocations_total`+sel+`)`, map[string]float64{"faas_name=e2e-orders": 5, "faas_name=e2e-billing": 5}, "faas_name")

	// Series carry the replica (job, instance) and the function, never a sandbox or request id.
	samples, err := s.query(context.Background(), `faas_invocations_total`+sel)
	require.NoError(t, err)
	require.Len(t, samples, 2)
	for _, smp := range samples {
		assert.Equal(t, "otelcol-lambda", smp.Labels["job"])
		assert.NotEmpty(t, smp.Labels["instance"])
		assert.Equal(t, "$LATEST", smp.Labels["faas_version"])
		assert.Equal(t, "123456789012", smp.Labels["cloud_account_id"])
		for _, banned := range []string{"faas_instance", "faas_invocation_id", "cloud_resource_id", "aws_lambda_error_type", "service_name"} {
			assert.NotContains(t, smp.Labels, banned)
		}
	}

	// A new series starts with a 0 sample at its start time, so increase() sees the first
	// timeout; evaluated at the first value's timestamp it is exactly 1.
	ctx := context.Background()
	series, err := s.Prometheus.Query(ctx, `faas_timeouts_total`+sel+`[10m]`, time.Time{})
	require.NoError(t, err)
	require.Len(t, series, 1)
	raw := series[0].Points
	require.GreaterOrEqual(t, len(raw), 2, "%v", raw)
	assert.Equal(t, 0.0, raw[0].Value, "the first sample of a new series is 0")
	assert.Equal(t, 1.0, raw[1].Value)
	inc, err := s.Prometheus.Query(ctx, `increase(faas_timeouts_total`+sel+`[10m])`, time.UnixMilli(raw[1].Timestamp))
	require.NoError(t, err)
	require.Len(t, inc, 1)
	assert.Equal(t, 1.0, inc[0].Value)

	// Exemplars carry the trace ids of the invocation spans.
	sent := map[string]bool{}
	for seq := byte(1); seq <= 10; seq++ {
		sent[traceIDOf(seq).String()] = true
	}
	ids := traceIDs(exemplars(t, s.Prometheus, `faas_invoke_duration_seconds_bucket`+sel))
	require.NotEmpty(t, ids)
	for _, id := range ids {
		assert.True(t, sent[id], "exemplar trace id %s was never sent", id)
	}
}
