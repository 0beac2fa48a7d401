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
	// The developer's own settings must not leak in.
	t.Setenv("PROMETHEUS_REMOTE_WRITE_URL", "http://127.0.0.1:1/api/v1/write")
	t.Setenv("ALERTMANAGER_CONFIG", "/home/me/alertmanager.yml")
	t.Setenv("PROMETHEUS_EVALUATION_INTERVAL", "1m")
	s, err := StartStack(StackConfig{Root: fakeRoot(t), Bin: bin, JaegerBin: "/opt/jaeger",
		Env: []string{"OTELCOL_LAMBDA_OVERLAYS=a.yaml", "PROMETHEUS_RULES_DIR=/tmp/rules"}})
	require.NoError(t, err)

	env := envOf(t, s.RunDir)
	assert.Equal(t, s.Addrs.HTTP, env["OTELCOL_LAMBDA_HTTP_ENDPOINT"])
	assert.Equal(t, s.Addrs.Health, env["OTELCOL_LAMBDA_HEALTH_ENDPOINT"])
	assert.Equal(t, "http://127.0.0.1:"+env["PROMETHEUS_PORT"], s.Prometheus.URL)
	assert.Empty(t, env["PROMETHEUS_REMOTE_WRITE_URL"], "run.sh starts its own Prometheus")
	assert.Equal(t, "http://127.0.0.1:"+env["ALERTMANAGER_PORT"], s.Alertmanager.URL)
	assert.Empty(t, env["ALERTMANAGER_CONFIG"], "run.sh's Alertmanager has the shipped configuration")
	assert.Empty(t, env["PROMETHEUS_EVALUATION_INTERVAL"], "run.sh's Prometheus has the shipped evaluation interval")
	assert.Equal(t, "/tmp/rules", env["PROMETHEUS_RULES_DIR"], "the config's Env wins")
	assert.Equal(t, "1", env["OTELCOL_LAMBDA_JAEGER"])
	assert.Equal(t, "/opt/jaeger", env["JAEGER_BIN"])
	assert.Equal(t, "127.0.0.1:"+env["JAEGER_OTLP_GRPC_PORT"], s.JaegerOTLP)
	assert.Equal(t, "http://127.0.0.1:"+env["JAEGER_QUERY_PORT"], s.JaegerURL)
	assert.Equal(t, "a.yaml", env["OTELCOL_LAMBDA_OVERLAYS"])
	seen := map[string]bool{}
	for _, a := range []string{s.Addrs.HTTP, s.Addrs.GRPC, s.Addrs.Health, s.Addrs.Telemetry, s.Prometheus.URL[len("http://"):],
		s.Alertmanager.URL[len("http://"):], s.JaegerOTLP, s.JaegerURL[len("http://"):]} {
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

// The real run.sh refuses settings it cannot honour with an error that names the variable,
// before it starts anything; Prometheus and Alertmanager are scripts that fail, so that
// nothing would run even if it tried.
func TestRunShRefusesBadSettingsBeforeStartingAnything(t *testing.T) {
	bin, err := os.Executable()
	require.NoError(t, err)
	fakes := t.TempDir()
	for _, name := range []string{"prometheus", "alertmanager"} {
		require.NoError(t, os.WriteFile(filepath.Join(fakes, name), []byte("#!/bin/sh\nexit 1\n"), 0o700))
	}
	// Path characters that sed's s|...|...| and & would have read as its own.
	rules := filepath.Join(t.TempDir(), "rules a|b&c")
	glob := rules + "[1]" // rule_files would read it as a pattern
	require.NoError(t, os.MkdirAll(rules, 0o700))
	require.NoError(t, os.MkdirAll(glob, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(rules, "r.yml"), []byte("groups: []\n"), 0o600))
	start := func(t *testing.T, env ...string) (runDir string, err error) {
		runDir = t.TempDir()
		_, err = StartStack(StackConfig{Root: "../..", Bin: bin, RunDir: runDir, ReadyTimeout: 30 * time.Second, Env: append([]string{
			"PROMETHEUS_BIN=" + filepath.Join(fakes, "prometheus"), "ALERTMANAGER_BIN=" + filepath.Join(fakes, "alertmanager"),
			"PROMETHEUS_RULES_DIR=" + rules,
		}, env...)})
		require.Error(t, err)
		return runDir, err
	}
	for name, tt := range map[string]struct {
		env  string
		want string
	}{
		"evaluation interval 0":          {"PROMETHEUS_EVALUATION_INTERVAL=0", "[run] error: PROMETHEUS_EVALUATION_INTERVAL: '0' is not a duration of 1s or more"},
		"evaluation interval under 1s":   {"PROMETHEUS_EVALUATION_INTERVAL=1ms", "[run] error: PROMETHEUS_EVALUATION_INTERVAL: '1ms' is not"},
		"evaluation interval with YAML":  {"PROMETHEUS_EVALUATION_INTERVAL=15s\nfoo: bar", "[run] error: PROMETHEUS_EVALUATION_INTERVAL: '15s"},
		"rules directory without rules":  {"PROMETHEUS_RULES_DIR=" + t.TempDir(), "no .yml file in"},
		"rules directory that is a glob": {"PROMETHEUS_RULES_DIR=" + glob, "that Prometheus' rule_files would not read as itself"},
		"port that is no number":         {"ALERTMANAGER_PORT=abc", "[run] error: 'abc' is not a port number (1 to 65535) for Alertmanager: set ALERTMANAGER_PORT"},
		"Alertmanager that is not there": {"ALERTMANAGER_BIN=/nonexistent/alertmanager", "[run] error: ALERTMANAGER_BIN: no program /nonexistent/alertmanager"},
	} {
		t.Run(name, func(t *testing.T) {
			runDir, err := start(t, tt.env)
			assert.Contains(t, err.Error(), tt.want)
			assert.NoFileExists(t, filepath.Join(runDir, "alertmanager.log"), "nothing started")
		})
	}
	t.Run("rules directory with sed's characters", func(t *testing.T) {
		runDir, err := start(t, "PROMETHEUS_EVALUATION_INTERVAL=1m30s")
		assert.Contains(t, err.Error(), "[run] error: Alertmanager exited during start-up")
		config, readErr := os.ReadFile(filepath.Join(runDir, "prometheus.yml"))
		require.NoError(t, readErr)
		assert.Contains(t, string(config), "\n  - '"+rules+"/*.yml'\n")
		assert.Contains(t, string(config), "evaluation_interval: '1m30s'\n")
	})
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
