// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package scenario

import (
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
)

// Render writes the results as the markdown report of `make scenarios`.
func Render(command string, results []Result) string {
	var b strings.Builder
	b.WriteString("# Fleet scenarios\n\n")
	fmt.Fprintf(&b, "Command: `%s`, %s.\n\n", command, time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "Machine: %s, %d CPUs, %s %s/%s.\n\n", harness.CPUModel(), runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	b.WriteString("Each scenario starts its own real Prometheus (the Debian package, remote-write receiver on) and one or more " +
		"gateway processes (`_build/otelcol-lambda --config distribution/config.yaml`, each replica with its own " +
		"`service.instance.id`, so its own `instance` label), all on loopback. The gateways remote-write through a tee that " +
		"writes every request to Prometheus and to the validating sink `testbed/rwsink`.\n\n" +
		"The load is `testbed/loadgen`: per sandbox, the Telemetry API batches the extension forwards (cold starts, errors " +
		"of four error.type classes, timeouts, out-of-memory kills, asynchronous retries with the same request id; a " +
		"platform.report arrives in the sandbox's next batch, as it does at the next thaw), and the function's own OTLP " +
		"spans as otellambda with `lambdaevents` writes them, for nine event sources in turn (SQS, SNS, API Gateway REST " +
		"and HTTP, MSK, Kinesis, EventBridge, S3, DynamoDB), with source timestamps. Batches go to the replicas by " +
		"function name; the sender never drops one and retries what a gateway refuses or cannot take (connection refused " +
		"while it restarts).\n\n" +
		"The checks, per function: faas_invocations_total, faas_errors_total by error_type and in all, faas_timeouts_total, " +
		"faas_coldstarts_total, faas_invoke_duration_seconds_count and _sum, aws_lambda_billed_duration_seconds_total; " +
		"without a restart also faas_invocations_total by event-source labels (faas_trigger, messaging_system, " +
		"messaging_destination_name, http_route) and aws_lambda_event_age_seconds_count and _sum, which need every " +
		"function span joined with its invocation (a restart releases the correlation window's held spans unpaired). " +
		"The value compared is each series' counter total: the last value of every reset segment (a restarted replica " +
		"keeps its instance id, so its series reset), read from every raw sample (`metric[window]`, never `increase()`), " +
		"summed over replicas; sums of seconds to a relative 1e-9, counts exactly. A scenario passes when Prometheus and " +
		"the sink both hold the truth, and still do three flushes later. When a replica is killed (SIGKILL), it passes " +
		"when nothing is counted twice and the invocations missing are at most what that replica may have received and " +
		"not yet flushed (its rate share over 2 flush intervals plus 1 s).\n\n")
	for _, r := range results {
		if r.Push != nil {
			b.WriteString(pushIntro)
			break
		}
	}
	b.WriteString("| scenario | result | invocations | Prometheus | sink |\n|---|---|---|---|---|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s |\n", r.Scenario.Name, passFail(r), r.Truth.Invocations,
			exactness(r, r.PrometheusExact, r.Lost), exactness(r, r.SinkExact, r.SinkLost))
	}
	b.WriteString("\n")
	for _, r := range results {
		s := r.Scenario
		fmt.Fprintf(&b, "## %s: %s\n\n%s.\n\n", s.Name, passFail(r), s.About)
		b.WriteString("| figure | value |\n|---|---|\n")
		if r.Push != nil {
			renderPush(&b, r)
		} else {
			renderFleet(&b, r)
		}
		renderEnd(&b, r)
	}
	return b.String()
}

// row writes a row of a scenario's table of figures.
func row(b *strings.Builder, k string, v any) { fmt.Fprintf(b, "| %s | %v |\n", k, v) }

// renderSent writes the rows every fleet scenario's table has: the flush interval and what
// was generated, sent and acknowledged.
func renderSent(b *strings.Builder, r Result) {
	if r.Scenario.Soak != nil && r.Scenario.Flush <= 0 {
		row(b, "flush interval and correlation window", fmt.Sprintf("%s and %s (distribution/config.yaml's)", distributionFlush, distributionWindow))
	} else {
		row(b, "flush interval and correlation window", r.Flush)
	}
	row(b, "batches generated / sent / acknowledged", fmt.Sprintf("%d / %d / %d", r.Stats.Generated, r.Stats.Sent, r.Stats.Acknowledged))
	row(b, "requests (retries)", fmt.Sprintf("%d (%d)", r.Stats.Attempts, r.Stats.Retried))
	row(b, "invocations generated / acknowledged", fmt.Sprintf("%d / %d", r.Stats.GeneratedInvocations, r.Stats.AcknowledgedInvocations))
	if r.Scenario.Fleet.FunctionSpans {
		row(b, "function spans (OTLP) generated / acknowledged", fmt.Sprintf("%d / %d", r.Stats.GeneratedSpans, r.Stats.AcknowledgedSpans))
	}
}

// renderFleet writes the figures of a Telemetry API scenario, and its comparison with the
// stock pipeline.
func renderFleet(b *strings.Builder, r Result) {
	s := r.Scenario
	row(b, "functions x sandbox slots", fmt.Sprintf("%d x %d", s.Fleet.Functions, s.Fleet.Sandboxes))
	row(b, "gateway replicas", max(1, s.Replicas))
	renderSent(b, r)
	if s.Fleet.ReportLag {
		row(b, "reports delivered in the sandbox's next batch", r.Truth.LaggedReports)
	}
	row(b, "errors by error_type", formatCounts(r.Truth.Errors))
	row(b, "timeouts / cold starts / OOM kills / retried request ids", fmt.Sprintf("%d / %d / %d / %d", r.Truth.Timeouts, r.Truth.ColdStarts, r.Truth.OOMs, r.Truth.Retries))
	renderSend(b, r, s.Rate, "invocations", r.Stats.AcknowledgedInvocations)
	row(b, "checks (series sums compared)", r.Checks)
	if d := s.Disruption; d != nil && d.Kill && !s.WriteAheadLog {
		row(b, "invocations missing in Prometheus / in the sink / allowed", fmt.Sprintf("%.0f / %.0f / %.0f", r.Lost, r.SinkLost, r.LossBound))
		row(b, "series counted twice", len(r.Overcounted))
	} else {
		row(b, "Prometheus exact", exactness(r, r.PrometheusExact, 0))
		row(b, "sink exact", exactness(r, r.SinkExact, 0))
	}
	b.WriteString("\n")
	if c := r.Comparison; c != nil {
		renderComparison(b, c)
	}
}

// renderSend writes the rows on how the load went out and what the backends took; rate is
// the scenario's, in units per second, and acknowledged how many units the gateways took.
func renderSend(b *strings.Builder, r Result, rate float64, units string, acknowledged int64) {
	s := r.Scenario
	if rate > 0 {
		row(b, "send mode", fmt.Sprintf("rate %.0f %s/s, %d workers per replica", rate, units, max(1, s.Workers)))
	} else {
		row(b, "send mode", fmt.Sprintf("max (as fast as the gateway acknowledges), %d workers per replica", max(1, s.Workers)))
	}
	row(b, "load duration", r.Stats.Duration.Round(time.Millisecond))
	if r.Stats.Duration > 0 {
		row(b, "achieved rate", fmt.Sprintf("%.0f %s/s", float64(acknowledged)/r.Stats.Duration.Seconds(), units))
	}
	if s.OutageFor > 0 {
		row(b, "remote writes refused during the outage", r.OutageRefused)
	}
	row(b, "remote writes received (Prometheus refused)", fmt.Sprintf("%d (%d)", r.SinkRequests, r.PrometheusRefused))
	row(b, "counter resets seen in Prometheus", r.PrometheusResets)
}

// renderEnd writes the end of a scenario's section: its timeline and what went wrong.
func renderEnd(b *strings.Builder, r Result) {
	if len(r.Timeline) > 0 {
		b.WriteString("Timeline (from the start of the load):\n\n")
		for _, e := range r.Timeline {
			fmt.Fprintf(b, "- %s\n", e)
		}
		b.WriteString("\n")
	}
	if r.Err != nil {
		fmt.Fprintf(b, "Error: `%v`\n\n", r.Err)
	}
	list(b, "Prometheus differs", r.PrometheusMismatches)
	list(b, "The sink differs", r.SinkMismatches)
	list(b, "Counted twice", r.Overcounted)
}

func passFail(r Result) string {
	if r.Passed() {
		return "PASS"
	}
	return "FAIL"
}

func exactness(r Result, after time.Duration, lost float64) string {
	if d := r.Scenario.Disruption; d != nil && d.Kill && !r.Scenario.WriteAheadLog {
		return fmt.Sprintf("%.0f missing (allowed %.0f)", lost, r.LossBound)
	}
	if after > 0 {
		return fmt.Sprintf("exact, %s after the load", after.Round(100*time.Millisecond))
	}
	return "not exact"
}

func list(b *strings.Builder, title string, items []string) {
	if len(items) == 0 {
		return
	}
	fmt.Fprintf(b, "%s:\n\n", title)
	for i, m := range items {
		if i == 20 {
			fmt.Fprintf(b, "- ... %d more\n", len(items)-20)
			break
		}
		fmt.Fprintf(b, "- %s\n", m)
	}
	b.WriteString("\n")
}

func renderComparison(b *strings.Builder, c *Comparison) {
	b.WriteString("Against the stock pipeline (otlp -> batch -> spanmetrics -> prometheusremotewrite, the same collector " +
		"release), which gets the functions' own spans, all it can take, while otelcol-lambda also gets the Telemetry API batches:\n\n")
	b.WriteString("| | generated | otelcol-lambda | stock spanmetrics |\n|---|---|---|---|\n")
	fmt.Fprintf(b, "| invocations | %d | %.0f | %.0f |\n", c.Invocations, c.OursInvocations, c.StockInvocations)
	fmt.Fprintf(b, "| failed invocations | %d | %.0f | %.0f (spans with an error status) |\n", c.Errors, c.OursErrors, c.StockErrors)
	fmt.Fprintf(b, "| functions with the exact invocation count | %d | %d | %d |\n", c.Functions, c.OursExact, c.StockExact)
	fmt.Fprintf(b, "| function spans sent / acknowledged | %d | | %d |\n", c.Spans, c.StockSpansAcknowledged)
	fmt.Fprintf(b, "| calls series in Prometheus | | | %d |\n\n", c.StockSeries)
	b.WriteString("The stock pipeline cannot count an invocation whose handler never ended its span (timeouts, out-of-memory " +
		"kills, runtime crashes), sees no error status on spans that otellambda leaves unset, and keeps one stream per " +
		"resource: the sandboxes of one function (one faas.instance each) land on the same Prometheus series after " +
		"remote write, which drops the resource, and overwrite each other.\n\n")
}
