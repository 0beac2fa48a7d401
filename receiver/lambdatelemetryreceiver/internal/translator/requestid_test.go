// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package translator

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
)

// TestRequestIDsLambdaCannotProduceRejectTheirEvent: an invocation event whose request id
// is longer than telemetryapi.MaxRequestIDLen, or not printable ASCII, is rejected alone
// and counted as out of range: no state is keyed on it and no span carries it, while the
// batch's other invocation is counted.
func TestRequestIDsLambdaCannotProduceRejectTheirEvent(t *testing.T) {
	invocation := func(id string) string {
		q := strconv.Quote(id)
		return `{"time":"2024-06-01T12:00:00.000Z","type":"platform.start","record":{"requestId":` + q + `}},` +
			`{"time":"2024-06-01T12:00:00.040Z","type":"platform.runtimeDone","record":{"requestId":` + q + `,"status":"success","metrics":{"durationMs":40}}},` +
			`{"time":"2024-06-01T12:00:00.050Z","type":"platform.report","record":{"requestId":` + q + `,"status":"success","metrics":{"durationMs":41,"billedDurationMs":42,"memorySizeMB":128,"maxMemoryUsedMB":60}}}`
	}
	tests := []struct {
		name string
		id   string
	}{
		{name: "100 kB", id: strings.Repeat("r", 100_000)},
		{name: "one byte past the bound", id: strings.Repeat("r", telemetryapi.MaxRequestIDLen+1)},
		{name: "a control character", id: "8476a536-e9f4-11e8-9739-2dfe598c3fcd\r"},
		{name: "not ASCII", id: "8476a536-e9f4-11e8-9739-2dfe598c3fc\u0434"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb := NewSandbox("x")
			out := translateJSON(t, sb, wire.Batch{Sandbox: wire.Sandbox{FunctionName: "f"}},
				`[`+invocation(tt.id)+`,`+invocation("8476a536-e9f4-11e8-9739-2dfe598c3fcd")+`]`)
			assert.Equal(t, 3, out.Stats.OutOfRange, "each of the invocation's events")
			assert.Equal(t, 3, out.Stats.Accepted(), "the other invocation's")
			require.Len(t, out.Rejected, 3)
			for i, r := range out.Rejected {
				assert.Equal(t, i, r.Index)
				assert.ErrorIs(t, r.Err, telemetryapi.ErrOutOfRange)
				assert.ErrorContains(t, r.Err, "requestId")
			}
			assert.Equal(t, 2, out.Traces.SpanCount(), "the other invocation's span and its report's")
			assert.Empty(t, sb.st.started, "no state is keyed on the id")
			assert.Empty(t, sb.st.finished)
		})
	}
}
