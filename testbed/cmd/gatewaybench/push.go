// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"log"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/loadgen"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/rwsink"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/scenario"
)

// The push benchmark (-push): the gateway (distribution/config.yaml) under the flushes the
// extension sends for functions that push Prometheus metrics (testbed/loadgen.GeneratePush:
// OTLP/JSON delta batches to /v1/metrics, numbered per extension instance), as fast as it
// acknowledges them. It measures the gateway process's CPU per acknowledged flush and per
// data point, its RSS, and checks every figure of the ground truth in the sink and in
// Prometheus.

// pushReplicaID is the benchmark gateway's service.instance.id (its instance label).
const pushReplicaID = "pushbench"

// pushResult is what one round measured.
type pushResult struct {
	flushes, points, invocations int64 // acknowledged in the measured load
	replays                      int64
	cpu                          time.Duration // the gateway's, from the first request until the sink held the truth
	send                         time.Duration // how long sending took
	drain                        time.Duration // from the end of the send until the sink held the truth
	harnessCPU                   time.Duration // this process's CPU over the send (the load generator's cost)
	others                       float64       // other processes' CPU during the send, in cores
	peak, steady                 int64
	samples                      int
	retried                      int64
	checks                       int
	sinkExact, promExact         bool
	promMismatches               []string
	promRefused                  int64
}

func (o options) pushFleet(prefix string, sandboxes, flushes int, seed uint64) loadgen.PushConfig {
	return loadgen.PushConfig{Prefix: prefix, Jobs: o.pushJobs, Functions: o.pushFunctions, Sandboxes: sandboxes, Flushes: flushes,
		MaxInvocations: o.pushInvocations, ErrorRate: 0.05, Replay: o.pushReplay, Seed: seed}
}

func runPushBench(o options) (string, error) {
	prom, err := harness.StartPrometheus(o.prometheusBin)
	if err != nil {
		return "", err
	}
	defer prom.Stop()
	log.Printf("push load per round: %d sandboxes x %d flushes (%d jobs, %d functions), %d workers, max mode",
		o.pushSandboxes, o.pushFlushes, o.pushJobs, o.pushFunctions, o.pushWorkers)
	var results []pushResult
	var last *loadgen.PushFleet
	for round := 1; round <= o.rounds; round++ {
		log.Printf("round %d/%d", round, o.rounds)
		r, fleet, err := measurePush(o, prom, round)
		if err != nil {
			return "", fmt.Errorf("push round %d: %w", round, err)
		}
		log.Printf("round %d: %d flushes, gateway CPU %s (%.0f flushes per CPU-second), sink exact %v, Prometheus exact %v",
			round, r.flushes, r.cpu.Round(time.Millisecond), float64(r.flushes)/r.cpu.Seconds(), r.sinkExact, r.promExact)
		results = append(results, r)
		last = fleet
	}
	log.Printf("measuring the decode floor")
	floor := pushFloor(last)
	return renderPush(o, results, last, floor), nil
}

// measurePush starts a gateway writing through a tee to Prometheus and a fresh sink, warms
// it up with a small push fleet of its own, then sends the measured fleet as fast as the
// gateway acknowledges it.
func measurePush(o options, prom *harness.Prometheus, round int) (r pushResult, fleet *loadgen.PushFleet, err error) {
	sink := rwsink.New()
	tee := &harness.Tee{Sink: sink, Prometheus: prom.WriteURL()}
	teeURL, stopTee, err := harness.Serve(tee)
	if err != nil {
		return r, nil, err
	}
	defer stopTee()

	// Generating the load costs this process CPU: before the gateway starts.
	began := time.Now()
	warm, err := loadgen.GeneratePush(o.pushFleet(fmt.Sprintf("P%dw", round), max(1, o.pushSandboxes/10), 2, uint64(100+round)))
	if err != nil {
		return r, nil, err
	}
	fleet, err = loadgen.GeneratePush(o.pushFleet(fmt.Sprintf("P%d", round), o.pushSandboxes, o.pushFlushes, uint64(round)))
	if err != nil {
		return r, nil, err
	}

	gw, pprofAddr, err := startGateway(o, harness.GatewayConfig{Bin: o.bin, Configs: scenario.Ours.ConfigPaths(o.root),
		RemoteWrite: teeURL + "/api/v1/write", InstanceID: pushReplicaID, Flush: o.flush}, o.profileDir != "", false)
	if err != nil {
		return r, nil, err
	}
	defer stopGateway(gw, &err)
	route := func(*loadgen.PushBatch) int { return 0 }
	replicas := []string{pushReplicaID}
	send := func(f *loadgen.PushFleet) (loadgen.Stats, error) {
		return loadgen.SendPush(context.Background(), loadgen.SendConfig{URL: gw.URL, Workers: o.pushWorkers, Timeout: 10 * time.Minute,
			Client: client(o.pushWorkers)}, f.Sandboxes)
	}
	waitExact := func(what string, f *loadgen.PushFleet) error {
		checks := scenario.PushChecks(f, replicas, route)
		var mismatches []string
		deadline := time.Now().Add(o.drainTimeout)
		for {
			if mismatches = scenario.Mismatches(checks, scenario.PushSinkTotals(sink, f.Config.Prefix)); len(mismatches) == 0 {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: the sink does not hold the truth after %s: %s (%d in all)", what, o.drainTimeout, mismatches[0], len(mismatches))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// Warm-up: connections, buffers, the processor's first series.
	if _, err := send(warm); err != nil {
		return r, nil, fmt.Errorf("warm-up: %w", err)
	}
	if err := waitExact("the warm-up", warm); err != nil {
		return r, nil, err
	}

	var st loadgen.Stats
	f, err := measureLoad(gw, prom, pprofAddr, filepath.Join(o.profileDir, fmt.Sprintf("push%d.pprof", round)), func() (err error) {
		st, err = send(fleet)
		return err
	}, func() error { return waitExact("the measured load", fleet) })
	r.harnessCPU, r.others = f.harnessCPU, f.others
	if err != nil {
		return r, nil, err
	}
	r.sinkExact = true
	r.cpu, r.send, r.drain = f.cpu, f.send, f.drain
	r.flushes, r.points, r.invocations, r.replays = st.Acknowledged, st.AcknowledgedPoints, st.AcknowledgedInvocations, st.Replayed
	r.retried = st.Retried
	r.peak, r.steady, r.samples = f.peak, f.steady, f.samples

	// The same truth in the real Prometheus: every raw sample, per reset segment.
	checks := scenario.PushChecks(fleet, replicas, route)
	r.checks = len(checks)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	totals, _, err := scenario.PushPrometheusTotals(ctx, prom, fleet.Config.Prefix, time.Since(began)+time.Minute)
	if err != nil {
		return r, nil, err
	}
	r.promMismatches = scenario.Mismatches(checks, totals)
	r.promExact = len(r.promMismatches) == 0
	r.promRefused = tee.Refused.Load()
	if !r.promExact {
		return r, fleet, fmt.Errorf("the truth the sink holds is not in Prometheus: %s (%d in all)", r.promMismatches[0], len(r.promMismatches))
	}
	return r, fleet, nil
}

// pushFloor is the CPU per flush of only decoding the measured flushes' bodies (pdata's
// OTLP/JSON unmarshal, as the receiver does), on one goroutine.
func pushFloor(f *loadgen.PushFleet) time.Duration {
	n := 0
	for _, flushes := range f.Sandboxes {
		n += len(flushes)
	}
	runtime.GC()
	return cpuPer(n, func() {
		for _, flushes := range f.Sandboxes {
			for i := range flushes {
				if err := pmetricotlp.NewExportRequest().UnmarshalJSON(flushes[i].Body); err != nil {
					panic(err)
				}
			}
		}
	})
}

func renderPush(o options, rs []pushResult, fleet *loadgen.PushFleet, floor time.Duration) string {
	var b strings.Builder
	b.WriteString("# Push benchmark: the gateway under Pushgateway pushes\n\n")
	fmt.Fprintf(&b, "Written by `make bench-push` (testbed/cmd/gatewaybench -push) on %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "- machine: %s, %d CPUs (`nproc`; %s), %s/%s, %s. **A shared, noisy 2-vCPU VM**: other jobs run beside the benchmark, "+
		"and the load generator, Prometheus and the gateway share the same 2 vCPUs; read the figures as an order of magnitude and compare rounds\n",
		host, runtime.NumCPU(), harness.CPUModel(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	fmt.Fprintf(&b, "- gateway: `%s --version`: %s; collector release %s; `distribution/config.yaml`, flush interval %s: "+
		"lambda_telemetry (dedupes instance id + sequence) -> memory_limiter -> lambda_fleet_metrics -> batch -> prometheus_remote_write\n",
		relative(o.bin), version(o.bin, "--version"), collectorRelease(o.root), o.flush)
	fmt.Fprintf(&b, "- Prometheus: %s (remote-write receiver), behind a tee that also writes to the validating sink testbed/rwsink\n", version(o.prometheusBin, "--version"))
	fmt.Fprintf(&b, "- command: `make bench-push` = `go run ./testbed/cmd/gatewaybench %s`\n", strings.Join(o.args, " "))
	lo, hi := math.Inf(1), 0.0
	for _, r := range rs {
		lo, hi = math.Min(lo, r.others), math.Max(hi, r.others)
	}
	if hi < 0.1 {
		fmt.Fprintf(&b, "- other work on the machine during the measured loads: none to speak of (at most %.2f cores)\n\n", hi)
	} else {
		fmt.Fprintf(&b, "- **other work on the machine** during the measured loads: %.2f to %.2f cores of %d (per round below)\n\n", lo, hi, runtime.NumCPU())
	}

	cfg := fleet.Config
	fmt.Fprintf(&b, "**Load, per round.** testbed/loadgen.GeneratePush: %d sandboxes (each its own extension instance) of %d functions under %d jobs, "+
		"%d flushes each, each flush one OTLP/JSON request to `/v1/metrics` exactly as the extension sends it (the sandbox headers, "+
		"`Lambda-Batch-Sequence`, the resource with service.name = job and faas.instance; the increments since the last flush of "+
		"`lambda_invocations_total{route,status}` (delta monotonic sum), `lambda_execution_duration_seconds{route}` (delta histogram, "+
		"prometheus_client's 14 default bounds) and the gauge `lambda_last_push_timestamp_seconds`), 1 to %d invocations per flush: "+
		"%.1f data points and %.0f bytes per flush on average. Sent by %d concurrent clients as fast as the gateway acknowledges "+
		"(testbed/loadgen.SendPush: a sandbox's next flush after the previous one's acknowledgement, refusals retried, nothing dropped); "+
		"replays of acknowledged flushes: %.0f%%. Each round starts a fresh gateway and warms it up with a fleet of its own "+
		"(%d sandboxes x 2 flushes). CPU is the gateway process's user+system time (/proc/<pid>/stat) from the first measured request "+
		"until the sink held every figure of the ground truth (so it includes folding, the flushes of the processor and the remote "+
		"writes); then Prometheus is checked too (every raw sample, per reset segment). Medians over %d rounds.\n\n",
		cfg.Sandboxes, cfg.Functions, cfg.Jobs, cfg.Flushes, max(1, cfg.MaxInvocations),
		float64(fleet.Truth.Points)/float64(fleet.Truth.Batches), avgBody(fleet), o.pushWorkers, cfg.Replay*100,
		max(1, cfg.Sandboxes/10), o.rounds)

	var perFlush, perPoint, sends []time.Duration
	var peaks, steadies []time.Duration
	var flushes, points int64
	exact := true
	for _, r := range rs {
		perFlush = append(perFlush, r.cpu/time.Duration(r.flushes))
		perPoint = append(perPoint, r.cpu/time.Duration(r.points))
		sends = append(sends, r.send)
		peaks = append(peaks, time.Duration(r.peak))
		steadies = append(steadies, time.Duration(r.steady))
		flushes, points = r.flushes, r.points
		exact = exact && r.sinkExact && r.promExact
	}
	mf := median(perFlush)
	b.WriteString("| figure | median over rounds |\n|---|---|\n")
	fmt.Fprintf(&b, "| **acknowledged flushes (pushes) per gateway CPU-second** (= per core at 100%%) | **%.0f** |\n", 1/mf.Seconds())
	fmt.Fprintf(&b, "| gateway CPU per acknowledged flush | %.1f µs |\n", float64(mf.Nanoseconds())/1e3)
	fmt.Fprintf(&b, "| gateway CPU per data point | %.2f µs (%.0f points per CPU-second) |\n", float64(median(perPoint).Nanoseconds())/1e3, 1/median(perPoint).Seconds())
	fmt.Fprintf(&b, "| decode floor: pdata's OTLP/JSON unmarshal of the same bodies, one goroutine, GC included | %.1f µs per flush (gateway %.1fx the floor) |\n",
		float64(floor.Nanoseconds())/1e3, float64(mf)/float64(floor))
	fmt.Fprintf(&b, "| wall-clock rate of the send (%d clients, 2 vCPUs shared with the gateway, Prometheus and the load generator) | %.0f flushes/s |\n",
		o.pushWorkers, float64(flushes)/median(sends).Seconds())
	fmt.Fprintf(&b, "| RSS peak (VmHWM) | %s |\n", mib(int64(median(peaks))))
	fmt.Fprintf(&b, "| RSS steady under the load (median of 250 ms readings over its second half) | %s |\n", mib(int64(median(steadies))))
	fmt.Fprintf(&b, "| flushes / data points acknowledged per round | %d / %d |\n", flushes, points)
	fmt.Fprintf(&b, "| exact: every figure of the ground truth (%d checks: counter per job/route/status, histogram count, sum and 15 buckets per job/route, series counts, the gauge) in the sink and in Prometheus, every round | %s |\n\n",
		rs[len(rs)-1].checks, yesNo(exact))

	b.WriteString("**Per round:**\n\n")
	b.WriteString("| round | flushes | gateway CPU | flushes per CPU-second | µs per flush | µs per point | send | drain to exact | RSS peak / steady (readings) | load generator CPU | other processes | retried | exact in sink / Prometheus |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for i, r := range rs {
		fmt.Fprintf(&b, "| %d | %d | %s | %.0f | %.1f | %.2f | %s | %s | %s / %s (%d) | %s | %.2f cores | %d | %s / %s |\n",
			i+1, r.flushes, ms(r.cpu), float64(r.flushes)/r.cpu.Seconds(), float64(r.cpu.Nanoseconds())/1e3/float64(r.flushes),
			float64(r.cpu.Nanoseconds())/1e3/float64(r.points), ms(r.send), ms(r.drain), mib(r.peak), mib(r.steady), r.samples,
			ms(r.harnessCPU), r.others, r.retried, yesNo(r.sinkExact), yesNo(r.promExact))
	}
	b.WriteString("\nThe gateway's CPU includes its idle time between the end of the send and the flush that made the sink exact " +
		"(the drain column; a flush every " + o.flush.String() + " and the batch processor's 200 ms): small next to the load, but it " +
		"is counted. The load generator (this process: HTTP clients, and the sink's decoding of the remote writes) runs on the " +
		"same 2 vCPUs, as does Prometheus; *other processes* is the machine's busy time (/proc/stat) during the send minus the " +
		"gateway's, Prometheus' and this process's, in cores: 0 on an otherwise idle machine. `-profile-dir DIR` adds a 2-second " +
		"CPU profile of each round's gateway under the load (the debug-endpoints overlay).\n")
	return b.String()
}

// avgBody is the mean size of a flush's body, in bytes.
func avgBody(f *loadgen.PushFleet) float64 {
	var n, bytes int
	for _, flushes := range f.Sandboxes {
		for i := range flushes {
			n++
			bytes += len(flushes[i].Body)
		}
	}
	return float64(bytes) / float64(max(1, n))
}
