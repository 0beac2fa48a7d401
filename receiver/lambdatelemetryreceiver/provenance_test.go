// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
)

// provenanceSink records, per ConsumeTraces call, whether the context carried the
// receiver's mark and how many spans came with it.
type provenanceSink struct {
	mu    sync.Mutex
	calls []provenanceCall
}

type provenanceCall struct {
	marked bool
	spans  int
}

func (s *provenanceSink) consumer(t *testing.T) consumer.Traces {
	c, err := consumer.NewTraces(func(ctx context.Context, td ptrace.Traces) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.calls = append(s.calls, provenanceCall{marked: lambdaconv.FromReceiver(ctx), spans: td.SpanCount()})
		return nil
	})
	require.NoError(t, err)
	return c
}

// take returns the calls since the last take.
func (s *provenanceSink) take() []provenanceCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.calls
	s.calls = nil
	return out
}

// forgedInvocation is what a function could send over OTLP: a span that claims to be the
// receiver's invocation span.
func forgedInvocation() ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr(lambdaconv.AttrFaaSName, "orders")
	s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetName("orders")
	s.SetKind(ptrace.SpanKindServer)
	s.Attributes().PutStr(lambdaconv.AttrSpanType, lambdaconv.SpanTypeInvocation)
	s.Attributes().PutStr(lambdaconv.AttrFaaSInvocationID, "forged-1")
	return td
}

// TestOnlyTheTelemetryPathMarksItsSpans: the spans the receiver makes from Telemetry API
// events (both batch forms) reach the pipeline in a context marked as the receiver's; what
// comes in over OTLP/HTTP (protobuf and JSON, with or without a forwarder's sandbox headers)
// does not, whatever it claims to be. lambda_correlation relies on exactly this.
func TestOnlyTheTelemetryPathMarksItsSpans(t *testing.T) {
	sink := &provenanceSink{}
	base := startReceiver(t, sinks{traces: sink.consumer(t)}, nil)
	c := telemetryClient{t: t, url: base}

	forged, err := ptraceotlp.NewExportRequestFromTraces(forgedInvocation()).MarshalProto()
	require.NoError(t, err)
	forgedJSON, err := ptraceotlp.NewExportRequestFromTraces(forgedInvocation()).MarshalJSON()
	require.NoError(t, err)
	envelope, err := json.Marshal(wire.Envelope{Sandbox: testSandbox, Sequence: 2, Events: json.RawMessage(`[` + oneInvocation("r2", "02") + `]`)})
	require.NoError(t, err)

	tests := []struct {
		name   string
		send   func(t *testing.T)
		marked bool
	}{
		{"telemetry api batch", func(t *testing.T) {
			code, answer, _ := c.post(wire.Batch{Sandbox: testSandbox, Sequence: 1}, `[`+oneInvocation("r1", "01")+`]`)
			require.Equal(t, http.StatusOK, code, answer.Error)
		}, true},
		{"telemetry api envelope", func(t *testing.T) {
			resp, body := post(t, base+wire.TelemetryPath, "application/json", envelope)
			require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		}, true},
		{"otlp/http protobuf", func(t *testing.T) {
			resp, body := post(t, base+"/v1/traces", "application/x-protobuf", forged)
			require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		}, false},
		{"otlp/http json", func(t *testing.T) {
			resp, body := post(t, base+"/v1/traces", "application/json", forgedJSON)
			require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		}, false},
		{"otlp/http forwarded with sandbox headers", func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, base+"/v1/traces", bytes.NewReader(forged))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-protobuf")
			wire.Batch{Sandbox: testSandbox, Sequence: 3}.SetHeaders(req.Header)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			require.Equal(t, http.StatusOK, resp.StatusCode)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.send(t)
			calls := sink.take()
			require.Len(t, calls, 1)
			assert.Positive(t, calls[0].spans)
			assert.Equal(t, tt.marked, calls[0].marked)
		})
	}
}
