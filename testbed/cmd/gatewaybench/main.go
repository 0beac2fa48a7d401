// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Command gatewaybench measures the otelcol-lambda gateway.
//
// By default it runs (A) otelcol-lambda's pipeline (distribution/config.yaml, with
// testbed/bench/sdk-spans.yaml so that it counts the OTLP span load) against (B) the
// stock Collector pipeline (otlp -> batch -> spanmetrics -> prometheusremotewrite, same
// release, testbed/bench/stock-pipeline.yaml) on the same OTLP load, one after the other,
// rounds alternating, and writes testbed/results/bench.md: CPU per million spans and per
// million invocations, RSS peak and steady, end-to-end freshness (invocation end -> visible
// in a Prometheus query), the ratios A/B and the decode floors.
//
// With -soak DURATION it runs pipeline A alone under a constant-rate fleet load for that
// long and writes testbed/results/soak.md: the gateway's RSS and CPU over time, the RSS
// slope, and whether every count arrived exactly.
//
// With -push it runs pipeline A alone under the flushes the extension sends for functions
// that push Prometheus metrics (testbed/loadgen.GeneratePush) and writes
// testbed/results/push.md: the gateway's CPU per acknowledged flush and per data point, its
// RSS, and whether every figure of the ground truth arrived exactly (push.go).
//
// Gateways and Prometheus are real processes started by testbed/harness; the load comes
// from testbed/loadgen, which never drops a batch client-side; every count is checked
// exactly in the validating remote-write sink (testbed/rwsink).
package main // import "github.com/otelcol-lambda/otelcol-lambda/testbed/cmd/gatewaybench"

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
)

type options struct {
	bin, root, out string
	prometheusBin  string
	args           []string // the command line, for the report

	// The benchmark (A against B).
	spans        int
	invocations  int
	functions    int
	sandboxes    int
	workers      int
	rounds       int
	probes       int
	newProbes    int
	flush        time.Duration
	drainTimeout time.Duration
	// profileDir, when set, gets a CPU profile of each gateway under the span load.
	profileDir string

	// The soak (A alone); soak > 0 selects it.
	soak          time.Duration
	soakRate      float64
	soakFunctions int
	soakSandboxes int
	soakSample    time.Duration
	soakSlopeMax  float64 // MiB/min
	soakOverlay   string  // a --config overlay for the soak's gateway; "" for none

	// The push benchmark (push.go); push selects it.
	push            bool
	pushSandboxes   int
	pushFlushes     int
	pushJobs        int
	pushFunctions   int
	pushInvocations int
	pushWorkers     int
	pushReplay      float64
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "_build/otelcol-lambda", "the built distribution")
	flag.StringVar(&o.root, "root", ".", "the repository root (for the configurations)")
	flag.StringVar(&o.out, "out", "", "where to write the report (default testbed/results/bench.md, or soak.md with -soak)")
	flag.StringVar(&o.prometheusBin, "prometheus", "prometheus", "the Prometheus binary (the benchmark's freshness probes query it)")
	flag.IntVar(&o.spans, "spans", 1_000_000, "OTLP spans (functions' own SERVER spans) per pipeline and round")
	flag.IntVar(&o.invocations, "invocations", 300_000, "invocations sent as Telemetry API batches per round (pipeline A only)")
	flag.IntVar(&o.functions, "functions", 20, "distinct functions in the load")
	flag.IntVar(&o.sandboxes, "sandboxes", 10, "sandboxes per function in the Telemetry API load")
	flag.IntVar(&o.workers, "workers", 4, "concurrent senders")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds of A then B; the report gives the median")
	flag.IntVar(&o.probes, "probes", 10, "freshness probes per pipeline and round, on functions the gateway knows")
	flag.IntVar(&o.newProbes, "new-probes", 4, "freshness probes per pipeline and round, each the first invocation of a new function")
	flag.DurationVar(&o.flush, "flush", 2*time.Second, "metrics flush interval (and correlation window) of the gateways; in a soak the default is the distribution's own (10s, window 5s)")
	flag.DurationVar(&o.drainTimeout, "drain-timeout", 2*time.Minute, "how long to wait for the sink (and Prometheus) to hold every count")
	flag.StringVar(&o.profileDir, "profile-dir", "", "write a CPU profile of each gateway under the span load here (adds the debug-endpoints overlay)")
	flag.DurationVar(&o.soak, "soak", 0, "run the soak for this long instead of the benchmark (pipeline A alone, constant-rate fleet load)")
	flag.Float64Var(&o.soakRate, "soak-rate", 1000, "soak: invocations per second (Telemetry API), plus the functions' own spans")
	flag.IntVar(&o.soakFunctions, "soak-functions", 50, "soak: functions in the fleet")
	flag.IntVar(&o.soakSandboxes, "soak-sandboxes", 10, "soak: sandbox slots per function")
	flag.DurationVar(&o.soakSample, "soak-sample", 10*time.Second, "soak: how often to sample the gateway's RSS and CPU")
	flag.StringVar(&o.soakOverlay, "soak-overlay", filepath.Join("testbed", "bench", "soak-bounds.yaml"), "soak: a configuration overlay (relative to -root); empty runs distribution/config.yaml alone")
	flag.Float64Var(&o.soakSlopeMax, "soak-slope-max", 0.5, "soak: the RSS slope (MiB/min, over the last 80%) below which RSS is called flat")
	flag.BoolVar(&o.push, "push", false, "run the push benchmark instead (writes testbed/results/push.md): Pushgateway pushes as the extension forwards them")
	flag.IntVar(&o.pushSandboxes, "push-sandboxes", 3000, "push: sandboxes (extension instances) per round")
	flag.IntVar(&o.pushFlushes, "push-flushes", 10, "push: flushes per sandbox")
	flag.IntVar(&o.pushJobs, "push-jobs", 10, "push: jobs (service names)")
	flag.IntVar(&o.pushFunctions, "push-functions", 50, "push: functions")
	flag.IntVar(&o.pushInvocations, "push-invocations", 10, "push: the most invocations a sandbox runs between two flushes")
	flag.IntVar(&o.pushWorkers, "push-workers", 8, "push: concurrent senders")
	flag.Float64Var(&o.pushReplay, "push-replay", 0, "push: the share of acknowledged flushes sent again (not counted in the per-flush figures)")
	flag.Parse()
	o.args = os.Args[1:]
	log.SetFlags(log.Ltime)
	if runtime.GOOS != "linux" {
		log.Fatal("gatewaybench reads /proc and runs on Linux only")
	}

	explicit := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	if o.out == "" {
		o.out = filepath.Join("testbed", "results", "bench.md")
		if o.soak > 0 {
			o.out = filepath.Join("testbed", "results", "soak.md")
		}
		if o.push {
			o.out = filepath.Join("testbed", "results", "push.md")
		}
	}
	if o.soak > 0 && !explicit["flush"] {
		o.flush = 0 // the distribution's defaults
	}
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		log.Fatalf("gatewaybench: %v", err)
	}
	o.bin = bin
	if _, err := os.Stat(o.bin); err != nil {
		log.Fatalf("gatewaybench: no gateway binary at %s: run 'make build' first", o.bin)
	}

	var report string
	switch {
	case o.push:
		report, err = runPushBench(o)
	case o.soak > 0:
		report, err = runSoak(o)
	default:
		report, err = runBench(o)
	}
	if report != "" {
		if werr := writeReport(o.out, report); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		log.Fatalf("gatewaybench: %v", err)
	}
}

func writeReport(path, report string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
		return err
	}
	log.Printf("wrote %s", path)
	fmt.Print(report)
	return nil
}

// pipeline is one configuration under test.
type pipeline struct {
	short, name string
	configs     []string
	// count is the metric that counts invocations, and label the one naming the function.
	count, label string
	// telemetry: the pipeline takes Telemetry API batches (only otelcol-lambda's does).
	telemetry bool
}

func pipelineA(o options) pipeline {
	return pipeline{short: "A", name: "A: otelcol-lambda", configs: []string{filepath.Join(o.root, "distribution", "config.yaml")},
		count: "faas_invocations_total", label: "faas_name", telemetry: true}
}

func pipelineB(o options) pipeline {
	return pipeline{short: "B", name: "B: stock spanmetrics", configs: []string{filepath.Join(o.root, "testbed", "bench", "stock-pipeline.yaml")},
		count: "traces_span_metrics_calls_total", label: "service_name"}
}

// startGateway starts the gateway of cfg; with profiling, the debug-endpoints overlay is
// added and pprof listens on the returned address.
func startGateway(o options, cfg harness.GatewayConfig, profiling bool) (*harness.Gateway, string, error) {
	pprofAddr := ""
	if profiling {
		addrs, err := harness.FreeAddrs(2)
		if err != nil {
			return nil, "", err
		}
		pprofAddr = addrs[0]
		cfg.Configs = append(cfg.Configs[:len(cfg.Configs):len(cfg.Configs)], filepath.Join(o.root, "distribution", "overlays", "debug-endpoints.yaml"))
		cfg.Env = []string{"OTELCOL_LAMBDA_PPROF_ENDPOINT=" + addrs[0], "OTELCOL_LAMBDA_ZPAGES_ENDPOINT=" + addrs[1]}
	}
	g, err := harness.StartGateway(cfg)
	return g, pprofAddr, err
}

// stopGateway stops a measured gateway, for a defer: a failure to stop becomes *err when
// nothing else failed, and a failed measurement shows the gateway's last output.
func stopGateway(gw *harness.Gateway, err *error) {
	if serr := gw.Stop(); serr != nil && *err == nil {
		*err = serr
	}
	if *err != nil {
		log.Printf("gateway output (last 4 KiB):\n%s", harness.Tail(gw.Output.String(), 4096))
	}
}
