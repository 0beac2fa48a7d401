// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

func render(o options, pipelines []pipeline, results [][]result, f floors) string {
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "# Gateway benchmark: otelcol-lambda against the stock spanmetrics pipeline\n\n")
	fmt.Fprintf(&b, "Written by `make bench` (testbed/cmd/gatewaybench) on %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- machine: %s, %d CPUs (%s), %s/%s, %s\n", host, runtime.NumCPU(), cpuModel(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	fmt.Fprintf(&b, "- gateway: `%s --version`: %s\n", o.bin, gatewayVersion(o.bin))
	fmt.Fprintf(&b, "- command: `go run ./testbed/cmd/gatewaybench -bin %s -spans %d -invocations %d -functions %d -workers %d -rounds %d -flush %s`\n",
		o.bin, o.spans, o.invocations, o.functions, o.workers, o.rounds, o.flush)
	fmt.Fprintf(&b, "- both pipelines: the same distribution binary and collector release, flush interval %s, a validating remote-write sink on loopback\n", o.flush)
	fmt.Fprintf(&b, "- A = `distribution/config.yaml` (lambda_telemetry -> memory_limiter -> lambda_correlation -> batch -> lambda_metrics -> prometheus_remote_write); "+
		"B = `testbed/bench/stock-pipeline.yaml` (otlp -> batch -> span_metrics -> prometheus_remote_write)\n\n")
	fmt.Fprintf(&b, "The load is %d OTLP/protobuf invocation spans in requests of %d over %d functions, sent by %d concurrent clients (each pipeline, each round). "+
		"A also takes %d invocations as Telemetry API batches (start + runtimeDone + report, %d invocations per batch), as the extension forwards them. "+
		"CPU is the gateway process's user+system time from the first request until the sink held every count (exactly the number sent, checked), "+
		"so it includes export. Medians over %d rounds, A and B alternating.\n\n",
		o.spans, spansPerRequest, o.functions, o.workers, o.invocations, invocationsPerBatch, o.rounds)

	a, bb := summarize(results[0], o), summarize(results[1], o)
	fmt.Fprintf(&b, "| | %s | %s | A/B |\n|---|---|---|---|\n", pipelines[0].name, pipelines[1].name)
	fmt.Fprintf(&b, "| CPU-seconds per million spans (OTLP) | %.2f | %.2f | %.2f |\n", a.perMillionSpans, bb.perMillionSpans, a.perMillionSpans/bb.perMillionSpans)
	fmt.Fprintf(&b, "| CPU-seconds per million invocations (Telemetry API) | %.2f | n/a (no Telemetry API input) | |\n", a.perMillionInvocations)
	fmt.Fprintf(&b, "| spans counted / sent | %.0f / %d | %.0f / %d | |\n", a.spansCounted, o.spans, bb.spansCounted, o.spans)
	fmt.Fprintf(&b, "| invocations counted / sent | %.0f / %d | | |\n", a.invocationsCounted, o.invocations)
	fmt.Fprintf(&b, "| one function's spans from %d sandboxes, each its own resource: counted / sent | %.0f / %d | %.0f / %d | |\n",
		sandboxSpans/spansPerRequest, a.sandboxCounted, sandboxSpans, bb.sandboxCounted, sandboxSpans)
	fmt.Fprintf(&b, "| RSS peak | %s | %s | %.2f |\n", mib(a.rssPeak), mib(bb.rssPeak), float64(a.rssPeak)/float64(bb.rssPeak))
	fmt.Fprintf(&b, "| RSS after the load | %s | %s | %.2f |\n", mib(a.rssSteady), mib(bb.rssSteady), float64(a.rssSteady)/float64(bb.rssSteady))
	fmt.Fprintf(&b, "| freshness, invocation end -> in the sink, median / max | %s / %s | %s / %s | |\n",
		a.freshMedian.Round(time.Millisecond), a.freshMax.Round(time.Millisecond), bb.freshMedian.Round(time.Millisecond), bb.freshMax.Round(time.Millisecond))

	fmt.Fprintf(&b, "\nFloors, measured in the harness on one core (decode only, garbage collection included):\n\n")
	fmt.Fprintf(&b, "| floor | per item | A over floor |\n|---|---|---|\n")
	spanFloor := f.perSpan.Seconds() * 1e6
	invFloor := f.perInvocation.Seconds() * 1e6
	fmt.Fprintf(&b, "| decode the same OTLP requests (pdata) | %.2f µs/span | %.2fx |\n", spanFloor, a.perMillionSpans/spanFloor)
	fmt.Fprintf(&b, "| decode the same Telemetry API batches (internal/telemetryapi, the fastest decoder we have) | %.2f µs/invocation | %.2fx |\n", invFloor, a.perMillionInvocations/invFloor)

	fmt.Fprintf(&b, "\nPer round:\n\n| round | pipeline | CPU s/M spans | CPU s/M invocations | RSS peak | freshness median |\n|---|---|---|---|---|---|\n")
	for round := range results[0] {
		for i, p := range pipelines {
			r := results[i][round]
			fmt.Fprintf(&b, "| %d | %s | %.2f | %s | %s | %s |\n", round+1, p.name,
				perMillion(r.spanCPU, o.spans), orNA(r.invocationCPU, o.invocations), mib(r.rssPeak), median(r.freshness).Round(time.Millisecond))
		}
	}
	fmt.Fprintf(&b, "\nThe per-sandbox check: spanmetrics keeps one metric stream per resource, and remote write drops the resource's "+
		"faas.instance, so the streams of one function's sandboxes land on the same Prometheus series and overwrite each other; "+
		"lambda_metrics keys series by function, never by sandbox, and adds them up.\n")
	fmt.Fprintf(&b, "\nFreshness is bounded below by the flush interval (%s here; 10s by default): a count waits for the next flush, then the batch processor and the remote write.\n", o.flush)
	return b.String()
}

type summary struct {
	perMillionSpans, perMillionInvocations float64
	spansCounted, invocationsCounted       float64
	sandboxCounted                         float64
	rssPeak, rssSteady                     int64
	freshMedian, freshMax                  time.Duration
}

func summarize(rs []result, o options) summary {
	var s summary
	var spans, invs, fresh []time.Duration
	var peaks, steadies []time.Duration
	for _, r := range rs {
		spans = append(spans, r.spanCPU)
		invs = append(invs, r.invocationCPU)
		fresh = append(fresh, r.freshness...)
		peaks = append(peaks, time.Duration(r.rssPeak))
		steadies = append(steadies, time.Duration(r.rssSteady))
		s.spansCounted, s.invocationsCounted, s.sandboxCounted = r.spansCounted, r.invocationsCounted, r.sandboxCounted
	}
	s.perMillionSpans = perMillion(median(spans), o.spans)
	s.perMillionInvocations = perMillion(median(invs), o.invocations)
	s.rssPeak, s.rssSteady = int64(median(peaks)), int64(median(steadies))
	s.freshMedian = median(fresh)
	for _, d := range fresh {
		s.freshMax = max(s.freshMax, d)
	}
	return s
}

func perMillion(d time.Duration, items int) float64 { return d.Seconds() / float64(items) * 1e6 }

func orNA(d time.Duration, items int) string {
	if d == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", perMillion(d, items))
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func gatewayVersion(bin string) string {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}
