// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package translator

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
)

func translateJSON(t *testing.T, sb *Sandbox, b wire.Batch, body string) Output {
	t.Helper()
	events, err := telemetryapi.DecodeEvents([]byte(body))
	require.NoError(t, err)
	sb.Lock()
	defer sb.Unlock()
	return Translate(sb, b, telemetryapi.DecodeRecords(events), testScope)
}

// TestValuesLambdaCannotProduceRejectTheirEvent: such a value is neither clamped nor
// half-used. The event is rejected and counted, and it changes no state: the invocation
// whose runtimeDone carried it is not counted, and its report has no parent.
func TestValuesLambdaCannotProduceRejectTheirEvent(t *testing.T) {
	tests := []struct {
		name  string
		event string
		field string
	}{
		{name: "huge duration", field: "metrics.durationMs",
			event: `{"time":"2024-06-01T12:00:00.040Z","type":"platform.runtimeDone","record":{"requestId":"r1","status":"success","metrics":{"durationMs":1e308}}}`},
		{name: "negative duration", field: "metrics.durationMs",
			event: `{"time":"2024-06-01T12:00:00.040Z","type":"platform.runtimeDone","record":{"requestId":"r1","status":"success","metrics":{"durationMs":-40}}}`},
		{name: "negative billed duration", field: "metrics.billedDurationMs",
			event: `{"time":"2024-06-01T12:00:00.050Z","type":"platform.report","record":{"requestId":"r1","status":"success","metrics":{"durationMs":41,"billedDurationMs":-1,"memorySizeMB":128,"maxMemoryUsedMB":60}}}`},
		{name: "memory beyond Lambda's most", field: "metrics.memorySizeMB",
			event: `{"time":"2024-06-01T12:00:00.050Z","type":"platform.report","record":{"requestId":"r1","status":"success","metrics":{"durationMs":41,"billedDurationMs":41,"memorySizeMB":20480,"maxMemoryUsedMB":60}}}`},
		{name: "init longer than any phase", field: "metrics.initDurationMs",
			event: `{"time":"2024-06-01T12:00:00.050Z","type":"platform.report","record":{"requestId":"r1","status":"success","metrics":{"durationMs":41,"billedDurationMs":41,"memorySizeMB":128,"maxMemoryUsedMB":60,"initDurationMs":3600000}}}`},
		{name: "init report negative", field: "metrics.durationMs",
			event: `{"time":"2024-06-01T12:00:00.050Z","type":"platform.initReport","record":{"initializationType":"on-demand","phase":"init","status":"success","metrics":{"durationMs":-1}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := translateJSON(t, NewSandbox("x"), wire.Batch{Sandbox: wire.Sandbox{FunctionName: "f"}},
				`[{"time":"2024-06-01T12:00:00.000Z","type":"platform.start","record":{"requestId":"r1"}},`+tt.event+`]`)
			assert.Equal(t, 1, out.Stats.OutOfRange)
			assert.Equal(t, 1, out.Stats.Accepted(), "only platform.start was used")
			require.Len(t, out.Rejected, 1)
			assert.Equal(t, 1, out.Rejected[0].Index)
			assert.ErrorIs(t, out.Rejected[0].Err, telemetryapi.ErrOutOfRange)
			assert.Contains(t, out.Rejected[0].Err.Error(), tt.field)
			assert.Zero(t, out.Traces.SpanCount(), "nothing is made of the event")
		})
	}
}

func TestRejectionsAreListedUpToTheBound(t *testing.T) {
	var b strings.Builder
	b.WriteString("[")
	n := 10 * MaxRejections
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"time":"2024-06-01T12:00:00.000Z","type":"platform.runtimeDone","record":{"requestId":` + strconv.Itoa(i) + `}}`)
	}
	b.WriteString("]")
	out := translateJSON(t, NewSandbox("x"), wire.Batch{}, b.String())
	assert.Equal(t, n, out.Stats.Malformed)
	assert.Len(t, out.Rejected, MaxRejections)
	assert.Equal(t, 0, out.Rejected[0].Index)
}

// TestReportsWithoutRuntimeDoneInAnyOrder: the list is searched, not scanned, so it is
// sorted first.
func TestReportsWithoutRuntimeDoneInAnyOrder(t *testing.T) {
	report := func(id string) string {
		return `{"time":"2024-06-01T12:00:01.000Z","type":"platform.report","record":{"requestId":"` + id +
			`","status":"error","errorType":"Runtime.OutOfMemory","metrics":{"durationMs":41,"billedDurationMs":41,"memorySizeMB":128,"maxMemoryUsedMB":128}}}`
	}
	out := translateJSON(t, NewSandbox("x"), wire.Batch{Sandbox: wire.Sandbox{FunctionName: "f"}, ReportsWithoutRuntimeDone: []int{2, 0}},
		`[`+report("a")+`,`+report("b")+`,`+report("c")+`]`)
	got := map[string]int{}
	for _, s := range spansOfType([]Output{out}, lambdaconv.SpanTypeInvocation) {
		got[attr(s, lambdaconv.AttrFaaSInvocationID)]++
	}
	assert.Equal(t, map[string]int{"a": 1, "c": 1}, got)
}

// TestJSONLogExtrasPastTheBoundAreCountedDropped: a JSON log's keys past
// telemetryapi.MaxLogExtras are not attributes, and the record counts them as dropped.
func TestJSONLogExtrasPastTheBoundAreCountedDropped(t *testing.T) {
	var record strings.Builder
	record.WriteString(`{"message":"m"`)
	for i := range telemetryapi.MaxLogExtras + 2 {
		record.WriteString(`,"k` + strconv.Itoa(i) + `":1`)
	}
	record.WriteString("}")
	out := translateJSON(t, NewSandbox("x"), wire.Batch{Sandbox: wire.Sandbox{FunctionName: "f"}},
		`[{"time":"2024-06-01T12:00:00.000Z","type":"function","record":`+record.String()+`}]`)
	require.Equal(t, 1, out.Logs.LogRecordCount())
	lr := out.Logs.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	assert.Equal(t, uint32(2), lr.DroppedAttributesCount())
	assert.Equal(t, telemetryapi.MaxLogExtras+1, lr.Attributes().Len(), "the extras kept and the telemetry type")
}
