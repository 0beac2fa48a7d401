// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Command extbench measures what a Lambda extension costs a function, by running the
// extension binary given by path as a real process under testbed/lambdaemu, with the
// harness acting as the function's runtime and as the gateway:
//
//   - cold start: the init duration with and without the extension (the difference is the
//     added init) and the time from spawning the extension to its first /event/next;
//   - per flush strategy, over many invocations: the function's response latency with and
//     without the extension (the difference is the added latency), the billed
//     post-runtime time (from the runtime's next to the extension's next), and the
//     extension's RSS from /proc (testbed/harness.ProcessMemory);
//   - the binary's size, and the layer zip's when given.
//
// Any extension can be measured: the harness sets OTELCOL_LAMBDA_* for ours (harmless to
// others) and passes -env for the rest. Everything runs on loopback.
//
//	go run ./testbed/cmd/extbench -extension layer/build/x86_64/extensions/otelcol-lambda-extension \
//	    -zip layer/build/otelcol-lambda-extension-x86_64.zip
package main // import "github.com/otelcol-lambda/otelcol-lambda/testbed/cmd/extbench"

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/lambdaemu"
)

type options struct {
	extension   string
	zip         string
	env         []string
	strategies  []string
	invocations int
	coldStarts  int
	work        time.Duration
	gap         time.Duration
	logLines    int
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	var o options
	var env multiFlag
	var strategies string
	flag.StringVar(&o.extension, "extension", "", "path of the extension binary to measure (required)")
	flag.StringVar(&o.zip, "zip", "", "path of its layer zip, to report its size")
	flag.Var(&env, "env", "KEY=value for the extension (repeatable)")
	flag.StringVar(&strategies, "flush", "end;periodically,10000;end,periodically,1000;adaptive",
		"OTELCOL_LAMBDA_FLUSH values to measure, separated by ';' (empty: one run without it)")
	flag.IntVar(&o.invocations, "invocations", 1000, "invocations per run")
	flag.IntVar(&o.coldStarts, "coldstarts", 20, "cold starts to measure")
	flag.DurationVar(&o.work, "work", 0, "time the simulated function spends per invocation")
	flag.DurationVar(&o.gap, "gap", 0, "pause between invocations")
	flag.IntVar(&o.logLines, "log-lines", 1, "function log lines per invocation")
	flag.Parse()
	if os.Getenv(envServeGateway) != "" {
		runGateway()
		return
	}
	if o.extension == "" {
		flag.Usage()
		os.Exit(2)
	}
	o.env = env
	o.strategies = strings.Split(strategies, ";")
	if err := run(os.Stdout, o); err != nil {
		fmt.Fprintln(os.Stderr, "extbench:", err)
		os.Exit(1)
	}
}

// envServeGateway makes the process the gateway (the harness re-executes itself).
const envServeGateway = "EXTBENCH_SERVE_GATEWAY"

// runGateway serves a gateway that accepts everything, as a healthy otelcol-lambda
// gateway does, until stdin closes. It runs in a process of its own, so that its work
// (and its garbage collection) does not land on the measured function's runtime, which
// runs in the harness's process. A stand-in rather than the real gateway, whose own CPU and
// start-up would land in what extbench measures; testbed/gatewaytest keeps every request
// it gets, which a run of many invocations does not need.
func runGateway() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	fmt.Println(srv.URL)
	_, _ = io.Copy(io.Discard, os.Stdin)
	srv.Close()
}

// gateway is the gateway process.
type gateway struct {
	URL   string
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

func startGateway() (*gateway, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), envServeGateway+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("the gateway process did not start: %w", err)
	}
	return &gateway{URL: strings.TrimSpace(line), cmd: cmd, stdin: stdin}, nil
}

func (g *gateway) Close() {
	_ = g.stdin.Close()
	_ = g.cmd.Wait()
}

func run(out io.Writer, o options) error {
	path, err := filepath.Abs(o.extension)
	if err != nil {
		return err
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	gw, err := startGateway()
	if err != nil {
		return err
	}
	defer gw.Close()
	baseEnv := []string{
		"OTELCOL_LAMBDA_ENDPOINT=" + gw.URL,
		"OTELCOL_LAMBDA_LISTENER_HOST=127.0.0.1",
		"OTELCOL_LAMBDA_OTLP_HTTP_ENDPOINT=127.0.0.1:0",
		"OTELCOL_LAMBDA_PUSHGATEWAY_ENDPOINT=127.0.0.1:0",
	}
	env := append(baseEnv, o.env...)

	fmt.Fprintf(out, "extension: %s\n", path)
	fmt.Fprintf(out, "binary size: %d bytes (%.1f MiB)\n", info.Size(), float64(info.Size())/(1<<20))
	if o.zip != "" {
		zi, err := os.Stat(o.zip)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "zip size: %d bytes (%.1f MiB)\n", zi.Size(), float64(zi.Size())/(1<<20))
	}
	fmt.Fprintf(out, "machine: %s/%s, %d CPUs, %s\n\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())

	// Cold starts.
	var baseInit, extInit, firstNext []time.Duration
	for range o.coldStarts {
		d, _, err := coldStart(nil)
		if err != nil {
			return err
		}
		baseInit = append(baseInit, d)
		d, spawnToNext, err := coldStart(&lambdaemu.ExtensionSpec{Path: path, Env: env})
		if err != nil {
			return err
		}
		extInit = append(extInit, d)
		firstNext = append(firstNext, spawnToNext)
	}
	fmt.Fprintf(out, "## Cold start (%d cold starts each)\n\n", o.coldStarts)
	fmt.Fprintln(out, "| | p50 | p99 | max |")
	fmt.Fprintln(out, "|---|---|---|---|")
	row(out, "init duration without extension", baseInit)
	row(out, "init duration with extension", extInit)
	row(out, "spawn -> first /event/next", firstNext)
	fmt.Fprintf(out, "| added init (p50 with - p50 without) | %s | %s | |\n\n",
		ms(pct(extInit, 50)-pct(baseInit, 50)), ms(pct(extInit, 99)-pct(baseInit, 99)))

	// Invocations. A sandbox that sits idle between invocations wakes up slower (the
	// scheduler parks threads, CPUs drop into idle states), so each run is compared with a
	// run without extension whose idle time between invocations is the same: back to back
	// for strategies that call next at once, the run's post-runtime p50 otherwise.
	baselines := map[time.Duration]runResult{}
	baseline := func(idle time.Duration) (runResult, error) {
		if r, ok := baselines[idle]; ok {
			return r, nil
		}
		oo := o
		oo.gap = o.gap + idle
		r, err := invocations(oo, nil)
		if err == nil {
			baselines[idle] = r
		}
		return r, err
	}
	if _, err := baseline(0); err != nil {
		return err
	}
	fmt.Fprintf(out, "## Invocations (%d per run, function work %s, gap %s, %d log line(s) each)\n\n", o.invocations, o.work, o.gap, o.logLines)
	fmt.Fprintln(out, "| run | idle between invocations | response p50 | response p99 | added p50 | added p99 | post-runtime p50 | post-runtime p99 | post-runtime max | RSS end | RSS peak | shutdown |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|---|---|---|---|")
	var lines []string
	for _, strategy := range o.strategies {
		runEnv := env
		name := "default"
		if strategy = strings.TrimSpace(strategy); strategy != "" {
			runEnv = append(append([]string(nil), env...), "OTELCOL_LAMBDA_FLUSH="+strategy)
			name = "flush " + strategy
		}
		r, err := invocations(o, &lambdaemu.ExtensionSpec{Path: path, Env: runEnv})
		if err != nil {
			return err
		}
		idle := pct(r.post, 50).Round(time.Millisecond)
		base, err := baseline(idle)
		if err != nil {
			return err
		}
		lines = append(lines, fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %.1f MiB | %.1f MiB | %s |", name, ms(o.gap+idle),
			ms(pct(r.latency, 50)), ms(pct(r.latency, 99)),
			ms(pct(r.latency, 50)-pct(base.latency, 50)), ms(pct(r.latency, 99)-pct(base.latency, 99)),
			ms(pct(r.post, 50)), ms(pct(r.post, 99)), ms(pct(r.post, 100)),
			float64(r.rss)/(1<<20), float64(r.peak)/(1<<20), ms(r.shutdown)))
	}
	idles := make([]time.Duration, 0, len(baselines))
	for idle := range baselines {
		idles = append(idles, idle)
	}
	sort.Slice(idles, func(a, b int) bool { return idles[a] < idles[b] })
	for _, idle := range idles {
		b := baselines[idle]
		fmt.Fprintf(out, "| no extension | %s | %s | %s | | | %s | %s | %s | | | |\n", ms(o.gap+idle),
			ms(pct(b.latency, 50)), ms(pct(b.latency, 99)), ms(pct(b.post, 50)), ms(pct(b.post, 99)), ms(pct(b.post, 100)))
	}
	for _, l := range lines {
		fmt.Fprintln(out, l)
	}
	return nil
}

// coldStart measures one init; with ext nil, the sandbox has no extension.
func coldStart(ext *lambdaemu.ExtensionSpec) (initDuration, spawnToNext time.Duration, err error) {
	cfg := lambdaemu.Config{Runtime: lambdaemu.HandlerRuntime(func(context.Context, lambdaemu.Invocation) ([]byte, error) { return nil, nil })}
	if ext != nil {
		cfg.Extensions = []lambdaemu.ExtensionSpec{*ext}
	}
	emu, err := lambdaemu.New(cfg)
	if err != nil {
		return 0, 0, err
	}
	defer emu.Close()
	res, err := emu.Start(context.Background())
	if err != nil {
		return 0, 0, fmt.Errorf("%w\n%s", err, strings.Join(emu.ExtensionLogs(), "\n"))
	}
	if ext != nil {
		if len(res.Extensions) != 1 {
			return 0, 0, fmt.Errorf("the extension did not register")
		}
		spawnToNext = res.Extensions[0].FirstNext.Sub(res.Extensions[0].Spawned)
	}
	if _, err := emu.Shutdown(context.Background(), lambdaemu.ShutdownSpindown); err != nil {
		return 0, 0, err
	}
	return res.Duration, spawnToNext, nil
}

type runResult struct {
	latency, post []time.Duration
	rss, peak     int64
	shutdown      time.Duration
}

func invocations(o options, ext *lambdaemu.ExtensionSpec) (runResult, error) {
	var emu *lambdaemu.Emulator
	handler := func(context.Context, lambdaemu.Invocation) ([]byte, error) {
		for range o.logLines {
			emu.FunctionLog(`{"level":"INFO","message":"order processed"}`)
		}
		if o.work > 0 {
			time.Sleep(o.work)
		}
		return []byte(`{"ok":true}`), nil
	}
	cfg := lambdaemu.Config{
		Runtime: lambdaemu.HandlerRuntime(handler), Timeout: 30 * time.Second, FreezeProcesses: true,
	}
	if ext != nil {
		cfg.Extensions = []lambdaemu.ExtensionSpec{*ext}
	}
	var err error
	if emu, err = lambdaemu.New(cfg); err != nil {
		return runResult{}, err
	}
	defer emu.Close()
	initRes, err := emu.Start(context.Background())
	if err != nil {
		return runResult{}, fmt.Errorf("%w\n%s", err, strings.Join(emu.ExtensionLogs(), "\n"))
	}
	var r runResult
	for range o.invocations {
		res, err := emu.Invoke(context.Background(), lambdaemu.InvokeRequest{Payload: []byte(`{"order":42}`)})
		if err != nil {
			return runResult{}, err
		}
		if res.Status != "success" {
			return runResult{}, fmt.Errorf("invocation %s: %s %s", res.RequestID, res.Status, res.ErrorType)
		}
		r.latency = append(r.latency, res.ResponseLatency)
		r.post = append(r.post, res.PostRuntime)
		if o.gap > 0 {
			time.Sleep(o.gap)
		}
	}
	if ext != nil && len(initRes.Extensions) == 1 {
		// The process is frozen (SIGSTOP) between invocations; /proc still reads.
		r.rss, r.peak, _ = harness.ProcessMemory(initRes.Extensions[0].PID)
	}
	sr, err := emu.Shutdown(context.Background(), lambdaemu.ShutdownSpindown)
	if err != nil {
		return runResult{}, err
	}
	for _, e := range sr.Extensions {
		r.shutdown = max(r.shutdown, e.After)
		if e.Killed {
			return runResult{}, fmt.Errorf("the extension was killed at the shutdown deadline")
		}
	}
	return r, nil
}

func row(out io.Writer, name string, d []time.Duration) {
	fmt.Fprintf(out, "| %s | %s | %s | %s |\n", name, ms(pct(d, 50)), ms(pct(d, 99)), ms(pct(d, 100)))
}

// pct returns the p-th percentile (nearest rank).
func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(a, b int) bool { return s[a] < s[b] })
	idx := int(p/100*float64(len(s))+0.5) - 1
	return s[min(max(idx, 0), len(s)-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d.Microseconds())/1000) }
