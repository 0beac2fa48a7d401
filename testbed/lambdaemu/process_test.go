// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdaemu

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
)

// The test binary runs as a runtime process or an extension process when one of these is
// set (TestMain).
const (
	envTestRuntime   = "LAMBDAEMU_TEST_RUNTIME"
	envTestExtension = "LAMBDAEMU_TEST_EXTENSION"
)

// runtimeView is what the test runtime answers each invocation with: how it was started.
type runtimeView struct {
	Args      []string `json:"args"`
	Dir       string   `json:"dir"`
	WrappedBy string   `json:"wrappedBy"`
}

// runTestRuntime is a runtime process: it answers every invocation with its runtimeView.
func runTestRuntime() int {
	dir, _ := os.Getwd()
	view, _ := json.Marshal(runtimeView{Args: os.Args[1:], Dir: dir, WrappedBy: os.Getenv("WRAPPED_BY")})
	run := HandlerRuntime(func(context.Context, Invocation) ([]byte, error) { return view, nil })
	if err := run(context.Background(), os.Getenv("AWS_LAMBDA_RUNTIME_API")); err != nil {
		fmt.Fprintln(os.Stderr, "test runtime:", err)
		return 1
	}
	return 0
}

// runTestExtension is an extension process: it registers for INVOKE and SHUTDOWN and
// calls next until SHUTDOWN.
func runTestExtension() int {
	base := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + ExtensionAPIPrefix
	req, _ := http.NewRequest(http.MethodPost, base+"/register", strings.NewReader(`{"events":["INVOKE","SHUTDOWN"]}`))
	req.Header.Set(HeaderExtensionName, filepath.Base(os.Args[0]))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 1
	}
	id := resp.Header.Get(telemetryapi.HeaderExtensionIdentifier)
	resp.Body.Close()
	for {
		req, _ := http.NewRequest(http.MethodGet, base+"/event/next", nil)
		req.Header.Set(telemetryapi.HeaderExtensionIdentifier, id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 1
		}
		var ev struct{ EventType string }
		_ = json.NewDecoder(resp.Body).Decode(&ev)
		resp.Body.Close()
		if ev.EventType == EventShutdown {
			return 0
		}
	}
}

// testBinary is this test binary, which TestMain turns into a runtime or an extension.
func testBinary(t *testing.T) string {
	t.Helper()
	bin, err := os.Executable()
	require.NoError(t, err)
	return bin
}

// writeScript writes an executable shell script into dir.
func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755))
	return path
}

// invokeProcessRuntime cold-starts a sandbox whose runtime is the test runtime started by
// ProcessRuntime with env, invokes it once and returns what the runtime saw.
func invokeProcessRuntime(t *testing.T, cfg Config, env ...string) runtimeView {
	t.Helper()
	argv := []string{testBinary(t), "runtime-arg-1", "runtime arg 2"}
	cfg.Runtime = ProcessRuntime(cfg, argv, append([]string{envTestRuntime + "=1"}, env...), os.Stderr)
	emu, err := New(cfg)
	require.NoError(t, err)
	defer emu.Close()
	_, err = emu.Start(context.Background())
	require.NoError(t, err)
	res, err := emu.Invoke(context.Background(), InvokeRequest{})
	require.NoError(t, err)
	require.Equal(t, telemetryapi.StatusSuccess, res.Status, "%s %s", res.ErrorType, res.Response)
	var view runtimeView
	require.NoError(t, json.Unmarshal(res.Response, &view))
	_, err = emu.Shutdown(context.Background(), ShutdownSpindown)
	require.NoError(t, err)
	return view
}

// TestProcessRuntimeExecWrapper: with AWS_LAMBDA_EXEC_WRAPPER in the function's
// environment a managed runtime starts through the wrapper, which gets the runtime's whole
// command line; an OS-only runtime ignores it; the task root is the working directory.
func TestProcessRuntimeExecWrapper(t *testing.T) {
	dir := t.TempDir()
	taskRoot := t.TempDir()
	wrapper := writeScript(t, dir, "wrapper", `WRAPPED_BY="$0"; export WRAPPED_BY; exec "$@"`+"\n")
	wantArgs := []string{"runtime-arg-1", "runtime arg 2"}

	wrapped := invokeProcessRuntime(t, Config{}, "AWS_LAMBDA_EXEC_WRAPPER="+wrapper, "LAMBDA_TASK_ROOT="+taskRoot)
	assert.Equal(t, wrapper, wrapped.WrappedBy, "started through the wrapper")
	assert.Equal(t, wantArgs, wrapped.Args, "the wrapper passed the runtime's arguments on")
	assert.Equal(t, taskRoot, wrapped.Dir)

	osOnly := invokeProcessRuntime(t, Config{OSOnlyRuntime: true}, "AWS_LAMBDA_EXEC_WRAPPER="+wrapper, "LAMBDA_TASK_ROOT="+taskRoot)
	assert.Empty(t, osOnly.WrappedBy, "provided.al2023 does not apply the wrapper")
	assert.Equal(t, wantArgs, osOnly.Args)

	plain := invokeProcessRuntime(t, Config{})
	assert.Empty(t, plain.WrappedBy)
	assert.Equal(t, wantArgs, plain.Args)
}

// TestBrokenWrapperFailsInit: a wrapper that does not start the runtime fails the init
// with Runtime.ExitError as soon as it exits, not at the init timeout.
func TestBrokenWrapperFailsInit(t *testing.T) {
	dir := t.TempDir()
	for name, wrapper := range map[string]string{
		"missing": filepath.Join(dir, "no-such-wrapper"),
		"exits":   writeScript(t, dir, "exits", "echo 'not starting the runtime' >&2; exit 3\n"),
	} {
		t.Run(name, func(t *testing.T) {
			cfg := Config{InitTimeout: time.Minute}
			cfg.Runtime = ProcessRuntime(cfg, []string{testBinary(t)}, []string{envTestRuntime + "=1", "AWS_LAMBDA_EXEC_WRAPPER=" + wrapper}, &bytes.Buffer{})
			emu, err := New(cfg)
			require.NoError(t, err)
			defer emu.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := emu.Start(ctx)
			require.Error(t, err)
			assert.Equal(t, "Runtime.ExitError", res.Error)
		})
	}
}

// TestExtensionCrashResetsSandbox: an extension process killed while the runtime is in its
// handler fails the invocation with Extension.Crash at once, and the sandbox is reset
// (SHUTDOWN with reason failure), even though the runtime never answers.
func TestExtensionCrashResetsSandbox(t *testing.T) {
	runtime := HandlerRuntime(func(ctx context.Context, _ Invocation) ([]byte, error) {
		<-ctx.Done() // the runtime hangs on: only the reset ends it
		return nil, ctx.Err()
	})
	ext := filepath.Join(t.TempDir(), "crashing-ext")
	require.NoError(t, os.Symlink(testBinary(t), ext))
	emu, err := New(Config{
		Runtime: runtime, Timeout: time.Minute, ShutdownBudget: 500 * time.Millisecond,
		Extensions: []ExtensionSpec{{Path: ext, Env: []string{envTestExtension + "=1"}}},
	})
	require.NoError(t, err)
	defer emu.Close()
	init, err := emu.Start(context.Background())
	require.NoError(t, err)
	require.Len(t, init.Extensions, 1)
	pid := init.Extensions[0].PID
	require.NotZero(t, pid)
	assert.False(t, emu.RuntimeHasEvent(), "no invocation yet")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // far below the function's timeout
	defer cancel()
	go func() {
		for !emu.RuntimeHasEvent() {
			if ctx.Err() != nil {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}()
	res, err := emu.Invoke(ctx, InvokeRequest{})
	require.NoError(t, err)
	assert.Equal(t, telemetryapi.StatusError, res.Status)
	assert.Equal(t, "Extension.Crash", res.ErrorType)
	require.True(t, res.Reset)
	assert.Equal(t, ShutdownFailure, res.Shutdown.Reason)
	assert.False(t, emu.RuntimeHasEvent())
	var reports []telemetryapi.PlatformReport
	for _, ev := range emu.Events() {
		if rec, err := ev.DecodeRecord(); err == nil {
			if r, ok := rec.(*telemetryapi.PlatformReport); ok {
				reports = append(reports, *r)
			}
		}
	}
	require.Len(t, reports, 1)
	assert.Equal(t, "Extension.Crash", reports[0].ErrorType)
	_, err = emu.Invoke(context.Background(), InvokeRequest{})
	assert.Error(t, err, "a reset sandbox takes no more invocations")
}
