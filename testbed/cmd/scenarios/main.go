// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Command scenarios runs the fleet scenarios of testbed/scenario against the built gateway
// and writes their figures to a markdown report (testbed/results/scenarios.md). With
// -reliability it runs the reliability scenarios instead (long backend outages, a fleet
// beyond the cardinality limit; see reliabilityCatalog) and writes their part of
// testbed/results/reliability.md, keeping what others wrote there. With -soak DURATION it
// runs the soak instead (soakScenario: one gateway under a constant fleet load for that long,
// its RSS and CPU over time) and writes testbed/results/soak.md. With -scale it runs the
// replicas behind a real HAProxy instead (scaleCatalog) and writes testbed/results/scale.md.
// It exits non-zero when a scenario fails.
package main // import "github.com/otelcol-lambda/otelcol-lambda/testbed/cmd/scenarios"

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/loadgen"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/scenario"
)

// catalog is every scenario of `make scenarios`, in the order they run.
func catalog() []scenario.Scenario {
	mix := loadgen.Mix{ColdStart: 0.01, Error: 0.05, Timeout: 0.02, OOM: 0.005, Retry: 0.5}
	return []scenario.Scenario{
		{
			Name: "steady-fleet", About: "20 functions x 5 sandboxes, 20,000 invocations at 2,000/s",
			Fleet: loadgen.Config{Prefix: "steady", Functions: 20, Sandboxes: 5, Invocations: 20_000, PerBatch: 20, Mix: mix, FunctionSpans: true, ReportLag: true, Seed: 1},
			Rate:  2000, Workers: 8,
		},
		{
			Name: "coldstart-burst", About: "100 functions x 20 sandboxes come up at once: 4,000 invocations in max mode, " +
				"every slot's first invocation and 20% of the rest cold",
			Fleet: loadgen.Config{Prefix: "burst", Functions: 100, Sandboxes: 20, Invocations: 4_000, PerBatch: 5,
				Mix: loadgen.Mix{ColdStart: 0.2, Error: 0.02, Timeout: 0.01, Retry: 0.5}, FunctionSpans: true, ReportLag: true, Seed: 3},
			Workers: 16,
		},
		{
			Name: "error-storm", About: "20 functions x 5 sandboxes, 10,000 invocations at 1,000/s, of which 40% errors, " +
				"15% timeouts and 10% out-of-memory kills, 90% of the failures retried",
			Fleet: loadgen.Config{Prefix: "storm", Functions: 20, Sandboxes: 5, Invocations: 10_000, PerBatch: 20,
				Mix: loadgen.Mix{ColdStart: 0.01, Error: 0.4, Timeout: 0.15, OOM: 0.1, Retry: 0.9}, FunctionSpans: true, ReportLag: true, Seed: 4},
			Rate: 1000, Workers: 8,
		},
		{
			Name: "comparison", About: "20 functions x 5 sandboxes, 10,000 invocations at 1,000/s to otelcol-lambda; the " +
				"functions' own spans also to the stock spanmetrics pipeline",
			Fleet: loadgen.Config{Prefix: "compare", Functions: 20, Sandboxes: 5, Invocations: 10_000, PerBatch: 20, Mix: mix, FunctionSpans: true, ReportLag: true, Seed: 8},
			Rate:  1000, Workers: 8, Stock: true,
		},
		{
			Name: "backend-outage", About: "20 functions x 5 sandboxes, 20,000 invocations at 1,000/s; the backend answers 503 from 5 s to 15 s",
			Fleet: loadgen.Config{Prefix: "outage", Functions: 20, Sandboxes: 5, Invocations: 20_000, PerBatch: 20, Mix: mix, FunctionSpans: true, ReportLag: true, Seed: 2},
			Rate:  1000, Workers: 8, OutageAt: 5 * time.Second, OutageFor: 10 * time.Second,
		},
		{
			Name: "gateway-restart", About: "20 functions x 5 sandboxes, 15,000 invocations at 1,000/s; the gateway is stopped " +
				"(SIGTERM) at 5 s and started again 3 s later with the same instance id, while the senders retry",
			Fleet: loadgen.Config{Prefix: "restart", Functions: 20, Sandboxes: 5, Invocations: 15_000, PerBatch: 20, Mix: mix, FunctionSpans: true, ReportLag: true, Seed: 5},
			Rate:  1000, Workers: 8, Disruption: &scenario.Disruption{At: 5 * time.Second, Down: 3 * time.Second},
		},
		{
			Name: "gateway-kill", About: "20 functions x 5 sandboxes, 15,000 invocations at 1,000/s; the gateway is killed " +
				"(SIGKILL) at 5 s and started again 3 s later with the same instance id",
			Fleet: loadgen.Config{Prefix: "kill", Functions: 20, Sandboxes: 5, Invocations: 15_000, PerBatch: 20, Mix: mix, FunctionSpans: true, ReportLag: true, Seed: 6},
			Rate:  1000, Workers: 8, Disruption: &scenario.Disruption{At: 5 * time.Second, Down: 3 * time.Second, Kill: true},
		},
		{
			Name: "gateway-kill-wal", About: "gateway-kill with the write-ahead log (distribution/overlays/write-ahead-log.yaml): " +
				"the killed gateway replays at its start what it had acknowledged and not yet written",
			Fleet: loadgen.Config{Prefix: "killwal", Functions: 20, Sandboxes: 5, Invocations: 15_000, PerBatch: 20, Mix: mix, FunctionSpans: true, ReportLag: true, Seed: 6},
			Rate:  1000, Workers: 8, Disruption: &scenario.Disruption{At: 5 * time.Second, Down: 3 * time.Second, Kill: true},
			WriteAheadLog: true,
		},
		{
			Name: "multi-replica", About: "3 gateway replicas behind routing by function name; 30 functions x 5 sandboxes, " +
				"30,000 invocations at 3,000/s; replica 1 is stopped (SIGTERM) at 4 s and back 2 s later",
			Fleet: loadgen.Config{Prefix: "replicas", Functions: 30, Sandboxes: 5, Invocations: 30_000, PerBatch: 20, Mix: mix, FunctionSpans: true, ReportLag: true, Seed: 7},
			Rate:  3000, Workers: 4, Replicas: 3,
			Disruption: &scenario.Disruption{Replica: 1, At: 4 * time.Second, Down: 2 * time.Second},
		},
		{
			Name: "push-fleet", About: "2,000 sandboxes of 50 functions under 10 jobs push Prometheus metrics through the extension: " +
				"10 flushes each, 20,000 OTLP/JSON delta batches at 2,000/s, 5% sent again after their acknowledgement, 5% of the " +
				"sandboxes replaced between flushes; the gateway is stopped (SIGTERM) at 4 s and started again 2 s later",
			Push: &scenario.PushLoad{Rate: 2000, Fleet: loadgen.PushConfig{Prefix: "push", Jobs: 10, Functions: 50, Sandboxes: 2000,
				Flushes: 10, MaxInvocations: 10, ErrorRate: 0.05, Replay: 0.05, Recycle: 0.05, Seed: 9}},
			Workers: 16, Disruption: &scenario.Disruption{At: 4 * time.Second, Down: 2 * time.Second},
		},
		{
			Name: "push-replicas", About: "3 gateway replicas behind routing by function name; 600 sandboxes of 30 functions under 6 " +
				"jobs push 10 flushes each at 1,500/s, with replays and replaced sandboxes; replica 2 is stopped (SIGTERM) at 2 s and back 2 s later",
			Push: &scenario.PushLoad{Rate: 1500, Fleet: loadgen.PushConfig{Prefix: "pushrep", Jobs: 6, Functions: 30, Sandboxes: 600,
				Flushes: 10, MaxInvocations: 10, ErrorRate: 0.05, Replay: 0.05, Recycle: 0.05, Seed: 10}},
			Workers: 6, Replicas: 3, Disruption: &scenario.Disruption{Replica: 2, At: 2 * time.Second, Down: 2 * time.Second},
		},
	}
}

// reliabilityCatalog is every scenario of `make reliability` (testbed/results/reliability.md),
// in the order they run: backend outages of 2 and 6 minutes, the backend answering 503 or
// not listening at all, and a fleet of 20,000 functions and 50,000 sandboxes. About 35
// minutes in all.
func reliabilityCatalog() []scenario.Scenario {
	mix := loadgen.Mix{ColdStart: 0.01, Error: 0.05, Timeout: 0.02, OOM: 0.005, Retry: 0.5}
	// An outage starts 15 s into a paced load that goes on 30 s after it: invocations keep
	// arriving while the backend is away, as Lambda keeps running.
	outage := func(name, prefix string, d time.Duration, unreachable bool, seed uint64) scenario.Scenario {
		const rate = 250
		lead, tail := 15*time.Second, 30*time.Second
		invocations := int(rate * (lead + d + tail).Seconds())
		what := "answers 503"
		if unreachable {
			what = "is unreachable (not listening: connections refused, as when Prometheus is down)"
		}
		return scenario.Scenario{
			Name: name,
			About: fmt.Sprintf("100 functions x 5 sandboxes, %d invocations at %d/s; the backend %s from %s for %s",
				invocations, rate, what, lead, d),
			Fleet: loadgen.Config{Prefix: prefix, Functions: 100, Sandboxes: 5, Invocations: invocations, PerBatch: 20, Mix: mix,
				FunctionSpans: true, ReportLag: true, Seed: seed},
			Rate: rate, Workers: 8, OutageAt: lead, OutageFor: d, Unreachable: unreachable,
			Reliability: &scenario.Reliability{},
		}
	}
	return []scenario.Scenario{
		outage("outage-2m-503", "o2a", 2*time.Minute, false, 21),
		outage("outage-2m-refused", "o2b", 2*time.Minute, true, 22),
		outage("outage-6m-503", "o6a", 6*time.Minute, false, 23),
		outage("outage-6m-refused", "o6b", 6*time.Minute, true, 24),
		// The probe: a burst of 20k function names with a 2 s flush. Without the
		// functions' own spans, as the probe: with them (event-age histograms, a label set per
		// event source) the gateway writes about 720k series per flush instead of about
		// 250k, more than this machine's Prometheus takes every 2 s.
		{
			Name: "cardinality", About: "20,000 functions and 50,000 sandboxes (2 or 3 per function, each brought up by its " +
				"first invocation): 100,000 invocations in max mode, Telemetry API batches only, beyond the connector's " +
				"cardinality_limit (10,000) and at the receiver's max_sandboxes (50,000); flush interval 2 s; SIGTERM 30 s " +
				"after the load",
			Fleet: loadgen.Config{Prefix: "card", Functions: 20_000, Slots: 50_000, Invocations: 100_000, PerBatch: 5,
				Mix: loadgen.Mix{Error: 0.05, Timeout: 0.02, Retry: 0.5}, ReportLag: true, Seed: 25},
			Workers: 16, Flush: 2 * time.Second,
			Reliability: &scenario.Reliability{Cardinality: true, StopAfter: 30 * time.Second, StopWithin: 10 * time.Minute},
		},
	}
}

// scaleCatalog is every scenario of `make scale` (testbed/results/scale.md): sandboxes ->
// HAProxy (deploy/haproxy/haproxy.cfg) -> replicas -> Prometheus, with a replica killed and
// restarted and one added; the same behind L4 round robin, measured; then the same load on
// 1, 2 and 3 replicas for throughput and CPU per invocation, and a third of it on 1 and 3
// replicas, which tells a cost per replica from a cost per invocation.
func scaleCatalog() []scenario.Scenario {
	mix := loadgen.Mix{ColdStart: 0.01, Error: 0.05, Timeout: 0.02, OOM: 0.005, Retry: 0.5}
	const about = "20 functions x 5 sandboxes, 20,000 invocations at 1,500/s with the functions' own spans; 2% of the " +
		"Telemetry API batches sent again after their answer, and every answer given up after 200 ms and resent; replica 1 is killed (SIGKILL) at 4 s and started again 2 s later; a fourth " +
		"replica starts at 8 s in a slot HAProxy has had down"
	scaleOut := func(name, prefix string, l4, wal bool, what string) scenario.Scenario {
		return scenario.Scenario{
			Name: name, About: what + ": " + about,
			Fleet: loadgen.Config{Prefix: prefix, Functions: 20, Sandboxes: 5, Invocations: 20_000, PerBatch: 20, Mix: mix,
				FunctionSpans: true, ReportLag: true, Seed: 31},
			Rate: 1500, Workers: 8, Replicas: 3, Resend: 0.02, GiveUpAfter: 200 * time.Millisecond, WriteAheadLog: wal,
			Balancer:   &scenario.Balancer{L4: l4, AddAt: 8 * time.Second},
			Disruption: &scenario.Disruption{Replica: 1, At: 4 * time.Second, Down: 2 * time.Second, Kill: true},
		}
	}
	throughput := func(replicas, invocations int, suffix string) scenario.Scenario {
		return scenario.Scenario{
			Name: fmt.Sprintf("haproxy-%d-replica%s", replicas, suffix),
			About: fmt.Sprintf("%d replica(s) behind HAProxy: 20 functions x 5 sandboxes, %s invocations in max mode with the "+
				"functions' own spans, 8 workers", replicas, fmt.Sprintf("%d,000", invocations/1000)),
			Fleet: loadgen.Config{Prefix: fmt.Sprintf("tput%d%s", replicas, strings.TrimPrefix(suffix, "-")), Functions: 20, Sandboxes: 5,
				Invocations: invocations, PerBatch: 20, Mix: mix, FunctionSpans: true, ReportLag: true, Seed: 32},
			Workers: 8, Replicas: replicas, Balancer: &scenario.Balancer{},
		}
	}
	return []scenario.Scenario{
		scaleOut("haproxy-scale-out", "lbout", false, false, "3 replicas behind deploy/haproxy/haproxy.cfg"),
		scaleOut("haproxy-scale-out-wal", "lbwal", false, true, "haproxy-scale-out with the write-ahead log "+
			"(distribution/overlays/write-ahead-log.yaml)"),
		scaleOut("l4-scale-out", "l4out", true, false, "3 replicas behind L4 round robin (mode tcp, the NLB stand-in)"),
		throughput(1, 180_000, ""), throughput(2, 180_000, ""), throughput(3, 180_000, ""),
		throughput(1, 60_000, "-60k"), throughput(3, 60_000, "-60k"),
	}
}

// soakMix churns the gateway's join state: new sandboxes (cold starts, and one after every
// out-of-memory kill), errors of every type, timeouts, and asynchronous retries that reuse
// a request id.
var soakMix = loadgen.Mix{ColdStart: 0.01, Error: 0.03, Timeout: 0.01, OOM: 0.005, Retry: 0.3}

// soakOptions are the soak's flags.
type soakOptions struct {
	duration             time.Duration
	rate                 float64
	functions, sandboxes int
	workers              int
	sample               time.Duration
	slopeMax             float64
	overlay              string
}

// soakScenario is `make soak`: a constant-rate fleet load with the functions' own spans,
// on one gateway with the distribution's own intervals, for o.duration.
func soakScenario(o soakOptions) scenario.Scenario {
	invocations := int(o.rate * o.duration.Seconds())
	return scenario.Scenario{
		Name: "soak",
		About: fmt.Sprintf("%d functions x %d sandbox slots, %d invocations at %.0f/s for %s, with the functions' own spans",
			o.functions, o.sandboxes, invocations, o.rate, o.duration),
		Fleet: loadgen.Config{Prefix: "soak", Functions: o.functions, Sandboxes: o.sandboxes, Invocations: invocations,
			PerBatch: 10, Mix: soakMix, FunctionSpans: true, Seed: 1, Start: time.Now()},
		Rate: o.rate, Workers: o.workers,
		Soak: &scenario.Soak{Duration: o.duration, Sample: o.sample, SlopeMax: o.slopeMax, Overlay: o.overlay},
	}
}

func main() {
	o := scenario.Options{}
	var root, out, only string
	flag.StringVar(&o.Bin, "bin", "_build/otelcol-lambda", "the built distribution")
	flag.StringVar(&root, "root", ".", "the repository root")
	flag.StringVar(&out, "out", "testbed/results/scenarios.md", "where to write the report")
	flag.DurationVar(&o.Drain, "drain-timeout", 2*time.Minute, "how long to wait for the backends to hold the ground truth")
	flag.DurationVar(&o.Flush, "flush", time.Second, "lambda_metrics' flush interval and lambda_correlation's window")
	flag.StringVar(&o.PrometheusBin, "prometheus", "prometheus", "the Prometheus binary")
	flag.StringVar(&only, "run", "", "run only the scenarios with these names (comma-separated)")
	list := flag.Bool("list", false, "list the scenarios and exit")
	reliability := flag.Bool("reliability", false, "run the reliability scenarios (outages, cardinality) and write "+
		"testbed/results/reliability.md (its generated part) unless -out says where")
	scale := flag.Bool("scale", false, "run the scenarios behind a real HAProxy (failover, scale-out, L4 against "+
		"the shipped hash, throughput by replicas) and write testbed/results/scale.md unless -out says where")
	var so soakOptions
	flag.DurationVar(&so.duration, "soak", 0, "run the soak for this long instead (one gateway, constant-rate fleet load, "+
		"the distribution's own flush interval) and write testbed/results/soak.md unless -out says where")
	flag.Float64Var(&so.rate, "soak-rate", 1000, "soak: invocations per second (Telemetry API), plus the functions' own spans")
	flag.IntVar(&so.functions, "soak-functions", 50, "soak: functions in the fleet")
	flag.IntVar(&so.sandboxes, "soak-sandboxes", 10, "soak: sandbox slots per function")
	flag.IntVar(&so.workers, "soak-workers", 4, "soak: concurrent senders")
	flag.DurationVar(&so.sample, "soak-sample", 10*time.Second, "soak: how often to read the gateway's RSS, CPU and own telemetry")
	flag.Float64Var(&so.slopeMax, "soak-slope-max", 0.5, "soak: the RSS slope (MiB/min, over the load's last 80%) below which RSS is called flat")
	flag.StringVar(&so.overlay, "soak-overlay", filepath.Join("testbed", "bench", "soak-bounds.yaml"),
		"soak: a configuration overlay (relative to -root); empty runs distribution/config.yaml alone")
	flag.Parse()
	log.SetFlags(log.Ltime)
	o.Logf = log.Printf
	outSet, flushSet := false, false
	flag.Visit(func(f *flag.Flag) {
		outSet = outSet || f.Name == "out"
		flushSet = flushSet || f.Name == "flush"
	})
	scenarios := catalog
	switch {
	case btoi(*reliability)+btoi(*scale)+btoi(so.duration > 0) > 1:
		log.Fatal("-reliability, -scale and -soak are different runs: give one")
	case *scale:
		scenarios = scaleCatalog
		if !outSet {
			out = "testbed/results/scale.md"
		}
	case *reliability:
		scenarios = reliabilityCatalog
		if !outSet {
			out = "testbed/results/reliability.md"
		}
	case so.duration > 0:
		scenarios = func() []scenario.Scenario {
			s := soakScenario(so)
			if flushSet {
				s.Flush = o.Flush // else the distribution's own
			}
			return []scenario.Scenario{s}
		}
		if !outSet {
			out = "testbed/results/soak.md"
		}
	}

	if *list {
		for _, s := range scenarios() {
			fmt.Printf("%-18s %s\n", s.Name, s.About)
		}
		return
	}
	var err error
	if o.Root, err = filepath.Abs(root); err != nil {
		log.Fatal(err)
	}
	if o.Bin, err = filepath.Abs(o.Bin); err != nil {
		log.Fatal(err)
	}
	wanted := map[string]bool{}
	for _, n := range strings.Split(only, ",") {
		if n = strings.TrimSpace(n); n != "" {
			wanted[n] = true
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var selected []scenario.Scenario
	known := map[string]bool{}
	for _, s := range scenarios() {
		known[s.Name] = true
		if len(wanted) == 0 || wanted[s.Name] {
			selected = append(selected, s)
		}
	}
	for n := range wanted {
		if !known[n] {
			log.Fatalf("no scenario named %q (see -list)", n)
		}
	}
	var results []scenario.Result
	failed := false
	for _, s := range selected {
		log.Printf("scenario %s: %s", s.Name, s.About)
		r := scenario.Run(ctx, o, s)
		switch {
		case s.Balancer != nil:
			if r.Fails() {
				failed = true
			}
			f := r.Balance
			if f == nil {
				log.Printf("scenario %s %s: err=%v", s.Name, r.Verdict(), r.Err)
				break
			}
			log.Printf("scenario %s %s: lost %.0f (bound %.0f), counted twice %d, unpaired %.0f of %d, %d retried, %d resent after the answer (%d recognised), "+
				"%.0f invocations/s, replicas' CPU %s, err=%v prometheus=%v sink=%v", s.Name, r.Verdict(), r.Lost, r.LossBound,
				len(r.Overcounted), f.Unpaired, f.Spans, r.Stats.Retried, r.Resent, r.Stats.Replayed,
				float64(r.Stats.AcknowledgedInvocations)/max(r.Stats.Duration.Seconds(), 1e-9), f.GatewayCPU.Round(10*time.Millisecond),
				r.Err, first(r.PrometheusMismatches), first(r.SinkMismatches))
		case r.Soak != nil:
			if !r.Passed() {
				failed = true
			}
			slope, readings, flat := r.RSSFlat()
			log.Printf("scenario %s %s: Prometheus exact %s, sink exact %s after the load; RSS slope %+.3f MiB/min over %d readings (flat: %v), "+
				"peak RSS %.1f MiB, gateway CPU %s, err=%v prometheus=%v sink=%v", s.Name, passed(r), r.PrometheusExact.Round(time.Millisecond),
				r.SinkExact.Round(time.Millisecond), slope, readings, flat, float64(r.Soak.PeakRSS)/(1<<20), r.Soak.CPU.Round(100*time.Millisecond),
				r.Err, first(r.PrometheusMismatches), first(r.SinkMismatches))
		case r.Reliability != nil:
			if !r.Passed() {
				failed = true
			}
			f, inv := r.Reliability, r.Reliability.Invocations()
			log.Printf("scenario %s %s: generated %d, counted %.0f, lost %.0f, double-counted %.0f, peak RSS %d MiB, "+
				"first warning %s after the outage start (zero: none), shutdown %s (killed: %v), err=%v prometheus=%v sink=%v",
				s.Name, passed(r), r.Truth.Invocations, inv.Counted, inv.Lost, inv.Twice, f.PeakRSS>>20,
				f.WarningDelay.Round(100*time.Millisecond), f.Shutdown.Round(100*time.Millisecond), f.Killed,
				r.Err, first(r.PrometheusMismatches), first(r.SinkMismatches))
		case r.Passed() && s.Disruption != nil && s.Disruption.Kill:
			log.Printf("scenario %s passed: %.0f invocations missing in Prometheus (%.0f in the sink), at most %.0f allowed, none counted twice",
				s.Name, r.Lost, r.SinkLost, r.LossBound)
		case r.Passed():
			log.Printf("scenario %s passed: Prometheus exact %s, sink exact %s after the load",
				s.Name, r.PrometheusExact.Round(time.Millisecond), r.SinkExact.Round(time.Millisecond))
		default:
			failed = true
			log.Printf("scenario %s FAILED: err=%v prometheus=%v sink=%v twice=%v", s.Name, r.Err,
				first(r.PrometheusMismatches), first(r.SinkMismatches), first(r.Overcounted))
		}
		results = append(results, r)
		if ctx.Err() != nil {
			break
		}
	}
	command := "make scenarios"
	switch {
	case so.duration > 0:
		// The soak's flags are many: the report quotes them all.
		command = fmt.Sprintf("make soak SOAK_DURATION=%s` = `go run ./testbed/cmd/scenarios %s", so.duration, strings.Join(os.Args[1:], " "))
	case *scale && only != "":
		command = "go run ./testbed/cmd/scenarios -scale -run " + only
	case *scale:
		command = "make scale"
	case *reliability && only != "":
		command = "go run ./testbed/cmd/scenarios -reliability -run " + only
	case *reliability:
		command = "make reliability"
	case only != "":
		command = "go run ./testbed/cmd/scenarios -run " + only
	}
	if root != "." {
		command += fmt.Sprintf(" (with -bin %s -root %s)", o.Bin, root)
	}
	report := scenario.Render(command, results)
	if so.duration > 0 && len(results) == 1 {
		report = scenario.RenderSoak(command, describeBuild(o.Bin, root), results[0])
	}
	if *scale {
		report = scenario.RenderScale(command, describeBuild(o.Bin, root), results)
	}
	if *reliability {
		existing, err := os.ReadFile(out)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			log.Fatalf("scenarios: %v", err)
		}
		report = scenario.MergeReliability(string(existing), scenario.RenderReliability(command, describeBuild(o.Bin, root), results))
	}
	if err := os.WriteFile(out, []byte(report), 0o644); err != nil {
		log.Fatalf("scenarios: %v", err)
	}
	log.Printf("wrote %s", out)
	if failed {
		os.Exit(1)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func passed(r scenario.Result) string {
	if r.Passed() {
		return "passed"
	}
	return "FAILED"
}

// describeBuild names the gateway binary: its path under root, modification time and the
// start of its SHA-256, so that a report says which build it measured.
func describeBuild(bin, root string) string {
	name := bin
	if abs, err := filepath.Abs(root); err == nil {
		if rel, err := filepath.Rel(abs, bin); err == nil && !strings.HasPrefix(rel, "..") {
			name = rel
		}
	}
	f, err := os.Open(bin)
	if err != nil {
		return "`" + name + "`"
	}
	defer f.Close()
	st, err := f.Stat()
	h := sha256.New()
	if _, herr := io.Copy(h, f); err != nil || herr != nil {
		return "`" + name + "`"
	}
	return fmt.Sprintf("`%s` built %s, sha256 %s", name, st.ModTime().UTC().Format("2006-01-02 15:04 MST"), hex.EncodeToString(h.Sum(nil))[:12])
}

func first(items []string) string {
	if len(items) == 0 {
		return "none"
	}
	if len(items) == 1 {
		return items[0]
	}
	return fmt.Sprintf("%s (and %d more)", items[0], len(items)-1)
}
