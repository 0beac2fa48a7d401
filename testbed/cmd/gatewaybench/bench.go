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
	"strings"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/loadgen"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/rwsink"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/scenario"
)

// result is what one round measured for one pipeline.
type result struct {
	spanCPU, invocationCPU time.Duration // process CPU for the load, drained
	spansCounted           float64
	// invocationsLoad is how many invocations the measured Telemetry API load carried (the
	// fleet minus its warm-up), invocationsCounted how many the sink counted of them, and
	// checks how many ground-truth figures (scenario.Checks over the whole fleet) held
	// exactly.
	invocationsLoad    int
	invocationsCounted float64
	checks             int
	// sandboxCounted is what one function's spans from sandboxSpans/spansPerRequest
	// sandboxes, each with its own resource, counted to.
	sandboxCounted float64
	// RSS: VmHWM after the OTLP load, and the median of the readings over the load's
	// second half; the same for the Telemetry API load (A only).
	spanPeak, spanSteady int64
	spanSamples          int
	tapiPeak, tapiSteady int64
	tapiSamples          int
	spanSend, tapiSend   time.Duration // how long sending took
	retried              int64         // requests retried after a refusal
	fresh, freshNew      []probeResult
	promRefused          int64
	// spanOthers and tapiOthers: the CPU of the machine's other processes during each load,
	// in cores.
	spanOthers, tapiOthers float64
}

// probeResult is how long one probe invocation took from its end to be visible.
type probeResult struct {
	prom, sink time.Duration
}

func runBench(o options) (string, error) {
	prom, err := harness.StartPrometheus(o.prometheusBin)
	if err != nil {
		return "", err
	}
	defer prom.Stop()

	pipelines := []pipeline{pipelineA(o), pipelineB(o)}
	log.Printf("load per round: %d OTLP spans to both pipelines, %d invocations as Telemetry API batches to A, %d functions", o.spans, o.invocations, o.functions)
	results := make([][]result, len(pipelines))
	for round := 1; round <= o.rounds; round++ {
		for i, p := range pipelines {
			log.Printf("round %d/%d: %s", round, o.rounds, p.name)
			r, err := measure(o, prom, p, round)
			if err != nil {
				return "", fmt.Errorf("%s, round %d: %w", p.name, round, err)
			}
			results[i] = append(results[i], r)
		}
	}
	log.Printf("measuring the floors")
	f, err := measureFloors(o)
	if err != nil {
		return "", err
	}
	return render(o, pipelines, results, f), nil
}

// measurement is one pipeline's gateway in one round, with its backends.
type measurement struct {
	o     options
	p     pipeline
	runID string
	gw    *harness.Gateway
	sink  *rwsink.Sink
	prom  *harness.Prometheus
}

// probeWarmSpans is how many invocations a probe function gets before its probe, so that
// the gateway knows it (its series exist) as it knows the functions of the load.
const probeWarmSpans = 4

// measure starts one gateway writing through a tee to Prometheus and the sink, sends the
// load, waits until the sink holds every count, reads the process's CPU and memory, and
// probes freshness.
func measure(o options, prom *harness.Prometheus, p pipeline, round int) (r result, err error) {
	m := &measurement{o: o, p: p, runID: fmt.Sprintf("%s%d", p.short, round), sink: rwsink.New(), prom: prom}
	tee := &harness.Tee{Sink: m.sink, Prometheus: prom.WriteURL()}
	teeURL, stopTee, err := harness.Serve(tee)
	if err != nil {
		return r, err
	}
	defer stopTee()

	// The load is made before the gateway starts: generating it costs this process CPU.
	var fleet *loadgen.Fleet
	if p.Telemetry {
		if fleet, err = loadgen.Generate(telemetryFleet(o, m.runID+"-tapi")); err != nil {
			return r, err
		}
	}
	spans := otlpRequests(o.spans, o.functions, m.runID, false)

	gw, pprofAddr, err := startGateway(o, harness.GatewayConfig{Bin: o.bin, Configs: p.configs, RemoteWrite: teeURL + "/api/v1/write", Flush: o.flush},
		o.profileDir != "")
	if err != nil {
		return r, err
	}
	m.gw = gw
	defer stopGateway(gw, &err)

	// Warm up with the functions of the load and the probes' functions: connections,
	// buffers and the first series, as in a gateway that has been running.
	warmSpans := o.functions * spansPerRequest
	warm := otlpRequests(warmSpans, o.functions, m.runID, false)
	for i := range o.probes {
		warm = append(warm, otlpRequests(probeWarmSpans, 1, probePrefix(m.runID, "p", i), false)...)
	}
	if _, err := sendAll(gw.URL, o.workers, warm); err != nil {
		return r, fmt.Errorf("warm-up: %w", err)
	}
	if err := m.waitFor(fmt.Sprintf("%d warm-up spans", warmSpans), func() (bool, error) {
		return m.exactly(countOf(m.sink, p, m.runID), float64(warmSpans))
	}); err != nil {
		return r, err
	}
	for i := range o.probes {
		fn := probePrefix(m.runID, "p", i) + "-fn0"
		if err := m.waitFor("the warm-up of "+fn, func() (bool, error) {
			return m.exactly(m.sink.Sum(p.Count, map[string]string{p.Function: fn}), probeWarmSpans)
		}); err != nil {
			return r, err
		}
	}

	// The OTLP span load, the same for both pipelines.
	if err := m.spanLoad(&r, spans, warmSpans, pprofAddr); err != nil {
		return r, err
	}

	// The Telemetry API load (A only).
	if fleet != nil {
		if err := m.telemetryLoad(&r, fleet); err != nil {
			return r, err
		}
	}

	// Many sandboxes of one function, each with its own resource: do their counts add up?
	// The stock pipeline never gets there: wait a window and a few flushes at most.
	sb := m.runID + "-sb"
	if _, err := sendAll(gw.URL, o.workers, otlpRequests(sandboxSpans, 1, sb, true)); err != nil {
		return r, err
	}
	for deadline := time.Now().Add(4 * o.flush); time.Now().Before(deadline) && countOf(m.sink, p, sb) < sandboxSpans; {
		time.Sleep(50 * time.Millisecond)
	}
	r.sandboxCounted = countOf(m.sink, p, sb)

	// Freshness. Each probe starts a growing fraction of the flush interval after the
	// previous one became visible, which was just after a flush: the probes fall at
	// different phases of the flush cycle.
	for i := range o.probes {
		time.Sleep(time.Duration(i) * o.flush / time.Duration(o.probes))
		pr, err := m.probe(probePrefix(m.runID, "p", i), probeWarmSpans+1)
		if err != nil {
			return r, err
		}
		r.fresh = append(r.fresh, pr)
	}
	for i := range o.newProbes {
		time.Sleep(time.Duration(i) * o.flush / time.Duration(o.newProbes))
		pr, err := m.probe(probePrefix(m.runID, "n", i), 1)
		if err != nil {
			return r, err
		}
		r.freshNew = append(r.freshNew, pr)
	}
	if total, failed := m.sink.Requests(); failed > 0 {
		return r, fmt.Errorf("%d of %d remote writes did not decode", failed, total)
	}
	r.promRefused = tee.Refused.Load()
	return r, nil
}

func (m *measurement) spanLoad(r *result, spans []loadgen.Batch, warmSpans int, pprofAddr string) error {
	var st loadgen.Stats
	f, err := measureLoad(m.gw, m.prom, pprofAddr, filepath.Join(m.o.profileDir, m.runID+".pprof"), func() (err error) {
		st, err = sendAll(m.gw.URL, m.o.workers, spans)
		return err
	}, func() error {
		return m.waitFor(fmt.Sprintf("%d spans", m.o.spans), func() (bool, error) {
			return m.exactly(countOf(m.sink, m.p, m.runID), float64(warmSpans+m.o.spans))
		})
	})
	r.spanOthers = f.others
	if err != nil {
		return err
	}
	r.spanCPU = f.cpu
	r.spansCounted = countOf(m.sink, m.p, m.runID) - float64(warmSpans)
	r.spanSteady, r.spanSamples, r.spanSend, r.spanPeak = f.steady, f.samples, f.send, f.peak
	r.retried += st.Retried
	return nil
}

// telemetryLoad sends the fleet's first batches as a warm-up (every slot keeps its order),
// then the rest, measured, and checks the whole fleet's ground truth in the sink.
func (m *measurement) telemetryLoad(r *result, fleet *loadgen.Fleet) error {
	prefix := fleet.Config.Prefix
	// The warm-up has every function, so that lambda_correlation knows them all (their
	// invocation spans go on at once, as in a gateway that has been running).
	head, tail, headInvocations := splitWarm(fleet.Batches, min(m.o.functions*invocationsPerBatch, m.o.invocations/5), len(fleet.Truth))
	if _, err := sendAll(m.gw.URL, m.o.workers, head); err != nil {
		return fmt.Errorf("telemetry warm-up: %w", err)
	}
	if err := m.waitFor("the Telemetry API warm-up", func() (bool, error) {
		return m.exactly(countOf(m.sink, m.p, prefix), float64(headInvocations))
	}); err != nil {
		return err
	}
	total := fleet.Total().Invocations
	checks := scenario.Checks(fleet, true)

	var st loadgen.Stats
	f, err := measureLoad(m.gw, m.prom, "", "", func() (err error) {
		st, err = sendAll(m.gw.URL, m.o.workers, tail)
		return err
	}, func() error {
		return m.waitFor(fmt.Sprintf("%d invocations", total), func() (bool, error) {
			return m.exactly(countOf(m.sink, m.p, prefix), float64(total))
		})
	})
	r.tapiOthers = f.others
	if err != nil {
		return err
	}
	// Every figure of the ground truth, not only the invocations.
	var mismatches []string
	if err := m.waitFor("the fleet's ground truth", func() (bool, error) {
		mismatches = scenario.Mismatches(checks, scenario.SinkTotals(m.sink))
		return len(mismatches) == 0, nil
	}); err != nil {
		return fmt.Errorf("%w: %s", err, strings.Join(mismatches, "; "))
	}
	r.invocationCPU = f.cpu
	r.invocationsLoad = total - headInvocations
	r.invocationsCounted = countOf(m.sink, m.p, prefix) - float64(headInvocations)
	r.checks = len(checks)
	r.tapiSteady, r.tapiSamples, r.tapiSend, r.tapiPeak = f.steady, f.samples, f.send, f.peak
	r.retried += st.Retried
	return nil
}

// loadFigures is what measureLoad read of the gateway and the machine around one load.
type loadFigures struct {
	cpu         time.Duration // the gateway's, from the first request until drained
	send, drain time.Duration // how long sending took, and then until drained
	harnessCPU  time.Duration // this process's CPU over the send (the load generator's cost)
	others      float64       // other processes' CPU during the send, in cores
	// peak is VmHWM once drained, steady the median of the 250 ms RSS readings over the
	// send's second half (samples of them).
	peak, steady int64
	samples      int
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

// probe sends one invocation (its span ends now) of the function <prefix>-fn0 and times how
// long it takes until an instant query on Prometheus returns want for the function, and
// until the sink holds it, polling both every 50 ms.
func (m *measurement) probe(prefix string, want float64) (probeResult, error) {
	var res probeResult
	batch := otlpRequests(1, 1, prefix, false)
	fn := batch[0].Function
	query := fmt.Sprintf(`sum(%s{%s=%q})`, m.p.Count, m.p.Function, fn)
	sent := time.Now()
	if _, err := sendAll(m.gw.URL, 1, batch); err != nil {
		return res, err
	}
	deadline := sent.Add(m.o.drainTimeout)
	for {
		if res.sink == 0 {
			got := m.sink.Sum(m.p.Count, map[string]string{m.p.Function: fn})
			if got > want {
				return res, fmt.Errorf("the sink counted %v invocations of %s, more than the %v sent", got, fn, want)
			}
			if got == want {
				res.sink = time.Since(sent)
			}
		}
		if res.prom == 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			series, err := m.prom.Query(ctx, query, time.Time{})
			cancel()
			if err != nil {
				return res, err
			}
			if len(series) == 1 && series[0].Value > want {
				return res, fmt.Errorf("prometheus counted %v invocations of %s, more than the %v sent", series[0].Value, fn, want)
			}
			if len(series) == 1 && series[0].Value == want {
				res.prom = time.Since(sent)
			}
		}
		if res.sink > 0 && res.prom > 0 {
			return res, nil
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("the probe %s was not visible within %s (sink %s, prometheus %s)", fn, m.o.drainTimeout, res.sink, res.prom)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sandboxSpans is the load of the per-sandbox resources check.
const sandboxSpans = 2000

// countOf sums the invocation counter over the functions <prefix>-fn<i>.
func countOf(sink *rwsink.Sink, p pipeline, prefix string) float64 {
	var total float64
	for _, s := range sink.Find(p.Count, nil) {
		if strings.HasPrefix(s.Labels[p.Function], prefix+"-fn") {
			total += s.Total
		}
	}
	return total
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

// profile writes a 2-second CPU profile of a gateway whose pprof listens on addr.
func profile(addr, path string) error {
	resp, err := http.Get("http://" + addr + "/debug/pprof/profile?seconds=2")
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
