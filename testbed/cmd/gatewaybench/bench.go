// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/loadgen"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/rwsink"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/scenario"
)

// result is what one round measured for one pipeline on one mix and request size.
type result struct {
	cpu     time.Duration // process CPU for the measured load, drained
	counted float64       // what the sink counted of the measured load (checked exact)
	// checks is how many ground-truth figures of A's Telemetry API fleets (scenario.Checks
	// over each whole fleet) held exactly; 0 for B and for SDK-only traffic.
	checks int
	// sandboxCounted is what one function's spans from sandboxSpans/100 sandboxes, each
	// with its own resource, counted to (SDK-only traffic at the first size; -1 otherwise).
	sandboxCounted float64
	rssFigures                   // the gateway's memory around the load
	send           time.Duration // how long sending took
	retried        int64         // requests retried after a refusal
	// fresh and freshNew are how long each probe took from its invocation's end to be
	// visible in Prometheus: on functions the gateway knows, and each the first
	// invocation of a new function.
	fresh, freshNew []time.Duration
	promRefused     int64
	others          float64 // the CPU of the machine's other processes during the load, in cores
}

// cell is one mix at one request size: the traffic's figures and each pipeline's rounds.
type cell struct {
	kind               mixKind
	size               int
	invocations, spans int
	results            [2][]result // A, B
}

func runBench(o options) (string, error) {
	prom, err := harness.StartPrometheus(o.prometheusBin)
	if err != nil {
		return "", err
	}
	defer prom.Stop()

	pipelines := [2]pipeline{pipelineA(o), pipelineB(o)}
	var cells []*cell
	for _, size := range o.sizes {
		for _, k := range o.mixes {
			cells = append(cells, &cell{kind: k, size: size})
		}
	}
	log.Printf("%d invocations per mix, request size and pipeline, %d functions; %d measurements in all",
		o.invocations, o.functions, len(cells)*2*o.rounds)
	began := time.Now()
	done := 0
	for round := 1; round <= o.rounds; round++ {
		for _, c := range cells {
			for i, p := range pipelines {
				log.Printf("round %d/%d, %s, requests of %d: %s (measurement %d of %d, %s so far)", round, o.rounds, c.kind.title(), c.size, p.name,
					done+1, len(cells)*2*o.rounds, time.Since(began).Round(time.Second))
				r, t, err := measure(o, prom, p, c.kind, c.size, round)
				if err != nil {
					return "", fmt.Errorf("%s, %s, requests of %d, round %d: %w", p.name, c.kind.title(), c.size, round, err)
				}
				c.invocations, c.spans = t.invocations, t.spans
				c.results[i] = append(c.results[i], r)
				done++
			}
		}
	}
	log.Printf("measuring the floors")
	f, err := measureFloors(o)
	if err != nil {
		return "", err
	}
	return render(o, pipelines, cells, f), nil
}

// measurement is one pipeline's gateway in one round, with its backends.
type measurement struct {
	o     options
	p     pipeline
	runID string
	gw    *harness.Gateway
	sink  *rwsink.Sink
	prom  *harness.Prometheus
	// pprofAddr is the gateway's pprof endpoint when profiling (-profile-dir).
	pprofAddr string
}

// probeWarm is how many invocations a probe function gets before its probe, so that the
// gateway knows it as it knows the functions of the load (lambda_correlation holds no span
// of a function whose spans went unpaired three times in a row).
const probeWarm = 4

// shape is the measured load's size at request size size.
func (o options) shape(size int) loadShape {
	// The warm-up gives every function at least one full request.
	return loadShape{functions: o.functions, sandboxes: o.sandboxes, invocations: o.invocations, warm: o.functions * size, size: size}
}

// probeTraffic is the traffic of probe i of a mix: one function, warmed unless new, then
// one invocation. A fleet's probes take its kinds in turn.
func probeTraffic(kind mixKind, prefix string, i int, warmed bool) (traffic, error) {
	if kind == mixFleet {
		kind = []mixKind{mixPairs, mixExtension, mixSDK}[i%3]
	}
	s := loadShape{functions: 1, sandboxes: 1, invocations: 1, size: 1}
	if warmed {
		s.warm = probeWarm
	}
	return makeTraffic(kind, prefix, s)
}

// measure starts one gateway writing through a tee to Prometheus and the sink, warms it
// up, sends the mix's measured load, waits until the sink holds every count (and for A
// every figure of the Telemetry API fleets' ground truth), reads the process's CPU and
// memory, and probes freshness.
func measure(o options, prom *harness.Prometheus, p pipeline, kind mixKind, size, round int) (r result, t traffic, err error) {
	m := &measurement{o: o, p: p, runID: fmt.Sprintf("%s%d-%s%d", p.short, round, kind, size), sink: rwsink.New(), prom: prom}
	tee := &harness.Tee{Sink: m.sink, Prometheus: prom.WriteURL()}
	teeURL, stopTee, err := harness.Serve(tee)
	if err != nil {
		return r, t, err
	}
	defer stopTee()

	// The load is made before the gateway starts: generating it costs this process CPU.
	if t, err = makeTraffic(kind, m.runID, o.shape(size)); err != nil {
		return r, t, err
	}
	own := p.of(t)
	// Freshness is probed at the first request size only: a probe is one invocation, and
	// the load's request size does not change its path.
	var known, fresh []traffic
	probes, newProbes := o.probes, o.newProbes
	if size != o.sizes[0] {
		probes, newProbes = 0, 0
	}
	for i := range probes {
		pt, err := probeTraffic(kind, probePrefix(m.runID, "p", i), i, true)
		if err != nil {
			return r, t, err
		}
		known = append(known, pt)
	}
	for i := range newProbes {
		pt, err := probeTraffic(kind, probePrefix(m.runID, "n", i), i, false)
		if err != nil {
			return r, t, err
		}
		fresh = append(fresh, pt)
	}

	gw, pprofAddr, err := startGateway(o, harness.GatewayConfig{Bin: o.bin, Configs: p.configs, RemoteWrite: teeURL + "/api/v1/write", Flush: o.flush},
		o.profileDir != "", !p.Telemetry)
	if err != nil {
		return r, t, err
	}
	m.gw, m.pprofAddr = gw, pprofAddr
	defer stopGateway(gw, &err)

	// Warm up with the functions of the load and the probes' functions: connections,
	// buffers and the first series, as in a gateway that has been running.
	warm := slices.Clone(own.warm)
	for _, pt := range known {
		warm = append(warm, p.of(pt).warm...)
	}
	if _, err := sendAll(gw.URL, o.workers, warm); err != nil {
		return r, t, fmt.Errorf("warm-up: %w", err)
	}
	if err := m.waitCount("the warm-up", t.prefixes, own.warmCount); err != nil {
		return r, t, err
	}
	for _, pt := range known {
		if err := m.waitCount("the warm-up of "+pt.prefixes[0], pt.prefixes, p.of(pt).warmCount); err != nil {
			return r, t, err
		}
	}

	// The measured load.
	var st loadgen.Stats
	f, err := measureLoad(m.gw, m.prom, m.pprofAddr, filepath.Join(o.profileDir, m.runID+".pprof"), func() (err error) {
		st, err = sendAll(m.gw.URL, o.workers, own.load)
		return err
	}, func() error {
		if err := m.waitCount("the load", t.prefixes, own.warmCount+own.loadCount); err != nil {
			if p.Telemetry {
				mismatches := scenario.Mismatches(fleetChecks(t.fleets), scenario.SinkTotals(m.sink))
				err = fmt.Errorf("%w; the fleets' ground truth: %s", err, strings.Join(mismatches[:min(len(mismatches), 10)], "; "))
			}
			return err
		}
		return nil
	})
	r.others = f.others
	if err != nil {
		return r, t, fmt.Errorf("%w (the load: %+v)", err, st)
	}
	r.cpu, r.counted = f.cpu, m.countOf(t.prefixes)-own.warmCount
	r.rssFigures, r.send = f.rssFigures, f.send
	r.retried = st.Retried
	if p.Telemetry {
		if r.checks, err = m.groundTruth(t.fleets); err != nil {
			return r, t, err
		}
	}

	// Many sandboxes of one function, each with its own resource: do their counts add up?
	// The stock pipeline never gets there: wait a window and a few flushes at most.
	r.sandboxCounted = -1
	if kind == mixSDK && size == o.sizes[0] {
		sb := m.runID + "-sb"
		if _, err := sendAll(gw.URL, o.workers, otlpRequests(sandboxSpans, 1, sb, spanShape{perRequest: 100, requestIDs: true, perSandbox: true})); err != nil {
			return r, t, err
		}
		for deadline := time.Now().Add(4 * o.flush); time.Now().Before(deadline) && m.countOf([]string{sb}) < sandboxSpans; {
			time.Sleep(50 * time.Millisecond)
		}
		r.sandboxCounted = m.countOf([]string{sb})
	}

	// Freshness. Each probe starts a growing fraction of the flush interval after the
	// previous one became visible, which was just after a flush: the probes fall at
	// different phases of the flush cycle.
	for i, pt := range known {
		time.Sleep(time.Duration(i) * o.flush / time.Duration(len(known)))
		pr, err := m.probe(pt)
		if err != nil {
			return r, t, err
		}
		r.fresh = append(r.fresh, pr)
	}
	for i, pt := range fresh {
		time.Sleep(time.Duration(i) * o.flush / time.Duration(len(fresh)))
		pr, err := m.probe(pt)
		if err != nil {
			return r, t, err
		}
		r.freshNew = append(r.freshNew, pr)
	}
	if total, failed := m.sink.Requests(); failed > 0 {
		return r, t, fmt.Errorf("%d of %d remote writes did not decode", failed, total)
	}
	r.promRefused = tee.Refused.Load()
	return r, t, nil
}

// of is the pipeline's side of a traffic.
func (p pipeline) of(t traffic) side {
	if p.Telemetry {
		return t.a
	}
	return t.b
}

// fleetChecks are the ground-truth figures of whole fleets (warm-up and load).
func fleetChecks(fleets []*loadgen.Fleet) []scenario.Check {
	var checks []scenario.Check
	for _, f := range fleets {
		checks = append(checks, scenario.Checks(f, true)...)
	}
	return checks
}

// groundTruth waits until the sink holds every figure of the fleets' ground truth (whole
// fleets: warm-up and load), and returns how many figures that is.
func (m *measurement) groundTruth(fleets []*loadgen.Fleet) (int, error) {
	checks := fleetChecks(fleets)
	var mismatches []string
	if err := m.waitFor("the Telemetry API fleet's ground truth", func() (bool, error) {
		mismatches = scenario.Mismatches(checks, scenario.SinkTotals(m.sink))
		return len(mismatches) == 0, nil
	}); err != nil {
		return 0, fmt.Errorf("%w: %s", err, strings.Join(mismatches, "; "))
	}
	return len(checks), nil
}

// loadFigures is what measureLoad read of the gateway and the machine around one load.
type loadFigures struct {
	cpu         time.Duration // the gateway's, from the first request until drained
	send, drain time.Duration // how long sending took, and then until drained
	harnessCPU  time.Duration // this process's CPU over the send (the load generator's cost)
	others      float64       // other processes' CPU during the send, in cores
	rssFigures
}

// rssFigures are a gateway's memory around a load. peak is VmHWM once drained, reset as the
// send starts to the RSS of then (startRSS, which holds what the start and the warm-up left:
// Go keeps freed heap for reuse) when peakReset; warmPeak is VmHWM before the send; steady
// is the median of the 250 ms RSS readings over the send's second half (samples of them).
type rssFigures struct {
	peak, warmPeak, startRSS, steady int64
	peakReset                        bool
	samples                          int
}

// measureLoad sends a load with send and waits with drained until the gateway's output is
// complete, reading the gateway's CPU before and after, its RSS every 250 ms, and the
// machine's other work during the send. With a pprof address, the gateway's CPU profile
// of the load's first 2 seconds goes to profilePath.
func measureLoad(gw *harness.Gateway, prom *harness.Prometheus, pprofAddr, profilePath string, send, drained func() error) (f loadFigures, err error) {
	// This process collects its garbage first, so that its collector does not run beside
	// the gateway during the load.
	runtime.GC()
	cpu0, err := gw.CPU()
	if err != nil {
		return f, err
	}
	if f.startRSS, f.warmPeak, err = gw.Memory(); err != nil {
		return f, err
	}
	if err := gw.ResetPeak(); err != nil {
		// A kernel or sandbox without clear_refs: the peak stays the process's lifetime one.
		peakResetOnce.Do(func() {
			log.Printf("cannot reset the gateway's peak RSS (%v): peaks are the gateways' lifetime peaks, the start and warm-up included", err)
		})
	} else {
		f.peakReset = true
	}
	smp := harness.StartSampler(gw.Process, 250*time.Millisecond)
	profiled := make(chan error, 1)
	if pprofAddr != "" {
		go func() { profiled <- profile(pprofAddr, profilePath) }()
	} else {
		profiled <- nil
	}
	oth := harness.StartOtherWork(gw.Process, prom.Process)
	own0 := harness.OwnCPU()
	from := smp.Since()
	err = send()
	to := smp.Since()
	f.harnessCPU = harness.OwnCPU() - own0
	f.others = oth.Cores()
	if err != nil {
		smp.Stop()
		return f, err
	}
	sent := time.Now()
	err = drained()
	f.drain = time.Since(sent)
	cpu1, cerr := gw.CPU()
	samples := smp.Stop()
	if err != nil {
		return f, err
	}
	if cerr != nil {
		return f, cerr
	}
	if err := <-profiled; err != nil {
		return f, err
	}
	f.cpu, f.send = cpu1-cpu0, to-from
	steady := harness.Between(samples, from+(to-from)/2, to)
	f.steady, f.samples = harness.MedianRSS(steady), len(steady)
	_, f.peak, err = gw.Memory()
	return f, err
}

// probePrefix names a probe's function prefix: kind p for a function the gateway knows, n
// for a new one.
func probePrefix(runID, kind string, i int) string { return fmt.Sprintf("%s-%s%d", runID, kind, i) }

// probe sends one probe invocation (its spans end now; a pair is two requests, one after
// the other) and times how long it takes until an instant query on Prometheus returns its
// function's expected count, polling every 50 ms.
func (m *measurement) probe(pt traffic) (time.Duration, error) {
	own := m.p.of(pt)
	want := own.warmCount + own.loadCount
	fn := pt.prefixes[0] + "-fn0"
	query := fmt.Sprintf(`sum(%s{%s=%q})`, m.p.Count, m.p.Function, fn)
	sent := time.Now()
	if _, err := sendAll(m.gw.URL, 1, own.load); err != nil {
		return 0, err
	}
	deadline := sent.Add(m.o.drainTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		series, err := m.prom.Query(ctx, query, time.Time{})
		cancel()
		if err != nil {
			return 0, err
		}
		if len(series) == 1 && series[0].Value > want {
			return 0, fmt.Errorf("prometheus counted %v for %s, more than the %v sent", series[0].Value, fn, want)
		}
		if len(series) == 1 && series[0].Value == want {
			return time.Since(sent), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("the probe %s was not visible in Prometheus within %s", fn, m.o.drainTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sandboxSpans is the load of the per-sandbox resources check.
const sandboxSpans = 2000

// countOf sums the invocation counter over the functions <prefix>-fn<i> of the prefixes.
func (m *measurement) countOf(prefixes []string) float64 {
	var total float64
	for _, s := range m.sink.Find(m.p.Count, nil) {
		for _, prefix := range prefixes {
			if strings.HasPrefix(s.Labels[m.p.Function], prefix+"-fn") {
				total += s.Total
				break
			}
		}
	}
	return total
}

// waitCount waits until the invocation counter of the prefixes' functions is exactly want.
func (m *measurement) waitCount(what string, prefixes []string, want float64) error {
	err := m.waitFor(fmt.Sprintf("%s, %v counts", what, want), func() (bool, error) {
		return m.exactly(m.countOf(prefixes), want)
	})
	if err != nil {
		return fmt.Errorf("%w (counted %v)", err, m.countOf(prefixes))
	}
	return nil
}

// exactly is a waitFor condition: got reached want; more is an error.
func (m *measurement) exactly(got, want float64) (bool, error) {
	if got > want {
		return false, fmt.Errorf("counted %v, more than the %v sent", got, want)
	}
	return got == want, nil
}

// waitFor polls done every 50 ms until it holds, fails, or the drain timeout passes.
func (m *measurement) waitFor(what string, done func() (bool, error)) error {
	deadline := time.Now().Add(m.o.drainTimeout)
	for {
		ok, err := done()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not in the sink after %s", what, m.o.drainTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// peakResetOnce logs once that the gateways' peak RSS cannot be reset.
var peakResetOnce sync.Once

// profileSeconds is how long profile samples (-profile-seconds): the load's first seconds.
var profileSeconds = 2

// profile writes a CPU profile of a gateway whose pprof listens on addr.
func profile(addr, path string) error {
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, profileSeconds))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}
