// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package scenario

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDiscrepancy(t *testing.T) {
	truth := map[string]float64{"a": 10, "b": 5, "c": 7}
	for _, tc := range []struct {
		name                 string
		own                  map[string]float64
		overflow             float64
		counted, lost, twice float64
	}{
		{name: "exact", own: map[string]float64{"a": 10, "b": 5, "c": 7}, counted: 22},
		{name: "short", own: map[string]float64{"a": 10, "b": 3, "c": 7}, counted: 20, lost: 2},
		{name: "over", own: map[string]float64{"a": 11, "b": 5, "c": 7}, counted: 23, twice: 1},
		{name: "short and over do not cancel", own: map[string]float64{"a": 11, "b": 4, "c": 7}, counted: 22, lost: 1, twice: 1},
		{name: "a function beyond the limit, all in overflow", own: map[string]float64{"a": 10, "b": 5}, overflow: 7, counted: 22},
		{name: "part of a function in overflow", own: map[string]float64{"a": 10, "b": 2, "c": 7}, overflow: 3, counted: 22},
		{name: "overflow short", own: map[string]float64{"a": 10, "b": 5}, overflow: 4, counted: 19, lost: 3},
		{name: "overflow over", own: map[string]float64{"a": 10, "b": 5}, overflow: 9, counted: 24, twice: 2},
		{name: "a function never generated", own: map[string]float64{"a": 10, "b": 5, "c": 7, "x": 4}, counted: 26, twice: 4},
		{name: "nothing", own: map[string]float64{}, counted: 0, lost: 22},
	} {
		t.Run(tc.name, func(t *testing.T) {
			counted, lost, twice := Discrepancy(truth, tc.own, tc.overflow)
			assert.Equal(t, tc.counted, counted, "counted")
			assert.Equal(t, tc.lost, lost, "lost")
			assert.Equal(t, tc.twice, twice, "twice")
		})
	}
}

func TestReliabilityPassed(t *testing.T) {
	ok := &ReliabilityFigures{Counts: []MetricCount{{Metric: "faas_invocations_total", Generated: 5, Counted: 5}}}
	assert.True(t, ok.passed())
	assert.False(t, (&ReliabilityFigures{}).passed(), "nothing read")
	assert.False(t, (&ReliabilityFigures{Counts: ok.Counts, Killed: true}).passed(), "killed")
	assert.False(t, (&ReliabilityFigures{Counts: []MetricCount{ok.Counts[0], {Metric: "faas_errors_total", Lost: 1}}}).passed())
	assert.False(t, (&ReliabilityFigures{Counts: []MetricCount{{Metric: "faas_invocations_total", Twice: 1}}}).passed())

	card := Result{Scenario: Scenario{Reliability: &Reliability{Cardinality: true}}, Reliability: ok}
	assert.True(t, card.Passed(), "a cardinality run has no per-function checks")
	outage := Result{Scenario: Scenario{Reliability: &Reliability{}, OutageFor: time.Minute}, Reliability: ok}
	assert.False(t, outage.Passed(), "an outage also needs the per-function checks after the exit")
	ok.CheckedAfterExit = true
	assert.True(t, outage.Passed(), "however long the backends took to catch up")
	outage.PrometheusMismatches = []string{"faas_invocations_total{...}: 3, generated 4"}
	assert.False(t, outage.Passed())
	outage.PrometheusMismatches = nil
	outage.Err = errors.New("boom")
	assert.False(t, outage.Passed())
}

// gatewayLog is the Collector's console encoding, as the gateway writes it at log level warn.
const gatewayLog = "2026-11-30T19:04:47.339Z\twarn\tmemorylimiter@v0.165.0/memorylimiter.go:1\tMemory usage is above soft limit\t{}\n" +
	"2026-11-30T19:05:00.000Z\twarn\tinternal/x.go:1\tSomething about the remote write before the outage\t{}\n" +
	"2026-11-30T19:09:45.258Z\terror\tinternal/queue_sender.go:57\tExporting failed. Dropping data.\t" +
	`{"resource": {"service.instance.id": "x", "service.name": "otelcol-lambda"}, "otelcol.component.id": "prometheus_remote_write", "error": "Permanent error: connection refused"}` + "\n" +
	"go.opentelemetry.io/collector/exporter/exporterhelper/internal.NewQueueSender.func1\n" +
	"\tgo.opentelemetry.io/collector/exporter/exporterhelper@v0.165.0/internal/queue_sender.go:57\n" +
	"2026-11-30T19:09:46.000Z\tinfo\tx.go:1\tremote write info line\t{}\n" +
	"2026-11-30T19:09:50.000Z\terror\tinternal/queue_sender.go:57\tExporting failed. Dropping data.\t{}\n" +
	"2026-11-30T19:09:51.000Z\terror\tlambdametricsconnector/connector.go:255\tFailed ConsumeMetrics\t" +
	`{"otelcol.component.id": "lambda_metrics", "error": "Post \"http://127.0.0.1:1/api/v1/write\": dial tcp: connection refused"}` + "\n"

func TestFirstWarning(t *testing.T) {
	since := time.Date(2026, 11, 30, 19, 5, 1, 0, time.UTC)
	w := FirstWarning(gatewayLog, since)
	assert.Equal(t, 3, w.Lines, "error lines about exporting after the outage's start; not info, not stack traces")
	assert.True(t, strings.Contains(w.Line, "Exporting failed"), w.Line)
	assert.NotContains(t, w.Line, "resource", "the resource every line repeats is left out")
	assert.Contains(t, w.Line, `"error": "Permanent error: connection refused"`)
	assert.Equal(t, time.Date(2026, 11, 30, 19, 9, 45, 258e6, time.UTC), w.At)
	assert.Equal(t, map[string]int{"Exporting failed. Dropping data.": 2, "Failed ConsumeMetrics": 1}, w.Messages)
	assert.Equal(t, `3: "Exporting failed. Dropping data." x2, "Failed ConsumeMetrics" x1`, messages(w.Lines, w.Messages))

	all := FirstWarning(gatewayLog, time.Time{})
	assert.Equal(t, 4, all.Lines, "the memory limiter's warning mentions no remote write")
	assert.Contains(t, all.Line, "before the outage")

	assert.Equal(t, Warning{}, FirstWarning("2026-11-30T19:04:47.339Z\tinfo\tx\tExporting\n\nnot a log line\n", time.Time{}))
}

func TestMergeReliability(t *testing.T) {
	gen := func(body string) string { return ReliabilityBegin + "\n" + body + "\n" + ReliabilityEnd + "\n" }
	fresh := MergeReliability("", gen("first run"))
	assert.True(t, strings.HasPrefix(fresh, reliabilityTitle))
	assert.Contains(t, fresh, "first run")
	assert.Contains(t, fresh, "## Figures from other commands")
	assert.Contains(t, fresh, "### Per-request memory")

	// Another engineer's figures, after and before the generated part, survive a rerun.
	edited := strings.Replace(fresh, "_To be provided (receiver work): per body shape", "| [0,0,...] | 5 MB | 312 B | 6 MB | 1.2 | 40 ms | go test |\n\n_per body shape", 1)
	edited = strings.Replace(edited, reliabilityTitle, reliabilityTitle+"A note before.\n\n", 1)
	again := MergeReliability(edited, gen("second run"))
	assert.NotContains(t, again, "first run")
	assert.Contains(t, again, "second run")
	assert.Contains(t, again, "| [0,0,...] | 5 MB |")
	assert.Contains(t, again, "A note before.")
	assert.Equal(t, 1, strings.Count(again, ReliabilityBegin))
	assert.Equal(t, 1, strings.Count(again, ReliabilityEnd))
}

func TestRenderReliability(t *testing.T) {
	f := &ReliabilityFigures{
		Counts:  []MetricCount{{Metric: "faas_invocations_total", Generated: 100, Counted: 100, Overflow: 40, Series: 12, OverflowSeries: 1}},
		PeakRSS: 300 << 20, Shutdown: 1500 * time.Millisecond, Outage: 2 * time.Minute,
		WarningAt: time.Unix(100, 0), WarningDelay: 90 * time.Second, WarningInOutage: true, Warning: "t\twarn\tx\tRemote write failing | 503",
		CheckedAfterExit: true,
	}
	r := Result{Scenario: Scenario{Name: "outage-x", About: "an outage", OutageFor: 2 * time.Minute, Reliability: &Reliability{}},
		Reliability: f, SinkExact: time.Second, PrometheusExact: time.Second}
	r.Truth.Invocations = 100
	r.Stats.Duration = 165 * time.Second
	out := RenderReliability("make reliability", "`_build/otelcol-lambda`", []Result{r})
	assert.True(t, strings.HasPrefix(out, ReliabilityBegin))
	assert.True(t, strings.HasSuffix(out, ReliabilityEnd+"\n"))
	assert.Contains(t, out, "| outage-x | PASS | 2m45s (outage 2m0s, 503) | 100 | 100 | 0 | 0 | 300 MiB | 1m30s | 1.5s |")
	assert.Contains(t, out, "`t warn x Remote write failing / 503`", "a log line fits a table cell")
	assert.Contains(t, out, "| every check after the gateway exited | Prometheus exact, sink exact |")
	assert.Contains(t, out, "| Prometheus caught up (held every check) | 1s after the load (46s after the backend was back; read from the load's end on) |",
		"the outage ended 45 s before the load did")

	f.WarningAt, f.Killed = time.Time{}, true
	out = RenderReliability("make reliability", "", []Result{r})
	assert.Contains(t, out, "| none | > 2s (killed) |")
	assert.Contains(t, out, "| outage-x | FAIL |")
}

func TestFrontServerRefusesWhileStopped(t *testing.T) {
	f, err := serveFront(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	require.NoError(t, err)
	defer f.stop()
	client := &http.Client{Transport: &http.Transport{}}
	get := func() error {
		resp, err := client.Get(f.url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.ReadAll(resp.Body)
		return err
	}
	require.NoError(t, get())
	require.NoError(t, f.stop())
	err = get()
	require.Error(t, err)
	assert.True(t, errors.Is(err, syscall.ECONNREFUSED), "stopped: connections refused, got %v", err)
	require.NoError(t, f.start())
	require.NoError(t, get(), "listening again on the same address")
}

func TestSendTimeoutCoversLongLoads(t *testing.T) {
	assert.Equal(t, 5*time.Minute, sendTimeout(Scenario{}, 1_000_000), "max mode")
	assert.Equal(t, 5*time.Minute, sendTimeout(Scenario{Rate: 1000}, 20_000))
	assert.Equal(t, 2*405*time.Second+time.Minute, sendTimeout(Scenario{Rate: 250}, 101_250))
}
