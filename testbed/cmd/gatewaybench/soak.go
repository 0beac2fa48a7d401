// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/internal/promtext"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/loadgen"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/rwsink"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/scenario"
)

// soakMix churns the gateway's join state: new sandboxes (cold starts, and one after every
// out-of-memory kill), errors of every type, timeouts, and asynchronous retries that reuse
// a request id.
var soakMix = loadgen.Mix{ColdStart: 0.01, Error: 0.03, Timeout: 0.01, OOM: 0.005, Retry: 0.3}

// soakPerBatch is the most invocations a sandbox's batch carries in the soak.
const soakPerBatch = 10

// soakResult is what the soak measured.
type soakResult struct {
	checks     int
	truth      loadgen.Truth
	generated  time.Duration // how long generating the load took
	stats      loadgen.Stats
	sendErr    error
	samples    []sample
	internals  []internals
	loadEnd    time.Duration // on the sampler's clock
	exactAfter time.Duration // after the load ended; 0 when never exact
	mismatches []string
	cpu        time.Duration // from the first request until the counts were exact (or the drain gave up)
	peak       int64
	flush      string
	others     float64 // other processes' CPU during the load, in cores
}

// internals is what the gateway's own telemetry said at a reading.
type internals struct {
	at        time.Duration
	heap      float64 // otelcol_process_runtime_heap_alloc_bytes
	pending   float64 // otelcol_processor_lambda_correlation_pending
	evictions float64 // otelcol_receiver_lambda_telemetry_state_evictions
	available bool
}

func runSoak(o options) (string, error) {
	var r soakResult
	r.flush = "the distribution's defaults (lambda_metrics flush 10s, lambda_correlation window 5s)"
	if o.flush > 0 {
		r.flush = fmt.Sprintf("flush interval and correlation window %s", o.flush)
	}
	cfg := loadgen.Config{Prefix: "soak", Functions: o.soakFunctions, Sandboxes: o.soakSandboxes,
		Invocations: int(o.soakRate * o.soak.Seconds()), PerBatch: soakPerBatch, Mix: soakMix, Seed: 1,
		Start: time.Now(), FunctionSpans: true}
	log.Printf("soak: generating %d invocations over %d functions x %d sandboxes, with the functions' own spans", cfg.Invocations, cfg.Functions, cfg.Sandboxes)
	began := time.Now()
	fleet, err := loadgen.Generate(cfg)
	if err != nil {
		return "", err
	}
	r.truth, r.generated = fleet.Total(), time.Since(began)
	checks := scenario.Checks(fleet, true)
	r.checks = len(checks)

	sink := rwsink.New()
	sinkURL, stopSink, err := harness.Serve(sink)
	if err != nil {
		return "", err
	}
	defer stopSink()

	p := pipelineA(o)
	if o.soakOverlay != "" {
		overlay := o.soakOverlay
		if !filepath.IsAbs(overlay) {
			overlay = filepath.Join(o.root, overlay)
		}
		p.configs = append(p.configs, overlay)
	}
	gw, _, err := startGateway(o, harness.GatewayConfig{Bin: o.bin, Configs: p.configs, RemoteWrite: sinkURL + "/api/v1/write", Flush: o.flush}, false)
	if err != nil {
		return "", err
	}
	defer func() {
		if err := gw.Stop(); err != nil {
			log.Printf("soak: stopping the gateway: %v", err)
		}
	}()

	cpu0, err := gw.CPU()
	if err != nil {
		return "", err
	}
	smp := startSampler(gw.Process, o.soakSample)
	watch := watchInternals(gw, smp, o.soakSample)
	oth := startOthers(gw.Process)
	log.Printf("soak: %s at %.0f invocations/s against %s", o.soak, o.soakRate, gw.URL)
	r.stats, r.sendErr = loadgen.Send(context.Background(), loadgen.SendConfig{URL: gw.URL, Workers: o.workers, Rate: o.soakRate,
		Timeout: o.soak + 5*time.Minute, Client: client(o.workers)}, fleet.Batches)
	r.loadEnd = smp.since()
	r.others = oth.stop()
	log.Printf("soak: load sent in %s (%d batches, %d retried requests); waiting for exact counts", r.stats.Duration.Round(time.Second), r.stats.Acknowledged, r.stats.Retried)

	deadline := time.Now().Add(o.drainTimeout)
	for r.sendErr == nil {
		if r.mismatches = scenario.Mismatches(checks, scenario.SinkTotals(sink)); len(r.mismatches) == 0 {
			r.exactAfter = smp.since() - r.loadEnd
			break
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	cpu1, cerr := gw.CPU()
	r.samples = smp.Stop()
	r.internals = watch()
	r.cpu = cpu1 - cpu0
	_, r.peak, _ = gw.Memory()
	report := renderSoak(o, r)

	switch {
	case r.sendErr != nil:
		err = fmt.Errorf("the load was not all acknowledged: %w", r.sendErr)
	case r.exactAfter == 0:
		err = fmt.Errorf("the sink did not hold the ground truth within %s: %d mismatches", o.drainTimeout, len(r.mismatches))
	case cerr != nil:
		err = cerr
	}
	if _, failed := sink.Requests(); failed > 0 && err == nil {
		err = fmt.Errorf("%d remote writes did not decode", failed)
	}
	return report, err
}

// watchInternals reads the gateway's own telemetry every interval until the returned
// function is called, which returns the readings.
func watchInternals(gw *harness.Gateway, smp *sampler, every time.Duration) func() []internals {
	var (
		mu  sync.Mutex
		out []internals
	)
	stop, done := make(chan struct{}), make(chan struct{})
	client := &http.Client{Timeout: 5 * time.Second}
	read := func() {
		in := internals{at: smp.since()}
		in.heap, in.pending, in.evictions, in.available = selfTelemetry(client, "http://"+gw.Addrs.Telemetry+"/metrics")
		mu.Lock()
		out = append(out, in)
		mu.Unlock()
	}
	go func() {
		defer close(done)
		read()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				read()
			}
		}
	}()
	return func() []internals {
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		return out
	}
}

// selfTelemetry reads the Go heap in use, the spans lambda_correlation holds and the
// receiver's join-state evictions from the gateway's Prometheus endpoint.
func selfTelemetry(client *http.Client, url string) (heap, pending, evictions float64, ok bool) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, 0, 0, false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0, 0, false
	}
	families, err := promtext.Parse(body)
	if err != nil {
		return 0, 0, 0, false
	}
	var seen int
	for _, f := range families {
		var v float64
		for _, m := range f.Metrics {
			v += m.Value
		}
		switch {
		case strings.HasPrefix(f.Name, "otelcol_process_runtime_heap_alloc_bytes"):
			heap, seen = v, seen+1
		case strings.HasPrefix(f.Name, "otelcol_processor_lambda_correlation_pending"):
			pending, seen = v, seen+1
		case strings.HasPrefix(f.Name, "otelcol_receiver_lambda_telemetry_state_evictions"):
			evictions = v // absent until the first eviction
		}
	}
	return heap, pending, evictions, seen == 2
}

func renderSoak(o options, r soakResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Soak: otelcol-lambda under a constant fleet load for %s\n\n", o.soak)
	fmt.Fprintf(&b, "Written by `make soak` (testbed/cmd/gatewaybench -soak) on %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	environment(&b, o, fmt.Sprintf("make soak SOAK_DURATION=%s", o.soak))
	overlay := ""
	if o.soakOverlay != "" {
		overlay = fmt.Sprintf(" with the overlay `%s` (below)", o.soakOverlay)
	}
	fmt.Fprintf(&b, "- pipeline: `distribution/config.yaml` (A of the benchmark)%s, %s, remote write to the validating sink testbed/rwsink\n", overlay, r.flush)
	m := soakMix
	fmt.Fprintf(&b, "- load: testbed/loadgen.Generate, %d functions x %d sandbox slots, %d invocations at %.0f/s (loadgen.Send rate mode, %d workers, never drops), "+
		"up to %d invocations per Telemetry API batch, each followed by the sandbox's OTLP batch of the functions' own root spans "+
		"(which lambda_correlation joins with the invocation spans); mix: cold starts %.1f%% besides each new sandbox's first, errors %.0f%%, "+
		"timeouts %.0f%%, out-of-memory kills %.1f%%, asynchronous retries of %.0f%% of the failures. Generated in %s, before the gateway started.\n\n",
		o.soakFunctions, o.soakSandboxes, r.truth.Invocations, o.soakRate, o.workers, soakPerBatch,
		m.ColdStart*100, m.Error*100, m.Timeout*100, m.OOM*100, m.Retry*100, r.generated.Round(time.Second))

	t := r.truth
	load := between(r.samples, 0, r.loadEnd)
	first := between(load, 0, time.Minute)
	last := between(load, r.loadEnd-time.Minute, r.loadEnd)
	tail := between(load, r.loadEnd/5, r.loadEnd)
	sl := slope(tail)
	flat := len(tail) >= 3 && sl < o.soakSlopeMax

	fmt.Fprintf(&b, "## Summary\n\n| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| load sent | %d invocations and %d function spans in %d batches over %s (%.0f invocations/s); %d requests retried |\n",
		r.stats.AcknowledgedInvocations, r.stats.AcknowledgedSpans, r.stats.Acknowledged, r.stats.Duration.Round(time.Second),
		float64(r.stats.AcknowledgedInvocations)/r.stats.Duration.Seconds(), r.stats.Retried)
	fmt.Fprintf(&b, "| generated | %d invocations, %d cold starts, %d errors (%s), %d timeouts, %d out-of-memory kills, %d retries, %d function spans |\n",
		t.Invocations, t.ColdStarts, errorsTotal(t), errorTypes(t), t.Timeouts, t.OOMs, t.Retries, t.Spans)
	switch {
	case r.sendErr != nil:
		fmt.Fprintf(&b, "| counts in the sink | **not checked: the load was not all acknowledged** (%v) |\n", r.sendErr)
	case r.exactAfter > 0:
		fmt.Fprintf(&b, "| counts in the sink | **exact**: all %d ground-truth figures (testbed/scenario.Checks per function: invocations, also by event source; "+
			"errors by type; timeouts; cold starts; invoke duration count and sum; billed duration; event age count and sum), %s after the load ended |\n",
			r.checks, r.exactAfter.Round(time.Second))
	default:
		fmt.Fprintf(&b, "| counts in the sink | **NOT exact** after %s: %d mismatches, e.g. %s |\n", o.drainTimeout, len(r.mismatches), strings.Join(r.mismatches[:min(3, len(r.mismatches))], "; "))
	}
	fmt.Fprintf(&b, "| RSS, first minute (median of %d readings) | %s |\n", len(first), mib(medianRSS(first)))
	fmt.Fprintf(&b, "| RSS, last minute (median of %d readings) | %s |\n", len(last), mib(medianRSS(last)))
	fmt.Fprintf(&b, "| RSS peak (VmHWM) | %s |\n", mib(r.peak))
	fmt.Fprintf(&b, "| RSS slope over the last 80%% of the load (least squares, %d readings from %s) | %+.3f MiB/min |\n", len(tail), (r.loadEnd / 5).Round(time.Second), sl)
	fmt.Fprintf(&b, "| gateway CPU | %.1f s, %.2f CPU-seconds per million invocations (Telemetry API and the functions' spans, correlation, metrics, export); %.1f%% of one core on average |\n",
		r.cpu.Seconds(), r.cpu.Seconds()/float64(max(t.Invocations, 1))*1e6, 100*r.cpu.Seconds()/(r.loadEnd+r.exactAfter).Seconds())
	fmt.Fprintf(&b, "| other processes' CPU during the load (/proc/stat minus the gateway and this harness) | %.2f cores on average, of %d |\n", r.others, runtime.NumCPU())
	if flat {
		fmt.Fprintf(&b, "\n**Verdict: RSS flat** — the slope over the last 80%% of the load, %+.3f MiB/min, is below the %.1f MiB/min threshold.\n", sl, o.soakSlopeMax)
	} else {
		fmt.Fprintf(&b, "\n**Verdict: RSS NOT shown flat** — the slope over the last 80%% of the load, %+.3f MiB/min (%d readings), is not below the %.1f MiB/min threshold.\n",
			sl, len(tail), o.soakSlopeMax)
	}
	fmt.Fprintf(&b, "\nThe threshold: %.1f MiB/min is %.0f MiB over this run; RSS of a Go process moves by a few MiB with the garbage collector's cycles, "+
		"so a smaller slope is not resolved by a run this short. The first 20%% is left out: it is when the bounded state fills up "+
		"(sandboxes remembered, lambda_correlation's trace rewrites, series).\n", o.soakSlopeMax, o.soakSlopeMax*o.soak.Minutes())
	perMinute := float64(t.ColdStarts) / r.loadEnd.Minutes()
	if o.soakOverlay != "" {
		fmt.Fprintf(&b, "\n**The overlay.** `%s` makes the receiver forget a sandbox after 1 minute without a batch instead of the shipped hour "+
			"(`lambda_telemetry::sandboxes::idle_timeout`); nothing else differs from `distribution/config.yaml`. "+
			"The soak started %d sandboxes (%.0f a minute: every cold start is a new sandbox), and the receiver keeps about 3 KiB of join state per sandbox "+
			"(its factory's estimate: three 128-entry recent sets) until the sandbox has been idle for idle_timeout. With the shipped hour, this churn would grow "+
			"that state by roughly %.1f MiB a minute for the first hour (an estimate from those figures, not measured here) before levelling off, at most "+
			"max_sandboxes (50,000) sandboxes; a 10-minute run could not tell that from a leak. With 1 minute, the state levels off in the first minute, "+
			"and what the slope measures after it is whatever is not bounded. The receiver's state evictions (column below) show the bound at work.\n",
			o.soakOverlay, t.ColdStarts, perMinute, perMinute*3/1024)
	}

	fmt.Fprintf(&b, "\n## RSS and CPU over time\n\nA reading every %s; `t` from the first request; the Go heap and the spans lambda_correlation holds are the gateway's own telemetry at the same moment.\n\n", o.soakSample)
	fmt.Fprintf(&b, "| t | RSS | CPU (cumulative) | CPU since the previous reading | Go heap in use | spans held by lambda_correlation | receiver state evictions (cumulative) |\n|---|---|---|---|---|---|---|\n")
	var prev *sample
	for i := range r.samples {
		s := r.samples[i]
		rate := ""
		if prev != nil && s.at > prev.at {
			rate = fmt.Sprintf("%.1f%%", 100*float64(s.cpu-prev.cpu)/float64(s.at-prev.at))
		}
		heap, pending, evictions := "", "", ""
		if in, ok := nearest(r.internals, s.at); ok {
			heap, pending, evictions = mib(int64(in.heap)), fmt.Sprintf("%.0f", in.pending), fmt.Sprintf("%.0f", in.evictions)
		}
		phase := ""
		if s.at > r.loadEnd {
			phase = " (drain)"
		}
		fmt.Fprintf(&b, "| %s%s | %s | %.1f s | %s | %s | %s | %s |\n", s.at.Round(time.Second), phase, mib(s.rss), (s.cpu - r.samples[0].cpu).Seconds(), rate, heap, pending, evictions)
		prev = &r.samples[i]
	}
	return b.String()
}

// nearest is the reading of the gateway's telemetry closest to at (within a second).
func nearest(ins []internals, at time.Duration) (internals, bool) {
	for _, in := range ins {
		if d := in.at - at; d > -time.Second && d < time.Second && in.available {
			return in, true
		}
	}
	return internals{}, false
}

func errorsTotal(t loadgen.Truth) int {
	n := 0
	for _, v := range t.Errors {
		n += v
	}
	return n
}

func errorTypes(t loadgen.Truth) string {
	parts := make([]string, 0, len(t.Errors))
	for k, v := range t.Errors {
		parts = append(parts, fmt.Sprintf("%s %d", k, v))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}
