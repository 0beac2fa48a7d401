// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
)

// sdkMetric is an OTLP/JSON request with one cumulative sum point, as a function's SDK
// sends it: lambda_fleet_metrics folds it and remote-writes it at every flush.
func sdkMetric(service string, value int) []byte {
	return fmt.Appendf(nil, `{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":%q}}]},`+
		`"scopeMetrics":[{"metrics":[{"name":"orders_processed","sum":{"aggregationTemporality":2,"isMonotonic":true,`+
		`"dataPoints":[{"asDouble":%d,"startTimeUnixNano":"1","timeUnixNano":"%d"}]}}]}]}]}`,
		service, value, time.Now().UnixNano())
}

// telemetryValue is the sum of the gateway's own metric name (every label set), from its
// Prometheus telemetry endpoint; found says whether the metric was there (a failed read
// finds nothing: the callers poll).
func telemetryValue(addrs harness.GatewayAddrs, name string) (sum float64, found bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sums, _ := telemetrySums(ctx, addrs, name, "")
	sum, found = sums[""]
	return sum, found
}

// logField is the integer field of the first log line that contains msg.
func logField(output, msg, field string) (int, bool) {
	for _, line := range strings.Split(output, "\n") {
		if !strings.Contains(line, msg) {
			continue
		}
		m := regexp.MustCompile(`"` + field + `": (\d+)`).FindStringSubmatch(line)
		if m == nil {
			return 0, false
		}
		n, err := strconv.Atoi(m[1])
		return n, err == nil
	}
	return 0, false
}

// TestGatewayWarnsWhenRemoteWriteFails: with Prometheus down, the first flush's failed
// remote write is in the gateway's log at warn, with the reason and the endpoint, and the
// gateway's own metrics say the backend is failing and for how long.
// Before export_watch the exporter retried connection errors with a debug line only, and
// the log stayed silent until data was dropped minutes later.
func TestGatewayWarnsWhenRemoteWriteFails(t *testing.T) {
	down := freeAddrs(t, 1)[0] // nothing listens there
	writeURL := "http://" + down + "/api/v1/write"
	gw := startGateway(t, harness.GatewayConfig{RemoteWrite: writeURL, Flush: time.Second}).current()

	require.Equal(t, http.StatusOK, post(t, gw.URL+"/v1/metrics", "application/json", sdkMetric("orders", 1)))
	const msg = "Export requests to the backend are failing"
	require.Eventually(t, func() bool { return strings.Contains(gw.Output.String(), msg) }, queryDeadline, 100*time.Millisecond,
		"no warning about the failing remote write")
	var warning string
	for _, line := range strings.Split(gw.Output.String(), "\n") {
		if strings.Contains(line, msg) {
			warning = line
			break
		}
	}
	assert.Contains(t, warning, "\twarn\t")
	assert.Contains(t, warning, `"endpoint": "`+writeURL+`"`)
	assert.Contains(t, warning, "connection refused", "the warning names the reason")

	// The exporter keeps retrying; the retries are counted, not logged one by one.
	require.Eventually(t, func() bool {
		n, _ := telemetryValue(gw.Addrs, "otelcol_extension_export_watch_consecutive_failures")
		return n >= 3
	}, queryDeadline, 100*time.Millisecond)
	assert.Equal(t, 1, strings.Count(gw.Output.String(), msg), "each retry logged a warning")
	failing, found := telemetryValue(gw.Addrs, "otelcol_extension_export_watch_failing_duration")
	assert.True(t, found)
	assert.Greater(t, failing, 0.0)
}

// TestGatewaySIGTERMWithHangingBackendExits: a remote-write backend that accepts requests
// and never answers, and a per-attempt timeout far longer than any test (10 minutes):
// without a bounded drain the gateway would wait on it at SIGTERM. The remote write has no
// queue, so the flush waits for its request and the flushes behind it are skipped, not
// queued. With export_watch the gateway exits on its own once drain_timeout has passed
// (the request is canceled, and not retried), and logs how many requests it could not
// write: the hanging one and the last flush.
func TestGatewaySIGTERMWithHangingBackendExits(t *testing.T) {
	var requests atomic.Int64
	release := make(chan struct{})
	url, stop, err := harness.Serve(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	require.NoError(t, err)
	t.Cleanup(func() {
		close(release)
		_ = stop()
	})
	overlay := filepath.Join(t.TempDir(), "hanging-backend.yaml")
	require.NoError(t, os.WriteFile(overlay, []byte("exporters:\n  prometheus_remote_write:\n    timeout: 10m\n"), 0o600))

	gw := startGateway(t, harness.GatewayConfig{
		Configs:     []string{overlay},
		RemoteWrite: url + "/api/v1/write",
		Flush:       time.Second,
		Env:         []string{"OTELCOL_LAMBDA_DRAIN_TIMEOUT=2s"},
	}).current()

	// One request hangs at the backend; the flushes after it wait.
	ctx, cancel := context.WithTimeout(context.Background(), queryDeadline)
	defer cancel()
	for i := 1; requests.Load() < 1; i++ {
		require.Equal(t, http.StatusOK, post(t, gw.URL+"/v1/metrics", "application/json", sdkMetric("orders", i)))
		select {
		case <-ctx.Done():
			t.Fatal("no request reached the backend")
		case <-time.After(200 * time.Millisecond):
		}
	}
	for i := range 3 { // three more flushes' worth of data, none of it sent meanwhile
		require.Equal(t, http.StatusOK, post(t, gw.URL+"/v1/metrics", "application/json", sdkMetric("orders", 1000+i)))
		time.Sleep(time.Second)
	}
	require.Equal(t, int64(1), requests.Load(), "a flush waits for the one before it")

	start := time.Now()
	require.NoError(t, gw.Cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-gw.Done():
	case <-time.After(2 * time.Minute):
		t.Fatal("the gateway did not exit on its own after SIGTERM with a backend that never answers")
	}
	took := time.Since(start)
	t.Logf("the gateway exited %s after SIGTERM (drain_timeout 2s)", took.Round(10*time.Millisecond))
	out := gw.Output.String()
	// The last flushes, made after drain_timeout, were refused. The connector and the
	// processor log that and shut down cleanly: a SIGTERM during an outage is no failure
	// of the gateway, so it exits 0.
	require.NoError(t, gw.Err(), "the gateway's exit status")
	assert.Contains(t, out, "The last flush before shutdown was not written")

	const msg = "Exports not written at shutdown"
	require.Contains(t, out, msg)
	canceled, ok := logField(out, msg, "canceled_requests")
	require.True(t, ok)
	refused, ok := logField(out, msg, "refused_requests")
	require.True(t, ok)
	assert.Equal(t, 1, canceled, "the request hanging at the backend")
	assert.GreaterOrEqual(t, refused, 1, "the last flush, never sent")
	assert.Equal(t, int64(1), requests.Load(), "after drain_timeout nothing reaches the backend")
}
