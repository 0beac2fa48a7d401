// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/gatewaytest"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/lambdaemu"
)

// buildExtension builds the binary as make layer does.
func buildExtension(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "extensions", "otelcol-lambda-extension")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}

// TestBuiltBinary runs the real extension process under the emulator, frozen between
// invocations as on Lambda, against a fake gateway.
func TestBuiltBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the extension")
	}
	bin := buildExtension(t)
	gw := gatewaytest.New()
	gw.Token = "t0ken"
	defer gw.Close()

	var emu *lambdaemu.Emulator
	pushAddr := regexp.MustCompile(`Pushgateway API on (127\.0\.0\.1:\d+)`)
	handler := func(_ context.Context, inv lambdaemu.Invocation) ([]byte, error) {
		// The function pushes its running total, as push_to_gateway does.
		var addr string
		for _, line := range emu.ExtensionLogs() {
			if m := pushAddr.FindStringSubmatch(line); m != nil {
				addr = m[1]
			}
		}
		if addr != "" {
			req, _ := http.NewRequest(http.MethodPut, "http://"+addr+"/metrics/job/fn",
				strings.NewReader("# TYPE handled_total counter\nhandled_total 1\n"))
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
		return inv.Payload, nil
	}
	var err error
	emu, err = lambdaemu.New(lambdaemu.Config{
		FunctionName: "orders", MemorySizeMB: 512, Timeout: 10 * time.Second,
		Runtime: lambdaemu.HandlerRuntime(handler),
		Extensions: []lambdaemu.ExtensionSpec{{Path: bin, Env: []string{
			"OTELCOL_LAMBDA_ENDPOINT=" + gw.URL,
			"OTELCOL_LAMBDA_TOKEN=t0ken",
			"OTELCOL_LAMBDA_FLUSH=end",
			"OTELCOL_LAMBDA_LISTENER_HOST=127.0.0.1",
			"OTELCOL_LAMBDA_OTLP_HTTP_ENDPOINT=127.0.0.1:0",
			"OTELCOL_LAMBDA_PUSHGATEWAY_ENDPOINT=127.0.0.1:0",
		}}},
		FreezeProcesses: true,
	})
	require.NoError(t, err)
	defer emu.Close()

	init, err := emu.Start(context.Background())
	require.NoError(t, err, strings.Join(emu.ExtensionLogs(), "\n"))
	require.Len(t, init.Extensions, 1)
	assert.Equal(t, "otelcol-lambda-extension", init.Extensions[0].Name)
	assert.Equal(t, []string{lambdaemu.EventInvoke, lambdaemu.EventShutdown}, init.Extensions[0].Events)

	const invocations = 3
	var ids []string
	for range invocations {
		res, err := emu.Invoke(context.Background(), lambdaemu.InvokeRequest{Payload: []byte(`{"order":1}`)})
		require.NoError(t, err)
		require.Equal(t, telemetryapi.StatusSuccess, res.Status)
		ids = append(ids, res.RequestID)
	}
	sr, err := emu.Shutdown(context.Background(), lambdaemu.ShutdownSpindown)
	require.NoError(t, err)
	require.Len(t, sr.Extensions, 1)
	logs := strings.Join(emu.ExtensionLogs(), "\n")
	assert.True(t, sr.Extensions[0].Exited, "exited within the shutdown budget:\n%s", logs)
	assert.Zero(t, sr.Extensions[0].ExitCode)

	counts := map[string]int{}
	for _, ev := range gw.Accepted() {
		rec, err := ev.DecodeRecord()
		if err != nil {
			continue
		}
		switch r := rec.(type) {
		case *telemetryapi.PlatformRuntimeDone:
			counts["runtimeDone "+r.RequestID]++
		case *telemetryapi.PlatformReport:
			counts["report "+r.RequestID]++
		}
	}
	for _, id := range ids {
		assert.Equal(t, 1, counts["runtimeDone "+id], "runtimeDone of %s", id)
		assert.Equal(t, 1, counts["report "+id], "report of %s", id)
	}
	var metrics int
	for _, p := range gw.Payloads() {
		if p.Path == "/v1/metrics" {
			metrics++
			body, err := p.Plain()
			require.NoError(t, err)
			assert.Contains(t, string(body), `"handled_total"`)
		}
	}
	assert.Positive(t, metrics, "the pushes reached the gateway as OTLP")
	assert.Contains(t, logs, "forwarding to "+gw.URL)
	assert.Contains(t, logs, "shutdown (spindown)")
}

// TestBuiltBinaryWithoutEndpoint checks that an unconfigured layer never breaks the
// function.
func TestBuiltBinaryWithoutEndpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the extension")
	}
	bin := buildExtension(t)
	emu, err := lambdaemu.New(lambdaemu.Config{
		Runtime:    lambdaemu.HandlerRuntime(func(context.Context, lambdaemu.Invocation) ([]byte, error) { return nil, nil }),
		Extensions: []lambdaemu.ExtensionSpec{{Path: bin, Env: []string{"OTELCOL_LAMBDA_FLUSH=sometimes"}}},
	})
	require.NoError(t, err)
	defer emu.Close()
	_, err = emu.Start(context.Background())
	require.NoError(t, err)
	res, err := emu.Invoke(context.Background(), lambdaemu.InvokeRequest{})
	require.NoError(t, err)
	assert.Equal(t, telemetryapi.StatusSuccess, res.Status)
	sr, err := emu.Shutdown(context.Background(), lambdaemu.ShutdownSpindown)
	require.NoError(t, err)
	assert.True(t, sr.Extensions[0].Exited)
	logs := strings.Join(emu.ExtensionLogs(), "\n")
	assert.Contains(t, logs, `config: invalid OTELCOL_LAMBDA_FLUSH="sometimes"`)
	assert.Contains(t, logs, "OTELCOL_LAMBDA_ENDPOINT is not set")
}
