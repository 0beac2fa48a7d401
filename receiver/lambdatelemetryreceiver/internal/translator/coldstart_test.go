// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package translator

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
)

// Events of one sandbox's life, for the batches of TestColdStartWithoutItsInitEvents.
const (
	evInitStart  = `{"time":"2024-06-01T12:00:00.000Z","type":"platform.initStart","record":{"initializationType":"on-demand","phase":"init","runtimeVersion":"python:3.12.v30"}}`
	evInitReport = `{"time":"2024-06-01T12:00:00.250Z","type":"platform.initReport","record":{"initializationType":"on-demand","phase":"init","status":"success","metrics":{"durationMs":250}}}`
	evPCStart    = `{"time":"2024-06-01T12:00:00.000Z","type":"platform.initStart","record":{"initializationType":"provisioned-concurrency","phase":"init"}}`
	evPCReport   = `{"time":"2024-06-01T12:00:00.250Z","type":"platform.initReport","record":{"initializationType":"provisioned-concurrency","phase":"init","status":"success","metrics":{"durationMs":250}}}`
	evStart      = `{"time":"2024-06-01T12:00:00.300Z","type":"platform.start","record":{"requestId":"first"}}`
	evDone       = `{"time":"2024-06-01T12:00:00.340Z","type":"platform.runtimeDone","record":{"requestId":"first","status":"success","metrics":{"durationMs":40}}}`
	evColdReport = `{"time":"2024-06-01T12:00:00.350Z","type":"platform.report","record":{"requestId":"first","status":"success","metrics":{"durationMs":40.2,"billedDurationMs":291,"memorySizeMB":128,"maxMemoryUsedMB":60,"initDurationMs":250.5}}}`
	evWarmReport = `{"time":"2024-06-01T12:00:00.350Z","type":"platform.report","record":{"requestId":"first","status":"success","metrics":{"durationMs":40.2,"billedDurationMs":41,"memorySizeMB":128,"maxMemoryUsedMB":60}}}`
	// The figures of a real Python SnapStart REPORT line: billed 313 = ceil(149.53) + 163.
	evRestoreReport = `{"time":"2024-06-01T12:00:00.350Z","type":"platform.report","record":{"requestId":"first","status":"success","metrics":{"durationMs":149.53,"billedDurationMs":313,"memorySizeMB":3538,"maxMemoryUsedMB":163,"restoreDurationMs":789.64,"billedRestoreDurationMs":163}}}`
)

// TestColdStartWithoutItsInitEvents: a sandbox's cold start is counted exactly once,
// whichever of its init events and its first report arrive, in whatever order. The init
// events win when they come first; the report's init duration stands in for them when they
// never come; init events that come after the report's stand-in count nothing more.
func TestColdStartWithoutItsInitEvents(t *testing.T) {
	type want struct {
		coldInvocation  bool   // the invocation span says faas.coldstart=true
		initSpans       int    // init spans made over all batches
		fromReport      int    // of which made from the report
		late            int    // of which carry the cold start (aws.lambda.coldstart.late)
		initType        string // of the init span(s)
		initDurationMs  float64
		duplicates      int
		billedRestoreMs string // the report span's aws.lambda.billed_restore_duration_ms
	}
	tests := []struct {
		name    string
		keyless bool
		batches [][]string
		want    want
	}{
		{
			name:    "init events seen: they make the cold start, the report adds nothing",
			batches: [][]string{{evInitStart, evInitReport, evStart, evDone, evColdReport}},
			want:    want{coldInvocation: true, initSpans: 1, initType: "on-demand", initDurationMs: 250},
		},
		{
			name:    "init events in an earlier batch",
			batches: [][]string{{evInitStart, evInitReport}, {evStart, evDone}, {evColdReport}},
			want:    want{coldInvocation: true, initSpans: 1, initType: "on-demand", initDurationMs: 250},
		},
		{
			name:    "no init events, report in the invocation's batch",
			batches: [][]string{{evStart, evDone, evColdReport}},
			want:    want{coldInvocation: true, initSpans: 1, fromReport: 1, initType: "on-demand", initDurationMs: 250.5},
		},
		{
			name:    "no init events, report in a later batch",
			batches: [][]string{{evStart, evDone}, {evColdReport}},
			want:    want{initSpans: 1, fromReport: 1, late: 1, initType: "on-demand", initDurationMs: 250.5},
		},
		{
			name:    "init events after the report's stand-in count nothing more",
			batches: [][]string{{evStart, evDone, evColdReport}, {evInitStart, evInitReport}},
			want:    want{coldInvocation: true, initSpans: 1, fromReport: 1, initType: "on-demand", initDurationMs: 250.5, duplicates: 1},
		},
		{
			name:    "init events after the invocation, before its report: they carry the cold start",
			batches: [][]string{{evStart, evDone}, {evInitStart, evInitReport}, {evColdReport}},
			want:    want{initSpans: 1, late: 1, initType: "on-demand", initDurationMs: 250},
		},
		{
			name:    "late init report alone, after the stand-in",
			batches: [][]string{{evStart, evDone}, {evColdReport}, {evInitReport}},
			want:    want{initSpans: 1, fromReport: 1, late: 1, initType: "on-demand", initDurationMs: 250.5, duplicates: 1},
		},
		{
			name:    "SnapStart restore events never came",
			batches: [][]string{{evStart, evDone, strings.Replace(evRestoreReport, "40.2", "40", 1)}},
			want: want{coldInvocation: true, initSpans: 1, fromReport: 1, initType: "snap-start", initDurationMs: 789.64,
				billedRestoreMs: "163"},
		},
		{
			name:    "provisioned concurrency init after the invocation is no cold start",
			batches: [][]string{{evStart, evDone}, {evPCStart, evPCReport}, {evWarmReport}},
			want:    want{initSpans: 1, initType: "provisioned-concurrency", initDurationMs: 250},
		},
		{
			name:    "a warm report makes nothing",
			batches: [][]string{{evStart, evDone, evWarmReport}},
			want:    want{},
		},
		{
			// A forwarder without an instance id keeps no state between batches: the gateway
			// cannot tell init events lost from init events in an earlier batch.
			name:    "no stand-in for a forwarder without an instance id",
			keyless: true,
			batches: [][]string{{evStart, evDone, evColdReport}},
			want:    want{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := wire.Batch{Sandbox: wire.Sandbox{FunctionName: "orders", ExtensionInstanceID: "sandbox-1"}}
			if tt.keyless {
				b.Sandbox.ExtensionInstanceID = ""
			}
			sb := NewSandbox(b.Sandbox.ExtensionInstanceID)
			var outputs []Output
			duplicates := 0
			for _, events := range tt.batches {
				out := translateJSON(t, sb, b, "["+strings.Join(events, ",")+"]")
				require.Empty(t, out.Rejected)
				duplicates += out.Stats.Duplicates
				outputs = append(outputs, out)
			}

			invocations := spansOfType(outputs, lambdaconv.SpanTypeInvocation)
			require.Len(t, invocations, 1)
			inv := invocations[0]
			assert.Equal(t, tt.want.coldInvocation, attr(inv, lambdaconv.AttrFaaSColdstart) == "true", "faas.coldstart")

			inits := spansOfType(outputs, lambdaconv.SpanTypeInit)
			assert.Len(t, inits, tt.want.initSpans, "init spans")
			fromReport, late := 0, 0
			for _, s := range inits {
				fromReport += boolInt(attr(s, lambdaconv.AttrInitFromReport) == "true")
				late += boolInt(attr(s, lambdaconv.AttrColdstartLate) == "true")
				assert.Equal(t, tt.want.initType, attr(s, lambdaconv.AttrInitializationType))
				d, _ := s.Attributes().Get(lambdaconv.AttrDurationMs)
				assert.Equal(t, tt.want.initDurationMs, d.Double())
				assert.Equal(t, int64(s.EndTimestamp()-s.StartTimestamp()), int64(tt.want.initDurationMs*1e6), "span length")
			}
			assert.Equal(t, tt.want.fromReport, fromReport, "init spans from the report")
			assert.Equal(t, tt.want.late, late, "init spans carrying the cold start")
			assert.Equal(t, tt.want.duplicates, duplicates, "duplicates")

			// Counted once: on the invocation, or on a late init span, never both.
			assert.LessOrEqual(t, boolInt(tt.want.coldInvocation)+late, 1)
			if tt.want.coldInvocation && len(inits) > 0 {
				require.Equal(t, 1, inv.Links().Len(), "the cold invocation links to its init span")
				assert.Equal(t, inits[0].SpanID(), inv.Links().At(0).SpanID())
				if attr(inits[0], lambdaconv.AttrInitFromReport) == "true" {
					assert.Equal(t, inv.StartTimestamp(), inits[0].EndTimestamp(), "the stand-in init ends as the invocation starts")
				}
			}
			if reports := spansOfType(outputs, lambdaconv.SpanTypeReport); assert.Len(t, reports, 1) {
				assert.Equal(t, tt.want.billedRestoreMs, attr(reports[0], lambdaconv.AttrBilledRestoreDurationMs))
			}
		})
	}
}

// TestLateInitRanTwice: a failed init and the init Lambda re-ran inside the invocation,
// both arriving after the invocation went out: both are measured, the cold start counts
// once.
func TestLateInitRanTwice(t *testing.T) {
	b := wire.Batch{Sandbox: wire.Sandbox{FunctionName: "orders", ExtensionInstanceID: "sandbox-1"}}
	sb := NewSandbox("sandbox-1")
	first := translateJSON(t, sb, b, "["+evStart+","+evDone+"]")
	late := translateJSON(t, sb, b, `[`+evInitStart+`,`+
		`{"time":"2024-06-01T12:00:00.100Z","type":"platform.initReport","record":{"initializationType":"on-demand","phase":"init","status":"error","errorType":"Runtime.ExitError","metrics":{"durationMs":100}}},`+
		`{"time":"2024-06-01T12:00:00.110Z","type":"platform.initStart","record":{"initializationType":"on-demand","phase":"invoke"}},`+
		`{"time":"2024-06-01T12:00:00.290Z","type":"platform.initReport","record":{"initializationType":"on-demand","phase":"invoke","status":"success","metrics":{"durationMs":180}}}]`)
	report := translateJSON(t, sb, b, "["+evColdReport+"]")
	inits := spansOfType([]Output{first, late, report}, lambdaconv.SpanTypeInit)
	require.Len(t, inits, 2)
	assert.Equal(t, "true", attr(inits[0], lambdaconv.AttrColdstartLate), "the first phase carries the cold start")
	assert.Empty(t, attr(inits[1], lambdaconv.AttrColdstartLate), "the second counts no second cold start")
	assert.Zero(t, late.Stats.Duplicates+report.Stats.Duplicates)
	assert.Equal(t, "false", attr(spansOfType([]Output{first}, lambdaconv.SpanTypeInvocation)[0], lambdaconv.AttrFaaSColdstart))
}
