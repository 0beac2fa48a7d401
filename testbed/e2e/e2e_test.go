// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
)

// spanBatch is n SERVER spans of one service, the given status, distinct ids.
func spanBatch(service string, n int, code ptrace.StatusCode, seed byte) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	start := time.Now().Add(-time.Second)
	for i := range n {
		s := spans.AppendEmpty()
		s.SetTraceID(pcommon.TraceID{seed, byte(i), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14})
		s.SetSpanID(pcommon.SpanID{seed, byte(i), 1, 2, 3, 4, 5, 6})
		s.SetName("handler")
		s.SetKind(ptrace.SpanKindServer)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(20+i) * time.Millisecond)))
		s.Status().SetCode(code)
	}
	return td
}

func marshal(t *testing.T, td ptrace.Traces, contentType string) []byte {
	t.Helper()
	req := ptraceotlp.NewExportRequestFromTraces(td)
	var body []byte
	var err error
	if contentType == "application/json" {
		body, err = req.MarshalJSON()
	} else {
		body, err = req.MarshalProto()
	}
	require.NoError(t, err)
	return body
}

// TestGatewayCountsSpansInPrometheus is the main job end to end: invocations in as users
// send them, through every front door of the default configuration (the platform's events on
// lambda_telemetry's telemetry path; the functions' own spans on its OTLP/HTTP, protobuf and
// JSON, and on the stock otlp receiver's gRPC), exact counts out of a real Prometheus; plain
// spans are not invocations and count nothing.
func TestGatewayCountsSpansInPrometheus(t *testing.T) {
	s := startStack(t)
	base := s.URL
	start := time.Now().Add(-time.Minute).Truncate(time.Millisecond)

	// invocations is n invocations of fn from seq on, the last errors of them failing.
	invocations := func(fn lambdaFn, seq byte, n, errors int) *lambdaSandbox {
		l := newLambdaSandbox(t, fn, start)
		for i := range n {
			spec := invocationSpec{seq: seq + byte(i), requestID: fmt.Sprintf("%s-%d", fn.name, i), dur: time.Duration(20+i) * time.Millisecond}
			if i >= n-errors {
				spec.errorType = lambdaconv.ErrorTypeFunction
			}
			l.invocation(spec)
		}
		return l
	}
	httpFn := invocations(lambdaFn{name: "e2e-http", region: "eu-west-1", arch: "amd64", memMiB: 128, sandbox: "e2e-http-1"}, 1, 7, 2)
	jsonFn := invocations(lambdaFn{name: "e2e-json", region: "eu-west-1", arch: "amd64", memMiB: 128, sandbox: "e2e-json-1"}, 8, 3, 0)
	grpcFn := invocations(lambdaFn{name: "e2e-grpc", region: "eu-west-1", arch: "arm64", memMiB: 128, sandbox: "e2e-grpc-1"}, 11, 4, 0)

	// The functions' spans: lambda_telemetry, OTLP/HTTP protobuf and JSON ...
	postOTLP(t, base, "application/x-protobuf", httpFn.functionSpans())
	postOTLP(t, base, "application/json", jsonFn.functionSpans())
	// ... and the platform's events, on lambda_telemetry's telemetry path.
	httpFn.post(base)
	jsonFn.post(base)
	// Plain SERVER spans: accepted, never counted as invocations.
	require.Equal(t, http.StatusOK, post(t, base+"/v1/traces", "application/x-protobuf",
		marshal(t, spanBatch("e2e-plain", 3, ptrace.StatusCodeUnset, 5), "application/x-protobuf")))

	// Bad input is refused with a reason and changes no count.
	assert.Equal(t, http.StatusUnsupportedMediaType, post(t, base+"/v1/traces", "text/plain", []byte("hello")))
	assert.Equal(t, http.StatusBadRequest, post(t, base+"/v1/traces", "application/json", []byte(`{"resourceSpans":[`)))

	// The stock otlp receiver, gRPC: the spans come after their invocations' events here.
	grpcFn.post(base)
	exportGRPC(t, s.Addrs.GRPC, grpcFn.functionSpans())

	want := map[string]float64{
		"job=otelcol-lambda,faas_name=e2e-http": 7,
		"job=otelcol-lambda,faas_name=e2e-json": 3,
		"job=otelcol-lambda,faas_name=e2e-grpc": 4,
	}
	s.eventually(t, `sum by (job, faas_name) (faas_invocations_total{faas_name=~"e2e-.*"})`, want, "job", "faas_name")
	s.eventually(t, `sum by (job, faas_name) (faas_invoke_duration_seconds_count{faas_name=~"e2e-.*"})`, want, "job", "faas_name")
	errors := map[string]float64{"faas_name=e2e-http,error_type=function_error": 2}
	s.eventually(t, `sum by (faas_name, error_type) (faas_errors_total{faas_name=~"e2e-.*"})`, errors, "faas_name", "error_type")

	// Several more flushes later nothing has been counted twice.
	time.Sleep(3 * time.Second)
	s.eventually(t, `sum by (job, faas_name) (faas_invocations_total{faas_name=~"e2e-.*"})`, want, "job", "faas_name")
	s.eventually(t, `sum by (faas_name, error_type) (faas_errors_total{faas_name=~"e2e-.*"})`, errors, "faas_name", "error_type")

	// Prometheus scrapes the gateway's own telemetry, as make run configures it:
	// lambda_telemetry took 13 spans over OTLP/HTTP (7 + 3 functions' spans, 3 plain) and made
	// 14 invocation spans from the events; otlp took the 4 functions' spans over gRPC.
	s.eventually(t, `sum by (receiver) (otelcol_receiver_accepted_spans{job="otelcol-lambda-gateway"})`,
		map[string]float64{"receiver=lambda_telemetry": 13 + 14, "receiver=otlp": 4}, "receiver")

	// make run's Prometheus loaded the shipped recording and alert rules, and none of those
	// it evaluated by now failed.
	groups, err := s.Prometheus.RuleGroups(context.Background())
	require.NoError(t, err)
	loaded := map[string]int{}
	for _, g := range groups {
		for _, r := range g.Rules {
			loaded[r.Type]++
			assert.NotEqual(t, "err", r.Health, "rule %s of group %s", r.Name, g.Name)
		}
	}
	assert.Positive(t, loaded["recording"], "recording rules loaded: %v", groups)
	assert.Positive(t, loaded["alerting"], "alert rules loaded: %v", groups)

	// make run's Alertmanager is up, and Prometheus sends its alerts there (it finds the
	// Alertmanager a few seconds after its start).
	require.NoError(t, s.Alertmanager.Ready(context.Background()))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		alertmanagers, err := s.Prometheus.Alertmanagers(context.Background())
		if assert.NoError(c, err) {
			assert.Contains(c, alertmanagers, s.Alertmanager.URL+"/api/v2/alerts", "Prometheus' active Alertmanagers")
		}
	}, queryDeadline, 500*time.Millisecond)

	// Ctrl-C stops every process cleanly, the gateway first: its last flush reaches
	// Prometheus, so nothing is dropped.
	require.NoError(t, s.Stop())
	require.NoError(t, s.Err(), "run.sh's exit status")
	assert.Contains(t, s.Output.String(), "Shutdown complete.")
	assert.NotContains(t, s.Output.String(), "Exporting failed", "the gateway's last flush found Prometheus gone")
	for _, addr := range []string{s.Addrs.HTTP, s.Addrs.GRPC, strings.TrimPrefix(s.Prometheus.URL, "http://"), strings.TrimPrefix(s.Alertmanager.URL, "http://")} {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
		}
		assert.Error(t, err, "%s still accepts connections after the stop", addr)
	}
}

// TestDistributionListsOurComponents checks what `otelcol-lambda components` reports.
func TestDistributionListsOurComponents(t *testing.T) {
	out, err := exec.Command(gatewayBinary(t), "components").CombinedOutput()
	require.NoError(t, err, string(out))
	for _, name := range []string{"lambda_telemetry", "cloudwatch_metric_stream", "lambda_correlation", "lambda_metrics", "prometheus_remote_write", "span_metrics", "lambda_fleet_metrics"} {
		assert.Contains(t, string(out), "name: "+name)
	}
}

// TestConfigOverlaysValidate validates the default configuration with each overlay merged
// over it, as the README tells users to run them.
func TestConfigOverlaysValidate(t *testing.T) {
	root := repoRoot(t)
	overlays, err := filepath.Glob(filepath.Join(root, "distribution", "overlays", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, overlays)

	certDir := t.TempDir()
	certFile, keyFile := filepath.Join(certDir, "cert.pem"), filepath.Join(certDir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, []byte("placeholder, validate does not read it"), 0o600))
	require.NoError(t, os.WriteFile(keyFile, []byte("placeholder, validate does not read it"), 0o600))
	env := append(os.Environ(),
		"OTELCOL_LAMBDA_TOKEN=secret-token",
		"OTELCOL_LAMBDA_TLS_CERT_FILE="+certFile,
		"OTELCOL_LAMBDA_TLS_KEY_FILE="+keyFile,
		"OTELCOL_LAMBDA_TRACES_ENDPOINT=127.0.0.1:14317",
		"OTELCOL_LAMBDA_LOGS_ENDPOINT=http://127.0.0.1:14318",
		"OTELCOL_LAMBDA_REPLICA_ID=gateway-0",
		"OTELCOL_LAMBDA_FIREHOSE_ACCESS_KEY=firehose-key",
	)
	base := filepath.Join(root, "distribution", "config.yaml")
	for _, overlay := range append([]string{""}, overlays...) {
		name := "default"
		args := []string{"validate", "--config", base}
		if overlay != "" {
			name = filepath.Base(overlay)
			args = append(args, "--config", overlay)
		}
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(gatewayBinary(t), args...)
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			assert.NoError(t, err, string(out))
		})
	}
}
