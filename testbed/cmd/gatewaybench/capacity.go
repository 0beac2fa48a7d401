// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/loadgen"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/scenario"
)

// The capacity model (-capacity): the figures a user sizes gateways with, each measured as
// a series of points with a fitted line, written to testbed/results/capacity.md:
//
//   - memory per active sandbox: a few functions, more and more sandboxes;
//   - memory per active series: a fixed number of sandboxes, more and more functions,
//     the series counted in Prometheus;
//   - CPU per invocation at saturation: the benchmark's measure (bench.go) of pipeline A on
//     the extension-only and the SDK-only traffic, at each request size.
//
// Each memory point is a gateway of its own (distribution/config.yaml with the
// debug-endpoints overlay, whose pprof forces a garbage collection) and a Prometheus of its
// own, so that one point's series never weigh on the next.

// capacityFunctions is how many functions the sandbox series spreads its sandboxes over:
// few, so that the series stay few.
const capacityFunctions = 10

// The sizing examples' assumptions, stated in the report.
const (
	// sizingReplicaCores is the CPU of one replica (its request and limit).
	sizingReplicaCores = 2
	// sizingCPUTarget is the CPU utilisation the autoscaler keeps replicas at.
	sizingCPUTarget = 0.7
	// sizingMeanDuration is the functions' mean invocation duration: active sandboxes are
	// about the concurrency, rate x mean duration.
	sizingMeanDuration = 200 * time.Millisecond
	// sizingLimitShare is where memory_limiter starts refusing data, as a share of the
	// container's limit: its soft limit, limit_percentage (80) minus
	// spike_limit_percentage (20) in distribution/config.yaml. The RSS estimate must stay
	// below it (it is above the heap the limiter reads: a margin).
	sizingLimitShare = 0.6
	// sizingFlushInterval is lambda_metrics' metrics_flush_interval by default: each replica
	// writes all its series once per interval.
	sizingFlushInterval = 10 * time.Second
	// sizingBatch is the invocations in a busy sandbox's Telemetry API batch: the
	// extension's adaptive flush sends every 10 s (periodically,10000) once a sandbox is
	// invoked at least every 2 s, and a sandbox kept busy runs 10 s / mean duration
	// invocations in that time.
	sizingBatch = int(10 * time.Second / sizingMeanDuration)
	// sizingMinReplicas keeps one replica's failure from stopping the count.
	sizingMinReplicas = 2
)

// sizingExamples are the worked examples: a rate, and the functions behind it.
var sizingExamples = []struct {
	rate      float64 // invocations per second
	functions int
}{
	{100_000, 1_000},
	{1_000_000, 5_000},
}

// memoryPoint is what one gateway held after one load.
type memoryPoint struct {
	sandboxes, functions int
	invocations          int // counted exactly in Prometheus
	requests             int
	// series is how many series of the gateway's instance Prometheus holds; byMetric the
	// same per metric name.
	series   int
	byMetric map[string]int
	// After the load and settleFlushes flushes: the live heap right after a forced garbage
	// collection, the gateway's own otelcol_process_runtime_heap_alloc_bytes read just
	// after it, the median RSS over those flushes, and the peak RSS (VmHWM).
	heap          memStats
	telemetryHeap float64
	rss, peak     int64
	// The load: the gateway's CPU from the first request until Prometheus held the count,
	// how long sending took, and the machine's other work meanwhile.
	cpu    time.Duration
	send   time.Duration
	others float64
	// The settling window after the load, when the gateway only flushes what it holds:
	// the flush cycles measured in it (from one flush's start to the next), and the
	// gateway's CPU per cycle.
	flushCycles int
	flushCPU    time.Duration
}

// settleFlushes is how many flush intervals a memory point waits after the load: the
// RSS readings and the flush cost are taken over them.
const settleFlushes = 3

// perFlush is the gateway's CPU per flush while it settled.
func (p memoryPoint) perFlush() time.Duration { return p.flushCPU }

// flushCost is the CPU per flush cycle of a process sampled by samples, whose flushes
// started at starts (on the samples' clock): the CPU from the first start to the last,
// over the cycles between, each reading interpolated between the samples around it.
// Starts outside the samples are left out; fewer than two leave no cycle (0, 0).
func flushCost(samples []harness.Sample, starts []time.Duration) (cycles int, perCycle time.Duration) {
	var cpu []time.Duration
	for _, t := range starts {
		i, _ := slices.BinarySearchFunc(samples, t, func(s harness.Sample, t time.Duration) int { return cmp.Compare(s.At, t) })
		switch {
		case i == len(samples) || (i == 0 && samples[0].At != t):
			continue
		case samples[i].At == t:
			cpu = append(cpu, samples[i].CPU)
		default:
			a, b := samples[i-1], samples[i]
			share := float64(t-a.At) / float64(b.At-a.At)
			cpu = append(cpu, a.CPU+time.Duration(share*float64(b.CPU-a.CPU)))
		}
	}
	if len(cpu) < 2 {
		return 0, 0
	}
	cycles = len(cpu) - 1
	return cycles, (cpu[len(cpu)-1] - cpu[0]) / time.Duration(cycles)
}

// capacityReport is everything -capacity measured.
type capacityReport struct {
	perSandbox, perSeries []memoryPoint
	cpu                   []*cell // pipeline A's rounds only (results[0])
}

func runCapacity(o options) (string, error) {
	var rep capacityReport
	began := time.Now()
	seriesSandboxes := slices.Max(o.capFunctions)
	for i, n := range o.capSandboxes {
		log.Printf("memory per sandbox: %d sandboxes over %d functions (point %d of %d, %s so far)",
			n, capacityFunctions, i+1, len(o.capSandboxes), time.Since(began).Round(time.Second))
		p, err := measureMemory(o, fmt.Sprintf("sb%d", n), capacityFunctions, n, o.flush, false)
		if err != nil {
			return "", fmt.Errorf("memory per sandbox, %d sandboxes: %w", n, err)
		}
		rep.perSandbox = append(rep.perSandbox, p)
	}
	fewest := slices.Min(o.capFunctions)
	for i, f := range o.capFunctions {
		log.Printf("memory per series: %d functions over %d sandboxes (point %d of %d, %s so far)",
			f, seriesSandboxes, i+1, len(o.capFunctions), time.Since(began).Round(time.Second))
		p, err := measureMemory(o, fmt.Sprintf("fn%d", f), f, seriesSandboxes, o.capSeriesFlush, f == fewest)
		if err != nil {
			return "", fmt.Errorf("memory per series, %d functions: %w", f, err)
		}
		rep.perSeries = append(rep.perSeries, p)
	}
	cells, err := measureCapacityCPU(o, began)
	if err != nil {
		return "", err
	}
	rep.cpu = cells
	log.Printf("measured in %s", time.Since(began).Round(time.Second))
	return renderCapacity(o, rep), nil
}

// measureCapacityCPU runs the benchmark's measure on pipeline A for the extension-only and
// the SDK-only traffic at each request size, rounds times, without freshness probes.
func measureCapacityCPU(o options, began time.Time) ([]*cell, error) {
	prom, err := harness.StartPrometheus(o.prometheusBin)
	if err != nil {
		return nil, err
	}
	defer prom.Stop()
	o.probes, o.newProbes = 0, 0
	a := pipelineA(o)
	var cells []*cell
	for _, size := range o.sizes {
		for _, k := range []mixKind{mixExtension, mixSDK} {
			cells = append(cells, &cell{kind: k, size: size})
		}
	}
	for round := 1; round <= o.rounds; round++ {
		for _, c := range cells {
			log.Printf("CPU: round %d/%d, %s, requests of %d (%s so far)", round, o.rounds, c.kind.title(), c.size, time.Since(began).Round(time.Second))
			r, t, err := measure(o, prom, a, c.kind, c.size, round)
			if err != nil {
				return nil, fmt.Errorf("CPU, %s, requests of %d, round %d: %w", c.kind.title(), c.size, round, err)
			}
			c.invocations, c.spans = t.invocations, t.spans
			c.results[0] = append(c.results[0], r)
		}
	}
	return cells, nil
}

// measureMemory starts a Prometheus and a gateway flushing every flush, sends a Telemetry
// API fleet of the given functions and sandbox slots (each slot one sandbox, brought up by
// its first invocation; no errors, so that every function has the same series), waits
// until Prometheus counts every invocation, lets a few flushes pass, and reads the
// gateway's memory and the series Prometheus holds; with breakdown, per metric too.
func measureMemory(o options, id string, functions, sandboxes int, flush time.Duration, breakdown bool) (p memoryPoint, err error) {
	p.sandboxes, p.functions = sandboxes, functions
	// The load is made before the gateway starts: generating it costs this process CPU.
	fleet, err := loadgen.Generate(loadgen.Config{Prefix: id, Functions: functions, Slots: sandboxes,
		Invocations: o.capInvocations * sandboxes, PerBatch: o.capInvocations, Seed: 1})
	if err != nil {
		return p, err
	}
	for _, b := range fleet.Batches {
		p.invocations += b.Invocations
	}
	p.requests = len(fleet.Batches)

	prom, err := harness.StartPrometheus(o.prometheusBin)
	if err != nil {
		return p, err
	}
	defer prom.Stop()
	teeURL, stopTee, err := harness.Serve(&harness.Tee{Prometheus: prom.WriteURL()})
	if err != nil {
		return p, err
	}
	defer stopTee()
	gw, pprofAddr, err := startGateway(o, harness.GatewayConfig{Bin: o.bin, Configs: scenario.Ours.ConfigPaths(o.root),
		RemoteWrite: teeURL + "/api/v1/write", InstanceID: id, Flush: flush}, true, false)
	if err != nil {
		return p, err
	}
	// Killed, not stopped: its drain is not measured, and with many series its last
	// flushes would hold the run up.
	defer func() {
		if err != nil {
			log.Printf("gateway output (last 4 KiB):\n%s", harness.Tail(gw.Output.String(), 4096))
		}
		gw.Kill()
	}()

	count := fmt.Sprintf(`sum(%s{instance=%q})`, scenario.Ours.Count, id)
	f, err := measureLoad(gw, prom, "", "", func() error {
		_, err := sendAll(gw.URL, o.workers, fleet.Batches)
		return err
	}, func() error { return waitQuery(prom, count, float64(p.invocations), o.drainTimeout) })
	p.cpu, p.send, p.others, p.peak = f.cpu, f.send, f.others, f.peak
	if err != nil {
		return p, err
	}

	// A few flushes: the memory of a gateway that holds this state and keeps writing it,
	// and what writing it costs.
	sampled := time.Now()
	smp := harness.StartSampler(gw.Process, 250*time.Millisecond)
	time.Sleep(settleFlushes * flush)
	settled := time.Now()
	samples := smp.Stop()
	p.rss = harness.MedianRSS(samples)
	if p.heap, err = forceGC(pprofAddr); err != nil {
		return p, err
	}
	// A query over every series of a large point waits for Prometheus, busy taking the
	// flushes.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Every flush writes every series once, stamped with the flush's start: one series'
	// samples in the window are the flushes' starts.
	written, err := prom.Query(ctx, fmt.Sprintf(`%s{instance=%q,%s=%q}[%dms]`, scenario.Ours.Count, id, scenario.Ours.Function, id+"-fn0",
		settled.Sub(sampled).Milliseconds()), settled)
	if err != nil {
		return p, err
	}
	if len(written) != 1 {
		return p, fmt.Errorf("%d series of %s-fn0's invocations in Prometheus, not one", len(written), id)
	}
	var starts []time.Duration
	for _, pt := range written[0].Points {
		starts = append(starts, time.UnixMilli(pt.Timestamp).Sub(sampled))
	}
	p.flushCycles, p.flushCPU = flushCost(samples, starts)
	if p.telemetryHeap, err = telemetryValue(ctx, gw.Addrs, "otelcol_process_runtime_heap_alloc_bytes"); err != nil {
		return p, err
	}
	if _, p.peak, err = gw.Memory(); err != nil {
		return p, err
	}
	// This Prometheus holds this gateway's series only: its head's count is theirs, and
	// costs nothing to read, where a query over every series keeps a busy Prometheus
	// minutes long.
	if p.series, err = headSeries(ctx, prom.URL); err != nil {
		return p, err
	}
	if breakdown {
		byMetric, err := prom.Query(ctx, fmt.Sprintf(`count by (__name__) ({instance=%q})`, id), time.Time{})
		if err != nil {
			return p, err
		}
		p.byMetric = map[string]int{}
		for _, s := range byMetric {
			p.byMetric[s.Labels["__name__"]] = int(s.Value)
		}
	}
	log.Printf("%s: %d invocations in %d requests, %d series; live heap %s, RSS %s, peak %s", id, p.invocations, p.requests, p.series,
		mib(p.heap.heapAlloc), mib(p.rss), mib(p.peak))
	return p, nil
}

// waitQuery polls an instant query that returns one value until it is want; more is an
// error, as is the timeout passing.
func waitQuery(prom *harness.Prometheus, query string, want float64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	got := math.NaN()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		series, err := prom.Query(ctx, query, time.Time{})
		cancel()
		if err != nil {
			return err
		}
		if len(series) == 1 {
			got = series[0].Value
		}
		switch {
		case got == want:
			return nil
		case got > want:
			return fmt.Errorf("%s is %v, more than the %v sent", query, got, want)
		case time.Now().After(deadline):
			return fmt.Errorf("%s is %v after %s, not the %v sent", query, got, timeout, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// headSeries reads how many series the head block of the Prometheus at url holds
// (/api/v1/status/tsdb).
func headSeries(ctx context.Context, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/api/v1/status/tsdb", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	return parseHeadSeries(body)
}

// parseHeadSeries reads headStats.numSeries from Prometheus' TSDB status answer.
func parseHeadSeries(body []byte) (int, error) {
	var answer struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			HeadStats *struct {
				NumSeries int `json:"numSeries"`
			} `json:"headStats"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return 0, fmt.Errorf("tsdb status: %w", err)
	}
	if answer.Status != "success" {
		return 0, fmt.Errorf("tsdb status: %s: %s", answer.Status, answer.Error)
	}
	if answer.Data.HeadStats == nil {
		return 0, errors.New("tsdb status: no headStats")
	}
	return answer.Data.HeadStats.NumSeries, nil
}

// memStats are the runtime.MemStats fields that the heap profile's text form ends with.
type memStats struct {
	heapAlloc, heapInuse, sys int64
}

// forceGC has the gateway collect its garbage (pprof's heap profile with gc=1) and returns
// its memory statistics right after.
func forceGC(pprofAddr string) (memStats, error) {
	resp, err := http.Get("http://" + pprofAddr + "/debug/pprof/heap?gc=1&debug=1")
	if err != nil {
		return memStats{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return memStats{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return memStats{}, fmt.Errorf("heap profile: status %d", resp.StatusCode)
	}
	return parseMemStats(body)
}

// parseMemStats reads HeapAlloc, HeapInuse and Sys from a heap profile's text form (lines
// "# HeapAlloc = 4640896").
func parseMemStats(text []byte) (memStats, error) {
	var m memStats
	fields := map[string]*int64{"HeapAlloc": &m.heapAlloc, "HeapInuse": &m.heapInuse, "Sys": &m.sys}
	found := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "# "), " = ")
		dst, known := fields[name]
		if !ok || !known || !strings.HasPrefix(sc.Text(), "# ") {
			continue
		}
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return m, fmt.Errorf("heap profile: %s: %w", name, err)
		}
		*dst, found[name] = n, true
	}
	if err := sc.Err(); err != nil {
		return m, err
	}
	var missing []string
	for _, name := range []string{"HeapAlloc", "HeapInuse", "Sys"} {
		if !found[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return m, fmt.Errorf("heap profile: no %s (not the text form of a heap profile?)", strings.Join(missing, ", "))
	}
	return m, nil
}

// telemetryValue reads one unlabelled metric of the gateway's own telemetry.
func telemetryValue(ctx context.Context, addrs harness.GatewayAddrs, name string) (float64, error) {
	families, err := addrs.ReadTelemetry(ctx)
	if err != nil {
		return 0, err
	}
	for _, f := range families {
		if f.Name == name && len(f.Metrics) == 1 {
			return f.Metrics[0].Value, nil
		}
	}
	return 0, fmt.Errorf("the gateway's telemetry has no %s", name)
}

// line is a least-squares fit y = intercept + slope x over n points. r2 is the
// coefficient of determination; slopeErr the slope's standard error (NaN with two points,
// which any line fits).
type line struct {
	slope, intercept, r2, slopeErr float64
	n                              int
}

var errFewPoints = errors.New("a line needs at least two points with different x")

// fitLine fits a line to the points (xs[i], ys[i]).
func fitLine(xs, ys []float64) (line, error) {
	if len(xs) != len(ys) {
		return line{}, fmt.Errorf("%d x and %d y", len(xs), len(ys))
	}
	n := float64(len(xs))
	if n < 2 {
		return line{}, errFewPoints
	}
	var mx, my float64
	for i := range xs {
		mx, my = mx+xs[i], my+ys[i]
	}
	mx, my = mx/n, my/n
	var sxx, sxy, syy float64
	for i := range xs {
		dx, dy := xs[i]-mx, ys[i]-my
		sxx, sxy, syy = sxx+dx*dx, sxy+dx*dy, syy+dy*dy
	}
	if sxx == 0 {
		return line{}, errFewPoints
	}
	l := line{slope: sxy / sxx, n: len(xs)}
	l.intercept = my - l.slope*mx
	residual := syy - l.slope*sxy
	l.r2 = 1.0
	if syy > 0 {
		l.r2 = 1 - residual/syy
	}
	l.slopeErr = math.NaN()
	if len(xs) > 2 {
		l.slopeErr = math.Sqrt(math.Max(0, residual) / (n - 2) / sxx)
	}
	return l, nil
}

// fitOf fits y(p) over x(p) of the points; an error (too few points) is said in the report.
func fitOf[P any](points []P, x, y func(P) float64) (line, error) {
	xs, ys := make([]float64, len(points)), make([]float64, len(points))
	for i, p := range points {
		xs[i], ys[i] = x(p), y(p)
	}
	return fitLine(xs, ys)
}

// memoryMeasures are the memory figures of a point that the report fits.
var memoryMeasures = []struct {
	name string
	of   func(memoryPoint) float64
}{
	{"live heap after a forced GC", func(p memoryPoint) float64 { return float64(p.heap.heapAlloc) }},
	{"RSS after the load (median over the settling window)", func(p memoryPoint) float64 { return float64(p.rss) }},
	{"peak RSS (VmHWM)", func(p memoryPoint) float64 { return float64(p.peak) }},
}

// rssMeasure is the memory measure the sizing uses: what the container's limit sees.
const rssMeasure = 1

// cpuFit is µs per invocation over 1/request size for one traffic kind: the intercept is
// the cost of an invocation in a request of any size, the slope a request's own cost.
func cpuFit(cells []*cell, kind mixKind) (line, error) {
	var own []*cell
	for _, c := range cells {
		if c.kind == kind {
			own = append(own, c)
		}
	}
	return fitOf(own, func(c *cell) float64 { return 1 / float64(c.size) }, func(c *cell) float64 { return summarize(c, 0).perInvocation })
}

func renderCapacity(o options, rep capacityReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Capacity model: CPU per invocation, memory per active sandbox and per active series\n\n")
	fmt.Fprintf(&b, "Written by `make capacity` (testbed/cmd/gatewaybench -capacity) on %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	environment(&b, o, "make capacity")
	fmt.Fprintf(&b, "- the gateway: `distribution/config.yaml` as shipped (memory points: with `distribution/overlays/debug-endpoints.yaml`, "+
		"whose pprof forces a garbage collection; CPU points: with `testbed/bench/sdk-spans.yaml`, as pipeline A of bench.md), "+
		"flush interval %s (lambda_correlation's window too; %s for the memory-per-series points, the shipped default, so that Prometheus on this "+
		"shared machine takes hundreds of thousands of series per flush), remote write to a real Prometheus; a new gateway for each point\n", o.flush, o.capSeriesFlush)
	fmt.Fprintf(&b, "- the machine is shared with other jobs: memory figures do not depend on that, CPU figures do "+
		"(other processes' CPU during each load is in the tables; a busy machine makes every figure per item higher)\n\n")
	fmt.Fprintf(&b, "Each memory point is its own gateway and Prometheus: a Telemetry API fleet (testbed/loadgen.Generate) whose every sandbox "+
		"is brought up by its first invocation and runs %d invocations on average, %d to a batch at most (the extension's `end` flush sends "+
		"one or a few per batch), no errors and no cold starts but each sandbox's first, so that every function has the same series; "+
		"%d concurrent senders as fast as the gateway answers. The point is read once Prometheus counts every invocation exactly "+
		"(`sum(faas_invocations_total{instance=...})`) and %d more flush intervals have passed (the settling window): the live heap right after a garbage collection "+
		"forced through pprof (`runtime.MemStats.HeapAlloc`; the gateway exports the same figure as `otelcol_process_runtime_heap_alloc_bytes` "+
		"on its telemetry endpoint, read just after and shown beside it), the median RSS over the settling window (readings every 250 ms), "+
		"and the peak RSS (VmHWM, the load included). Series are those the point's own Prometheus holds (`headStats.numSeries` of `/api/v1/status/tsdb`): the gateway's, and nothing else writes there. "+
		"The CPU per flush is measured over the settling window too: each flush stamps its samples with its start, so the gateway's CPU "+
		"(read every 250 ms) from the first flush's start in the window to the last one's, over the cycles between, is what a flush costs, "+
		"its remote write included.\n\n",
		o.capInvocations, o.capInvocations, o.workers, settleFlushes)

	sb := renderMemory(&b, "1. Memory per active sandbox",
		fmt.Sprintf("%d functions, more and more sandboxes (the receiver's `sandboxes::max_sandboxes` is 50,000 by default: a sandbox "+
			"stays remembered until it idles `idle_timeout`, 1 h, or that many more recent ones push it out).", capacityFunctions),
		"sandbox", rep.perSandbox, func(p memoryPoint) float64 { return float64(p.sandboxes) })
	perFunction := seriesPerFunction(rep.perSeries)
	ser := renderMemory(&b, "2. Memory per active series",
		fmt.Sprintf("%d sandboxes, more and more functions (lambda_metrics' `cardinality_limit` is 10,000 per metric: beyond it a function's "+
			"measurements go to one overflow series). Slope over the series Prometheus holds of the gateway; a function makes %.1f series here.",
			slices.Max(o.capFunctions), perFunction),
		"series", rep.perSeries, func(p memoryPoint) float64 { return float64(p.series) })
	fn, fnErr := fitOf(rep.perSeries, func(p memoryPoint) float64 { return float64(p.functions) }, memoryMeasures[rssMeasure].of)
	if fnErr == nil {
		fmt.Fprintf(&b, "Per function (the same points over functions instead of series), RSS after the load: %s per function, R² %.3f.\n\n",
			kib(fn.slope), fn.r2)
	}
	fmt.Fprintf(&b, "With hundreds of thousands of series a flush takes seconds, so the forced collection may find one under way and count its "+
		"buffers as live: the live heap is a floor there and scatters (its R²), while the RSS, which holds the flushes' peaks, is the figure to size with.\n\n")
	renderSeriesPerFunction(&b, rep.perSeries)

	renderCapacityCPU(&b, o, rep.cpu)
	flush, _ := fitOf(rep.perSeries, func(p memoryPoint) float64 { return float64(p.series) }, func(p memoryPoint) float64 { return micros(p.perFlush()) })
	renderSizing(&b, rep, sizingModel{sandbox: sb[rssMeasure], series: ser[rssMeasure], flush: flush, seriesPerFn: perFunction})
	return b.String()
}

// renderMemory writes one memory series' points and its fits, and returns the fits (in
// memoryMeasures' order; an unfitted one has n 0).
func renderMemory(b *strings.Builder, title, setup, unit string, points []memoryPoint, x func(memoryPoint) float64) []line {
	fmt.Fprintf(b, "## %s\n\n%s\n\n", title, setup)
	fmt.Fprintf(b, "| sandboxes | functions | invocations (exact in Prometheus) | requests | series in Prometheus | live heap after GC | "+
		"otelcol_process_runtime_heap_alloc_bytes | RSS after the load | peak RSS | load sent in | gateway CPU, load to exact count | "+
		"other processes' CPU during the load | flush cycles after the load | gateway CPU per flush |\n"+
		"|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, p := range points {
		fmt.Fprintf(b, "| %d | %d | %d | %d | %d | %s | %s | %s | %s | %s | %s | %.2f cores | %d | %s |\n", p.sandboxes, p.functions, p.invocations, p.requests, p.series,
			mib(p.heap.heapAlloc), mib(int64(p.telemetryHeap)), mib(p.rss), mib(p.peak), p.send.Round(10*time.Millisecond), p.cpu.Round(10*time.Millisecond),
			p.others, p.flushCycles, p.perFlush().Round(time.Millisecond))
	}
	fmt.Fprintf(b, "\nFitted lines, memory = intercept + slope x %s (least squares over the %d points):\n\n| memory | slope per %s | intercept | R² | slope's standard error |\n|---|---|---|---|---|\n",
		unit, len(points), unit)
	fits := make([]line, len(memoryMeasures))
	for i, m := range memoryMeasures {
		l, err := fitOf(points, x, m.of)
		if err != nil {
			fmt.Fprintf(b, "| %s | not fitted: %v | | | |\n", m.name, err)
			continue
		}
		fits[i] = l
		fmt.Fprintf(b, "| %s | %s | %s | %.3f | %s |\n", m.name, kib(l.slope), mib(int64(l.intercept)), l.r2, kibErr(l.slopeErr))
	}
	if l, err := fitOf(points, x, func(p memoryPoint) float64 { return micros(p.perFlush()) }); err == nil {
		fmt.Fprintf(b, "\nThe gateway's CPU per flush after the load (it then only writes what it holds), fitted the same way: %.2f µs per %s, "+
			"intercept %.1f ms, R² %.3f.\n", l.slope, unit, l.intercept/1e3, l.r2)
	}
	fmt.Fprintf(b, "\n")
	return fits
}

// seriesPerFunction is the series a function makes: the slope of series over functions.
func seriesPerFunction(points []memoryPoint) float64 {
	l, err := fitOf(points, func(p memoryPoint) float64 { return float64(p.functions) }, func(p memoryPoint) float64 { return float64(p.series) })
	if err != nil {
		return math.NaN()
	}
	return l.slope
}

// renderSeriesPerFunction lists the series per function of each metric, at the point that
// read them per metric.
func renderSeriesPerFunction(b *strings.Builder, points []memoryPoint) {
	if len(points) == 0 {
		return
	}
	i := slices.IndexFunc(points, func(p memoryPoint) bool { return p.byMetric != nil })
	if i < 0 {
		return
	}
	at := points[i]
	fmt.Fprintf(b, "Series per metric at %d functions (a classic histogram is one series per bucket, plus _sum and _count; "+
		"read at the point with the fewest functions, where a query over every series is quick):\n\n"+
		"| metric | series | per function |\n|---|---|---|\n", at.functions)
	names := make([]string, 0, len(at.byMetric))
	for name := range at.byMetric {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(b, "| %s | %d | %.2f |\n", name, at.byMetric[name], float64(at.byMetric[name])/float64(at.functions))
	}
	fmt.Fprintf(b, "| all | %d | %.2f |\n\n", at.series, float64(at.series)/float64(at.functions))
}

// renderCapacityCPU writes the CPU points (medians over the rounds) and the fit over
// request sizes.
func renderCapacityCPU(b *strings.Builder, o options, cells []*cell) {
	fmt.Fprintf(b, "## 3. CPU per invocation at saturation\n\n"+
		"The benchmark's measurement (bench.go, pipeline A of bench.md): %d invocations over %d functions after a warm-up, %d concurrent "+
		"senders as fast as the gateway answers, the gateway's CPU from the first request until the validating sink held every count "+
		"exactly (export included); medians over %d rounds. Invocations per second per core = 10⁶ / (µs per invocation).\n\n",
		o.invocations, o.functions, o.workers, o.rounds)
	fmt.Fprintf(b, "| traffic | request size | CPU µs per invocation | invocations per second per core | achieved rate | gateway cores busy | "+
		"RSS steady | peak RSS | other processes' CPU |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range cells {
		s := summarize(c, 0)
		var sends, others []time.Duration
		for _, r := range c.results[0] {
			sends = append(sends, r.send)
			others = append(others, time.Duration(r.others*float64(time.Second)))
		}
		send := median(sends)
		rate := float64(c.invocations) / send.Seconds()
		fmt.Fprintf(b, "| %s | %d | %.2f | %s | %s/s | %.2f | %s | %s | %.2f cores |\n", c.kind.title(), c.size, s.perInvocation,
			thousands(1e6/s.perInvocation), thousands(rate), rate*s.perInvocation/1e6, steadyMiB(s.steady), mib(s.peak), median(others).Seconds())
	}
	fmt.Fprintf(b, "\nGateway cores busy is the achieved rate times the CPU per invocation: below %d, the senders (this harness, on the same "+
		"machine) or the other jobs held the rate down, not the gateway. The gateway was the bottleneck of no point here; its cost per "+
		"invocation is what adds up across cores and replicas.\n\n", runtime.NumCPU())
	fmt.Fprintf(b, "Fitted per traffic, µs per invocation = a + b / request size (a: an invocation's own cost; b: a request's, shared by its invocations):\n\n"+
		"| traffic | a, µs per invocation | b, µs per request | R² | points |\n|---|---|---|---|---|\n")
	for _, k := range []mixKind{mixExtension, mixSDK} {
		l, err := cpuFit(cells, k)
		if err != nil {
			fmt.Fprintf(b, "| %s | not fitted: %v | | | |\n", k.title(), err)
			continue
		}
		quality := fmt.Sprintf("%.3f", l.r2)
		if l.n == 2 {
			quality = "n/a (two points: any line fits)"
		}
		fmt.Fprintf(b, "| %s | %.2f | %.0f | %s | %d |\n", k.title(), l.intercept, l.slope, quality, l.n)
	}
	fmt.Fprintf(b, "\n")
}

// sizingModel is what the sizing is derived from: the RSS fits over sandboxes and over
// series, the flush CPU over series (µs), and the series of a function; cpu is µs per
// invocation.
type sizingModel struct {
	sandbox, series, flush line
	seriesPerFn, cpu       float64
}

// renderSizing writes the sizing paragraph, every number derived from the fits.
func renderSizing(b *strings.Builder, rep capacityReport, m sizingModel) {
	fmt.Fprintf(b, "## Sizing (for the README)\n\n")
	perRequest, err := cpuFit(rep.cpu, mixExtension)
	if err != nil || m.sandbox.n == 0 || m.series.n == 0 || m.flush.n == 0 {
		fmt.Fprintf(b, "Not written: a measurement it needs is missing (CPU at two request sizes at least, and every memory series).\n")
		return
	}
	m.cpu = perRequest.intercept + perRequest.slope/float64(sizingBatch)
	fmt.Fprintf(b, "Measured on this machine (%s; RSS figures from the sections above):\n\n", harness.CPUModel())
	fmt.Fprintf(b, "- CPU per invocation: c = a + b / n = %.2f + %.0f / %d = %.2f µs (section 3's extension-only fit, at n = %d invocations per batch: "+
		"a busy sandbox's, whose extension flushes every 10 s, at %s per invocation); %s invocations per second per core. "+
		"A rarely invoked sandbox sends one invocation per batch and costs a + b; the SDK-only traffic is in section 3, the paired one in bench.md.\n",
		perRequest.intercept, perRequest.slope, sizingBatch, m.cpu, sizingBatch, sizingMeanDuration, thousands(1e6/m.cpu))
	fmt.Fprintf(b, "- CPU per flush: w = %.2f µs per series, every `metrics_flush_interval` (T = %s by default), however few invocations.\n", m.flush.slope, sizingFlushInterval)
	fmt.Fprintf(b, "- Memory: a gateway takes m₀ = %s, plus s = %s per active sandbox, plus k = %s per active series; a function whose invocations "+
		"all succeed makes about %.1f series (errors add series per error type).\n\n", mib(int64(m.sandbox.intercept)), kib(m.sandbox.slope), kib(m.series.slope), m.seriesPerFn)
	fmt.Fprintf(b, "For R invocations per second, N active sandboxes (about the concurrency, R x mean duration, plus the warm sandboxes idle less "+
		"than `idle_timeout`) and M functions (%.1f x M series in all), with replicas of C = %d cores kept at u = %.0f%% CPU, "+
		"and two at least so that one may fail:\n\n"+
		"- **load balancer hashing on the sandbox** (`Lambda-Extension-Instance-Id`): every replica sees every function (a function's sandboxes "+
		"spread over all replicas), so each holds and flushes all S = %.1f x M series, f = w x S / T cores; "+
		"replicas = max(%d, ⌈R x c / 10⁶ / (C x u - f)⌉); Prometheus holds replicas x S series (one `instance` each)\n"+
		"- **hashing on the function** (`Lambda-Function-Name`): the series divide too, S = %.1f x M / replicas; "+
		"replicas = max(%d, ⌈(R x c / 10⁶ + w x %.1f x M / T) / (C x u)⌉), as long as no function outgrows one replica\n"+
		"- memory per replica = m₀ + s x N / replicas + k x S; set the container's memory limit to at least memory / %.1f, so that "+
		"memory_limiter's soft limit (`limit_percentage` 80 minus `spike_limit_percentage` 20 of the limit), above which it refuses data, "+
		"stays above it; N / replicas must stay under `max_sandboxes` (50,000) and the "+
		"functions a replica sees under `cardinality_limit` (10,000)\n\n",
		m.seriesPerFn, sizingReplicaCores, sizingCPUTarget*100, m.seriesPerFn, sizingMinReplicas, m.seriesPerFn, sizingMinReplicas, m.seriesPerFn, sizingLimitShare)
	fmt.Fprintf(b, "| rate R | functions M | active sandboxes N (mean duration %s) | load balancer hashes on | series per replica S | cores for invocations | "+
		"flush cores per replica | replicas of %d cores at %.0f%% | memory per replica | limit per replica | series in Prometheus |\n"+
		"|---|---|---|---|---|---|---|---|---|---|---|\n", sizingMeanDuration, sizingReplicaCores, sizingCPUTarget*100)
	for _, ex := range sizingExamples {
		for _, byFunction := range []bool{false, true} {
			e := m.sizeFor(ex.rate, ex.functions, byFunction)
			fmt.Fprintf(b, "| %s/s | %s | %s | %s | %s | %.1f | %.2f | %d | %s | %s | %s |\n", thousands(ex.rate), thousands(float64(ex.functions)),
				thousands(e.sandboxes), hashKey(byFunction), thousands(e.series), e.cores, e.flushCores, e.replicas, mib(int64(e.memory)),
				mib(int64(e.memory/sizingLimitShare)), thousands(e.series*float64(e.replicas)))
		}
	}
	fmt.Fprintf(b, "\nWorked out:\n\n")
	for _, ex := range sizingExamples {
		sb, fn := m.sizeFor(ex.rate, ex.functions, false), m.sizeFor(ex.rate, ex.functions, true)
		all := m.seriesPerFn * float64(ex.functions)
		fmt.Fprintf(b, "- %s invocations/s, %s functions, N = %s x %s = %s: cores for invocations = %s x %.2f µs / 10⁶ = %.2f. "+
			"Hashing on the sandbox: S = %.1f x %s = %s, f = %.2f µs x %s / %s = %.2f cores, replicas = max(%d, ⌈%.2f / (%d x %.1f - %.2f)⌉) = %d, "+
			"memory = %s + %s x %s + %s x %s = %s per replica (limit %s). "+
			"Hashing on the function: replicas = max(%d, ⌈(%.2f + %.2f µs x %s / %s) / %.1f⌉) = %d, S = %s, memory = %s + %s x %s + %s x %s = %s per replica (limit %s).\n",
			thousands(ex.rate), thousands(float64(ex.functions)), thousands(ex.rate), sizingMeanDuration, thousands(sb.sandboxes),
			thousands(ex.rate), m.cpu, sb.cores,
			m.seriesPerFn, thousands(float64(ex.functions)), thousands(sb.series), m.flush.slope, thousands(sb.series), sizingFlushInterval, sb.flushCores,
			sizingMinReplicas, sb.cores, sizingReplicaCores, sizingCPUTarget, sb.flushCores, sb.replicas,
			mib(int64(m.sandbox.intercept)), kib(m.sandbox.slope), thousands(sb.sandboxes/float64(max(1, sb.replicas))), kib(m.series.slope), thousands(sb.series),
			mib(int64(sb.memory)), mib(int64(sb.memory/sizingLimitShare)),
			sizingMinReplicas, fn.cores, m.flush.slope, thousands(all), sizingFlushInterval, sizingReplicaCores*sizingCPUTarget, fn.replicas,
			thousands(fn.series), mib(int64(m.sandbox.intercept)), kib(m.sandbox.slope), thousands(fn.sandboxes/float64(fn.replicas)), kib(m.series.slope),
			thousands(fn.series), mib(int64(fn.memory)), mib(int64(fn.memory/sizingLimitShare)))
	}
	fmt.Fprintf(b, "\nCPU figures come from a shared %d-core machine and grow with other work on it; measure c and w on your own hardware with "+
		"`make capacity` before sizing tightly. Memory figures do not depend on the machine's load.\n", runtime.NumCPU())
}

func hashKey(byFunction bool) string {
	if byFunction {
		return "function"
	}
	return "sandbox"
}

// sizing is one worked example.
type sizing struct {
	cores, flushCores float64 // for invocations in all; for flushing per replica
	replicas          int
	// sandboxes in all; series and memory (bytes) per replica.
	sandboxes, series, memory float64
}

// sizeFor works one example out, for a load balancer that hashes on the function or on
// the sandbox: see renderSizing for the formulas.
func (m sizingModel) sizeFor(rate float64, functions int, byFunction bool) sizing {
	var s sizing
	s.cores = rate * m.cpu / 1e6
	s.sandboxes = rate * sizingMeanDuration.Seconds()
	all := m.seriesPerFn * float64(functions)
	flushCores := func(series float64) float64 { return m.flush.slope * series / 1e6 / sizingFlushInterval.Seconds() }
	usable := sizingReplicaCores * sizingCPUTarget
	if byFunction {
		s.replicas = max(sizingMinReplicas, int(math.Ceil((s.cores+flushCores(all))/usable)))
		s.series = all / float64(s.replicas)
	} else if s.series = all; usable > flushCores(all) {
		s.replicas = max(sizingMinReplicas, int(math.Ceil(s.cores/(usable-flushCores(all)))))
	} // else flushing alone fills a replica: no replica count works, and 0 says so
	s.flushCores = flushCores(s.series)
	s.memory = m.sandbox.intercept + m.sandbox.slope*s.sandboxes/float64(max(1, s.replicas)) + m.series.slope*s.series
	return s
}

// kib is a byte count per item, in bytes below 10 KiB.
func kib(bytes float64) string {
	if math.Abs(bytes) < 10<<10 {
		return fmt.Sprintf("%.0f B", bytes)
	}
	return fmt.Sprintf("%.1f KiB", bytes/(1<<10))
}

func kibErr(bytes float64) string {
	if math.IsNaN(bytes) {
		return "n/a (two points)"
	}
	return "± " + kib(bytes)
}

// thousands writes a number rounded to an integer with commas between thousands.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
