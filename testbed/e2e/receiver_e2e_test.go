// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
)

// invocationEvents is the Telemetry API events of one invocation, as Lambda writes them.
func invocationEvents(requestID string, second int) string {
	ts := func(ms int) string { return fmt.Sprintf("2024-06-01T12:00:%02d.%03dZ", second, ms) }
	return fmt.Sprintf(`{"time":%q,"type":"platform.start","record":{"requestId":%q}},`+
		`{"time":%q,"type":"platform.runtimeDone","record":{"requestId":%q,"status":"success","metrics":{"durationMs":40}}},`+
		`{"time":%q,"type":"platform.report","record":{"requestId":%q,"status":"success","metrics":{"durationMs":41,"billedDurationMs":41,"memorySizeMB":128,"maxMemoryUsedMB":60}}}`,
		ts(0), requestID, ts(40), requestID, ts(50), requestID)
}

type telemetryAnswer struct {
	Accepted int  `json:"accepted"`
	Replayed bool `json:"replayed"`
	Rejected []struct {
		Index int `json:"index"`
	} `json:"rejected"`
	Error string `json:"error"`
}

// postBatch sends a batch of Telemetry API events to the gateway at url as the extension
// does, and returns the receiver's status and answer.
func postBatch(t *testing.T, url string, b wire.Batch, body []byte, gzipped bool) (int, telemetryAnswer) {
	t.Helper()
	status, answer, err := sendBatch(context.Background(), url, b, body, gzipped)
	require.NoError(t, err)
	return status, answer
}

// sendBatch is postBatch for callers that must not fail the test.
func sendBatch(ctx context.Context, url string, b wire.Batch, body []byte, gzipped bool) (int, telemetryAnswer, error) {
	var answer telemetryAnswer
	if gzipped {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(body) // a bytes.Buffer takes every write
		if err := zw.Close(); err != nil {
			return 0, answer, err
		}
		body = buf.Bytes()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+wire.TelemetryPath, bytes.NewReader(body))
	if err != nil {
		return 0, answer, err
	}
	req.Header.Set("Content-Type", "application/json")
	if gzipped {
		req.Header.Set("Content-Encoding", "gzip")
	}
	b.SetHeaders(req.Header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, answer, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, answer, err
	}
	if err := json.Unmarshal(raw, &answer); err != nil {
		return resp.StatusCode, answer, fmt.Errorf("status %d, answer %q: %w", resp.StatusCode, raw, err)
	}
	return resp.StatusCode, answer, nil
}

// TestReceiverTakesTelemetryBatches sends Telemetry API batches to the built gateway as the
// extension does — plain and gzip, retried ones, one with a broken event, an out-of-memory
// cold start counted from its report — and checks what the receiver says it took, in its
// answers, in faas_* series and in the gateway's own metrics in Prometheus.
func TestReceiverTakesTelemetryBatches(t *testing.T) {
	s := startStack(t)
	base := s.URL
	sandbox := wire.Sandbox{FunctionName: "e2e-telemetry", FunctionVersion: "1", Region: "eu-west-1",
		MemorySizeMB: 128, Architecture: "arm64", ExtensionInstanceID: "e2e-sandbox-1"}

	first := []byte("[" + invocationEvents("r1", 1) + "," + invocationEvents("r2", 2) + "]")
	code, answer := postBatch(t, base, wire.Batch{Sandbox: sandbox, Sequence: 1}, first, false)
	require.Equal(t, http.StatusOK, code, answer.Error)
	assert.Equal(t, 6, answer.Accepted)

	// The extension retries a batch whose answer it did not get: acknowledged, not counted.
	code, answer = postBatch(t, base, wire.Batch{Sandbox: sandbox, Sequence: 1}, first, false)
	require.Equal(t, http.StatusOK, code)
	assert.True(t, answer.Replayed)

	code, answer = postBatch(t, base, wire.Batch{Sandbox: sandbox, Sequence: 2}, []byte("["+invocationEvents("r3", 3)+"]"), true)
	require.Equal(t, http.StatusOK, code, answer.Error)
	assert.Equal(t, 3, answer.Accepted)

	broken := "[" + invocationEvents("r4", 4) + `,{"time":"2024-06-01T12:00:05.000Z","type":"platform.runtimeDone","record":{"requestId":7}}]`
	code, answer = postBatch(t, base, wire.Batch{Sandbox: sandbox, Sequence: 3}, []byte(broken), false)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, 3, answer.Accepted)
	require.Len(t, answer.Rejected, 1)
	assert.Equal(t, 3, answer.Rejected[0].Index)

	code, answer = postBatch(t, base, wire.Batch{Sandbox: sandbox, Sequence: 4}, []byte(`{"not":"events"}`), false)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.NotEmpty(t, answer.Error)

	// A new sandbox's cold start whose runtime was killed for memory: the extension never
	// saw a runtimeDone and marks the report (index 2), which then counts the invocation.
	coldSandbox := sandbox
	coldSandbox.ExtensionInstanceID = "e2e-sandbox-2"
	oom := `[{"time":"2024-06-01T12:01:00.000Z","type":"platform.initStart","record":{"initializationType":"on-demand","phase":"init"}},` +
		`{"time":"2024-06-01T12:01:00.300Z","type":"platform.start","record":{"requestId":"r5"}},` +
		`{"time":"2024-06-01T12:01:02.300Z","type":"platform.report","record":{"requestId":"r5","status":"error","errorType":"Runtime.OutOfMemory",` +
		`"metrics":{"durationMs":2000,"billedDurationMs":2000,"memorySizeMB":128,"maxMemoryUsedMB":128,"initDurationMs":290}}}]`
	code, answer = postBatch(t, base, wire.Batch{Sandbox: coldSandbox, Sequence: 1, ReportsWithoutRuntimeDone: []int{2}}, []byte(oom), false)
	require.Equal(t, http.StatusOK, code, answer.Error)
	code, answer = postBatch(t, base, wire.Batch{Sandbox: coldSandbox, Sequence: 1, ReportsWithoutRuntimeDone: []int{2}}, []byte(oom), false)
	require.Equal(t, http.StatusOK, code)
	assert.True(t, answer.Replayed)

	// 5 invocations, each counted once in Prometheus whatever was re-sent.
	s.eventually(t, `sum(faas_invocations_total{faas_name="e2e-telemetry"})`, map[string]float64{"": 5})
	s.eventually(t, `sum by (error_type) (faas_errors_total{faas_name="e2e-telemetry"})`,
		map[string]float64{"error_type=out_of_memory": 1}, "error_type")
	s.eventually(t, `sum(faas_coldstarts_total{faas_name="e2e-telemetry"})`, map[string]float64{"": 1})

	// 5 invocation spans and 5 report spans, nothing from the replays.
	s.eventually(t, `sum by (receiver) (otelcol_receiver_accepted_spans{job="otelcol-lambda-gateway",receiver="lambda_telemetry"})`,
		map[string]float64{"receiver=lambda_telemetry": 10}, "receiver")
	s.eventually(t, `sum by (outcome) ({__name__=~"otelcol_receiver_lambda_telemetry_events(_total)?",job="otelcol-lambda-gateway"})`,
		map[string]float64{"outcome=accepted": 15, "outcome=malformed": 1}, "outcome")
	s.eventually(t, `sum({__name__=~"otelcol_receiver_lambda_telemetry_batches_replayed(_total)?",job="otelcol-lambda-gateway"})`,
		map[string]float64{"": 2})
	assert.False(t, strings.Contains(s.Output.String(), "panic"))
}
