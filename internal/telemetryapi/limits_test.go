// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package telemetryapi

import (
	"math"
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
