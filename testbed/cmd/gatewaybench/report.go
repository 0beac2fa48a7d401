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
	fmt.Fprintf(b, "- command: `go run ./testbed/cmd/gatewaybench %s` (`%s` runs it with -bin, -out and BENCH_ARGS)\n", strings.Join(o.args, " "), target)
}

func render(o options, pipelines [2]pipeline, cells []*cell, f floors) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Gateway benchmark: otelcol-lambda against the stock spanmetrics pipeline, for every kind of traffic\n\n")
	by := "`make bench-gateway` (testbed/cmd/gatewaybench)"
	if len(o.overlays) > 0 || filepath.Clean(o.out) != filepath.Join("testbed", "results", "bench.md") {
		by = "testbed/cmd/gatewaybench, run by hand (the command line is below)"
	}
	fmt.Fprintf(&b, "Written by %s on %s.\n\n", by, time.Now().UTC().Format("2006-01-02 15:04 MST"))
	environment(&b, o, "make bench-gateway")
	lo, hi := math.Inf(1), 0.0
	for _, c := range cells {
		for _, rs := range c.results {
			for _, r := range rs {
				lo, hi = math.Min(lo, r.others), math.Max(hi, r.others)
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
		"writes to a real Prometheus and then to the validating sink testbed/rwsink; a new gateway for each measurement\n", o.flush)
	if len(o.overlays) > 0 {
		fmt.Fprintf(&b, "- **A runs with further configuration** (-overlay, after its own): `%s`\n", strings.Join(o.overlays, "`, `"))
	}
	fmt.Fprintf(&b, "- A = `distribution/config.yaml` (lambda_telemetry -> memory_limiter -> lambda_correlation -> batch -> lambda_metrics -> prometheus_remote_write, no queue) "+
		"with `testbed/bench/sdk-spans.yaml` (lambda_metrics' sdk_spans on, so that it counts functions without the extension); "+
		"B = `testbed/bench/stock-pipeline.yaml` (otlp -> batch -> span_metrics -> batch -> prometheus_remote_write)\n\n")

	fmt.Fprintf(&b, "**The traffic** (testbed/cmd/gatewaybench/load.go). Each measurement sends up to %d invocations over %d functions "+
		"after a warm-up of one full request per function (whole requests: the measured load is what is left of the -invocations, "+
		"the column *counted* below), by %d concurrent clients (testbed/loadgen.Send, max mode, never drops; "+
		"a sandbox's requests in order), in requests of the given size: spans per OTLP request, invocations per Telemetry API batch "+
		"(testbed/loadgen.Generate, %d sandboxes per function, cold starts %.1f%% besides each sandbox's first, errors %.0f%%).\n\n",
		o.invocations, o.functions, o.workers, o.sandboxes, benchMix.ColdStart*100, benchMix.Error*100)
	fmt.Fprintf(&b, "- %s: A gets the extension's Telemetry API batches and the functions' root spans (OTLP/protobuf, faas.invocation_id, "+
		"forwarded with the sandbox's headers right after the sandbox's batch), and pairs them (lambda_correlation); "+
		"B gets the same function spans and one more SERVER span per invocation for what the platform's events tell A.\n", mixPairs.title())
	fmt.Fprintf(&b, "- %s: A gets the Telemetry API batches; B one SERVER span per invocation.\n", mixExtension.title())
	fmt.Fprintf(&b, "- %s: both get the same SERVER spans with faas.invocation_id (one per invocation, the resource of an SDK's Lambda detector), "+
		"sent straight to the gateway; A counts them with sdk_spans, B as spanmetrics calls.\n", mixSDK.title())
	fmt.Fprintf(&b, "- %s: a third of the functions and invocations of each of the three, their requests interleaved.\n\n", mixFleet.title())
	fmt.Fprintf(&b, "*Spans* are the spans of the measured load as B gets them: one per invocation, and one more per function span in (1); "+
		"A makes or receives as many. CPU is the gateway process's user+system time from the first request until the sink held every count "+
		"(exactly what was sent, checked; for A's Telemetry API loads every figure of the ground truth, testbed/scenario.Checks), so it includes export. "+
		"The RSS peak is the gateway's VmHWM from the load's first request until drained: reset then (/proc/PID/clear_refs) to the RSS of that moment, "+
		"which holds what the gateway's start and the warm-up left (Go keeps freed heap for reuse; the per-round table gives it, and the peak before it). "+
		"In the warm-up every function is new to the gateway. "+
		"RSS steady is the median of the RSS read every 250 ms over the load's second half (n/a when the load took less than two readings). "+
		"Medians over %d rounds; probes pooled.\n\n", o.rounds)

	sums := make([][2]summary, len(cells))
	for i, c := range cells {
		sums[i] = [2]summary{summarize(c, 0), summarize(c, 1)}
	}
	fmt.Fprintf(&b, "| traffic | request size | CPU µs per span, A / B | A/B | CPU µs per invocation, A / B | RSS peak from the load's start, A / B | A/B | RSS steady, A / B | "+
		"freshness, median: known function, A / B | new function, A / B | counted, A / B |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for i, c := range cells {
		a, bb := sums[i][0], sums[i][1]
		fmt.Fprintf(&b, "| %s | %d | %.2f / %.2f | %.2f | %.2f / %.2f | %s / %s | %.2f | %s / %s | %s / %s | %s / %s | %s / %s |\n",
			c.kind.title(), c.size, a.perSpan, bb.perSpan, a.perSpan/bb.perSpan, a.perInvocation, bb.perInvocation,
			mib(a.peak), mib(bb.peak), float64(a.peak)/float64(bb.peak), steadyMiB(a.steady), steadyMiB(bb.steady),
			a.fresh.medianMs(), bb.fresh.medianMs(), a.freshNew.medianMs(), bb.freshNew.medianMs(),
			a.counted(), bb.counted())
	}

	fmt.Fprintf(&b, "\n**Budgets** (issue #16; ratios of one run):\n\n| budget | traffic | request size | figure | met |\n|---|---|---|---|---|\n")
	for i, c := range cells {
		a, bb := sums[i][0], sums[i][1]
		fmt.Fprintf(&b, "| CPU per span at most B's | %s | %d | A/B %.2f | %s |\n", c.kind.title(), c.size, a.perSpan/bb.perSpan, yesNo(a.perSpan <= bb.perSpan))
	}
	for i, c := range cells {
		a, bb := sums[i][0], sums[i][1]
		r := float64(a.peak) / float64(bb.peak)
		fmt.Fprintf(&b, "| peak RSS at most B's + 10%% | %s | %d | A/B %.2f | %s |\n", c.kind.title(), c.size, r, yesNo(r <= 1.1))
	}
	for i, c := range cells {
		if fl, ok := f[floorKey{c.kind, c.size}]; ok && c.kind == mixExtension {
			a := sums[i][0]
			r := a.perInvocation / micros(fl[0])
			fmt.Fprintf(&b, "| Telemetry API: CPU per invocation within 2x its decode floor | %s | %d | %.2f µs / %.2f µs = %.2fx | %s |\n",
				c.kind.title(), c.size, a.perInvocation, micros(fl[0]), r, yesNo(r <= 2))
		}
	}
	for i, c := range cells {
		if c.kind == mixSDK && len(sums[i][0].fresh) > 0 {
			a, bb := median(sums[i][0].fresh), median(sums[i][1].fresh)
			fmt.Fprintf(&b, "| freshness no worse than B's (median, known functions) | %s | %d | %s / %s | %s |\n", c.kind.title(), c.size, ms(a), ms(bb), yesNo(a <= bb))
		}
	}
	fmt.Fprintf(&b, "\nEvery count above was exact (a measurement that is not stops the run).\n")
	if o.invocations < 100_000 || o.rounds < 3 {
		fmt.Fprintf(&b, "\n**A short run** (%d invocations, %d rounds): a load of a fraction of a second weighs the gateways' fixed costs "+
			"and the machine's noise more; its ratios and verdicts are not comparable with those of README.md, measured with the defaults "+
			"(150,000 invocations, 3 rounds).\n", o.invocations, o.rounds)
	}
	if !peaksReset(cells) {
		fmt.Fprintf(&b, "\n**The gateways' peak RSS could not be reset** (no writable /proc/PID/clear_refs): "+
			"the peaks above are lifetime peaks, the start and the warm-up included.\n")
	}

	fmt.Fprintf(&b, "\n**Floors**: what only decoding each pipeline's requests of the measured load costs, per invocation, "+
		"measured in the harness on the same payloads (%s; one goroutine, garbage collection included), and each pipeline's CPU over its own floor:\n\n"+
		"| traffic | request size | A's floor | A over it | B's floor | B over it | A's floor / B's |\n|---|---|---|---|---|---|---|\n",
		telemetryFloorDecoder)
	for i, c := range cells {
		fl, ok := f[floorKey{c.kind, c.size}]
		if !ok {
			continue
		}
		a, bb := micros(fl[0]), micros(fl[1])
		fmt.Fprintf(&b, "| %s | %d | %.2f µs | %.2fx | %.2f µs | %.2fx | %.2f |\n", c.kind.title(), c.size,
			a, sums[i][0].perInvocation/a, bb, sums[i][1].perInvocation/bb, a/bb)
	}
	fmt.Fprintf(&b, "\nA over its floor against B over its own is how much each pipeline spends beyond reading its input (HTTP, building and "+
		"handing on pdata, garbage collection, aggregation, export); A's floor over B's is how much more A's input costs to read: "+
		"the Telemetry API's JSON events (three per invocation) against one protobuf span.\n")

	fmt.Fprintf(&b, "\n**Per round:**\n\n| round | traffic | request size | pipeline | CPU µs/span | CPU µs/invocation | RSS peak from the load's start | RSS at its start / peak before it | RSS steady (readings) | "+
		"load sent in | other processes' CPU | freshness in Prometheus, median (known / new function) | requests retried | writes Prometheus refused |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for round := range o.rounds {
		for _, c := range cells {
			for i, p := range pipelines {
				if round >= len(c.results[i]) {
					continue
				}
				r := c.results[i][round]
				fmt.Fprintf(&b, "| %d | %s | %d | %s | %.2f | %.2f | %s | %s | %s (%d) | %s | %.2f cores | %s / %s | %d | %d |\n", round+1, c.kind.title(), c.size, p.short,
					per(r.cpu, c.spans), per(r.cpu, c.invocations), mib(r.peak), mib(r.startRSS)+" / "+mib(r.warmPeak), steadyMiB(r.steady), r.samples, r.send.Round(10*time.Millisecond), r.others,
					probes(r.fresh).medianMs(), probes(r.freshNew).medianMs(), r.retried, r.promRefused)
			}
		}
	}

	fmt.Fprintf(&b, "\nOther processes' CPU is the machine's busy time (/proc/stat) during each measured load minus the gateway's, Prometheus' and this "+
		"harness's own, in cores on average: 0 on an otherwise idle machine. Work of other jobs on the same %d shared cores makes the gateway slower per "+
		"unit of work (shared caches and execution units), so rounds with little of it are the cleaner ones.\n", runtime.NumCPU())
	fmt.Fprintf(&b, "\n**How freshness is measured.** After the load, each probe is one invocation of the traffic's kind (a pair is its Telemetry API batch, "+
		"then its function span; the fleet's probes take the three kinds in turn), of a function of its own, ending now, sent alone; "+
		"the time runs from that moment until an instant query `sum(<counter>{<function label>=\"<function>\"})` on Prometheus "+
		"(polled every 50 ms) returns the expected count. The probes start a growing fraction of the flush interval after the previous one became visible, "+
		"so they fall at different phases of the flush cycle. Freshness is bounded below by the flush interval (%s here; 10s by default): "+
		"a count waits for the next flush, then the batch processor (200 ms) and the remote write. "+
		"*Known functions* got %d invocations before their probe, as the load's functions got theirs: a gateway in steady state. "+
		"A *new function*'s first spans wait lambda_correlation's window (%s here) in case their partner comes "+
		"(processor/lambdacorrelationprocessor/README.md); once three went unpaired in a row the function's spans go on at once. "+
		"B's new functions are late too: spanmetrics writes 0 as the first point of a new cumulative series "+
		"(SumMetrics.BuildMetrics in the connector's internal/metrics), so the count shows at the next flush.\n",
		o.flush, probeWarm, o.flush)
	for i, c := range cells {
		if a, bb := sums[i][0], sums[i][1]; a.sandboxCounted >= 0 {
			fmt.Fprintf(&b, "\n**The per-sandbox check** (%s, requests of %d): one function's %d spans from %d sandboxes, each with its own resource "+
				"(process.pid), counted: A %.0f, B %.0f. spanmetrics keeps one metric stream per resource, and remote write drops the resource's "+
				"process.pid, so the streams of one function's sandboxes land on the same Prometheus series and overwrite each other; "+
				"lambda_metrics keys series by function, never by sandbox, and adds them up.\n",
				c.kind.title(), c.size, sandboxSpans, sandboxSpans/100, a.sandboxCounted, bb.sandboxCounted)
		}
	}
	return b.String()
}

// peaksReset tells whether every measurement's peak RSS was reset as its load started.
func peaksReset(cells []*cell) bool {
	for _, c := range cells {
		for _, rs := range c.results {
			for _, r := range rs {
				if !r.peakReset {
					return false
				}
			}
		}
	}
	return true
}

// probes are freshness probe results: from an invocation's end until visible in
// Prometheus.
type probes []time.Duration

// medianMs is the median, "n/a" without probes.
func (ps probes) medianMs() string {
	if len(ps) == 0 {
		return "n/a"
	}
	return ms(median(ps))
}

// summary is one pipeline's medians over the rounds of a cell.
type summary struct {
	perSpan, perInvocation float64 // µs
	peak, steady           int64
	fresh, freshNew        probes
	countedLast            float64
	checks                 int
	sandboxCounted         float64
}

// counted says what the sink counted of the measured load (every round's was checked
// exact, or the run stopped), with A's ground-truth figures.
func (s summary) counted() string {
	out := fmt.Sprintf("%.0f", s.countedLast)
	if s.checks > 0 {
		out += fmt.Sprintf(", all %d figures exact", s.checks)
	}
	return out
}

// summarize takes the medians over the rounds of pipeline i; probes are pooled.
func summarize(c *cell, i int) summary {
	s := summary{sandboxCounted: -1}
	var cpus, peaks, steadies []time.Duration
	for _, r := range c.results[i] {
		cpus = append(cpus, r.cpu)
		peaks = append(peaks, time.Duration(r.peak))
		steadies = append(steadies, time.Duration(r.steady))
		s.fresh = append(s.fresh, r.fresh...)
		s.freshNew = append(s.freshNew, r.freshNew...)
		s.countedLast, s.checks, s.sandboxCounted = r.counted, r.checks, r.sandboxCounted
	}
	if len(cpus) == 0 {
		return s
	}
	cpu := median(cpus)
	s.perSpan, s.perInvocation = per(cpu, c.spans), per(cpu, c.invocations)
	s.peak, s.steady = int64(median(peaks)), int64(median(steadies))
	return s
}

// per is CPU per item in µs.
func per(d time.Duration, items int) float64 {
	if items == 0 {
		return 0
	}
	return micros(d) / float64(items)
}

func micros(d time.Duration) float64 { return d.Seconds() * 1e6 }

// median is the middle value, or the mean of the two middle values of an even count.
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// steadyMiB is a steady RSS, which a load sent in less than two readings' time has not.
func steadyMiB(b int64) string {
	if b == 0 {
		return "n/a"
	}
	return mib(b)
}

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
