// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
)

// environment writes the machine, versions and command lines every report opens with.
func environment(b *strings.Builder, o options, target string) {
	host, _ := os.Hostname()
	fmt.Fprintf(b, "- machine: %s, %d CPUs (%s), %s/%s, %s\n", host, runtime.NumCPU(), harness.CPUModel(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	fmt.Fprintf(b, "- gateway: `%s --version`: %s; collector release %s (core and contrib, both pipelines)\n",
		relative(o.bin), version(o.bin, "--version"), collectorRelease(o.root))
	fmt.Fprintf(b, "- Prometheus: %s\n", version(o.prometheusBin, "--version"))
	fmt.Fprintf(b, "- command: `%s` = `go run ./testbed/cmd/gatewaybench %s`\n", target, strings.Join(o.args, " "))
}

func render(o options, pipelines []pipeline, results [][]result, f floors) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Gateway benchmark: otelcol-lambda against the stock spanmetrics pipeline\n\n")
	fmt.Fprintf(&b, "Written by `make bench-gateway` (testbed/cmd/gatewaybench) on %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	environment(&b, o, "make bench-gateway")
	lo, hi := math.Inf(1), 0.0
	for _, rs := range results {
		for _, r := range rs {
			loads := []float64{r.spanOthers}
			if r.invocationsLoad > 0 {
				loads = append(loads, r.tapiOthers)
			}
			for _, v := range loads {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if hi < 0.1 {
		fmt.Fprintf(&b, "- other work on the machine during the measured loads: none to speak of (at most %.2f cores)\n", hi)
	} else {
		fmt.Fprintf(&b, "- **other work on the machine** during the measured loads: %.2f to %.2f cores of %d, taken by other jobs (per round below); "+
			"CPU figures per item are higher than on an idle machine, for both pipelines\n", lo, hi, runtime.NumCPU())
	}
	fmt.Fprintf(&b, "- both pipelines: the same distribution binary, flush interval %s (lambda_correlation's window too), remote write to a tee that "+
		"writes to a real Prometheus and then to the validating sink testbed/rwsink\n", o.flush)
	fmt.Fprintf(&b, "- A = `distribution/config.yaml` (lambda_telemetry -> memory_limiter -> lambda_correlation -> batch -> lambda_metrics -> prometheus_remote_write, no queue) "+
		"with `testbed/bench/sdk-spans.yaml` (lambda_metrics' sdk_spans on, so that it counts the OTLP span load); "+
		"B = `testbed/bench/stock-pipeline.yaml` (otlp -> batch -> span_metrics -> batch -> prometheus_remote_write)\n\n")

	fmt.Fprintf(&b, "**Load, per pipeline and round.** %d OTLP/protobuf spans of functions that send only SDK traces (one SERVER span per invocation, "+
		"no request id; A counts them with sdk_spans, B as spanmetrics calls; spans claiming to be lambda_telemetry's invocation spans count nothing over OTLP) "+
		"in requests of %d over %d functions, sent by %d concurrent clients (testbed/loadgen.Send, max mode, never drops). "+
		"A also takes %d invocations as Telemetry API batches from testbed/loadgen.Generate (%d functions x %d sandboxes, up to %d invocations per batch, "+
		"cold starts %.1f%% besides each sandbox's first, errors %.0f%%), as the extension forwards them; B has no Telemetry API input. "+
		"Both loads follow a warm-up with the same functions. "+
		"CPU is the gateway process's user+system time from the first request until the sink held every count (exactly the number sent, checked; "+
		"for the Telemetry API load every figure of the ground truth, testbed/scenario.Checks), so it includes export. "+
		"Medians over %d rounds, A and B alternating.\n\n",
		o.spans, spansPerRequest, o.functions, o.workers, o.invocations, o.functions, o.sandboxes, invocationsPerBatch,
		benchMix.ColdStart*100, benchMix.Error*100, o.rounds)

	a, bb := summarize(results[0], o), summarize(results[1], o)
	fmt.Fprintf(&b, "| | %s | %s | A/B |\n|---|---|---|---|\n", pipelines[0].name, pipelines[1].name)
	fmt.Fprintf(&b, "| CPU-seconds per million spans (OTLP, same load) | %.2f | %.2f | %.2f |\n", a.perMillionSpans, bb.perMillionSpans, a.perMillionSpans/bb.perMillionSpans)
	fmt.Fprintf(&b, "| CPU-seconds per million invocations (Telemetry API) | %.2f | n/a (no Telemetry API input) | |\n", a.perMillionInvocations)
	fmt.Fprintf(&b, "| **freshness**: invocation end -> visible in a Prometheus query, median / max (%d probes, functions the gateway knows) | %s / %s | %s / %s | %.2f |\n",
		len(a.fresh), ms(a.fresh.median(probeProm)), ms(a.fresh.max(probeProm)), ms(bb.fresh.median(probeProm)), ms(bb.fresh.max(probeProm)),
		ratio(a.fresh.median(probeProm), bb.fresh.median(probeProm)))
	fmt.Fprintf(&b, "| freshness, first invocation of a new function -> visible in Prometheus, median / max (%d probes) | %s / %s | %s / %s | %.2f |\n",
		len(a.freshNew), ms(a.freshNew.median(probeProm)), ms(a.freshNew.max(probeProm)), ms(bb.freshNew.median(probeProm)), ms(bb.freshNew.max(probeProm)),
		ratio(a.freshNew.median(probeProm), bb.freshNew.median(probeProm)))
	fmt.Fprintf(&b, "| freshness, invocation end -> in the sink (write acknowledged by Prometheus), median / max | %s / %s | %s / %s | %.2f |\n",
		ms(a.fresh.median(probeSink)), ms(a.fresh.max(probeSink)), ms(bb.fresh.median(probeSink)), ms(bb.fresh.max(probeSink)),
		ratio(a.fresh.median(probeSink), bb.fresh.median(probeSink)))
	fmt.Fprintf(&b, "| RSS peak (VmHWM) after the OTLP load | %s | %s | %.2f |\n", mib(a.spanPeak), mib(bb.spanPeak), float64(a.spanPeak)/float64(bb.spanPeak))
	fmt.Fprintf(&b, "| RSS steady under the OTLP load (median of 250 ms readings over its second half) | %s | %s | %.2f |\n",
		mib(a.spanSteady), mib(bb.spanSteady), float64(a.spanSteady)/float64(bb.spanSteady))
	fmt.Fprintf(&b, "| RSS peak / steady with the Telemetry API load too | %s / %s | n/a | |\n", mib(a.tapiPeak), mib(a.tapiSteady))
	fmt.Fprintf(&b, "| spans counted / sent | %.0f / %d | %.0f / %d | |\n", a.spansCounted, o.spans, bb.spansCounted, o.spans)
	fmt.Fprintf(&b, "| invocations counted / generated (Telemetry API load) | %.0f / %d, all %d ground-truth figures exact | n/a | |\n",
		a.invocationsCounted, a.invocationsLoad, a.checks)
	fmt.Fprintf(&b, "| one function's spans from %d sandboxes, each its own resource: counted / sent | %.0f / %d | %.0f / %d | |\n",
		sandboxSpans/spansPerRequest, a.sandboxCounted, sandboxSpans, bb.sandboxCounted, sandboxSpans)

	fmt.Fprintf(&b, "\n**Floors**, measured in the harness on the same payloads (decode only, one goroutine, garbage collection included), "+
		"against the budgets of docs/architecture.md:\n\n")
	fmt.Fprintf(&b, "| floor | per item | A over floor | budget | met |\n|---|---|---|---|---|\n")
	spanFloor := f.perSpan.Seconds() * 1e6
	invFloor := f.perInvocation.Seconds() * 1e6
	fmt.Fprintf(&b, "| decode the same OTLP requests (pdata) | %.2f µs/span | %.2fx | within 1.3x, and below B (A/B %.2f) | %s |\n",
		spanFloor, a.perMillionSpans/spanFloor, a.perMillionSpans/bb.perMillionSpans, yesNo(a.perMillionSpans/spanFloor <= 1.3 && a.perMillionSpans < bb.perMillionSpans))
	fmt.Fprintf(&b, "| decode the same Telemetry API batches (internal/telemetryapi, the fastest decoder we have) | %.2f µs/invocation | %.2fx | within 2x | %s |\n",
		invFloor, a.perMillionInvocations/invFloor, yesNo(a.perMillionInvocations/invFloor <= 2))

	fmt.Fprintf(&b, "\n**Per round:**\n\n| round | pipeline | CPU s/M spans | CPU s/M invocations | RSS peak (OTLP) | RSS steady (OTLP, readings) | "+
		"span load sent in | other processes' CPU during the loads (OTLP / Telemetry API) | freshness in Prometheus, median (known / new function) | requests retried | writes Prometheus refused |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for round := range results[0] {
		for i, p := range pipelines {
			r := results[i][round]
			tapiOthers := "n/a"
			if r.invocationsLoad > 0 {
				tapiOthers = fmt.Sprintf("%.2f", r.tapiOthers)
			}
			fmt.Fprintf(&b, "| %d | %s | %.2f | %s | %s | %s (%d) | %s | %.2f / %s cores | %s / %s | %d | %d |\n", round+1, p.name,
				perMillion(r.spanCPU, o.spans), orNA(r.invocationCPU, r.invocationsLoad), mib(r.spanPeak), mib(r.spanSteady), r.spanSamples,
				r.spanSend.Round(10*time.Millisecond), r.spanOthers, tapiOthers,
				ms(probes(r.fresh).median(probeProm)), ms(probes(r.freshNew).median(probeProm)), r.retried, r.promRefused)
		}
	}

	fmt.Fprintf(&b, "\nOther processes' CPU is the machine's busy time (/proc/stat) during each measured load minus the gateway's, Prometheus' and this "+
		"harness's own, in cores on average: 0 on an otherwise idle machine. Work of other jobs on the same %d shared cores makes the gateway slower per "+
		"unit of work (shared caches and execution units), so rounds with little of it are the cleaner ones.\n", runtime.NumCPU())
	fmt.Fprintf(&b, "\n**How freshness is measured.** After the loads, each probe is one such span ending now, of a function of its own, "+
		"sent alone; the time runs from that moment until an instant query `sum(<counter>{<function label>=\"<function>\"})` on Prometheus "+
		"(polled every 50 ms) returns the expected count. The probes start a growing fraction of the flush interval after the previous one became visible, "+
		"so they fall at different phases of the flush cycle. Freshness is bounded below by the flush interval (%s here; 10s by default): "+
		"a count waits for the next flush, then the batch processor (200 ms) and the remote write. "+
		"*Functions the gateway knows* got %d invocations before their probe, as the load's functions did: this is a gateway in steady state. "+
		"The spans carry no request id, so lambda_correlation holds none of them (it holds a function's root span with a request id for its window, "+
		"%s here, in case the platform's invocation span comes: processor/lambdacorrelationprocessor/README.md). "+
		"B's new functions are late: spanmetrics writes 0 as the first point of a new cumulative series "+
		"(SumMetrics.BuildMetrics in the connector's internal/metrics), so the count shows at the next flush. The sink row is the same probes, timed to the tee's write into the sink, just after Prometheus acknowledged it.\n",
		o.flush, probeWarmSpans, o.flush)
	fmt.Fprintf(&b, "\n**The per-sandbox check:** spanmetrics keeps one metric stream per resource, and remote write drops the resource's "+
		"process.pid, so the streams of one function's sandboxes land on the same Prometheus series and overwrite each other; "+
		"lambda_metrics keys series by function, never by sandbox, and adds them up.\n")
	return b.String()
}

// probes are freshness probe results.
type probes []probeResult

func probeProm(p probeResult) time.Duration { return p.prom }
func probeSink(p probeResult) time.Duration { return p.sink }

func (ps probes) median(of func(probeResult) time.Duration) time.Duration {
	if len(ps) == 0 {
		return 0
	}
	v := make([]time.Duration, len(ps))
	for i, p := range ps {
		v[i] = of(p)
	}
	return median(v)
}

func (ps probes) max(of func(probeResult) time.Duration) time.Duration {
	var m time.Duration
	for _, p := range ps {
		m = max(m, of(p))
	}
	return m
}

type summary struct {
	perMillionSpans, perMillionInvocations float64
	spansCounted, invocationsCounted       float64
	invocationsLoad, checks                int
	sandboxCounted                         float64
	spanPeak, spanSteady                   int64
	tapiPeak, tapiSteady                   int64
	fresh, freshNew                        probes
}

// summarize takes the medians over rounds; probes are pooled. Counts are the last round's
// (every round's were checked exact, or the run stopped).
func summarize(rs []result, o options) summary {
	var s summary
	var spans, invs []time.Duration
	var spanPeaks, spanSteadies, tapiPeaks, tapiSteadies []time.Duration
	for _, r := range rs {
		spans = append(spans, r.spanCPU)
		if r.invocationsLoad > 0 {
			invs = append(invs, time.Duration(float64(r.invocationCPU)/float64(r.invocationsLoad)*1e6))
		}
		s.fresh = append(s.fresh, r.fresh...)
		s.freshNew = append(s.freshNew, r.freshNew...)
		spanPeaks = append(spanPeaks, time.Duration(r.spanPeak))
		spanSteadies = append(spanSteadies, time.Duration(r.spanSteady))
		tapiPeaks = append(tapiPeaks, time.Duration(r.tapiPeak))
		tapiSteadies = append(tapiSteadies, time.Duration(r.tapiSteady))
		s.spansCounted, s.invocationsCounted, s.sandboxCounted = r.spansCounted, r.invocationsCounted, r.sandboxCounted
		s.invocationsLoad, s.checks = r.invocationsLoad, r.checks
	}
	s.perMillionSpans = perMillion(median(spans), o.spans)
	if len(invs) > 0 {
		s.perMillionInvocations = median(invs).Seconds() // CPU per million, already
	}
	s.spanPeak, s.spanSteady = int64(median(spanPeaks)), int64(median(spanSteadies))
	s.tapiPeak, s.tapiSteady = int64(median(tapiPeaks)), int64(median(tapiSteadies))
	return s
}

// median is the middle value, or the mean of the two middle values of an even count.
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

func perMillion(d time.Duration, items int) float64 { return d.Seconds() / float64(items) * 1e6 }

func orNA(d time.Duration, items int) string {
	if items == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", perMillion(d, items))
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// relative names path relative to the working directory when it is under it.
func relative(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	if rel, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}

// version is the first line of `bin flag`.
func version(bin, flag string) string {
	out, err := exec.Command(bin, flag).CombinedOutput()
	if err != nil {
		return "unknown"
	}
	first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return first
}

// collectorRelease is the collector core release the ocb manifest pins.
func collectorRelease(root string) string {
	f, err := os.Open(filepath.Join(root, "builder-config.yaml"))
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 4 && fields[1] == "gomod:" && strings.HasPrefix(fields[2], "go.opentelemetry.io/collector/") {
			return fields[3]
		}
	}
	return "unknown"
}
