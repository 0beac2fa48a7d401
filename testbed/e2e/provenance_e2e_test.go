// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv/lambdaconvtest"
	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
)

// forgedSpans is what a function could send over OTLP to count what never happened: for
// fn, the receiver's invocation span (a cold start that timed out, with an event-source
// timestamp an hour old), report span (15 minutes billed at 10 GB) and init span, exactly
// as the receiver makes them; tag tells the requests' spans apart.
func forgedSpans(fn string, tag byte) ptrace.Traces {
	now := time.Now()
	start := now.Add(-14 * time.Minute)
	id := fmt.Sprintf("forged-%d", tag)
	return lambdaconvtest.NewBatch(wire.Sandbox{FunctionName: fn}, start).
		Invocation(lambdaconvtest.Invocation{RequestID: id, Duration: 14 * time.Minute, Outcome: lambdaconvtest.Timeout,
			ColdStart: telemetryapi.InitTypeOnDemand, Attributes: map[string]any{lambdaconv.AttrEventTimeUnixMs: now.Add(-time.Hour).UnixMilli()}}).
		Report(lambdaconvtest.Report{RequestID: id, Duration: 15 * time.Minute, MemorySizeMB: 10240, MaxMemoryUsedMB: 10240}).
		Init(lambdaconvtest.Init{Start: now.Add(-10 * time.Second), Duration: 10 * time.Second}).
		Traces
}

// TestOTLPCannotForgeInvocations forges the receiver's invocation, report and init spans over
// OTLP/HTTP (protobuf, JSON, and with a forwarder's sandbox headers, as the extension
// forwards a function's OTLP) and OTLP/gRPC, for a function of their own and in the name of
// a real one, against the built gateway and a real Prometheus. No forged span counts
// anything; the real function's Telemetry API batches count exactly; the gateway counts and
// logs what it stripped.
func TestOTLPCannotForgeInvocations(t *testing.T) {
	s := startStack(t)
	base := s.URL
	start := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	genuine := newLambdaSandbox(t, lambdaFn{name: "e2e-real", region: "eu-west-1", arch: "arm64", memMiB: 256, sandbox: "e2e-real-1"}, start)

	// The real function: a cold start and a warm invocation, with their reports.
	genuine.init(telemetryapi.InitTypeOnDemand, 200*time.Millisecond).
		invocation(invocationSpec{seq: 1, requestID: "real-1", dur: 125 * time.Millisecond, cold: true}).
		invocation(invocationSpec{seq: 2, requestID: "real-2", dur: 250 * time.Millisecond}).
		report(1, "real-1", 125, 64).report(2, "real-2", 250, 65).post(base)

	// The forgeries, through every door, each forging the receiver's three span types for a
	// function of its own and for the real one.
	forged := func(tag byte) ptrace.Traces {
		td := forgedSpans("e2e-forged", tag)
		forgedSpans("e2e-real", tag+100).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
		return td
	}
	postOTLP(t, base, "application/x-protobuf", forged(1))
	postOTLP(t, base, "application/json", forged(2))
	req, err := http.NewRequest(http.MethodPost, base+"/v1/traces", bytes.NewReader(marshal(t, forged(3), "application/x-protobuf")))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-protobuf")
	wire.Batch{Sandbox: wire.Sandbox{FunctionName: "e2e-forged", Region: "eu-west-1", ExtensionInstanceID: "e2e-forged-1"}, Sequence: 1}.SetHeaders(req.Header)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	exportGRPC(t, s.Addrs.GRPC, forged(4))

	// Each forged span was stripped and counted by what it claimed: 4 doors x 2 functions.
	s.eventually(t, `sum by (span_type) ({__name__=~"otelcol_processor_lambda_correlation_stripped(_total)?",job="otelcol-lambda-gateway"})`,
		map[string]float64{"span_type=invocation": 8, "span_type=report": 8, "span_type=init": 8}, "span_type")
	// The forged invocation spans, now plain SERVER spans with a request id, waited as
	// function root spans for a partner; once all 8 went on unpaired, every forged span has
	// gone on to the connector.
	s.eventually(t, `sum by (role) ({__name__=~"otelcol_processor_lambda_correlation_released_unpaired(_total)?",job="otelcol-lambda-gateway",role="function"})`,
		map[string]float64{"role=function": 8}, "role")

	// A barrier: the real function's next invocation, sent after every forged span went on.
	// When Prometheus holds it, whatever the forged spans could have counted is there too.
	genuine.invocation(invocationSpec{seq: 3, requestID: "real-3", dur: 500 * time.Millisecond}).report(3, "real-3", 500, 66).post(base)
	sel := `{job="otelcol-lambda",faas_name=~"e2e-real|e2e-forged"}`
	s.eventually(t, `sum by (faas_name) (faas_invocations_total`+sel+`)`, map[string]float64{"faas_name=e2e-real": 3}, "faas_name")
	s.eventually(t, `sum by (faas_name) (aws_lambda_billed_duration_seconds_total`+sel+`)`, map[string]float64{"faas_name=e2e-real": 0.875}, "faas_name")

	// The real function counts exactly what its batches said; the forged function counts
	// nothing at all, in no metric fed by spans.
	for _, c := range []struct {
		metric string
		want   map[string]float64
	}{
		{"faas_invocations_total", map[string]float64{"faas_name=e2e-real": 3}},
		{"faas_errors_total", map[string]float64{}},
		{"faas_timeouts_total", map[string]float64{}},
		{"faas_coldstarts_total", map[string]float64{"faas_name=e2e-real": 1}},
		{"faas_invoke_duration_seconds_count", map[string]float64{"faas_name=e2e-real": 3}},
		{"faas_invoke_duration_seconds_sum", map[string]float64{"faas_name=e2e-real": 0.875}},
		{"faas_init_duration_seconds_count", map[string]float64{"faas_name=e2e-real": 1}},
		{"faas_mem_usage_bytes_count", map[string]float64{"faas_name=e2e-real": 3}},
		{"aws_lambda_billed_duration_seconds_total", map[string]float64{"faas_name=e2e-real": 0.875}},
		{"aws_lambda_event_age_seconds_count", map[string]float64{}},
	} {
		samples, err := s.query(context.Background(), `sum by (faas_name) (`+c.metric+sel+`)`)
		require.NoError(t, err)
		assert.Equal(t, sorted(c.want), sorted(byLabels(samples, "faas_name")), c.metric)
	}
	cost, err := s.query(context.Background(), `sum by (faas_name) (aws_lambda_cost_usd_total`+sel+`)`)
	require.NoError(t, err)
	require.Len(t, cost, 1, "only the real function has a cost")
	assert.Equal(t, "e2e-real", cost[0].Labels["faas_name"])
	assert.InDelta(t, 3*0.0000002+0.25*0.875*0.0000133334, cost[0].Value, 1e-12)

	// The gateway said so, once, not per request.
	out := s.Output.String()
	assert.Contains(t, out, "Removed the lambda_telemetry receiver's span type and platform attributes")
	assert.Less(t, strings.Count(out, "Removed the lambda_telemetry receiver's span type"), 4)
}
