// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Command gatewaybench measures the otelcol-lambda gateway.
//
// By default it runs (A) otelcol-lambda's pipeline (distribution/config.yaml, with
// testbed/bench/sdk-spans.yaml so that it counts the spans of functions without the
// extension) against (B) the stock Collector pipeline (otlp -> batch -> spanmetrics ->
// prometheusremotewrite, same release, testbed/bench/stock-pipeline.yaml; both as
// testbed/scenario.Ours and .Stock, which the fleet scenario "comparison" runs too) on
// every kind of traffic a user has (load.go: the extension with and without the functions'
// SDK spans, SDK spans without the extension, and a fleet of the three), each at each
// request size, the same invocations for both, one gateway per measurement, A and B
// alternating. It writes testbed/results/bench.md: CPU per span and per invocation, RSS
// peak and steady, end-to-end freshness (invocation end -> visible in a Prometheus query),
// the ratios A/B, the decode floors and whether each budget of issue #16 is met.
//
// With -push it runs pipeline A alone under the flushes the extension sends for functions
// that push Prometheus metrics (testbed/loadgen.GeneratePush) and writes
// testbed/results/push.md: the gateway's CPU per acknowledged flush and per data point, its
// RSS, and whether every figure of the ground truth arrived exactly (push.go).
//
// With -capacity it measures what a user sizes gateways with and writes
// testbed/results/capacity.md: memory per active sandbox and per active series, each a
// series of points with a fitted line, CPU per invocation at saturation, and the sizing
// worked out from them (capacity.go).
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
	"strconv"
	"strings"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/scenario"
)

type options struct {
	bin, root, out string
	prometheusBin  string
	args           []string // the command line, for the report

	// The benchmark (A against B).
	mixes        []mixKind
	sizes        []int
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
	// overlays are further configuration files for pipeline A (-overlay), under -root.
	overlays []string

	// The push benchmark (push.go); push selects it.
	push            bool
	pushSandboxes   int
	pushFlushes     int
	pushJobs        int
	pushFunctions   int
	pushInvocations int
	pushWorkers     int
	pushReplay      float64

	// The capacity model (capacity.go); capacity selects it.
	capacity       bool
	capSandboxes   []int
	capFunctions   []int
	capInvocations int
	capSeriesFlush time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "_build/otelcol-lambda", "the built distribution")
	flag.StringVar(&o.root, "root", ".", "the repository root (for the configurations)")
	flag.StringVar(&o.out, "out", "", "where to write the report (default testbed/results/bench.md, or push.md with -push)")
	flag.StringVar(&o.prometheusBin, "prometheus", "prometheus", "the Prometheus binary (the benchmark's freshness probes query it)")
	mixesFlag := flag.String("mixes", "pairs,extension,sdk,fleet", "the traffic mixes to measure: pairs (extension + SDK spans), extension (extension only), sdk (SDK spans only, no extension), fleet (a third of each)")
	sizesFlag := flag.String("sizes", "100,1000", "request sizes: spans per OTLP request, invocations per Telemetry API batch")
	flag.IntVar(&o.invocations, "invocations", 150_000, "invocations per mix, request size, pipeline and round, after a warm-up (of whole requests, which the measured load gives up)")
	flag.IntVar(&o.functions, "functions", 20, "distinct functions in the load")
	flag.IntVar(&o.sandboxes, "sandboxes", 10, "sandboxes per function in the extension's load")
	flag.IntVar(&o.workers, "workers", 4, "concurrent senders")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds of A then B; the report gives the median")
	flag.IntVar(&o.probes, "probes", 6, "freshness probes per measurement, on functions the gateway knows")
	flag.IntVar(&o.newProbes, "new-probes", 3, "freshness probes per measurement, each the first invocation of a new function")
	flag.DurationVar(&o.flush, "flush", 2*time.Second, "metrics flush interval (and correlation window) of the gateways")
	flag.DurationVar(&o.drainTimeout, "drain-timeout", 2*time.Minute, "how long to wait for the sink (and Prometheus) to hold every count")
	flag.StringVar(&o.profileDir, "profile-dir", "", "write a CPU profile of each gateway under each load here (adds the debug-endpoints overlay)")
	flag.IntVar(&profileSeconds, "profile-seconds", profileSeconds, "with -profile-dir: seconds each profile samples, from the start of the load")
	flag.Func("overlay", "a further configuration file for pipeline A, after its own (repeatable; relative to -root): to measure a setting", func(v string) error {
		o.overlays = append(o.overlays, v)
		return nil
	})
	flag.BoolVar(&o.push, "push", false, "run the push benchmark instead (writes testbed/results/push.md): Pushgateway pushes as the extension forwards them")
	flag.IntVar(&o.pushSandboxes, "push-sandboxes", 3000, "push: sandboxes (extension instances) per round")
	flag.IntVar(&o.pushFlushes, "push-flushes", 10, "push: flushes per sandbox")
	flag.IntVar(&o.pushJobs, "push-jobs", 10, "push: jobs (service names)")
	flag.IntVar(&o.pushFunctions, "push-functions", 50, "push: functions")
	flag.IntVar(&o.pushInvocations, "push-invocations", 10, "push: the most invocations a sandbox runs between two flushes")
	flag.IntVar(&o.pushWorkers, "push-workers", 8, "push: concurrent senders")
	flag.Float64Var(&o.pushReplay, "push-replay", 0, "push: the share of acknowledged flushes sent again (not counted in the per-flush figures)")
	flag.BoolVar(&o.capacity, "capacity", false, "run the capacity model instead (writes testbed/results/capacity.md): memory per sandbox and per series, CPU per invocation of -sizes, -invocations, -rounds")
	capSandboxesFlag := flag.String("capacity-sandboxes", "1000,5000,20000,50000", "capacity: active sandboxes of each memory-per-sandbox point")
	capFunctionsFlag := flag.String("capacity-functions", "100,1000,2500,5000", "capacity: functions of each memory-per-series point (over as many sandboxes as the largest)")
	flag.IntVar(&o.capInvocations, "capacity-invocations", 3, "capacity: invocations per sandbox on average in the memory points, and the most to a batch")
	flag.DurationVar(&o.capSeriesFlush, "capacity-series-flush", 10*time.Second, "capacity: the flush interval of the memory-per-series points (the shipped default; -flush for the others)")
	flag.Parse()
	o.args = os.Args[1:]
	log.SetFlags(log.Ltime)
	var err error
	if o.mixes, err = parseMixes(*mixesFlag); err != nil {
		log.Fatalf("gatewaybench: %v", err)
	}
	if o.sizes, err = parseCounts("-sizes", *sizesFlag); err != nil {
		log.Fatalf("gatewaybench: %v", err)
	}
	if o.capSandboxes, err = parseCounts("-capacity-sandboxes", *capSandboxesFlag); err != nil {
		log.Fatalf("gatewaybench: %v", err)
	}
	if o.capFunctions, err = parseCounts("-capacity-functions", *capFunctionsFlag); err != nil {
		log.Fatalf("gatewaybench: %v", err)
	}
	if o.invocations < 3 || o.functions < 3 || o.sandboxes < 1 || o.rounds < 1 || o.workers < 1 || o.capInvocations < 1 {
		log.Fatal("gatewaybench: -invocations and -functions must be at least 3 (the fleet mix splits them in thirds), -sandboxes, -rounds, -workers and -capacity-invocations at least 1")
	}
	if runtime.GOOS != "linux" {
		log.Fatal("gatewaybench reads /proc and runs on Linux only")
	}
	for _, ov := range o.overlays {
		path := ov
		if !filepath.IsAbs(path) {
			path = filepath.Join(o.root, path)
		}
		if _, err := os.Stat(path); err != nil {
			log.Fatalf("gatewaybench: -overlay %s: %v (a path relative to -root, %s)", ov, err, o.root)
		}
	}

	if o.out == "" {
		o.out = filepath.Join("testbed", "results", "bench.md")
		if o.push {
			o.out = filepath.Join("testbed", "results", "push.md")
		}
		if o.capacity {
			o.out = filepath.Join("testbed", "results", "capacity.md")
		}
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
	case o.capacity:
		report, err = runCapacity(o)
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

// parseCounts reads a flag of positive numbers separated by commas (-sizes: spans per
// request).
func parseCounts(flagName, s string) ([]int, error) {
	var out []int
	for _, field := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%s: %q is not a positive number", flagName, field)
		}
		out = append(out, n)
	}
	return out, nil
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

// pipeline is one configuration under test: testbed/scenario's Ours or Stock, named for
// the report, with the benchmark's overlays.
type pipeline struct {
	scenario.Pipeline
	short, name string
	configs     []string // the gateway's --config files, under -root
}

// pipelineA is otelcol-lambda's pipeline, also counting the spans of functions without the
// extension with lambda_metrics' sdk_spans, as a user whose fleet has such functions runs
// it: over OTLP, no span counts as one of the receiver's invocation spans.
func pipelineA(o options) pipeline {
	return pipeline{Pipeline: scenario.Ours, short: "A", name: "A: otelcol-lambda",
		configs: scenario.Ours.ConfigPaths(o.root, append([]string{filepath.Join("testbed", "bench", "sdk-spans.yaml")}, o.overlays...)...)}
}

func pipelineB(o options) pipeline {
	return pipeline{Pipeline: scenario.Stock, short: "B", name: "B: stock spanmetrics", configs: scenario.Stock.ConfigPaths(o.root)}
}

// startGateway starts the gateway of cfg; with profiling, an overlay that turns on pprof
// is added (pipeline A's debug-endpoints, or B's own, stockProfiling) and pprof listens on
// the returned address.
func startGateway(o options, cfg harness.GatewayConfig, profiling, stockProfiling bool) (*harness.Gateway, string, error) {
	pprofAddr := ""
	if profiling {
		addrs, err := harness.FreeAddrs(2)
		if err != nil {
			return nil, "", err
		}
		pprofAddr = addrs[0]
		overlay := filepath.Join(o.root, "distribution", "overlays", "debug-endpoints.yaml")
		if stockProfiling {
			overlay = filepath.Join(o.root, "testbed", "bench", "stock-pprof.yaml")
		}
		cfg.Configs = append(cfg.Configs[:len(cfg.Configs):len(cfg.Configs)], overlay)
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
