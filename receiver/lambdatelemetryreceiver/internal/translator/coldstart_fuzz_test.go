// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package translator

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
)

// What an attack on the cold-start precedence found (provisioned concurrency, resent init
// reports, keyless forwarders), and a fuzz target over any order of a sandbox's events.

// tally is what lambda_metrics would count from a sandbox's spans: cold starts (cold
// invocation spans plus init spans carrying a late cold start) and init durations (every
// init span).
type tally struct{ cold, inits, coldInvocations, late int }

func tallyOf(outputs []Output) tally {
	var c tally
	for _, s := range spansOfType(outputs, lambdaconv.SpanTypeInvocation) {
		if attr(s, lambdaconv.AttrFaaSColdstart) == "true" {
			c.cold++
			c.coldInvocations++
		}
	}
	for _, s := range spansOfType(outputs, lambdaconv.SpanTypeInit) {
		c.inits++
		if attr(s, lambdaconv.AttrColdstartLate) == "true" {
			c.cold++
			c.late++
		}
	}
	return c
}

func runBatches(t *testing.T, batches [][]string) tally {
	t.Helper()
	b := wire.Batch{Sandbox: wire.Sandbox{FunctionName: "orders", ExtensionInstanceID: "sandbox-1"}}
	sb := NewSandbox("sandbox-1")
	var outputs []Output
	for _, events := range batches {
		outputs = append(outputs, translateJSON(t, sb, b, "["+strings.Join(events, ",")+"]"))
	}
	return tallyOf(outputs)
}

// Provisioned concurrency: the first report after a provisioned environment was (re)built
// carries Init Duration although nobody waited for the init (public reports: a Stack
// Overflow comment on "Provisioned concurrency not resolving cold start", a Qiita write-up
// on its behaviour). The init events were seen and said provisioned-concurrency: no cold
// start, one init.
func TestProvisionedReportWithInitDurationIsNoColdStart(t *testing.T) {
	for name, batches := range map[string][][]string{
		"one batch":            {{evPCStart, evPCReport, evStart, evDone, evColdReport}},
		"report in next batch": {{evPCStart, evPCReport, evStart, evDone}, {evColdReport}},
		"init earlier":         {{evPCStart, evPCReport}, {evStart, evDone, evColdReport}},
	} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tally{inits: 1}, runBatches(t, batches))
		})
	}
}

// TestResentInitReportMeasuresNothingTwice: the same init report in another batch (a
// resend, not a replay of the same sequence number) or twice in one.
func TestResentInitReportMeasuresNothingTwice(t *testing.T) {
	for name, batches := range map[string][][]string{
		"resent after the invocation":  {{evInitStart, evInitReport, evStart, evDone, evColdReport}, {evInitReport}},
		"resent before the invocation": {{evInitStart, evInitReport}, {evInitReport}, {evStart, evDone, evColdReport}},
		"twice in one batch":           {{evInitStart, evInitReport, evInitReport, evStart, evDone, evColdReport}},
		"pair resent after":            {{evInitStart, evInitReport, evStart, evDone, evColdReport}, {evInitStart, evInitReport}},
	} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tally{cold: 1, coldInvocations: 1, inits: 1}, runBatches(t, batches))
		})
	}
}

// TestNoStandInForAKeylessForwarder: a forwarder without an instance id keeps no state
// between batches; a report it marks as without runtimeDone makes the invocation cold, but
// no init span, which its init events may have made in another batch.
func TestNoStandInForAKeylessForwarder(t *testing.T) {
	b := wire.Batch{Sandbox: wire.Sandbox{FunctionName: "orders"}, ReportsWithoutRuntimeDone: []int{1}}
	var outputs []Output
	for range 2 { // the same batch resent: a keyless forwarder's batches are never replays
		outputs = append(outputs, translateJSON(t, NewSandbox(""), b, "["+evStart+","+evColdReport+"]"))
	}
	assert.Equal(t, tally{cold: 2, coldInvocations: 2}, tallyOf(outputs))
}

const (
	evRestoreStart  = `{"time":"2024-06-01T12:00:00.000Z","type":"platform.restoreStart","record":{"runtimeVersion":"python:3.12.v30"}}`
	evRestoreEnd    = `{"time":"2024-06-01T12:00:00.250Z","type":"platform.restoreReport","record":{"status":"success","metrics":{"durationMs":250}}}`
	evSnapInitStart = `{"time":"2024-05-01T12:00:00.000Z","type":"platform.initStart","record":{"initializationType":"snap-start","phase":"init"}}`
	evSnapInitEnd   = `{"time":"2024-05-01T12:00:01.000Z","type":"platform.initReport","record":{"initializationType":"snap-start","phase":"init","status":"success","metrics":{"durationMs":1000}}}`
	evSecondStart   = `{"time":"2024-06-01T12:00:01.300Z","type":"platform.start","record":{"requestId":"second"}}`
	evSecondDone    = `{"time":"2024-06-01T12:00:01.340Z","type":"platform.runtimeDone","record":{"requestId":"second","status":"success","metrics":{"durationMs":40}}}`
	evSecondReport  = `{"time":"2024-06-01T12:00:01.350Z","type":"platform.report","record":{"requestId":"second","status":"success","metrics":{"durationMs":40.2,"billedDurationMs":41,"memorySizeMB":128,"maxMemoryUsedMB":60}}}`
	// A forwarder's lie, or a report that repeats the first one's init duration.
	evSecondColdReport = `{"time":"2024-06-01T12:00:01.350Z","type":"platform.report","record":{"requestId":"second","status":"success","metrics":{"durationMs":40.2,"billedDurationMs":41,"memorySizeMB":128,"maxMemoryUsedMB":60,"initDurationMs":250.5}}}`
)

// coldStartDictionary is what FuzzColdStartCountsOnce builds a sandbox's life from.
var coldStartDictionary = []string{
	evInitStart, evInitReport, evPCStart, evPCReport, evSnapInitStart, evSnapInitEnd, evRestoreStart, evRestoreEnd,
	evStart, evDone, evColdReport, evWarmReport, evRestoreReport,
	evSecondStart, evSecondDone, evSecondReport, evSecondColdReport,
	`{"time":"2024-06-01T12:00:00.100Z","type":"platform.initReport","record":{"initializationType":"on-demand","phase":"init","status":"error","errorType":"Runtime.ExitError","metrics":{"durationMs":100}}}`,
	`{"time":"2024-06-01T12:00:00.110Z","type":"platform.initStart","record":{"initializationType":"on-demand","phase":"invoke"}}`,
	`{"time":"2024-06-01T12:00:00.290Z","type":"platform.initReport","record":{"initializationType":"on-demand","phase":"invoke","status":"success","metrics":{"durationMs":180}}}`,
	`{"time":"2024-06-01T12:00:00.350Z","type":"platform.report","record":{"requestId":"first","status":"success","metrics":{"durationMs":40.2,"billedDurationMs":291,"memorySizeMB":128,"maxMemoryUsedMB":60,"initDurationMs":250.5,"restoreDurationMs":100}}}`,
	`{"time":"2024-06-01T12:00:00.351Z","type":"platform.report","record":{"requestId":"first","status":"success","metrics":{"durationMs":40.2,"billedDurationMs":291,"memorySizeMB":128,"maxMemoryUsedMB":60,"initDurationMs":99}}}`,
}

// FuzzColdStartCountsOnce: any sequence of a sandbox's events, cut into batches
// anyhow, some refused by the pipeline and retried (Checkpoint/Restore), some marked as
// reports without runtimeDone: the sandbox's cold start counts at most once, and each
// request's invocation at most once.
//
// Each byte of plan: low 5 bits pick an event; bit 5 ends the batch after it; bit 6 marks it
// as a report without runtimeDone; bit 7 on the batch's last event has the pipeline refuse
// the batch once.
func FuzzColdStartCountsOnce(f *testing.F) {
	f.Add([]byte{0, 1, 8, 9, 10 | 32})
	f.Add([]byte{8, 9 | 32, 10 | 32, 0, 1 | 32})
	f.Add([]byte{2, 3, 8, 9 | 32, 10 | 32 | 128})
	f.Add([]byte{9 | 32, 10 | 32 | 128, 0, 1 | 32, 14, 16})
	f.Fuzz(func(t *testing.T, plan []byte) {
		if len(plan) > 64 {
			return
		}
		b := wire.Batch{Sandbox: wire.Sandbox{FunctionName: "orders", ExtensionInstanceID: "sandbox-1"}}
		sb := NewSandbox("sandbox-1")
		var outputs []Output
		var batch []string
		var marked []int
		flush := func(refuse bool) {
			if len(batch) == 0 {
				return
			}
			body := "[" + strings.Join(batch, ",") + "]"
			events, err := telemetryapi.DecodeEvents([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			bb := b
			bb.ReportsWithoutRuntimeDone = marked
			sb.Lock()
			if refuse {
				cp := sb.Checkpoint()
				Translate(sb, bb, telemetryapi.DecodeRecords(events), testScope)
				sb.Restore(cp)
			}
			outputs = append(outputs, Translate(sb, bb, telemetryapi.DecodeRecords(events), testScope))
			sb.Unlock()
			batch, marked = nil, nil
		}
		for _, p := range plan {
			ev := coldStartDictionary[int(p&31)%len(coldStartDictionary)]
			if p&64 != 0 && strings.Contains(ev, `"platform.report"`) {
				marked = append(marked, len(batch))
			}
			batch = append(batch, ev)
			if p&32 != 0 {
				flush(p&128 != 0)
			}
		}
		flush(false)
		got := tallyOf(outputs)
		if got.cold > 1 {
			t.Fatalf("cold start counted %d times: %+v", got.cold, got)
		}
	})
}
