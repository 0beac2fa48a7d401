// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package scenario

import (
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
)

// The part of testbed/results/reliability.md that `make reliability` writes lies between
// these markers; MergeReliability keeps everything outside them, where other work adds
// its figures.
const (
	ReliabilityBegin = "<!-- BEGIN make reliability: written by testbed/cmd/scenarios -reliability; edit outside these markers -->"
	ReliabilityEnd   = "<!-- END make reliability -->"
)

// reliabilityTitle and reliabilityOthers are the file's start and its section for the
// figures other work provides, written when the file does not exist yet.
const reliabilityTitle = "# Reliability: outages, cardinality, shutdown\n\n"

const reliabilityOthers = `## Figures from other commands

` + "`make reliability`" + ` rewrites only what lies between its BEGIN and END markers above; this section and
anything else outside them is kept as it is. Add each figure with the command that measured it.

### Per-request memory (receiver, hostile bodies at the body size limit)

_To be provided (receiver work): per body shape, the body size, the answer's size, the peak heap
growth and its ratio to the body size, and the time to answer._

| body | size | answer | peak heap growth | ratio to body | time | command |
|---|---|---|---|---|---|---|

### kill -9: what is lost, what counts twice

_To be provided (durability work): acknowledged invocations lost and batches counted twice when a
gateway is killed, without and with the durability mode; see also the gateway-kill scenario of
testbed/results/scenarios.md._

| mode | acknowledged | lost | counted twice | bound | command |
|---|---|---|---|---|---|

### Durable dedupe (a batch resent after a restart)

_To be provided (receiver work): batches resent after a graceful restart and after kill -9, and how
many counted again._

| restart | resent | counted again | checkpoint interval | command |
|---|---|---|---|---|
`

// MergeReliability puts the generated part (which starts with ReliabilityBegin and ends
// with ReliabilityEnd) into the existing file's text in place of its generated part, and
// keeps the rest. Without both markers in existing (no file yet), it returns a new file:
// title, generated part, and the section for the other figures.
func MergeReliability(existing, generated string) string {
	begin := strings.Index(existing, ReliabilityBegin)
	end := strings.Index(existing, ReliabilityEnd)
	if begin < 0 || end < begin {
		return reliabilityTitle + generated + "\n" + reliabilityOthers
	}
	return existing[:begin] + generated + existing[end+len(ReliabilityEnd):]
}

// RenderReliability writes the generated part of testbed/results/reliability.md: the
// reliability scenarios' table and their figures. build names the gateway binary measured.
func RenderReliability(command, build string, results []Result) string {
	var b strings.Builder
	b.WriteString(ReliabilityBegin + "\n\n")
	fmt.Fprintf(&b, "Command: `%s`, %s.\n\n", command, time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "Machine: %s, %d CPUs, %s %s/%s; shared with other work, so timings are noisy (the load average "+
		"when each scenario started is in its figures). Gateway: %s.\n\n",
		harness.CPUModel(), runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, build)
	b.WriteString("Each scenario runs like those of testbed/results/scenarios.md (its own real Prometheus, one gateway process " +
		"`_build/otelcol-lambda --config distribution/config.yaml` with log level warn, the `testbed/loadgen` fleet; on loopback), " +
		"and ends by stopping the gateway with SIGTERM. Nothing here is a timed test: the times are measurements.\n\n" +
		"Columns:\n\n" +
		"- **duration**: how long the load ran (with the backend outage inside it, when there is one).\n" +
		"- **generated**: invocations the load generated (all acknowledged by the gateway: the sender retries, never drops).\n" +
		"- **counted**: `faas_invocations_total` in Prometheus after the gateway exited, over every series: each series' " +
		"largest value (no gateway restarts, so no counter resets), the connector's overflow series " +
		"(`otel_metric_overflow=\"true\"`, no `faas_name`) included.\n" +
		"- **lost** and **double-counted**: per function, what its own series miss below its truth and hold above it; what the " +
		"own series miss may be in the overflow series and nowhere else, so lost = max(0, missed - overflow) and " +
		"double-counted = the excess + max(0, overflow - missed). Below the cardinality limit there is no overflow, and these " +
		"are the shortfall and the excess summed per function. The scenario's figures give the same for faas_errors_total, " +
		"faas_timeouts_total, faas_coldstarts_total and faas_invoke_duration_seconds_count.\n" +
		"- **peak RSS**: the gateway's VmHWM, read every 250 ms from /proc until it exited.\n" +
		"- **first warning delay**: from the backend going down to the first line the gateway logged at warn level or above that " +
		"mentions the remote write or exporting, before the SIGTERM (\"none\": no such line during the outage nor after it).\n" +
		"- **shutdown time**: from the SIGTERM at the end to the process's exit (bounded: a gateway still running after 10 minutes " +
		"is killed, and the scenario fails).\n\n" +
		"A scenario passes when nothing is lost or double-counted in every metric read, the gateway exits by itself, and, for the " +
		"outages, Prometheus and the validating sink hold each function's exact truth once the gateway exited (the checks of " +
		"scenarios.md; how soon after the backend came back they first held it is a figure of the scenario). Beyond the " +
		"connector's `cardinality_limit` (10,000 series per metric, and 10,000 functions) per-function exactness is not promised: " +
		"the cardinality scenario checks that the totals are conserved in the overflow series and that no function counts more " +
		"than it had.\n\n")
	b.WriteString("| scenario | result | duration | generated | counted | lost | double-counted | peak RSS | first warning delay | shutdown time |\n" +
		"|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		f := r.Reliability
		if f == nil {
			fmt.Fprintf(&b, "| %s | %s | | %d | | | | | | |\n", r.Scenario.Name, passFail(r), r.Truth.Invocations)
			continue
		}
		inv := f.Invocations()
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %s | %s | %s | %s | %s | %s |\n", r.Scenario.Name, passFail(r),
			duration(r), r.Truth.Invocations, count(inv.Counted, len(f.Counts) > 0), count(inv.Lost, len(f.Counts) > 0),
			count(inv.Twice, len(f.Counts) > 0), mib(f.PeakRSS), warningDelay(r), shutdown(f))
	}
	b.WriteString("\n")
	for _, r := range results {
		renderReliability(&b, r)
	}
	b.WriteString(ReliabilityEnd + "\n")
	return b.String()
}

func duration(r Result) string {
	d := r.Stats.Duration.Round(time.Second).String()
	if f := r.Reliability; f != nil && f.Outage > 0 {
		kind := "503"
		if r.Scenario.Unreachable {
			kind = "refused"
		}
		d += fmt.Sprintf(" (outage %s, %s)", f.Outage.Round(time.Second), kind)
	}
	return d
}

func count(v float64, known bool) string {
	if !known {
		return "?"
	}
	return fmt.Sprintf("%.0f", v)
}

func mib(b int64) string {
	if b <= 0 {
		return "?"
	}
	return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
}

func warningDelay(r Result) string {
	f := r.Reliability
	switch {
	case r.Scenario.OutageFor <= 0:
		return "n/a (no outage)"
	case f.WarningAt.IsZero():
		return "none"
	case !f.WarningInOutage:
		return fmt.Sprintf("%s (after the backend was back)", f.WarningDelay.Round(100*time.Millisecond))
	}
	return f.WarningDelay.Round(100 * time.Millisecond).String()
}

func shutdown(f *ReliabilityFigures) string {
	if f.Killed {
		return fmt.Sprintf("> %s (killed)", f.Shutdown.Round(time.Second))
	}
	if f.Shutdown <= 0 {
		return "?"
	}
	return f.Shutdown.Round(100 * time.Millisecond).String()
}

// renderReliability writes one scenario's section of figures.
func renderReliability(b *strings.Builder, r Result) {
	s, f := r.Scenario, r.Reliability
	fmt.Fprintf(b, "## %s: %s\n\n%s.\n\n", s.Name, passFail(r), s.About)
	b.WriteString("| figure | value |\n|---|---|\n")
	if s.Fleet.Slots > 0 {
		row(b, "functions / sandbox slots", fmt.Sprintf("%d / %d", s.Fleet.Functions, s.Fleet.Slots))
	} else {
		row(b, "functions x sandbox slots", fmt.Sprintf("%d x %d", s.Fleet.Functions, s.Fleet.Sandboxes))
	}
	if f != nil && f.Sandboxes > 0 {
		row(b, "sandboxes (distinct extension instance ids)", f.Sandboxes)
	}
	renderSent(b, r)
	row(b, "errors / timeouts / cold starts", fmt.Sprintf("%d / %d / %d", sumCounts(r.Truth.Errors), r.Truth.Timeouts, r.Truth.ColdStarts))
	if s.Rate > 0 {
		row(b, "send mode", fmt.Sprintf("rate %.0f invocations/s, %d workers", s.Rate, max(1, s.Workers)))
	} else {
		row(b, "send mode", fmt.Sprintf("max (as fast as the gateway acknowledges), %d workers", max(1, s.Workers)))
	}
	row(b, "load duration", r.Stats.Duration.Round(time.Millisecond))
	if r.Stats.Duration > 0 {
		row(b, "achieved rate", fmt.Sprintf("%.0f invocations/s", float64(r.Stats.AcknowledgedInvocations)/r.Stats.Duration.Seconds()))
	}
	if s.OutageFor > 0 {
		if s.Unreachable {
			row(b, "outage", fmt.Sprintf("backend unreachable (not listening: connections refused) for %s, from %s after the load's start", s.OutageFor, s.OutageAt))
		} else {
			row(b, "outage", fmt.Sprintf("backend answers 503 for %s, from %s after the load's start", s.OutageFor, s.OutageAt))
			row(b, "remote writes answered 503 during the outage", r.OutageRefused)
		}
	}
	if s.Reliability != nil && s.Reliability.Cardinality {
		row(b, "remote writes passed to Prometheus (Prometheus refused)", fmt.Sprintf("%d (%d)", r.SinkRequests, r.PrometheusRefused))
	} else {
		row(b, "remote writes received (Prometheus refused)", fmt.Sprintf("%d (%d)", r.SinkRequests, r.PrometheusRefused))
		row(b, "Prometheus caught up (held every check)", caughtUp(r, r.PrometheusExact))
		row(b, "sink caught up", caughtUp(r, r.SinkExact))
		if f != nil && f.CheckedAfterExit {
			row(b, "every check after the gateway exited", fmt.Sprintf("Prometheus %s, sink %s",
				holds(r.PrometheusMismatches), holds(r.SinkMismatches)))
		}
	}
	if f != nil {
		row(b, "load average at the start", f.LoadAverage)
		row(b, "peak RSS of the gateway (VmHWM)", mib(f.PeakRSS))
		since, from := "the backend went down", "the outage's start"
		if s.OutageFor <= 0 {
			since, from = "the load's start", "the load's start"
		}
		if f.WarningAt.IsZero() {
			row(b, "first warning about the remote write", "none before the SIGTERM")
		} else {
			row(b, "first warning about the remote write", fmt.Sprintf("%s after %s: `%s`",
				f.WarningDelay.Round(100*time.Millisecond), since, cell(f.Warning)))
		}
		row(b, fmt.Sprintf("warn/error lines about the remote write, from %s to the SIGTERM", from),
			messages(f.WarnLines, f.WarnMessages))
		row(b, "SIGTERM sent", fmt.Sprintf("%s after the load's end", f.SinceLoad.Round(100*time.Millisecond)))
		row(b, "SIGTERM to exit", shutdown(f))
		if f.ShutdownLines > 0 {
			row(b, "warn/error lines about the remote write during the shutdown", fmt.Sprintf("%d, the first: `%s`", f.ShutdownLines, cell(f.FirstShutdownLine)))
		} else {
			row(b, "warn/error lines about the remote write during the shutdown", 0)
		}
		if len(f.SelfMetrics) > 0 {
			var parts []string
			for _, k := range slices.Sorted(maps.Keys(f.SelfMetrics)) {
				parts = append(parts, fmt.Sprintf("%s %g", k, f.SelfMetrics[k]))
			}
			row(b, "the gateway's own metrics before the SIGTERM (queue, failures, overflow, evictions)", strings.Join(parts, "; "))
		}
		row(b, "series in Prometheus at the end", f.Series)
		row(b, "scenario wall time (generation, load, settling, shutdown, reading)", f.Wall.Round(time.Second))
	}
	b.WriteString("\n")
	if f != nil && len(f.Counts) > 0 {
		b.WriteString("Counters in Prometheus after the gateway exited, summed over series (overflow: the series `otel_metric_overflow=\"true\"`):\n\n")
		b.WriteString("| metric | generated | counted | in overflow | lost | double-counted | series (overflow) | functions exact in their own series |\n" +
			"|---|---|---|---|---|---|---|---|\n")
		for _, c := range f.Counts {
			fmt.Fprintf(b, "| %s | %.0f | %.0f | %.0f | %.0f | %.0f | %d (%d) | %d of %d |\n", c.Metric, c.Generated, c.Counted,
				c.Overflow, c.Lost, c.Twice, c.Series, c.OverflowSeries, c.ExactFunction, c.Functions)
		}
		b.WriteString("\n")
	}
	renderEnd(b, r)
}

// messages is a count of log lines with their messages, most frequent first.
func messages(lines int, by map[string]int) string {
	if lines == 0 {
		return "0"
	}
	keys := slices.SortedFunc(maps.Keys(by), func(a, b string) int {
		if by[a] != by[b] {
			return by[b] - by[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%q x%d", k, by[k])
	}
	return fmt.Sprintf("%d: %s", lines, cell(strings.Join(parts, ", ")))
}

// caughtUp says when a backend first held every check, after the load's end and after the
// backend came back (the outage ended before the load did).
func caughtUp(r Result, after time.Duration) string {
	s := r.Scenario
	if after <= 0 {
		if f := r.Reliability; f != nil && f.Drain > 0 {
			return fmt.Sprintf("not within %s of the load (the scenario's wait)", f.Drain)
		}
		return "not while the scenario waited"
	}
	out := fmt.Sprintf("%s after the load", after.Round(100*time.Millisecond))
	if f := r.Reliability; f != nil && f.Outage > 0 {
		back := r.Stats.Duration - s.OutageAt - f.Outage // from the backend's return to the load's end
		out += fmt.Sprintf(" (%s after the backend was back; read from the load's end on)", (after + back).Round(100*time.Millisecond))
	}
	return out
}

func holds(mismatches []string) string {
	if len(mismatches) == 0 {
		return "exact"
	}
	return fmt.Sprintf("%d checks differ (listed below)", len(mismatches))
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// cell makes a log line fit a table cell in code: no tabs, pipes or backquotes.
func cell(s string) string {
	return strings.NewReplacer("\t", " ", "|", "/", "`", "'", "\n", " ").Replace(s)
}
