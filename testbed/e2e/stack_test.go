// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
)

// queryDeadline bounds how long a broken run waits for Prometheus to hold what it must; it
// never judges speed.
const queryDeadline = 90 * time.Second

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	return root
}

// binary is the program the environment variable env names, else path under the
// repository root; `make e2e` builds both that the tests use.
func binary(t *testing.T, env, path string) string {
	t.Helper()
	bin := os.Getenv(env)
	if bin == "" {
		bin = filepath.Join(repoRoot(t), path)
	}
	_, err := os.Stat(bin)
	require.NoError(t, err, "%s is missing: run 'make e2e', which builds it", bin)
	return bin
}

// gatewayBinary is the distribution that `make build` produced.
func gatewayBinary(t *testing.T) string {
	return binary(t, "OTELCOL_LAMBDA_BIN", "_build/otelcol-lambda")
}

// jaegerBinary is the Jaeger v2 that `make e2e` builds (testbed/tools/jaeger).
func jaegerBinary(t *testing.T) string { return binary(t, "JAEGER_BIN", "bin/jaeger") }

// freeAddrs reserves n distinct loopback ports and releases them for the processes to take.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	addrs, err := harness.FreeAddrs(n)
	require.NoError(t, err)
	return addrs
}

// loopbackAddr reserves one free loopback port.
func loopbackAddr(t *testing.T) string {
	t.Helper()
	return freeAddrs(t, 1)[0]
}

// stack is the whole stack as `make run` starts it (harness.Stack: distribution/run.sh),
// for tests that read its Prometheus.
type stack struct{ *harness.Stack }

// startStack starts the stack with the gateway flushing every second, and env. It is
// stopped when the test ends.
func startStack(t *testing.T, env ...string) stack {
	t.Helper()
	return startStackWith(t, harness.StackConfig{Env: env})
}

// startStackWith starts the stack as cfg says, with the gateway flushing every second.
// When the test fails, the output of the script and the gateway, and the end of the
// Prometheus, Alertmanager and Jaeger logs, are logged.
func startStackWith(t *testing.T, cfg harness.StackConfig) stack {
	t.Helper()
	cfg.Root, cfg.Bin, cfg.RunDir = repoRoot(t), gatewayBinary(t), t.TempDir()
	cfg.Env = append([]string{"OTELCOL_LAMBDA_METRICS_FLUSH_INTERVAL=1s"}, cfg.Env...)
	s, err := harness.StartStack(cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stopping run.sh: %v", err)
		}
		if !t.Failed() {
			return
		}
		t.Logf("run.sh output:\n%s", s.Output.String())
		for _, name := range []string{"prometheus.log", "alertmanager.log", "jaeger.log"} {
			if log, err := os.ReadFile(filepath.Join(s.RunDir, name)); err == nil {
				t.Logf("%s (last 4 KiB):\n%s", name, harness.Tail(string(log), 4096))
			}
		}
	})
	return stack{s}
}

// query runs an instant PromQL query whose result is float samples.
func (s stack) query(ctx context.Context, promql string) ([]harness.Series, error) {
	return queryFloats(ctx, s.Prometheus, promql)
}

// queryFloats runs an instant PromQL query whose result must be float samples.
func queryFloats(ctx context.Context, prom harness.PrometheusAPI, promql string) ([]harness.Series, error) {
	series, err := prom.Query(ctx, promql, time.Time{})
	if err != nil {
		return nil, err
	}
	for _, r := range series {
		if r.Histogram != nil {
			return nil, fmt.Errorf("query %q: %v is a native histogram, not a float sample", promql, r.Labels)
		}
	}
	return series, nil
}

// byLabels renders series as "label=value,...: value" lines keyed on the given labels, so
// that a whole result compares in one assertion and a failure shows the difference.
func byLabels(series []harness.Series, keys ...string) map[string]float64 {
	out := make(map[string]float64, len(series))
	for _, s := range series {
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, k+"="+s.Labels[k])
		}
		out[strings.Join(parts, ",")] = s.Value
	}
	return out
}

// equalWithin says whether got has exactly want's keys, each value within
// tolerance(wanted value) of the wanted one.
func equalWithin(got, want map[string]float64, tolerance func(want float64) float64) bool {
	if len(got) != len(want) {
		return false
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok || math.Abs(g-w) > tolerance(w) {
			return false
		}
	}
	return true
}

// eventually polls promql until the series, keyed by keys, equal want exactly.
func (s stack) eventually(t *testing.T, promql string, want map[string]float64, keys ...string) {
	t.Helper()
	s.eventuallyWithin(t, promql, want, 0, keys...)
}

// eventuallyWithin polls promql until each series, keyed by keys, is within tolerance of
// want.
func (s stack) eventuallyWithin(t *testing.T, promql string, want map[string]float64, tolerance float64, keys ...string) {
	t.Helper()
	s.waitFor(t, queryDeadline, promql, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), queryDeadline)
		defer cancel()
		series, err := s.query(ctx, promql)
		if err != nil {
			return false, fmt.Sprintf("want %v (±%g), last error: %v", sorted(want), tolerance, err)
		}
		got := byLabels(series, keys...)
		return equalWithin(got, want, func(float64) float64 { return tolerance }),
			fmt.Sprintf("\nwant %v (±%g)\ngot  %v", sorted(want), tolerance, sorted(got))
	})
}

// waitFor polls done every half second until it holds, for at most bound, logging its
// progress message every 10 seconds; the test fails with the last message, or when run.sh
// exits meanwhile.
func (s stack) waitFor(t *testing.T, bound time.Duration, what string, done func() (bool, string)) {
	t.Helper()
	began := time.Now()
	deadline := time.After(bound)
	lastLog := began
	for {
		ok, progress := done()
		if ok {
			return
		}
		if time.Since(lastLog) >= 10*time.Second { // when to log, not a check
			t.Logf("waiting %v for %s: %s", time.Since(began).Round(time.Second), what, progress)
			lastLog = time.Now()
		}
		select {
		case <-deadline:
			t.Fatalf("gave up after %v waiting for %s: %s", bound, what, progress)
		case <-s.Done():
			t.Fatalf("run.sh exited while waiting for %s: %v", what, s.Err())
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

// formatSeries lists series with all their labels, `{name="value",...} value`, sorted,
// for failure messages.
func formatSeries(series []harness.Series) []string {
	lines := make([]string, 0, len(series))
	for _, s := range series {
		labels := make([]string, 0, len(s.Labels))
		for k, v := range s.Labels {
			labels = append(labels, k+"="+strconv.Quote(v))
		}
		sort.Strings(labels)
		lines = append(lines, fmt.Sprintf("{%s} %v", strings.Join(labels, ","), s.Value))
	}
	sort.Strings(lines)
	return lines
}

// exemplars returns the exemplars Prometheus holds for the series promql selects, over the
// last hour.
func exemplars(t *testing.T, prom harness.PrometheusAPI, promql string) []harness.Exemplar {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), queryDeadline)
	defer cancel()
	es, err := prom.Exemplars(ctx, promql, time.Now().Add(-time.Hour), time.Now().Add(time.Minute))
	require.NoError(t, err)
	return es
}

// traceIDs returns the distinct trace ids of exemplars, sorted.
func traceIDs(exemplars []harness.Exemplar) []string {
	ids := make([]string, 0, len(exemplars))
	for _, e := range exemplars {
		ids = append(ids, e.Labels["trace_id"])
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// telemetrySums reads the gateway's own metric name (name or name_total) from its
// telemetry endpoint and sums it by the value of label; an empty label sums every series
// under "". No key means no such metric.
func telemetrySums(ctx context.Context, addrs harness.GatewayAddrs, name, label string) (map[string]float64, error) {
	families, err := addrs.ReadTelemetry(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.Name != name && f.Name != name+"_total" {
			continue
		}
		for _, m := range f.Metrics {
			key := ""
			for _, l := range m.Labels {
				if l.Name == label {
					key = l.Value
				}
			}
			out[key] += m.Value
		}
	}
	return out, nil
}

// post sends one HTTP request to the gateway and returns its status code.
func post(t *testing.T, url, contentType string, body []byte) int {
	t.Helper()
	resp, err := http.Post(url, contentType, bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	return resp.StatusCode
}

// testGateway is a gateway process of the built distribution, which a test may restart. It
// is stopped when the test ends, and when the test failed the output of each of its
// processes is logged.
type testGateway struct {
	addrs harness.GatewayAddrs // the same across restarts
	url   string

	mu sync.Mutex // a restart replaces the process
	gw *harness.Gateway
}

// startGateway starts the built gateway with distribution/config.yaml and then cfg.Configs.
func startGateway(t *testing.T, cfg harness.GatewayConfig) *testGateway {
	t.Helper()
	cfg.Bin = gatewayBinary(t)
	cfg.Configs = append([]string{filepath.Join(repoRoot(t), "distribution", "config.yaml")}, cfg.Configs...)
	gw, err := harness.StartGateway(cfg)
	require.NoError(t, err)
	g := &testGateway{addrs: gw.Addrs, url: gw.URL, gw: gw}
	t.Cleanup(func() {
		gw := g.current()
		if err := gw.Stop(); err != nil {
			t.Errorf("stopping the gateway: %v", err)
		}
		if t.Failed() {
			for k, out := range gw.Outputs() {
				t.Logf("gateway process %d output (last 4 KiB):\n%s", k+1, harness.Tail(out, 4096))
			}
		}
	})
	return g
}

// startGatewayWithPrometheus starts a Prometheus of the test's own and the built gateway
// writing straight to it, flushing every second, as replica orders-gateway-0: for tests
// that restart the gateway while the load goes on.
func startGatewayWithPrometheus(t *testing.T) (*testGateway, harness.PrometheusAPI) {
	t.Helper()
	prom, err := harness.StartPrometheus("")
	require.NoError(t, err)
	t.Cleanup(func() { _ = prom.Stop() })
	gw := startGateway(t, harness.GatewayConfig{RemoteWrite: prom.WriteURL(), InstanceID: "orders-gateway-0", Flush: time.Second})
	return gw, prom.PrometheusAPI
}

// current is the gateway's running process.
func (g *testGateway) current() *harness.Gateway {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.gw
}

// restart stops the gateway gracefully (SIGTERM: it drains its pipelines), unless it was
// killed, and starts it again on the same addresses with the same replica id and storage.
func (g *testGateway) restart() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.gw.Stop(); err != nil {
		return fmt.Errorf("stopping the gateway (SIGTERM): %w", err)
	}
	next, err := g.gw.Restart()
	if err != nil {
		return fmt.Errorf("starting the gateway again on the same addresses: %w", err)
	}
	g.gw = next
	return nil
}

// kill kills the gateway as a crash would (SIGKILL); restart starts it again.
func (g *testGateway) kill() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gw.Kill()
}
