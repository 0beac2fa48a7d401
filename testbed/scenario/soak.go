// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package scenario

import (
	"context"
	"errors"
	"fmt"
	"log"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
)

// distributionFlush and distributionWindow are distribution/config.yaml's lambda_metrics
// flush interval and lambda_correlation window: a soak runs the distribution's own
// intervals, and waits for its flushes with the first.
const (
	distributionFlush  = 10 * time.Second
	distributionWindow = 5 * time.Second
)

// Soak, when set, makes a scenario the soak of testbed/results/soak.md: a long paced fleet
// load on one gateway that runs the distribution's own flush interval and correlation
// window (unless Scenario.Flush says otherwise), with the gateway's RSS and CPU read over
// time and its own telemetry (Go heap, spans lambda_correlation holds, the receiver's
// state evictions) beside them. The counts are checked as in every fleet scenario.
type Soak struct {
	// Duration is how long the load lasts (Fleet.Invocations at Rate), for the report.
	Duration time.Duration
	// Sample is how often the gateway is read; default 10 s.
	Sample time.Duration
	// SlopeMax is the RSS slope (MiB/min, over the load's last 80%) below which RSS is
	// called flat.
	SlopeMax float64
	// Overlay is a --config overlay for the gateway, relative to the repository root; ""
	// runs distribution/config.yaml alone.
	Overlay string
}

// SoakFigures is what a soak measured beside the counts.
type SoakFigures struct {
	// Generated is how long generating the load took (before the gateway started).
	Generated time.Duration
	// Samples are the gateway's RSS and CPU readings from just before the first request
	// until the counts were checked; Internals its own telemetry at the same moments.
	Samples   []harness.Sample
	Internals []Internals
	// LoadEnd is when the last batch was acknowledged, on the samples' clock.
	LoadEnd time.Duration
	// CPU is the gateway's from the first request until the counts were checked
	// (including the re-check three flushes after they were first exact).
	CPU time.Duration
	// Measured is the span of time CPU covers.
	Measured time.Duration
	// PeakRSS is the gateway's VmHWM at the end.
	PeakRSS int64
	// Others is the other processes' CPU during the load (the machine's busy time minus
	// the gateway, Prometheus and this harness), in cores.
	Others float64
}

// Internals is what the gateway's own telemetry said at a reading.
type Internals struct {
	At        time.Duration
	Heap      float64 // otelcol_process_runtime_heap_alloc_bytes
	Pending   float64 // otelcol_processor_lambda_correlation_pending
	Evictions float64 // otelcol_receiver_lambda_telemetry_state_evictions
	Available bool
}

// soakWatch reads a soak's gateway while its load runs and settles.
type soakWatch struct {
	gw        *harness.Gateway
	figures   *SoakFigures
	cpu0      time.Duration
	sampler   *harness.Sampler
	others    *harness.OtherWork
	internals func() []Internals
	halted    bool
}

// validateSoak says why a scenario cannot be a soak: its readings follow one gateway
// process for the whole run.
func validateSoak(s Scenario) error {
	if s.Replicas > 1 || s.Disruption != nil || s.Push != nil || s.Reliability != nil {
		return errors.New("a soak runs one gateway, a fleet load and no disruption")
	}
	return nil
}

// watchSoak starts reading the (only) gateway, just before the load.
func (rn *run) watchSoak(generated time.Duration) (*soakWatch, error) {
	gw := rn.gateways[0]
	cpu0, err := gw.CPU()
	if err != nil {
		return nil, err
	}
	every := rn.s.Soak.Sample
	if every <= 0 {
		every = 10 * time.Second
	}
	w := &soakWatch{gw: gw, figures: &SoakFigures{Generated: generated}, cpu0: cpu0}
	w.sampler = harness.StartSampler(gw.Process, every)
	w.internals = watchInternals(gw, w.sampler, every)
	w.others = harness.StartOtherWork(gw.Process, rn.prom.Process)
	return w, nil
}

// loadSent marks the end of the load.
func (w *soakWatch) loadSent() {
	w.figures.LoadEnd = w.sampler.Since()
	w.figures.Others = w.others.Cores()
}

// halt stops the readings, once; Run defers it for the runs that fail before stop.
func (w *soakWatch) halt() {
	if w.halted {
		return
	}
	w.halted = true
	w.figures.Measured = w.sampler.Since()
	w.figures.Samples = w.sampler.Stop()
	w.figures.Internals = w.internals()
}

// stop stops the readings once the counts are checked and returns the figures.
func (w *soakWatch) stop() (*SoakFigures, error) {
	f := w.figures
	cpu1, err := w.gw.CPU()
	w.halt()
	if err != nil {
		return f, err
	}
	f.CPU = cpu1 - w.cpu0
	_, f.PeakRSS, err = w.gw.Memory()
	return f, err
}

// watchInternals reads the gateway's own telemetry every interval until the returned
// function is called, which returns the readings.
func watchInternals(gw *harness.Gateway, smp *harness.Sampler, every time.Duration) func() []Internals {
	var (
		mu  sync.Mutex
		out []Internals
	)
	stop, done := make(chan struct{}), make(chan struct{})
	var logged time.Duration
	read := func() {
		in := Internals{At: smp.Since()}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		in.Heap, in.Pending, in.Evictions, in.Available = selfTelemetry(ctx, gw.Addrs)
		cancel()
		mu.Lock()
		out = append(out, in)
		mu.Unlock()
		// A line a minute, so that whoever waits on a long soak sees it move.
		if in.Available && in.At-logged >= time.Minute {
			logged = in.At
			log.Printf("soak: %s in: gateway Go heap %.1f MiB, %.0f spans held by lambda_correlation, %.0f sandboxes forgotten",
				in.At.Round(time.Second), in.Heap/(1<<20), in.Pending, in.Evictions)
		}
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
	return func() []Internals {
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		return out
	}
}

// selfTelemetry reads the Go heap in use, the spans lambda_correlation holds and the
// receiver's join-state evictions from the gateway's Prometheus endpoint.
func selfTelemetry(ctx context.Context, addrs harness.GatewayAddrs) (heap, pending, evictions float64, ok bool) {
	families, err := addrs.ReadTelemetry(ctx)
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

// RSSFlat is the soak's verdict on memory: the least-squares RSS slope over the load's
// last 80% (MiB/min), its readings, and whether it is below Soak.SlopeMax (with at least
// three readings).
func (r Result) RSSFlat() (slope float64, readings int, flat bool) {
	f := r.Soak
	if f == nil {
		return 0, 0, false
	}
	tail := harness.Between(f.Samples, f.LoadEnd/5, f.LoadEnd)
	slope = harness.RSSSlope(tail)
	return slope, len(tail), len(tail) >= 3 && slope < r.Scenario.Soak.SlopeMax
}

// RenderSoak writes a soak's report (testbed/results/soak.md); build names the gateway
// binary.
func RenderSoak(command, build string, r Result) string {
	s, f := r.Scenario, r.Soak
	var b strings.Builder
	fmt.Fprintf(&b, "# Soak: otelcol-lambda under a constant fleet load for %s\n\n", s.Soak.Duration)
	fmt.Fprintf(&b, "Command: `%s`, %s.\n\n", command, time.Now().UTC().Format("2006-01-02 15:04 MST"))
	if f == nil {
		b.WriteString("**The soak did not run to its end.**\n\n")
		renderEnd(&b, r)
		return b.String()
	}
	fmt.Fprintf(&b, "Machine: %s, %d CPUs, %s %s/%s; load average %s at the start. Gateway: %s.\n\n",
		harness.CPUModel(), runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, harness.LoadAverage(), build)
	overlay := ""
	if s.Soak.Overlay != "" {
		overlay = fmt.Sprintf(" with the overlay `%s` (below)", s.Soak.Overlay)
	}
	flush := "the distribution's own (lambda_metrics flush 10s, lambda_correlation window 5s)"
	if s.Flush > 0 {
		flush = fmt.Sprintf("%s (flush interval and correlation window)", s.Flush)
	}
	m := s.Fleet.Mix
	fmt.Fprintf(&b, "The scenario machinery of `make scenarios` (testbed/scenario) with one gateway, `distribution/config.yaml`%s, "+
		"intervals %s, writing through a tee to a real Prometheus and to the validating sink testbed/rwsink. "+
		"The load: testbed/loadgen.Generate, up to %d invocations per Telemetry API batch, each followed by the sandbox's OTLP batch "+
		"of the functions' own root spans (which lambda_correlation joins with the invocation spans); mix: cold starts %.1f%% besides "+
		"each new sandbox's first, errors %.0f%%, timeouts %.0f%%, out-of-memory kills %.1f%%, asynchronous retries of %.0f%% of the "+
		"failures. Generated in %s, before the gateway started. The counts are checked per function as in every fleet scenario "+
		"(`make scenarios`), in both backends, and again three flushes after they were first exact.\n\n",
		overlay, flush, s.Fleet.PerBatch, m.ColdStart*100, m.Error*100, m.Timeout*100, m.OOM*100, m.Retry*100, f.Generated.Round(time.Second))

	fmt.Fprintf(&b, "## Summary: %s\n\n| figure | value |\n|---|---|\n", passFail(r))
	renderFleet(&b, r)
	load := harness.Between(f.Samples, 0, f.LoadEnd)
	first := harness.Between(load, 0, time.Minute)
	last := harness.Between(load, f.LoadEnd-time.Minute, f.LoadEnd)
	slope, readings, flat := r.RSSFlat()
	b.WriteString("| gateway figure | value |\n|---|---|\n")
	row(&b, fmt.Sprintf("RSS, first minute (median of %d readings)", len(first)), mibTenth(harness.MedianRSS(first)))
	row(&b, fmt.Sprintf("RSS, last minute of the load (median of %d readings)", len(last)), mibTenth(harness.MedianRSS(last)))
	row(&b, "RSS peak (VmHWM)", mibTenth(f.PeakRSS))
	row(&b, fmt.Sprintf("RSS slope over the last 80%% of the load (least squares, %d readings from %s)", readings, (f.LoadEnd/5).Round(time.Second)),
		fmt.Sprintf("%+.3f MiB/min", slope))
	row(&b, "gateway CPU", fmt.Sprintf("%.1f s over %s from the first request until the counts were checked, %.2f CPU-seconds per million invocations "+
		"(Telemetry API and the functions' spans, correlation, metrics, export); %.1f%% of one core on average",
		f.CPU.Seconds(), f.Measured.Round(time.Second), f.CPU.Seconds()/float64(max(r.Truth.Invocations, 1))*1e6, 100*f.CPU.Seconds()/f.Measured.Seconds()))
	row(&b, "other processes' CPU during the load (/proc/stat minus the gateway, Prometheus and this harness)",
		fmt.Sprintf("%.2f cores on average, of %d", f.Others, runtime.NumCPU()))
	if flat {
		fmt.Fprintf(&b, "\n**Verdict: RSS flat** — the slope over the last 80%% of the load, %+.3f MiB/min, is below the %.1f MiB/min threshold.\n", slope, s.Soak.SlopeMax)
	} else {
		fmt.Fprintf(&b, "\n**Verdict: RSS NOT shown flat** — the slope over the last 80%% of the load, %+.3f MiB/min (%d readings), is not below the %.1f MiB/min threshold.\n",
			slope, readings, s.Soak.SlopeMax)
	}
	fmt.Fprintf(&b, "\nThe threshold: %.1f MiB/min is %.0f MiB over this run; RSS of a Go process moves by a few MiB with the garbage collector's cycles, "+
		"so a smaller slope is not resolved by a run this short. The first 20%% is left out: it is when the bounded state fills up "+
		"(sandboxes remembered, lambda_correlation's trace rewrites, series).\n", s.Soak.SlopeMax, s.Soak.SlopeMax*s.Soak.Duration.Minutes())
	if s.Soak.Overlay != "" && f.LoadEnd > 0 {
		perMinute := float64(r.Truth.ColdStarts) / f.LoadEnd.Minutes()
		fmt.Fprintf(&b, "\n**The overlay.** `%s` makes the receiver forget a sandbox after 1 minute without a batch instead of the shipped hour "+
			"(`lambda_telemetry::sandboxes::idle_timeout`); nothing else differs from `distribution/config.yaml`. "+
			"The soak started %d sandboxes (%.0f a minute: every cold start is a new sandbox), and the receiver keeps about 3 KiB of join state per sandbox "+
			"(its factory's estimate: three 128-entry recent sets) until the sandbox has been idle for idle_timeout. With the shipped hour, this churn would grow "+
			"that state by roughly %.1f MiB a minute for the first hour (an estimate from those figures, not measured here) before levelling off, at most "+
			"max_sandboxes (50,000) sandboxes; a 10-minute run could not tell that from a leak. With 1 minute, the state levels off in the first minute, "+
			"and what the slope measures after it is whatever is not bounded. The receiver's state evictions (column below) show the bound at work.\n",
			s.Soak.Overlay, r.Truth.ColdStarts, perMinute, perMinute*3/1024)
	}

	fmt.Fprintf(&b, "\n## RSS and CPU over time\n\nA reading every %s; `t` from just before the first request; the Go heap and the spans "+
		"lambda_correlation holds are the gateway's own telemetry at the same moment.\n\n", s.Soak.Sample)
	b.WriteString("| t | RSS | CPU (cumulative) | CPU since the previous reading | Go heap in use | spans held by lambda_correlation | receiver state evictions (cumulative) |\n|---|---|---|---|---|---|---|\n")
	for i, smp := range f.Samples {
		rate := ""
		if i > 0 && smp.At > f.Samples[i-1].At {
			prev := f.Samples[i-1]
			rate = fmt.Sprintf("%.1f%%", 100*float64(smp.CPU-prev.CPU)/float64(smp.At-prev.At))
		}
		heap, pending, evictions := "", "", ""
		if in, ok := nearest(f.Internals, smp.At); ok {
			heap, pending, evictions = mibTenth(int64(in.Heap)), fmt.Sprintf("%.0f", in.Pending), fmt.Sprintf("%.0f", in.Evictions)
		}
		phase := ""
		if smp.At > f.LoadEnd {
			phase = " (drain)"
		}
		fmt.Fprintf(&b, "| %s%s | %s | %.1f s | %s | %s | %s | %s |\n", smp.At.Round(time.Second), phase, mibTenth(smp.RSS),
			(smp.CPU - f.Samples[0].CPU).Seconds(), rate, heap, pending, evictions)
	}
	b.WriteString("\n")
	renderEnd(&b, r)
	return b.String()
}

// nearest is the reading of the gateway's telemetry closest to at (within a second).
func nearest(ins []Internals, at time.Duration) (Internals, bool) {
	for _, in := range ins {
		if d := in.At - at; d > -time.Second && d < time.Second && in.Available {
			return in, true
		}
	}
	return Internals{}, false
}

// mibTenth is bytes in MiB to a tenth: the soak's RSS moves by less than reliability.md's
// whole MiB.
func mibTenth(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
