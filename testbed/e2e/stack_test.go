// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
)

// Deadlines for things that must happen; they bound how long a broken run hangs and are
// never used to judge speed.
const (
	readyDeadline = 90 * time.Second
	queryDeadline = 90 * time.Second
	stopDeadline  = 30 * time.Second
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	return root
}

// gatewayBinary is the distribution that `make build` produced.
func gatewayBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("OTELCOL_LAMBDA_BIN")
	if bin == "" {
		bin = filepath.Join(repoRoot(t), "_build", "otelcol-lambda")
	}
	_, err := os.Stat(bin)
	require.NoError(t, err, "the gateway binary is missing: run 'make e2e', which builds it")
	return bin
}

// freeAddrs reserves n distinct loopback ports and releases them for the processes to take.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	addrs, err := harness.FreeAddrs(n)
	require.NoError(t, err)
	return addrs
}

// stack is a gateway and a Prometheus started by distribution/run.sh.
type stack struct {
	httpAddr, grpcAddr, healthAddr, telemetryAddr string
	prometheusURL                                 string
	runDir                                        string

	cmd    *exec.Cmd
	output *harness.LockedBuffer
	done   chan struct{}
	err    error // the script's exit error, once done is closed
}

// startStack runs distribution/run.sh on free loopback ports and waits until it reports
// ready. The processes are stopped (and killed if need be) when the test ends.
func startStack(t *testing.T, extraEnv ...string) *stack {
	t.Helper()
	root := repoRoot(t)
	addrs := freeAddrs(t, 5)
	s := &stack{
		httpAddr:      addrs[0],
		grpcAddr:      addrs[1],
		healthAddr:    addrs[2],
		telemetryAddr: addrs[3],
		prometheusURL: "http://" + addrs[4],
		runDir:        t.TempDir(),
		output:        &harness.LockedBuffer{},
		done:          make(chan struct{}),
	}
	_, telemetryPort, _ := net.SplitHostPort(s.telemetryAddr)
	_, prometheusPort, _ := net.SplitHostPort(addrs[4])

	s.cmd = exec.Command("bash", filepath.Join(root, "distribution", "run.sh"))
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PROMETHEUS_REMOTE_WRITE_URL=") {
			env = append(env, kv)
		}
	}
	s.cmd.Env = append(env,
		"OTELCOL_LAMBDA_BIN="+gatewayBinary(t),
		"OTELCOL_LAMBDA_RUN_DIR="+s.runDir,
		"OTELCOL_LAMBDA_HTTP_ENDPOINT="+s.httpAddr,
		"OTELCOL_LAMBDA_GRPC_ENDPOINT="+s.grpcAddr,
		"OTELCOL_LAMBDA_HEALTH_ENDPOINT="+s.healthAddr,
		"OTELCOL_LAMBDA_TELEMETRY_HOST=127.0.0.1",
		"OTELCOL_LAMBDA_TELEMETRY_PORT="+telemetryPort,
		"PROMETHEUS_PORT="+prometheusPort,
	)
	s.cmd.Env = append(s.cmd.Env, extraEnv...)
	s.cmd.Stdout = s.output
	s.cmd.Stderr = s.output
	// Own process group, so that cleanup can reach the script's children too.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, s.cmd.Start())
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()

	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("run.sh output:\n%s", s.output.String())
			if log, err := os.ReadFile(filepath.Join(s.runDir, "prometheus.log")); err == nil {
				t.Logf("prometheus.log (last 4 KiB):\n%s", harness.Tail(string(log), 4096))
			}
		}
	})

	deadline := time.Now().Add(readyDeadline)
	for !strings.Contains(s.output.String(), "[run] ready.") {
		select {
		case <-s.done:
			t.Fatalf("run.sh exited before it was ready: %v", s.err)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("run.sh not ready within %s", readyDeadline)
		}
	}
	return s
}

// stop asks run.sh to stop as Ctrl-C would, and kills the whole group if it does not.
func (s *stack) stop() error {
	select {
	case <-s.done:
		return s.err
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
		return s.err
	case <-time.After(stopDeadline):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
		return fmt.Errorf("run.sh did not stop within %s and was killed", stopDeadline)
	}
}

// sample is one series of an instant query's result.
type sample struct {
	labels map[string]string
	value  float64
}

// prometheus is the stack's Prometheus, for queries.
func (s *stack) prometheus() *harness.Prometheus { return &harness.Prometheus{URL: s.prometheusURL} }

// query runs an instant PromQL query whose result is float samples.
func (s *stack) query(ctx context.Context, promql string) ([]sample, error) {
	results, err := s.prometheus().Query(ctx, promql, time.Time{})
	if err != nil {
		return nil, err
	}
	out := make([]sample, 0, len(results))
	for _, r := range results {
		if r.Histogram != nil {
			return nil, fmt.Errorf("query %q: %v is a native histogram, not a float sample", promql, r.Labels)
		}
		out = append(out, sample{labels: r.Labels, value: r.Value})
	}
	return out, nil
}

// byLabels renders samples as "label=value,...: value" lines keyed on the given labels, so
// that a whole result compares in one assertion and a failure shows the difference.
func byLabels(samples []sample, keys ...string) map[string]float64 {
	out := make(map[string]float64, len(samples))
	for _, s := range samples {
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, k+"="+s.labels[k])
		}
		out[strings.Join(parts, ",")] = s.value
	}
	return out
}

// restartableGateway is the built gateway (distribution/config.yaml, a flush every second,
// replica id orders-gateway-0) writing straight to a Prometheus of its own, for tests that
// stop it and start it again while the load goes on. When the test fails, the output of
// every gateway process is logged.
type restartableGateway struct {
	prom  *harness.Prometheus
	addrs harness.GatewayAddrs // the same across restarts
	mu    sync.Mutex           // restart replaces the process
	gw    *harness.Gateway
	ended []string // the output of each gateway process that ended
}

func startRestartableGateway(t *testing.T) *restartableGateway {
	t.Helper()
	prom, err := harness.StartPrometheus("")
	require.NoError(t, err)
	t.Cleanup(func() { _ = prom.Stop() })
	gw, err := harness.StartGateway(harness.GatewayConfig{
		Bin:         gatewayBinary(t),
		Configs:     []string{filepath.Join(repoRoot(t), "distribution", "config.yaml")},
		RemoteWrite: prom.WriteURL(),
		InstanceID:  "orders-gateway-0",
		Flush:       time.Second,
	})
	require.NoError(t, err)
	g := &restartableGateway{prom: prom, addrs: gw.Addrs, gw: gw}
	t.Cleanup(func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if err := g.gw.Stop(); err != nil {
			t.Errorf("stopping the gateway: %v", err)
		}
		if t.Failed() {
			for k, out := range append(g.ended, g.gw.Output.String()) {
				t.Logf("gateway process %d output (last 4 KiB):\n%s", k+1, harness.Tail(out, 4096))
			}
		}
	})
	return g
}

// restart stops the gateway gracefully (SIGTERM: it drains its pipelines) and starts it
// again on the same addresses with the same replica id.
func (g *restartableGateway) restart() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	err := g.gw.Stop()
	g.ended = append(g.ended, g.gw.Output.String())
	if err != nil {
		return fmt.Errorf("stopping the gateway (SIGTERM): %w", err)
	}
	next, err := g.gw.Restart()
	if err != nil {
		return fmt.Errorf("starting the gateway again on the same addresses: %w", err)
	}
	g.gw = next
	return nil
}

// eventually polls promql until the series, keyed by keys, equal want exactly.
func (s *stack) eventually(t *testing.T, promql string, want map[string]float64, keys ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), queryDeadline)
	defer cancel()
	var last map[string]float64
	var lastErr error
	for {
		samples, err := s.query(ctx, promql)
		lastErr = err
		if err == nil {
			last = byLabels(samples, keys...)
			if maps.Equal(last, want) {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s\nwant %v\ngot  %v (last error: %v)", promql, sorted(want), sorted(last), lastErr)
		case <-s.done:
			t.Fatalf("run.sh exited while waiting for %s: %v", promql, s.err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func sorted(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, fmt.Sprintf("{%s}: %v", k, v))
	}
	sort.Strings(out)
	return out
}

// post sends one HTTP request to the gateway and returns its status code.
func post(t *testing.T, url, contentType string, body []byte) int {
	t.Helper()
	resp, err := http.Post(url, contentType, bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	return resp.StatusCode
}

// jaegerBinary is the Jaeger v2 that `make e2e` builds (testbed/tools/jaeger).
func jaegerBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("JAEGER_BIN")
	if bin == "" {
		bin = filepath.Join(repoRoot(t), "bin", "jaeger")
	}
	_, err := os.Stat(bin)
	require.NoError(t, err, "the Jaeger binary is missing: run 'make e2e', which builds it")
	return bin
}

// jaeger is a Jaeger v2 with in-memory storage, the real trace store behind the exemplars.
type jaeger struct {
	otlpGRPCAddr string // its OTLP/gRPC receiver
	queryURL     string // its query service's HTTP API
}

// startJaeger runs Jaeger with distribution/jaeger/jaeger.yaml (the configuration that `make
// run JAEGER=1` uses) on free loopback ports and waits until its query API answers. It is
// stopped, and its process group killed if need be, when the test ends.
func startJaeger(t *testing.T) *jaeger {
	t.Helper()
	bin := jaegerBinary(t)
	addrs := freeAddrs(t, 3)
	j := &jaeger{otlpGRPCAddr: addrs[0], queryURL: "http://" + addrs[1]}
	template, err := os.ReadFile(filepath.Join(repoRoot(t), "distribution", "jaeger", "jaeger.yaml"))
	require.NoError(t, err)
	config := strings.NewReplacer("@OTLP_GRPC_ADDR@", addrs[0], "@QUERY_HTTP_ADDR@", addrs[1], "@QUERY_GRPC_ADDR@", addrs[2]).Replace(string(template))
	configFile := filepath.Join(t.TempDir(), "jaeger.yaml")
	require.NoError(t, os.WriteFile(configFile, []byte(config), 0o600))

	output := &harness.LockedBuffer{}
	cmd := exec.Command(bin, "--config", configFile)
	cmd.Stdout, cmd.Stderr = output, output
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(stopDeadline):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
			t.Errorf("jaeger did not stop within %s and was killed", stopDeadline)
		}
		if t.Failed() {
			t.Logf("jaeger output (last 4 KiB):\n%s", harness.Tail(output.String(), 4096))
		}
	})

	deadline := time.Now().Add(readyDeadline)
	for {
		resp, err := http.Get(j.queryURL + "/api/services")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return j
			}
		}
		select {
		case <-done:
			t.Fatalf("jaeger exited during start-up: %v", waitErr)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("jaeger not ready within %s", readyDeadline)
		}
	}
}

// jaegerSpan is a span as Jaeger's HTTP query API (/api/traces/<id>) returns it.
type jaegerSpan struct {
	TraceID       string `json:"traceID"`
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	Tags          []struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	} `json:"tags"`
}

// tag returns the value of the span's tag key, as a string.
func (s jaegerSpan) tag(key string) string {
	for _, tag := range s.Tags {
		if tag.Key == key {
			return fmt.Sprint(tag.Value)
		}
	}
	return ""
}

// trace returns the spans Jaeger holds for traceID; found is false while it holds none.
func (j *jaeger) trace(ctx context.Context, traceID string) (spans []jaegerSpan, found bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.queryURL+"/api/traces/"+traceID, nil)
	if err != nil {
		return nil, false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, false, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, false, fmt.Errorf("GET /api/traces/%s: %s", traceID, resp.Status)
	}
	var body struct {
		Data []struct {
			TraceID string       `json:"traceID"`
			Spans   []jaegerSpan `json:"spans"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, false, fmt.Errorf("decoding trace %s: %w", traceID, err)
	}
	for _, d := range body.Data {
		spans = append(spans, d.Spans...)
	}
	return spans, len(spans) > 0, nil
}
