// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Command scenarios runs fleet scenarios against the built gateway (distribution/run.sh
// with distribution/config.yaml) and a validating remote-write sink (testbed/rwsink), on
// free loopback ports. A scenario passes only when the sink's final cumulative
// faas_invocations_total, faas_errors_total (by error_type), faas_timeouts_total and
// faas_coldstarts_total of every function, summed over instance, equal what testbed/loadgen
// generated. The figures go to a markdown report.
package main // import "github.com/otelcol-lambda/otelcol-lambda/testbed/cmd/scenarios"

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/loadgen"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/rwsink"
)

type options struct {
	bin, root, out string
	drain          time.Duration
}

// scenario is one run: a fleet, a send mode, and an optional backend outage.
type scenario struct {
	name, about string
	fleet       loadgen.Config
	rate        float64
	workers     int
	// outageAt and outageFor: the sink answers 503 from outageAt after the load starts.
	outageAt, outageFor time.Duration
}

// result is what a scenario measured.
type result struct {
	s             scenario
	stats         loadgen.Stats
	truth         loadgen.Truth
	mismatches    []string
	sinkRequests  int
	sinkRefused   int64
	converged     time.Duration // load end -> sink exact
	err           error
	batches       int
	functionCount int
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "_build/otelcol-lambda", "the built distribution")
	flag.StringVar(&o.root, "root", ".", "the repository root")
	flag.StringVar(&o.out, "out", "testbed/results/scenarios.md", "where to write the report")
	flag.DurationVar(&o.drain, "drain-timeout", 2*time.Minute, "how long to wait for the sink to hold the ground truth")
	only := flag.String("run", "", "run only the scenario with this name")
	flag.Parse()
	log.SetFlags(log.Ltime)

	mix := loadgen.Mix{ColdStart: 0.01, Error: 0.05, Timeout: 0.02, OOM: 0.005, Retry: 0.5}
	scenarios := []scenario{
		{
			name: "steady-fleet", about: "20 functions x 5 sandboxes, 20,000 invocations at 2,000/s",
			fleet: loadgen.Config{Prefix: "steady", Functions: 20, Sandboxes: 5, Invocations: 20_000, PerBatch: 20, Mix: mix, Seed: 1},
			rate:  2000, workers: 8,
		},
		{
			name: "backend-outage", about: "20 functions x 5 sandboxes, 20,000 invocations at 1,000/s; the backend answers 503 from 5 s to 15 s",
			fleet: loadgen.Config{Prefix: "outage", Functions: 20, Sandboxes: 5, Invocations: 20_000, PerBatch: 20, Mix: mix, Seed: 2},
			rate:  1000, workers: 8, outageAt: 5 * time.Second, outageFor: 10 * time.Second,
		},
	}
	var results []result
	failed := false
	for _, s := range scenarios {
		if *only != "" && s.name != *only {
			continue
		}
		log.Printf("scenario %s: %s", s.name, s.about)
		r := runScenario(o, s)
		if r.err != nil || len(r.mismatches) > 0 {
			failed = true
			log.Printf("scenario %s FAILED: %v %s", s.name, r.err, strings.Join(r.mismatches, "; "))
		} else {
			log.Printf("scenario %s passed: %d invocations exact, sink exact %s after the load", s.name, r.truth.Invocations, r.converged.Round(time.Millisecond))
		}
		results = append(results, r)
	}
	if err := os.WriteFile(o.out, []byte(render(results)), 0o644); err != nil {
		log.Fatalf("scenarios: %v", err)
	}
	log.Printf("wrote %s", o.out)
	if failed {
		os.Exit(1)
	}
}

// outageSink wraps the validating sink with a switch that makes it answer 503.
type outageSink struct {
	sink    *rwsink.Sink
	down    atomic.Bool
	refused atomic.Int64
}

func (o *outageSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if o.down.Load() {
		o.refused.Add(1)
		http.Error(w, "backend outage (scenario)", http.StatusServiceUnavailable)
		return
	}
	o.sink.ServeHTTP(w, r)
}

func runScenario(o options, s scenario) (r result) {
	r.s = s
	fleet, err := loadgen.Generate(s.fleet)
	if err != nil {
		r.err = err
		return r
	}
	r.truth, r.batches, r.functionCount = fleet.Total(), len(fleet.Batches), len(fleet.Truth)

	sink := &outageSink{sink: rwsink.New()}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.err = err
		return r
	}
	srv := &http.Server{Handler: sink, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()

	gw, err := startGateway(o, "http://"+l.Addr().String()+"/api/v1/write")
	if err != nil {
		r.err = err
		return r
	}
	defer func() {
		if err := gw.stop(); err != nil && r.err == nil {
			r.err = err
		}
		if r.err != nil || len(r.mismatches) > 0 {
			log.Printf("run.sh output (last 4 KiB):\n%s", tail(gw.output.String(), 4096))
		}
	}()

	var wg sync.WaitGroup
	stopOutage := make(chan struct{})
	if s.outageFor > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-time.After(s.outageAt):
			case <-stopOutage:
				return
			}
			log.Printf("  backend down for %s", s.outageFor)
			sink.down.Store(true)
			select {
			case <-time.After(s.outageFor):
			case <-stopOutage:
			}
			sink.down.Store(false)
			log.Printf("  backend up again")
		}()
	}
	r.stats, err = loadgen.Send(context.Background(), loadgen.SendConfig{
		URL: gw.url, Workers: s.workers, Rate: s.rate, Timeout: 5 * time.Minute,
	}, fleet.Batches)
	loadEnd := time.Now()
	// The outage lasts its whole length even when the load was quicker.
	if s.outageFor > 0 && r.stats.Duration < s.outageAt {
		close(stopOutage)
	}
	wg.Wait()
	if err != nil {
		r.err = err
		return r
	}
	log.Printf("  sent %d batches (%d invocations) in %s, %d retries", r.stats.Sent, r.stats.AcknowledgedInvocations, r.stats.Duration.Round(time.Millisecond), r.stats.Retried)

	deadline := time.Now().Add(o.drain)
	for {
		r.mismatches = compare(sink.sink, fleet)
		if len(r.mismatches) == 0 {
			r.converged = time.Since(loadEnd)
			break
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	// Exact also a few flushes later: nothing counted twice after convergence.
	if len(r.mismatches) == 0 {
		time.Sleep(3 * time.Second)
		r.mismatches = compare(sink.sink, fleet)
	}
	r.sinkRequests, _ = r.sink(sink.sink)
	r.sinkRefused = sink.refused.Load()
	return r
}

func (r result) sink(s *rwsink.Sink) (int, int) { return s.Requests() }

// compare lists every difference between the sink's final values and the ground truth.
func compare(sink *rwsink.Sink, fleet *loadgen.Fleet) []string {
	var out []string
	check := func(what string, got float64, want int) {
		if got != float64(want) {
			out = append(out, fmt.Sprintf("%s: sink %v, generated %d", what, got, want))
		}
	}
	for _, fn := range fleet.Functions() {
		t := fleet.Truth[fn]
		m := map[string]string{"faas_name": fn}
		check(fn+" faas_invocations_total", sink.Sum("faas_invocations_total", m), t.Invocations)
		check(fn+" faas_timeouts_total", sink.Sum("faas_timeouts_total", m), t.Timeouts)
		check(fn+" faas_coldstarts_total", sink.Sum("faas_coldstarts_total", m), t.ColdStarts)
		got := map[string]float64{}
		for _, s := range sink.Find("faas_errors_total", m) {
			got[s.Labels["error_type"]] += s.Value
		}
		for et, v := range got {
			if v != 0 && t.Errors[et] == 0 {
				out = append(out, fmt.Sprintf("%s faas_errors_total{error_type=%q}: sink %v, generated 0", fn, et, v))
			}
		}
		for et, n := range t.Errors {
			check(fmt.Sprintf("%s faas_errors_total{error_type=%q}", fn, et), got[et], n)
		}
	}
	return out
}

// gateway is distribution/run.sh with the gateway writing to the sink.
type gateway struct {
	url    string
	cmd    *exec.Cmd
	output *lockedBuffer
	done   chan struct{}
	err    error
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func freeAddrs(n int) ([]string, error) {
	ls := make([]net.Listener, n)
	out := make([]string, n)
	for i := range ls {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls[i], out[i] = l, l.Addr().String()
	}
	for _, l := range ls {
		l.Close()
	}
	return out, nil
}

func startGateway(o options, remoteWrite string) (*gateway, error) {
	root, err := filepath.Abs(o.root)
	if err != nil {
		return nil, err
	}
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("no gateway binary (run 'make build'): %w", err)
	}
	addrs, err := freeAddrs(4)
	if err != nil {
		return nil, err
	}
	_, telemetryPort, _ := net.SplitHostPort(addrs[3])
	runDir, err := os.MkdirTemp("", "scenarios-run-*")
	if err != nil {
		return nil, err
	}
	g := &gateway{url: "http://" + addrs[0], output: &lockedBuffer{}, done: make(chan struct{})}
	g.cmd = exec.Command("bash", filepath.Join(root, "distribution", "run.sh"))
	g.cmd.Env = append(os.Environ(),
		"OTELCOL_LAMBDA_BIN="+bin,
		"OTELCOL_LAMBDA_RUN_DIR="+runDir,
		"OTELCOL_LAMBDA_HTTP_ENDPOINT="+addrs[0],
		"OTELCOL_LAMBDA_GRPC_ENDPOINT="+addrs[1],
		"OTELCOL_LAMBDA_HEALTH_ENDPOINT="+addrs[2],
		"OTELCOL_LAMBDA_TELEMETRY_HOST=127.0.0.1",
		"OTELCOL_LAMBDA_TELEMETRY_PORT="+telemetryPort,
		"OTELCOL_LAMBDA_METRICS_FLUSH_INTERVAL=1s",
		"OTELCOL_LAMBDA_CORRELATION_WINDOW=1s",
		"OTELCOL_LAMBDA_LOG_LEVEL=warn",
		"OTELCOL_LAMBDA_JAEGER=",
		"PROMETHEUS_REMOTE_WRITE_URL="+remoteWrite,
	)
	g.cmd.Stdout, g.cmd.Stderr = g.output, g.output
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := g.cmd.Start(); err != nil {
		os.RemoveAll(runDir)
		return nil, err
	}
	go func() {
		g.err = g.cmd.Wait()
		os.RemoveAll(runDir)
		close(g.done)
	}()
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(g.output.String(), "[run] ready.") {
		select {
		case <-g.done:
			return nil, fmt.Errorf("run.sh exited before it was ready (%v):\n%s", g.err, g.output.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = g.stop()
			return nil, errors.New("run.sh not ready within 90s")
		}
	}
	return g, nil
}

// stop asks run.sh to stop as Ctrl-C does, and kills its process group if it does not.
func (g *gateway) stop() error {
	select {
	case <-g.done:
		return nil
	default:
	}
	_ = g.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-g.done:
		return nil
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-g.cmd.Process.Pid, syscall.SIGKILL)
		<-g.done
		return errors.New("run.sh did not stop within 30s and was killed")
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func render(results []result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Fleet scenarios\n\n")
	fmt.Fprintf(&b, "Command: `make scenarios` (`go run ./testbed/cmd/scenarios`), %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "Machine: %s, %d CPUs, %s %s/%s.\n\n", cpuModel(), runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	b.WriteString("The gateway is `_build/otelcol-lambda` started by `distribution/run.sh` with `distribution/config.yaml` " +
		"(flush interval and correlation window 1 s), writing to the validating remote-write sink `testbed/rwsink`, all on loopback. " +
		"The load is `testbed/loadgen`: Telemetry API batches as the extension sends them, with cold starts, errors of four " +
		"error.type classes, timeouts, out-of-memory kills (marked reports) and asynchronous retries (same request id). " +
		"A scenario passes only when the sink's final faas_invocations_total, faas_errors_total by error_type, " +
		"faas_timeouts_total and faas_coldstarts_total of every function, summed over instance, equal the generated counts, " +
		"and still do 3 s later.\n\n")
	for _, r := range results {
		status := "PASS"
		if r.err != nil || len(r.mismatches) > 0 {
			status = "FAIL"
		}
		fmt.Fprintf(&b, "## %s: %s\n\n%s.\n\n", r.s.name, status, r.s.about)
		b.WriteString("| figure | value |\n|---|---|\n")
		row := func(k string, v any) { fmt.Fprintf(&b, "| %s | %v |\n", k, v) }
		row("functions x sandbox slots", fmt.Sprintf("%d x %d", r.s.fleet.Functions, r.s.fleet.Sandboxes))
		row("batches generated / sent / acknowledged", fmt.Sprintf("%d / %d / %d", r.stats.Generated, r.stats.Sent, r.stats.Acknowledged))
		row("requests (retries)", fmt.Sprintf("%d (%d)", r.stats.Attempts, r.stats.Retried))
		row("invocations generated / acknowledged", fmt.Sprintf("%d / %d", r.stats.GeneratedInvocations, r.stats.AcknowledgedInvocations))
		row("errors by error_type", formatErrors(r.truth.Errors))
		row("timeouts / cold starts / OOM (from report) / retried request ids", fmt.Sprintf("%d / %d / %d / %d", r.truth.Timeouts, r.truth.ColdStarts, r.truth.OOMs, r.truth.Retries))
		row("send mode", fmt.Sprintf("rate %.0f invocations/s, %d workers", r.s.rate, r.s.workers))
		row("load duration", r.stats.Duration.Round(time.Millisecond))
		if r.s.outageFor > 0 {
			row("backend outage", fmt.Sprintf("503 from %s for %s; %d remote writes refused", r.s.outageAt, r.s.outageFor, r.sinkRefused))
		}
		row("remote writes received by the sink", r.sinkRequests)
		if r.err == nil && len(r.mismatches) == 0 {
			row("exact", fmt.Sprintf("yes, every series of %d functions; %s after the load ended", r.functionCount, r.converged.Round(100*time.Millisecond)))
		} else {
			row("exact", "no")
		}
		b.WriteString("\n")
		if r.err != nil {
			fmt.Fprintf(&b, "Error: `%v`\n\n", r.err)
		}
		for i, m := range r.mismatches {
			if i == 20 {
				fmt.Fprintf(&b, "- ... %d more\n", len(r.mismatches)-20)
				break
			}
			fmt.Fprintf(&b, "- %s\n", m)
		}
		if len(r.mismatches) > 0 {
			b.WriteString("\n")
		}
	}
	return b.String()
}

func formatErrors(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "model name") {
			if _, v, ok := strings.Cut(line, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return runtime.GOARCH
}
