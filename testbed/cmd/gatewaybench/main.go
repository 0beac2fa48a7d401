// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Command gatewaybench measures the otelcol-lambda gateway against the stock Collector
// pipeline (otlp -> batch -> spanmetrics -> prometheusremotewrite, same release) on the same
// load, one after the other in one run, and writes a markdown report.
//
// Each gateway is a real process of the built distribution, writing to a validating
// remote-write sink (testbed/rwsink) that checks every invocation was counted exactly once.
// CPU is the process's own user+system time (/proc), memory its RSS. The floors, decoding
// the same payloads and nothing else, are measured in this process on one core.
package main // import "github.com/otelcol-lambda/otelcol-lambda/testbed/cmd/gatewaybench"

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/rwsink"
)

type options struct {
	bin          string
	root         string
	out          string
	spans        int
	invocations  int
	functions    int
	workers      int
	rounds       int
	probes       int
	flush        time.Duration
	drainTimeout time.Duration
	// profileDir, when set, gets a CPU profile of each gateway under the span load.
	profileDir string
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "_build/otelcol-lambda", "the built distribution")
	flag.StringVar(&o.root, "root", ".", "the repository root (for the configurations)")
	flag.StringVar(&o.out, "out", "testbed/results/bench.md", "where to write the report")
	flag.IntVar(&o.spans, "spans", 200_000, "OTLP invocation spans per pipeline and round")
	flag.IntVar(&o.invocations, "invocations", 100_000, "invocations sent as Telemetry API batches (otelcol-lambda only)")
	flag.IntVar(&o.functions, "functions", 20, "distinct functions in the load")
	flag.IntVar(&o.workers, "workers", 4, "concurrent senders")
	flag.IntVar(&o.rounds, "rounds", 2, "rounds of A then B; the report gives the median")
	flag.IntVar(&o.probes, "probes", 4, "freshness probes per pipeline")
	flag.DurationVar(&o.flush, "flush", 2*time.Second, "metrics flush interval of both pipelines")
	flag.DurationVar(&o.drainTimeout, "drain-timeout", 2*time.Minute, "how long to wait for the sink to hold every count")
	flag.StringVar(&o.profileDir, "profile-dir", "", "write a CPU profile of each gateway under load here (adds pprof, costs a little CPU)")
	flag.Parse()
	log.SetFlags(log.Ltime)
	if err := run(o); err != nil {
		log.Fatalf("gatewaybench: %v", err)
	}
}

// pipeline is one configuration under test.
type pipeline struct {
	name    string
	configs []string
	// count is the metric that counts invocations, and label the one naming the function.
	count, label string
}

// result is what one round measured for one pipeline.
type result struct {
	spanCPU, invocationCPU time.Duration // process CPU for the load, drained
	spansCounted           float64
	// sandboxCounted is what one function's spans from sandboxSpans/spansPerRequest
	// sandboxes, each with its own resource, counted to.
	sandboxCounted     float64
	invocationsCounted float64
	rssPeak, rssSteady int64
	freshness          []time.Duration
}

func run(o options) error {
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("no gateway binary at %s: run 'make build' first", bin)
	}
	pipelines := []pipeline{
		{name: "A: otelcol-lambda", configs: []string{filepath.Join(o.root, "distribution", "config.yaml")},
			count: "faas_invocations_total", label: "faas_name"},
		{name: "B: stock spanmetrics", configs: []string{filepath.Join(o.root, "testbed", "bench", "stock-pipeline.yaml")},
			count: "traces_span_metrics_calls_total", label: "service_name"},
	}

	log.Printf("preparing the load: %d OTLP spans, %d invocations as Telemetry API batches, %d functions", o.spans, o.invocations, o.functions)
	results := make([][]result, len(pipelines))
	for round := 1; round <= o.rounds; round++ {
		for i, p := range pipelines {
			log.Printf("round %d/%d: %s", round, o.rounds, p.name)
			r, err := measure(o, bin, p, i == 0, fmt.Sprintf("r%d", round))
			if err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			results[i] = append(results[i], r)
		}
	}
	log.Printf("measuring the floors")
	f := measureFloors(o)
	report := render(o, pipelines, results, f)
	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(o.out, []byte(report), 0o644); err != nil {
		return err
	}
	log.Printf("wrote %s", o.out)
	fmt.Print(report)
	return nil
}

// measure starts one gateway, sends the load, waits until the sink holds every count, and
// reads the process's CPU and memory.
func measure(o options, bin string, p pipeline, telemetry bool, runID string) (result, error) {
	var r result
	sink := rwsink.New()
	sinkLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return r, err
	}
	sinkSrv := &http.Server{Handler: sink, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = sinkSrv.Serve(sinkLn) }()
	defer sinkSrv.Close()

	configs := p.configs
	if o.profileDir != "" {
		configs = append(slices.Clone(configs), filepath.Join(o.root, "distribution", "overlays", "debug-endpoints.yaml"))
	}
	gw, err := startGateway(bin, configs, "http://"+sinkLn.Addr().String()+"/api/v1/write", o.flush)
	if err != nil {
		return r, err
	}
	defer gw.stop()

	// Warm up with the functions of the load: connections, buffers, the first series, and
	// what lambda_correlation learns of the functions (they send no spans of their own, so
	// after a window their invocation spans are no longer held), as in a gateway that has
	// been running.
	warmSpans := o.functions * spansPerRequest // one request of every function
	if err := sendAndCount(gw, sink, p, o, runID, otlpRequests(warmSpans, o.functions, runID, "warm", false), nil, warmSpans); err != nil {
		return r, fmt.Errorf("warm-up: %w", err)
	}

	spans := otlpRequests(o.spans, o.functions, runID, "load", false)
	cpu0, err := gw.cpu()
	if err != nil {
		return r, err
	}
	profiled := make(chan error, 1)
	if o.profileDir != "" {
		go func() { profiled <- gw.profile(filepath.Join(o.profileDir, strings.Fields(p.name)[0]+runID+".pprof")) }()
	} else {
		profiled <- nil
	}
	if err := sendAndCount(gw, sink, p, o, runID, spans, nil, warmSpans+o.spans); err != nil {
		return r, err
	}
	if err := <-profiled; err != nil {
		return r, err
	}
	cpu1, err := gw.cpu()
	if err != nil {
		return r, err
	}
	r.spanCPU = cpu1 - cpu0
	r.spansCounted = countOf(sink, p, runID) - float64(warmSpans)

	if telemetry {
		tapi := runID + "-tapi"
		warmInvocations := o.functions * invocationsPerBatch // one batch of every function
		warm := telemetryBatches(warmInvocations, o.functions, tapi, "warm")
		if err := sendAndCount(gw, sink, p, o, tapi, bodies(warm), batchHeaders(warm), warmInvocations); err != nil {
			return r, fmt.Errorf("telemetry warm-up: %w", err)
		}
		batches := telemetryBatches(o.invocations, o.functions, tapi, "load")
		cpu0, err := gw.cpu()
		if err != nil {
			return r, err
		}
		if err := sendAndCount(gw, sink, p, o, tapi, bodies(batches), batchHeaders(batches), warmInvocations+o.invocations); err != nil {
			return r, err
		}
		cpu1, err := gw.cpu()
		if err != nil {
			return r, err
		}
		r.invocationCPU = cpu1 - cpu0
		r.invocationsCounted = countOf(sink, p, tapi) - float64(warmInvocations)
	}

	// Many sandboxes of one function, each with its own resource: do their counts add up?
	// The stock pipeline never gets there: wait a window and a few flushes at most.
	sandboxes := otlpRequests(sandboxSpans, 1, runID+"-sb", "load", true)
	if _, err := send(gw.url+"/v1/traces", "application/x-protobuf", nil, sandboxes, o.workers); err != nil {
		return r, err
	}
	for deadline := time.Now().Add(4 * o.flush); time.Now().Before(deadline) && countOf(sink, p, runID+"-sb") < sandboxSpans; {
		time.Sleep(50 * time.Millisecond)
	}
	r.sandboxCounted = countOf(sink, p, runID+"-sb")

	r.rssSteady, r.rssPeak, err = gw.memory()
	if err != nil {
		return r, err
	}
	for i := range o.probes {
		// Spread the probes over the flush cycle.
		time.Sleep(time.Duration(i) * o.flush / time.Duration(o.probes))
		d, err := probe(gw, sink, p, runID, fmt.Sprintf("probe%d", i), o)
		if err != nil {
			return r, err
		}
		r.freshness = append(r.freshness, d)
	}
	if total, failed := sink.Requests(); failed > 0 {
		return r, fmt.Errorf("%d of %d remote writes did not decode", failed, total)
	}
	return r, nil
}

// sandboxSpans is the load of the per-sandbox resources check.
const sandboxSpans = 2000

// countOf sums the invocation counter over the run's functions.
func countOf(sink *rwsink.Sink, p pipeline, runID string) float64 {
	var total float64
	for _, s := range sink.Find(p.count, nil) {
		if strings.HasPrefix(s.Labels[p.label], runID+"-fn") {
			total += s.Value
		}
	}
	return total
}

func waitForCount(sink *rwsink.Sink, p pipeline, runID string, want float64, o options) error {
	deadline := time.Now().Add(o.drainTimeout)
	for {
		got := countOf(sink, p, runID)
		if got == want {
			return nil
		}
		if got > want {
			return fmt.Errorf("counted %v, more than the %v sent", got, want)
		}
		if time.Now().After(deadline) {
			var seen []string
			for _, ser := range sink.Find(p.count, nil) {
				if strings.HasPrefix(ser.Labels[p.label], runID+"-fn") {
					seen = append(seen, fmt.Sprintf("%v=%v", ser.Labels, ser.Value))
				}
			}
			return fmt.Errorf("counted %v of %v after %s; series: %s", got, want, o.drainTimeout, strings.Join(seen, "; "))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// probe sends one invocation of a function of the load and times how long it takes to be
// counted in the sink.
func probe(gw *gateway, sink *rwsink.Sink, p pipeline, runID, batchID string, o options) (time.Duration, error) {
	before := countOf(sink, p, runID)
	req := otlpRequests(1, 1, runID, batchID, false)
	sent := time.Now()
	if _, err := send(gw.url+"/v1/traces", "application/x-protobuf", nil, req, 1); err != nil {
		return 0, err
	}
	if err := waitForCount(sink, p, runID, before+1, o); err != nil {
		return 0, err
	}
	return time.Since(sent), nil
}

// sendAndCount sends the bodies and waits until the sink counts want invocations of the
// run's functions.
func sendAndCount(gw *gateway, sink *rwsink.Sink, p pipeline, o options, runID string, bodies [][]byte, headers []http.Header, want int) error {
	url, contentType := gw.url+"/v1/traces", "application/x-protobuf"
	if headers != nil {
		url, contentType = gw.url+"/v1/lambda/telemetry", "application/json"
	}
	if _, err := send(url, contentType, headers, bodies, o.workers); err != nil {
		return err
	}
	return waitForCount(sink, p, runID, float64(want), o)
}

// send posts every body, retrying a refusal (429/503) so that nothing is dropped on the
// client side; it returns how many refusals it retried.
func send(url, contentType string, headers []http.Header, bodies [][]byte, workers int) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}, Timeout: 30 * time.Second}
	next := make(chan int)
	errs := make(chan error, workers)
	retried := make(chan int, workers)
	for range workers {
		go func() {
			n := 0
			for i := range next {
				for attempt := 0; ; attempt++ {
					req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(bodies[i]))
					if err != nil {
						errs <- err
						return
					}
					req.Header.Set("Content-Type", contentType)
					if headers != nil {
						for k, v := range headers[i] {
							req.Header[k] = v
						}
					}
					resp, err := client.Do(req)
					if err != nil {
						errs <- err
						return
					}
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						break
					}
					if (resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests) && attempt < 100 {
						n++
						time.Sleep(50 * time.Millisecond)
						continue
					}
					errs <- fmt.Errorf("POST %s: status %d", url, resp.StatusCode)
					return
				}
			}
			retried <- n
			errs <- nil
		}()
	}
	var firstErr error
	go func() {
		defer close(next)
		for i := range bodies {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	total := 0
	for range workers {
		if err := <-errs; err != nil && firstErr == nil {
			firstErr = err
			cancel()
		}
	}
	close(retried)
	for n := range retried {
		total += n
	}
	return total, firstErr
}

// gateway is a running distribution process.
type gateway struct {
	cmd      *exec.Cmd
	url      string
	pprofURL string
	logFile  *os.File
	done     chan error
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func startGateway(bin string, configs []string, remoteWrite string, flush time.Duration) (*gateway, error) {
	addrs := make([]string, 4)
	for i := range addrs {
		a, err := freeAddr()
		if err != nil {
			return nil, err
		}
		addrs[i] = a
	}
	_, telemetryPort, _ := net.SplitHostPort(addrs[3])
	args := []string{}
	for _, c := range configs {
		args = append(args, "--config", c)
	}
	logFile, err := os.CreateTemp("", "gatewaybench-*.log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	pprofAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd.Env = append(os.Environ(),
		"OTELCOL_LAMBDA_PPROF_ENDPOINT="+pprofAddr,
		"OTELCOL_LAMBDA_HTTP_ENDPOINT="+addrs[0],
		"OTELCOL_LAMBDA_GRPC_ENDPOINT="+addrs[1],
		"OTELCOL_LAMBDA_HEALTH_ENDPOINT="+addrs[2],
		"OTELCOL_LAMBDA_TELEMETRY_PORT="+telemetryPort,
		"OTELCOL_LAMBDA_METRICS_FLUSH_INTERVAL="+flush.String(),
		// As documented: lambda_correlation's window at most the flush interval.
		"OTELCOL_LAMBDA_CORRELATION_WINDOW="+flush.String(),
		"OTELCOL_LAMBDA_LOG_LEVEL=warn",
		"PROMETHEUS_REMOTE_WRITE_URL="+remoteWrite,
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	g := &gateway{cmd: cmd, url: "http://" + addrs[0], pprofURL: "http://" + pprofAddr, logFile: logFile, done: make(chan error, 1)}
	go func() { g.done <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addrs[2] + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return g, nil
			}
		}
		select {
		case err := <-g.done:
			out, _ := os.ReadFile(logFile.Name())
			return nil, fmt.Errorf("the gateway exited during start-up (%v):\n%s", err, out)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			g.stop()
			return nil, errors.New("the gateway was not healthy within 60s")
		}
	}
}

func (g *gateway) stop() {
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(20 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.done
	}
	g.logFile.Close()
	os.Remove(g.logFile.Name())
}

// cpu is the process's user+system CPU time so far.
func (g *gateway) cpu() (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", g.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticksPerSecond, nil
}

// memory returns the process's resident set now and at its peak, in bytes.
func (g *gateway) memory() (rss, peak int64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", g.cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(fields[1], 10, 64)
		switch fields[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			peak = kb << 10
		}
	}
	return rss, peak, nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func init() {
	if runtime.GOOS != "linux" {
		log.Fatal("gatewaybench reads /proc and runs on Linux only")
	}
}

// profile writes a 2-second CPU profile of the gateway (with the debug-endpoints overlay).
func (g *gateway) profile(path string) error {
	resp, err := http.Get(g.pprofURL + "/debug/pprof/profile?seconds=2")
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
