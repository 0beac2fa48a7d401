// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/layer/wrapper"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/gatewaytest"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/lambdaemu"
)

// envRunAsRuntime makes the test binary a function's runtime: it answers each invocation
// with the Runtime API address it was given, and fails the ones whose event says "fail".
const envRunAsRuntime = "OTELCOL_LAMBDA_TEST_RUN_AS_RUNTIME"

func runAsRuntime() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	api := os.Getenv("AWS_LAMBDA_RUNTIME_API")
	err := lambdaemu.HandlerRuntime(func(_ context.Context, inv lambdaemu.Invocation) ([]byte, error) {
		if string(inv.Payload) == `"fail"` {
			return nil, errors.New("failed on purpose")
		}
		return json.Marshal(api)
	})(ctx, api)
	if err != nil {
		fmt.Fprintln(os.Stderr, "runtime:", err)
		return 1
	}
	return 0
}

// TestBuiltBinaryWithTheWrapper runs the real extension and a runtime process started
// through the layer's script, which points it at the extension's proxy, in the two ways
// layer/README.md gives: on a managed runtime, the emulator starts the runtime with
// AWS_LAMBDA_EXEC_WRAPPER as Lambda does; on an OS-only runtime, which Lambda starts
// without the wrapper, the function's bootstrap execs the wrapper itself. The gateway gets
// each invocation's event source and error type.
func TestBuiltBinaryWithTheWrapper(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the extension")
	}
	bin := buildExtension(t)
	sqsEvent, err := os.ReadFile(filepath.Join("..", "..", "internal", "agent", "testdata", "sqs-event.json"))
	require.NoError(t, err)
	// The script from the repository stands for /opt/otelcol-lambda-wrapper.
	script, err := filepath.Abs(filepath.Join("..", "..", "wrapper", wrapper.Name))
	require.NoError(t, err)

	t.Run("managed runtime", func(t *testing.T) {
		addrFile := filepath.Join(t.TempDir(), "runtime-api")
		runWithWrapper(t, bin, sqsEvent, false, []string{os.Args[0]}, []string{
			"AWS_LAMBDA_EXEC_WRAPPER=" + script,
			"OTELCOL_LAMBDA_RUNTIME_API_FILE=" + addrFile,
		}, addrFile)
	})
	t.Run("OS-only runtime", func(t *testing.T) {
		dir := t.TempDir()
		addrFile := filepath.Join(dir, "runtime-api")
		bootstrap := filepath.Join(dir, "bootstrap")
		require.NoError(t, os.WriteFile(bootstrap, []byte("#!/bin/sh\nexec "+script+" "+os.Args[0]+"\n"), 0o755))
		runWithWrapper(t, bin, sqsEvent, true, []string{bootstrap}, []string{
			"OTELCOL_LAMBDA_RUNTIME_PROXY=on",
			"OTELCOL_LAMBDA_RUNTIME_API_FILE=" + addrFile,
		}, addrFile)
	})
}

// runWithWrapper runs a sandbox whose function environment is sandboxEnv (the
// extension's and the runtime's), the runtime started with argv, and checks what the
// gateway receives.
func runWithWrapper(t *testing.T, bin string, sqsEvent []byte, osOnly bool, argv, sandboxEnv []string, addrFile string) {
	gw := gatewaytest.New()
	defer gw.Close()
	var runtimeOut syncBuffer
	cfg := lambdaemu.Config{
		FunctionName: "orders", Timeout: 10 * time.Second,
		Extensions: []lambdaemu.ExtensionSpec{{Path: bin, Env: append([]string{
			"OTELCOL_LAMBDA_ENDPOINT=" + gw.URL,
			"OTELCOL_LAMBDA_FLUSH=end",
			"OTELCOL_LAMBDA_LISTENER_HOST=127.0.0.1",
			"OTELCOL_LAMBDA_OTLP_HTTP_ENDPOINT=127.0.0.1:0",
			"OTELCOL_LAMBDA_PUSHGATEWAY_ENDPOINT=127.0.0.1:0",
		}, sandboxEnv...)}},
		FreezeProcesses: true,
		OSOnlyRuntime:   osOnly,
	}
	cfg.Runtime = lambdaemu.ProcessRuntime(cfg, argv,
		append([]string{envRunAsRuntime + "=1"}, sandboxEnv...), &runtimeOut)
	emu, err := lambdaemu.New(cfg)
	require.NoError(t, err)
	defer emu.Close()

	_, err = emu.Start(context.Background())
	require.NoError(t, err, "%s\n%s", strings.Join(emu.ExtensionLogs(), "\n"), runtimeOut.String())
	published, err := os.ReadFile(addrFile)
	require.NoError(t, err)
	proxyAddr := strings.TrimSpace(string(published))

	ok, err := emu.Invoke(context.Background(), lambdaemu.InvokeRequest{Payload: sqsEvent})
	require.NoError(t, err)
	require.Equal(t, telemetryapi.StatusSuccess, ok.Status)
	assert.Equal(t, `"`+proxyAddr+`"`, string(ok.Response), "the runtime talks to the proxy")
	assert.NotEqual(t, emu.RuntimeAPI(), proxyAddr)
	failed, err := emu.Invoke(context.Background(), lambdaemu.InvokeRequest{Payload: []byte(`"fail"`)})
	require.NoError(t, err)
	require.Equal(t, telemetryapi.StatusError, failed.Status)

	sr, err := emu.Shutdown(context.Background(), lambdaemu.ShutdownSpindown)
	require.NoError(t, err)
	logs := strings.Join(emu.ExtensionLogs(), "\n")
	require.Len(t, sr.Extensions, 1)
	assert.True(t, sr.Extensions[0].Exited, "exited within the shutdown budget:\n%s", logs)
	assert.NoFileExists(t, addrFile)
	assert.Contains(t, logs, "Runtime API proxy on "+proxyAddr)

	found := map[string]telemetryapi.Invocation{}
	events := gw.Accepted()
	for i, ev := range events {
		if ev.Type != telemetryapi.TypeInvocation {
			continue
		}
		var rec telemetryapi.Invocation
		require.NoError(t, json.Unmarshal(ev.Record, &rec))
		found[rec.RequestID] = rec
		require.Less(t, i+1, len(events))
		assert.Equal(t, telemetryapi.TypePlatformRuntimeDone, events[i+1].Type, "just before the runtimeDone")
	}
	require.Len(t, found, 2, logs)
	require.NotNil(t, found[ok.RequestID].Source)
	assert.Equal(t, "sqs", found[ok.RequestID].Source.Kind)
	assert.Equal(t, "SQSQueue", found[ok.RequestID].Source.Destination)
	assert.Empty(t, found[ok.RequestID].ErrorType)
	assert.Equal(t, "unknown", found[failed.RequestID].Source.Kind)
	assert.Equal(t, "Handled", found[failed.RequestID].ErrorType)
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
