// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package telemetryapi

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckLimits(t *testing.T) {
	ptr := func(v float64) *float64 { return &v }
	start := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	report := func(mutate func(*ReportMetrics)) *PlatformReport {
		m := ReportMetrics{DurationMs: 41.5, BilledDurationMs: 42, MemorySizeMB: 128, MaxMemoryUsedMB: 60}
		if mutate != nil {
			mutate(&m)
		}
		return &PlatformReport{RequestID: "r", Status: StatusSuccess, Metrics: m}
	}
	tests := []struct {
		name      string
		typ       string
		rec       any
		wantField string // "" when the record is within limits
	}{
		{name: "a real report", typ: TypePlatformReport, rec: report(nil)},
		{name: "a cold start's report at the limits", typ: TypePlatformReport, rec: report(func(m *ReportMetrics) {
			m.DurationMs, m.BilledDurationMs, m.InitDurationMs = 900_000, 910_000, ptr(10_000)
			m.MemorySizeMB, m.MaxMemoryUsedMB = 10240, 10240+MemoryUsedMarginMB
		})},
		{name: "memory size not reported", typ: TypePlatformReport, rec: report(func(m *ReportMetrics) { m.MemorySizeMB = 0 })},
		{name: "huge duration", typ: TypePlatformReport, rec: report(func(m *ReportMetrics) { m.DurationMs = 1e308 }), wantField: "metrics.durationMs"},
		{name: "negative duration", typ: TypePlatformReport, rec: report(func(m *ReportMetrics) { m.DurationMs = -1 }), wantField: "metrics.durationMs"},
		{name: "NaN billed duration", typ: TypePlatformReport, rec: report(func(m *ReportMetrics) { m.BilledDurationMs = math.NaN() }), wantField: "metrics.billedDurationMs"},
		{name: "infinite init duration", typ: TypePlatformReport, rec: report(func(m *ReportMetrics) { m.InitDurationMs = ptr(math.Inf(1)) }), wantField: "metrics.initDurationMs"},
		{name: "restore duration past the margin", typ: TypePlatformReport, rec: report(func(m *ReportMetrics) { m.RestoreDurationMs = ptr(maxDurationMs + 1) }), wantField: "metrics.restoreDurationMs"},
		{name: "negative billed restore duration", typ: TypePlatformReport, rec: report(func(m *ReportMetrics) { m.BilledRestoreDurationMs = ptr(-1) }), wantField: "metrics.billedRestoreDurationMs"},
		{name: "memory below Lambda's least", typ: TypePlatformReport, rec: report(func(m *ReportMetrics) { m.MemorySizeMB = 64 }), wantField: "metrics.memorySizeMB"},
		{name: "memory above Lambda's most", typ: TypePlatformReport, rec: report(func(m *ReportMetrics) { m.MemorySizeMB = 10241 }), wantField: "metrics.memorySizeMB"},
		{name: "more memory used than configured", typ: TypePlatformReport, rec: report(func(m *ReportMetrics) { m.MaxMemoryUsedMB = 128 + MemoryUsedMarginMB + 1 }), wantField: "metrics.maxMemoryUsedMB"},
		{name: "negative memory used", typ: TypePlatformReport, rec: report(func(m *ReportMetrics) { m.MaxMemoryUsedMB = -5 }), wantField: "metrics.maxMemoryUsedMB"},
		{name: "a real runtimeDone", typ: TypePlatformRuntimeDone, rec: &PlatformRuntimeDone{RequestID: "r", Status: StatusSuccess,
			Metrics: &RuntimeDoneMetrics{DurationMs: 40, ProducedBytes: ptr(12)}, Spans: []Span{{Name: SpanResponseLatency, Start: start, DurationMs: 1}}}},
		{name: "runtimeDone without metrics", typ: TypePlatformRuntimeDone, rec: &PlatformRuntimeDone{RequestID: "r"}},
		{name: "runtimeDone negative duration", typ: TypePlatformRuntimeDone, rec: &PlatformRuntimeDone{Metrics: &RuntimeDoneMetrics{DurationMs: -0.5}}, wantField: "metrics.durationMs"},
		{name: "runtimeDone huge response", typ: TypePlatformRuntimeDone, rec: &PlatformRuntimeDone{Metrics: &RuntimeDoneMetrics{DurationMs: 1, ProducedBytes: ptr(1e300)}}, wantField: "metrics.producedBytes"},
		{name: "phase span too long", typ: TypePlatformRuntimeDone, rec: &PlatformRuntimeDone{Spans: []Span{{Start: start, DurationMs: 1e12}}}, wantField: "spans[].durationMs"},
		{name: "init report too long", typ: TypePlatformInitReport, rec: &PlatformInitReport{Metrics: InitReportMetrics{DurationMs: 1e9}}, wantField: "metrics.durationMs"},
		{name: "restore report negative", typ: TypePlatformRestoreReport, rec: &PlatformRestoreReport{Metrics: InitReportMetrics{DurationMs: -3}}, wantField: "metrics.durationMs"},
		{name: "logs dropped negative", typ: TypePlatformLogsDropped, rec: &PlatformLogsDropped{DroppedRecords: -1}, wantField: "droppedRecords"},
		{name: "logs dropped huge", typ: TypePlatformLogsDropped, rec: &PlatformLogsDropped{DroppedRecords: 1, DroppedBytes: 1e300}, wantField: "droppedBytes"},
		{name: "log records have no limits here", typ: TypeFunction, rec: &LogRecord{Message: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckLimits(tt.typ, tt.rec)
			if tt.wantField == "" {
				assert.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrOutOfRange)
			var limit *LimitError
			require.ErrorAs(t, err, &limit)
			assert.Equal(t, tt.wantField, limit.Field)
			assert.Contains(t, err.Error(), tt.typ+" record: "+tt.wantField)
		})
	}
}

func TestCheckLimitsSpanStart(t *testing.T) {
	err := CheckLimits(TypePlatformInitRuntimeDone, &PlatformInitRuntimeDone{Spans: []Span{{Name: "x", DurationMs: 1}}})
	require.ErrorIs(t, err, ErrOutOfRange)
	assert.Contains(t, err.Error(), "span's start")
}

func TestLimitErrorMessageNamesTheLimit(t *testing.T) {
	err := CheckLimits(TypePlatformReport, &PlatformReport{Metrics: ReportMetrics{DurationMs: 1e308}})
	assert.EqualError(t, err, "platform.report record: metrics.durationMs = 1e+308 is outside what Lambda produces (0 to 960000 ms)")
}

// TestCheckLimitsRequestID: the request id an invocation is keyed on is bounded, in each
// record that carries one; a violation rejects the event as out of range.
func TestCheckLimitsRequestID(t *testing.T) {
	uuid := "8476a536-e9f4-11e8-9739-2dfe598c3fcd"
	records := map[string]func(id string) any{
		TypePlatformStart:       func(id string) any { return &PlatformStart{RequestID: id} },
		TypePlatformRuntimeDone: func(id string) any { return &PlatformRuntimeDone{RequestID: id, Status: StatusSuccess} },
		TypePlatformReport: func(id string) any {
			return &PlatformReport{RequestID: id, Metrics: ReportMetrics{DurationMs: 1, BilledDurationMs: 1, MemorySizeMB: 128, MaxMemoryUsedMB: 60}}
		},
	}
	tests := []struct {
		name    string
		id      string
		wantErr string // "" when within limits
	}{
		{name: "a UUID", id: uuid},
		{name: "at the bound", id: strings.Repeat("r", MaxRequestIDLen)},
		{name: "printable ASCII", id: "a !~{}"},
		{name: "not reported", id: ""},
		{name: "one byte past the bound", id: strings.Repeat("r", MaxRequestIDLen+1), wantErr: "requestId of 129 bytes is outside what Lambda produces (at most 128 bytes of printable ASCII)"},
		{name: "100 kB", id: strings.Repeat("r", 100_000), wantErr: "requestId of 100000 bytes"},
		{name: "a newline", id: uuid + "\n", wantErr: `requestId "8476a536-e9f4-11e8-9739-2dfe598c3fcd\n" is outside`},
		{name: "a NUL", id: "\x00", wantErr: `requestId "\x00" is outside`},
		{name: "DEL", id: "\x7f", wantErr: `requestId "\x7f" is outside`},
		{name: "UTF-8", id: "réquest", wantErr: `requestId "r\u00e9quest" is outside`},
		{name: "not UTF-8", id: "r\xff", wantErr: `requestId "r\xff" is outside`},
	}
	for typ, record := range records {
		for _, tt := range tests {
			t.Run(typ+"/"+tt.name, func(t *testing.T) {
				err := CheckLimits(typ, record(tt.id))
				if tt.wantErr == "" {
					assert.NoError(t, err)
					return
				}
				require.ErrorIs(t, err, ErrOutOfRange)
				assert.ErrorContains(t, err, typ+" record: "+tt.wantErr)
				assert.Less(t, len(err.Error()), 256, "the message quotes a bounded part of the id")
			})
		}
	}
}

// TestRecordListsAreBounded: a list longer than MaxRecordListLen is refused before it is
// decoded, whichever path decodes the record and however its key is spelled (encoding/json
// matches keys unescaped and case-folded, "ſ" folding to "s"); one at the bound decodes.
func TestRecordListsAreBounded(t *testing.T) {
	list := func(elem string, n int) string {
		return "[" + strings.TrimSuffix(strings.Repeat(elem+",", n), ",") + "]"
	}
	for _, tc := range []struct{ typ, key, elem string }{
		{TypePlatformRuntimeDone, "spans", "{}"},
		{TypePlatformRuntimeDone, "Spans", "{}"},
		{TypePlatformReport, `sp\u0061ns`, `{"name":"x"}`},
		{TypePlatformReport, "ſpans", "{}"},
		{TypePlatformInitRuntimeDone, "spans", "{}"},
		{TypePlatformInitReport, "SPANS", "{}"},
		{TypePlatformRestoreRuntimeDone, "spans", "{}"},
		{TypePlatformRestoreReport, "spans", "{}"},
		{TypePlatformExtension, "events", `""`},
		{TypePlatformTelemetrySubscription, "types", `"x"`},
	} {
		t.Run(tc.typ+" "+tc.key, func(t *testing.T) {
			for n, wantErr := range map[int]bool{MaxRecordListLen: false, MaxRecordListLen + 1: true} {
				// Twice, the second spelled exactly: duplicates are each decoded.
				for _, record := range []string{
					`{"requestId":"r","` + tc.key + `":` + list(tc.elem, n) + `}`,
					`{"` + tc.key + `":[],"spans":[],"events":[],"types":[],"` + tc.key + `":` + list(tc.elem, n) + `}`,
				} {
					ev := Event{Time: time.Unix(1717243200, 0).UTC(), Type: tc.typ, Record: []byte(record)}
					_, err := ev.DecodeRecord()
					if wantErr {
						assert.ErrorIs(t, err, errRecordListTooLong, "%s", record)
					} else {
						assert.NoError(t, err, "%s", record)
					}
					batch, err := AppendEvents(nil, []Event{ev})
					require.NoError(t, err)
					checkScan(t, batch)
				}
			}
		})
	}
}
