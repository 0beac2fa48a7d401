// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/metadatatest"
)

// TestRepeatedAndNonDecimalHeadersAreRefused: a sandbox fact sent twice, or a number not
// written as decimal digits without sign or leading zero, refuses the request (400 naming
// the header, counted invalid_sandbox), on the telemetry path and on OTLP alike.
func TestRepeatedAndNonDecimalHeadersAreRefused(t *testing.T) {
	tests := []struct {
		name      string
		mutate    func(http.Header)
		wantError string
	}{
		{name: "two function names", mutate: func(h http.Header) { h.Add(wire.HeaderFunctionName, "other") },
			wantError: `invalid Lambda-Function-Name header "orders": want the header once, not 2 times`},
		{name: "the same function name twice", mutate: func(h http.Header) { h.Add("lambda-function-name", "orders") },
			wantError: `invalid Lambda-Function-Name header "orders": want the header once, not 2 times`},
		{name: "two sequence numbers", mutate: func(h http.Header) {
			h.Add(wire.HeaderBatchSequence, "1")
			h.Add(wire.HeaderBatchSequence, "2")
		}, wantError: `invalid Lambda-Batch-Sequence header "1": want the header once`},
		{name: "memory with a sign", mutate: func(h http.Header) { h.Set(wire.HeaderMemorySizeMB, "+128") },
			wantError: `invalid Lambda-Memory-Size-Mb header "+128": want a decimal number without sign or leading zero`},
		{name: "memory with a leading zero", mutate: func(h http.Header) { h.Set(wire.HeaderMemorySizeMB, "0128") },
			wantError: `invalid Lambda-Memory-Size-Mb header "0128"`},
		{name: "timeout in hex", mutate: func(h http.Header) { h.Set(wire.HeaderTimeoutMs, "0x3e8") },
			wantError: `invalid Lambda-Timeout-Ms header "0x3e8"`},
	}
	refusals := make([]sandboxRefusal, len(tests))
	for i, tc := range tests {
		refusals[i] = sandboxRefusal{name: tc.name, wantError: tc.wantError, setHeaders: func(h http.Header) {
			testSandbox.SetHeaders(h)
			tc.mutate(h)
		}}
	}
	assertSandboxRefusals(t, refusals)
}

// TestRequestIDsLambdaCannotProduceAreRejectedAndCounted: an invocation whose request id
// is 100 kB (or not printable ASCII) has its events rejected and counted out_of_range,
// and the batch's other invocation is taken.
func TestRequestIDsLambdaCannotProduceAreRejectedAndCounted(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	traces := new(consumertest.TracesSink)
	c := telemetryClient{t: t, url: startReceiverWithSettings(t, sinks{traces: traces}, nil, metadatatest.NewSettings(tt))}

	body := `[` + oneInvocation(strings.Repeat("r", 100_000), "01") + `,` + oneInvocation(`r\u0007`, "02") + `,` +
		oneInvocation("8476a536-e9f4-11e8-9739-2dfe598c3fcd", "03") + `]`
	code, answer, _ := c.post(wire.Batch{Sandbox: testSandbox, Sequence: 1}, body)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, 3, answer.Accepted)
	assert.Equal(t, 6, answer.RejectedCount)
	require.NotEmpty(t, answer.Rejected)
	assert.Equal(t, "platform.start record: requestId of 100000 bytes is outside what Lambda produces (at most 128 bytes of printable ASCII)",
		answer.Rejected[0].Error)
	assert.Equal(t, map[string]int{"8476a536-e9f4-11e8-9739-2dfe598c3fcd": 1}, invocationSpans(traces.AllTraces()))
	metadatatest.AssertEqualReceiverLambdaTelemetryEvents(t, tt,
		[]metricdata.DataPoint[int64]{eventsPoint("accepted", 3), eventsPoint("out_of_range", 6)},
		metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
}
