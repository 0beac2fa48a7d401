// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package harness

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeRoot is a repository root whose distribution/run.sh writes its environment to the
// run directory and then runs the fake gateway (TestMain) in its place.
func fakeRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "distribution"), 0o700))
	script := `env >"$OTELCOL_LAMBDA_RUN_DIR/env"
export HARNESS_FAKE_GATEWAY=1 OTELCOL_LAMBDA_STORAGE_DIR="$OTELCOL_LAMBDA_RUN_DIR"
exec "$OTELCOL_LAMBDA_BIN"
`
	require.NoError(t, os.WriteFile(filepath.Join(root, "distribution", "run.sh"), []byte(script), 0o600))
	return root
}

// envOf reads what fakeRoot's run.sh wrote of its environment.
func envOf(t *testing.T, dir string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "env"))
	require.NoError(t, err)
	env := map[string]string{}
	for line := range strings.SplitSeq(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	return env
}

func TestStackRunsRunShOnFreePortsUntilItsGatewayIsReady(t *testing.T) {
	bin, err := os.Executable()
	require.NoError(t, err)
	t.Setenv("PROMETHEUS_REMOTE_WRITE_URL", "http://127.0.0.1:1/api/v1/write") // must not leak in
	s, err := StartStack(StackConfig{Root: fakeRoot(t), Bin: bin, JaegerBin: "/opt/jaeger", Env: []string{"OTELCOL_LAMBDA_OVERLAYS=a.yaml"}})
	require.NoError(t, err)

	env := envOf(t, s.RunDir)
	assert.Equal(t, s.Addrs.HTTP, env["OTELCOL_LAMBDA_HTTP_ENDPOINT"])
	assert.Equal(t, s.Addrs.Health, env["OTELCOL_LAMBDA_HEALTH_ENDPOINT"])
	assert.Equal(t, "http://127.0.0.1:"+env["PROMETHEUS_PORT"], s.Prometheus.URL)
	assert.Empty(t, env["PROMETHEUS_REMOTE_WRITE_URL"], "run.sh starts its own Prometheus")
	assert.Equal(t, "1", env["OTELCOL_LAMBDA_JAEGER"])
	assert.Equal(t, "/opt/jaeger", env["JAEGER_BIN"])
	assert.Equal(t, "127.0.0.1:"+env["JAEGER_OTLP_GRPC_PORT"], s.JaegerOTLP)
	assert.Equal(t, "http://127.0.0.1:"+env["JAEGER_QUERY_PORT"], s.JaegerURL)
	assert.Equal(t, "a.yaml", env["OTELCOL_LAMBDA_OVERLAYS"])
	seen := map[string]bool{}
	for _, a := range []string{s.Addrs.HTTP, s.Addrs.GRPC, s.Addrs.Health, s.Addrs.Telemetry, s.Prometheus.URL[len("http://"):], s.JaegerOTLP, s.JaegerURL[len("http://"):]} {
		assert.False(t, seen[a], "%s given twice", a)
		seen[a] = true
	}
	resp, err := http.Get("http://" + s.Addrs.Health + "/")
	require.NoError(t, err, "ready means the gateway's health check answers")
	resp.Body.Close()

	require.NoError(t, s.Stop())
	_, err = os.Stat(s.RunDir)
	assert.True(t, os.IsNotExist(err), "a run directory of the stack's own is removed")
}

func TestStackFailsWhenRunShExitsBeforeReady(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "distribution"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(root, "distribution", "run.sh"), []byte("echo no prometheus >&2; exit 1\n"), 0o600))
	bin, err := os.Executable()
	require.NoError(t, err)
	_, err = StartStack(StackConfig{Root: root, Bin: bin, ReadyTimeout: 30 * time.Second})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no prometheus")
}

func TestRestartedGatewayKeepsEachProcessOutput(t *testing.T) {
	g, err := StartGateway(fakeGatewayConfig(t))
	require.NoError(t, err)
	require.NoError(t, g.Stop())
	g2, err := g.Restart()
	require.NoError(t, err)
	require.NoError(t, g2.Stop())
	outputs := g2.Outputs()
	require.Len(t, outputs, 2)
	for _, out := range outputs {
		assert.Contains(t, out, "fake gateway started")
	}
}

func TestReadTelemetryParsesTheGatewaysOwnMetrics(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte("# TYPE otelcol_points_total counter\notelcol_points_total{outcome=\"ok\"} 3\notelcol_points_total{outcome=\"dropped\"} 1\n"))
	}))
	defer srv.Close()
	families, err := GatewayAddrs{Telemetry: strings.TrimPrefix(srv.URL, "http://")}.ReadTelemetry(context.Background())
	require.NoError(t, err)
	require.Len(t, families, 1)
	assert.Equal(t, "otelcol_points_total", families[0].Name)
	assert.Len(t, families[0].Metrics, 2)

	_, err = GatewayAddrs{Telemetry: strings.TrimPrefix(srv.URL, "http://") + "/nothing"}.ReadTelemetry(context.Background())
	assert.Error(t, err)
}

func TestPrometheusAPIReadsExemplarsAndSaysWhyAQueryFailed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/query_exemplars":
			_, _ = w.Write([]byte(`{"status":"success","data":[{"seriesLabels":{"__name__":"x"},"exemplars":[{"labels":{"trace_id":"ab"},"value":"0.25","timestamp":1}]}]}`))
		default:
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"status":"error","errorType":"bad_data","error":"parse error at char 3"}`))
		}
	}))
	defer srv.Close()
	api := PrometheusAPI{URL: srv.URL}
	es, err := api.Exemplars(context.Background(), "x", time.Now().Add(-time.Hour), time.Now())
	require.NoError(t, err)
	assert.Equal(t, []Exemplar{{Labels: map[string]string{"trace_id": "ab"}, Value: 0.25}}, es)
	_, err = api.Query(context.Background(), "x{", time.Time{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "parse error at char 3")
}
