// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdaemu

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
)

// testExtension is a minimal in-process extension: it registers, subscribes a listener,
// and answers each event by calling next again.
type testExtension struct {
	t        *testing.T
	api      string
	id       string
	client   *http.Client
	mu       sync.Mutex
	received []telemetryapi.Event
	batches  int
	events   []map[string]any
}

func (x *testExtension) register(name string, events []string, accountID bool) (*http.Response, map[string]string) {
	body, _ := json.Marshal(map[string]any{"events": events})
	req, _ := http.NewRequest(http.MethodPost, "http://"+x.api+ExtensionAPIPrefix+"/register", bytes.NewReader(body))
	if name != "" {
		req.Header.Set(HeaderExtensionName, name)
	}
	if accountID {
		req.Header.Set(HeaderExtensionAcceptFeat, "accountId")
	}
	resp, err := x.client.Do(req)
	require.NoError(x.t, err)
	defer resp.Body.Close()
	var out map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&out)
	x.id = resp.Header.Get(telemetryapi.HeaderExtensionIdentifier)
	return resp, out
}

func (x *testExtension) subscribe(req telemetryapi.SubscribeRequest) (int, telemetryapi.ErrorResponse) {
	body, _ := json.Marshal(req)
	r, _ := http.NewRequest(http.MethodPut, "http://"+x.api+telemetryapi.SubscribePath, bytes.NewReader(body))
	r.Header.Set(telemetryapi.HeaderExtensionIdentifier, x.id)
	resp, err := x.client.Do(r)
	require.NoError(x.t, err)
	defer resp.Body.Close()
	var er telemetryapi.ErrorResponse
	data, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(data, &er)
	return resp.StatusCode, er
}

// listen starts a Telemetry API destination and returns its URI.
func (x *testExtension) listen() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(x.t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		events, err := telemetryapi.DecodeEvents(data)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		x.mu.Lock()
		x.received = append(x.received, events...)
		x.batches++
		x.mu.Unlock()
	})}
	go func() { _ = srv.Serve(ln) }()
	x.t.Cleanup(func() { _ = srv.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return "http://sandbox.localdomain:" + port
}

// loop calls next until SHUTDOWN.
func (x *testExtension) loop(done chan<- struct{}) {
	defer close(done)
	for {
		req, _ := http.NewRequest(http.MethodGet, "http://"+x.api+ExtensionAPIPrefix+"/event/next", nil)
		req.Header.Set(telemetryapi.HeaderExtensionIdentifier, x.id)
		resp, err := x.client.Do(req)
		if err != nil {
			return
		}
		var ev map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&ev)
		resp.Body.Close()
		x.mu.Lock()
		x.events = append(x.events, ev)
		x.mu.Unlock()
		if ev["eventType"] == EventShutdown {
			return
		}
	}
}

func (x *testExtension) receivedTypes() []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	var types []string
	for _, ev := range x.received {
		types = append(types, ev.Type)
	}
	return types
}

// waitDone waits for a test extension's loop to end (it ends at SHUTDOWN).
func waitDone(t *testing.T, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the extension did not get SHUTDOWN")
	}
}

func echoRuntime() RuntimeFunc {
	return HandlerRuntime(func(_ context.Context, inv Invocation) ([]byte, error) {
		return inv.Payload, nil
	})
}

func startWithTestExtension(t *testing.T, cfg Config, types []string) (*Emulator, *testExtension, chan struct{}) {
	cfg.AwaitExtensions = append(cfg.AwaitExtensions, "test-ext")
	emu, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = emu.Close() })
	x := &testExtension{t: t, api: emu.RuntimeAPI(), client: &http.Client{}}
	resp, info := x.register("test-ext", []string{EventInvoke, EventShutdown}, true)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, emu.Config().AccountID, info["accountId"])
	status, _ := x.subscribe(telemetryapi.SubscribeRequest{
		SchemaVersion: telemetryapi.SchemaVersion20221213, Types: types,
		Buffering:   telemetryapi.Buffering{TimeoutMs: 25},
		Destination: telemetryapi.Destination{Protocol: telemetryapi.ProtocolHTTP, URI: x.listen()},
	})
	require.Equal(t, http.StatusOK, status)
	done := make(chan struct{})
	go x.loop(done)
	_, err = emu.Start(context.Background())
	require.NoError(t, err)
	return emu, x, done
}

func TestLifecycle(t *testing.T) {
	emu, x, done := startWithTestExtension(t, Config{Runtime: echoRuntime(), ShutdownBudget: 500 * time.Millisecond},
		[]string{telemetryapi.StreamPlatform, telemetryapi.StreamFunction})
	ctx := context.Background()
	const invocations = 3
	var ids []string
	for i := range invocations {
		if i == 1 {
			emu.FunctionLog("hello from the function")
		}
		res, err := emu.Invoke(ctx, InvokeRequest{Payload: []byte(`{"n":1}`)})
		require.NoError(t, err)
		assert.Equal(t, telemetryapi.StatusSuccess, res.Status)
		assert.JSONEq(t, `{"n":1}`, string(res.Response))
		assert.Positive(t, res.ResponseLatency)
		assert.LessOrEqual(t, res.RuntimeDuration, res.Duration)
		ids = append(ids, res.RequestID)
	}
	sr, err := emu.Shutdown(ctx, ShutdownSpindown)
	require.NoError(t, err)
	assert.Equal(t, ShutdownSpindown, sr.Reason)
	waitDone(t, done)

	// Every event reaches the subscriber, in order, the last report included.
	require.Eventually(t, func() bool {
		types := x.receivedTypes()
		return len(types) > 0 && types[len(types)-1] == telemetryapi.TypePlatformReport
	}, 10*time.Second, 5*time.Millisecond)
	types := x.receivedTypes()
	// (This extension subscribed before the cold start began, hence the first two.)
	assert.Equal(t, []string{
		telemetryapi.TypePlatformTelemetrySubscription, telemetryapi.TypePlatformInitStart,
		telemetryapi.TypePlatformInitRuntimeDone, telemetryapi.TypePlatformExtension, telemetryapi.TypePlatformInitReport,
		telemetryapi.TypePlatformStart, telemetryapi.TypePlatformRuntimeDone, telemetryapi.TypePlatformReport,
		telemetryapi.TypeFunction,
		telemetryapi.TypePlatformStart, telemetryapi.TypePlatformRuntimeDone, telemetryapi.TypePlatformReport,
		telemetryapi.TypePlatformStart, telemetryapi.TypePlatformRuntimeDone, telemetryapi.TypePlatformReport,
	}, types)

	// Reports carry the request ids in order; the first has the init duration.
	var reportIDs []string
	x.mu.Lock()
	for _, ev := range x.received {
		rec, err := ev.DecodeRecord()
		require.NoError(t, err)
		if r, ok := rec.(*telemetryapi.PlatformReport); ok {
			reportIDs = append(reportIDs, r.RequestID)
			assert.Equal(t, len(reportIDs) == 1, r.Metrics.InitDurationMs != nil)
		}
	}
	// The extension saw INVOKE with deadline and ARN, then SHUTDOWN with reason and deadline.
	require.Len(t, x.events, invocations+1)
	inv := x.events[0]
	assert.Equal(t, EventInvoke, inv["eventType"])
	assert.Equal(t, ids[0], inv["requestId"])
	assert.NotZero(t, inv["deadlineMs"])
	assert.Equal(t, emu.Config().FunctionARN(), inv["invokedFunctionArn"])
	assert.Equal(t, telemetryapi.TracingTypeXRay, inv["tracing"].(map[string]any)["type"])
	last := x.events[invocations]
	assert.Equal(t, EventShutdown, last["eventType"])
	assert.Equal(t, ShutdownSpindown, last["shutdownReason"])
	assert.NotZero(t, last["deadlineMs"])
	x.mu.Unlock()
	assert.Equal(t, ids, reportIDs)
}

// TestReportWaitsForThaw checks that platform.report is not delivered while the sandbox
// is frozen: it arrives during the next invocation (or at shutdown).
func TestReportWaitsForThaw(t *testing.T) {
	var slow sync.Mutex
	slowCalls := 0
	runtime := HandlerRuntime(func(_ context.Context, inv Invocation) ([]byte, error) {
		slow.Lock()
		slowCalls++
		second := slowCalls == 2
		slow.Unlock()
		if second {
			time.Sleep(100 * time.Millisecond) // longer than the 25 ms buffering timeout
		}
		return nil, nil
	})
	emu, x, _ := startWithTestExtension(t, Config{Runtime: runtime}, []string{telemetryapi.StreamPlatform})
	first, err := emu.Invoke(context.Background(), InvokeRequest{})
	require.NoError(t, err)
	// Frozen right after the invoke phase: the report cannot have been delivered.
	assert.NotContains(t, x.receivedTypes(), telemetryapi.TypePlatformReport)
	_, err = emu.Invoke(context.Background(), InvokeRequest{})
	require.NoError(t, err)
	x.mu.Lock()
	defer x.mu.Unlock()
	var reports []string
	for _, ev := range x.received {
		if rec, err := ev.DecodeRecord(); err == nil {
			if r, ok := rec.(*telemetryapi.PlatformReport); ok {
				reports = append(reports, r.RequestID)
			}
		}
	}
	assert.Equal(t, []string{first.RequestID}, reports)
}

func TestSubscribeValidation(t *testing.T) {
	emu, err := New(Config{})
	require.NoError(t, err)
	defer emu.Close()
	x := &testExtension{t: t, api: emu.RuntimeAPI(), client: &http.Client{}}
	x.register("ext", []string{EventInvoke}, false)
	tests := []struct {
		name    string
		req     telemetryapi.SubscribeRequest
		wantMsg string
	}{
		{"timeout too small", telemetryapi.SubscribeRequest{
			SchemaVersion: telemetryapi.SchemaVersion20221213, Types: []string{"platform"},
			Buffering:   telemetryapi.Buffering{TimeoutMs: 5},
			Destination: telemetryapi.Destination{Protocol: "HTTP", URI: "http://sandbox.localdomain:1234"},
		}, "buffering.timeoutMs"},
		{"bad type", telemetryapi.SubscribeRequest{
			SchemaVersion: telemetryapi.SchemaVersion20221213, Types: []string{"everything"},
			Destination: telemetryapi.Destination{Protocol: "HTTP", URI: "http://sandbox.localdomain:1234"},
		}, "types[0]"},
		{"bad schema", telemetryapi.SubscribeRequest{
			SchemaVersion: "2020-01-01", Types: []string{"platform"},
			Destination: telemetryapi.Destination{Protocol: "HTTP", URI: "http://sandbox.localdomain:1234"},
		}, "schemaVersion"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, er := x.subscribe(tt.req)
			assert.Equal(t, http.StatusBadRequest, status)
			assert.Equal(t, telemetryapi.ErrorTypeValidation, er.ErrorType)
			assert.Contains(t, er.ErrorMessage, tt.wantMsg)
		})
	}
	// Unknown identifier.
	x.id = "nope"
	status, _ := x.subscribe(telemetryapi.SubscribeRequest{})
	assert.Equal(t, http.StatusForbidden, status)
}

func TestRegisterValidation(t *testing.T) {
	emu, err := New(Config{})
	require.NoError(t, err)
	defer emu.Close()
	x := &testExtension{t: t, api: emu.RuntimeAPI(), client: &http.Client{}}
	resp, _ := x.register("", []string{EventInvoke}, false)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	resp, _ = x.register("ext", []string{"INVOKE", "FREEZE"}, false)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	resp, info := x.register("ext", []string{EventInvoke}, false)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.NotEmpty(t, x.id)
	assert.NotContains(t, info, "accountId")
	assert.Equal(t, "emulated-function", info["functionName"])
}

func TestTimeoutResetsSandbox(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	runtime := HandlerRuntime(func(context.Context, Invocation) ([]byte, error) {
		<-block // never answers in time
		return nil, nil
	})
	emu, x, done := startWithTestExtension(t, Config{Runtime: runtime, Timeout: 100 * time.Millisecond, ShutdownBudget: 300 * time.Millisecond},
		[]string{telemetryapi.StreamPlatform})
	res, err := emu.Invoke(context.Background(), InvokeRequest{})
	require.NoError(t, err)
	assert.Equal(t, telemetryapi.StatusTimeout, res.Status)
	assert.True(t, res.Reset)
	waitDone(t, done)
	x.mu.Lock()
	assert.Equal(t, ShutdownTimeout, x.events[len(x.events)-1]["shutdownReason"])
	x.mu.Unlock()
	_, err = emu.Invoke(context.Background(), InvokeRequest{})
	assert.Error(t, err)
}

func TestRuntimeCrashHasNoRuntimeDone(t *testing.T) {
	runtime := HandlerRuntime(func(context.Context, Invocation) ([]byte, error) {
		return nil, &RuntimeExitError{ErrorType: "Runtime.OutOfMemory"}
	})
	emu, _, done := startWithTestExtension(t, Config{Runtime: runtime, ShutdownBudget: 300 * time.Millisecond},
		[]string{telemetryapi.StreamPlatform})
	res, err := emu.Invoke(context.Background(), InvokeRequest{})
	require.NoError(t, err)
	assert.Equal(t, telemetryapi.StatusError, res.Status)
	assert.Equal(t, "Runtime.OutOfMemory", res.ErrorType)
	assert.True(t, res.Reset)
	waitDone(t, done)
	var types []string
	for _, ev := range emu.Events() {
		types = append(types, ev.Type)
	}
	assert.NotContains(t, types, telemetryapi.TypePlatformRuntimeDone)
	assert.Contains(t, types, telemetryapi.TypePlatformReport)
}

func TestFunctionError(t *testing.T) {
	runtime := HandlerRuntime(func(context.Context, Invocation) ([]byte, error) {
		return nil, assert.AnError
	})
	emu, _, _ := startWithTestExtension(t, Config{Runtime: runtime}, []string{telemetryapi.StreamPlatform})
	res, err := emu.Invoke(context.Background(), InvokeRequest{})
	require.NoError(t, err)
	assert.Equal(t, telemetryapi.StatusError, res.Status)
	assert.Equal(t, "Handled", res.ErrorType)
	assert.False(t, res.Reset)
}

// TestSpawnedExtension runs a real extension process: a tiny Go program built here, that
// registers, reads its environment and exits at SHUTDOWN.
func TestSpawnedExtension(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	require.NoError(t, os.WriteFile(src, []byte(spawnedExtensionSource), 0o600))
	bin := filepath.Join(dir, "extensions", "env-ext")
	out, err := exec.Command("go", "build", "-o", bin, src).CombinedOutput()
	require.NoError(t, err, string(out))

	emu, err := New(Config{
		Runtime: echoRuntime(), FunctionName: "fn", MemorySizeMB: 256,
		Extensions:      []ExtensionSpec{{Path: bin, Env: []string{"EXTRA=1"}}},
		FreezeProcesses: true,
	})
	require.NoError(t, err)
	defer emu.Close()
	init, err := emu.Start(context.Background())
	require.NoError(t, err)
	require.Len(t, init.Extensions, 1)
	info := init.Extensions[0]
	assert.Equal(t, "env-ext", info.Name)
	assert.NotZero(t, info.PID)
	assert.False(t, info.FirstNext.Before(info.Spawned))
	_, err = emu.Invoke(context.Background(), InvokeRequest{})
	require.NoError(t, err)
	sr, err := emu.Shutdown(context.Background(), ShutdownSpindown)
	require.NoError(t, err)
	require.Len(t, sr.Extensions, 1)
	assert.True(t, sr.Extensions[0].Exited)
	logs := strings.Join(emu.ExtensionLogs(), "\n")
	assert.Contains(t, logs, "fn 256 us-east-1 1 "+emu.RuntimeAPI())
	assert.Contains(t, logs, "event INVOKE")
	assert.Contains(t, logs, "event SHUTDOWN")
}

const spawnedExtensionSource = `package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	api := os.Getenv("AWS_LAMBDA_RUNTIME_API")
	fmt.Println(os.Getenv("AWS_LAMBDA_FUNCTION_NAME"), os.Getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), os.Getenv("AWS_REGION"), os.Getenv("EXTRA"), api)
	req, _ := http.NewRequest("POST", "http://"+api+"/2020-01-01/extension/register", strings.NewReader(` + "`" + `{"events":["INVOKE","SHUTDOWN"]}` + "`" + `))
	req.Header.Set("Lambda-Extension-Name", filepath.Base(os.Args[0]))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		os.Exit(1)
	}
	id := resp.Header.Get("Lambda-Extension-Identifier")
	resp.Body.Close()
	for {
		req, _ := http.NewRequest("GET", "http://"+api+"/2020-01-01/extension/event/next", nil)
		req.Header.Set("Lambda-Extension-Identifier", id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			os.Exit(1)
		}
		var ev struct{ EventType string }
		_ = json.NewDecoder(resp.Body).Decode(&ev)
		resp.Body.Close()
		fmt.Println("event", ev.EventType)
		if ev.EventType == "SHUTDOWN" {
			return
		}
	}
}
`

// TestBufferingMaxItems checks that a batch goes as soon as it holds maxItems events,
// long before timeoutMs.
func TestBufferingMaxItems(t *testing.T) {
	const lines = 2 * telemetryapi.BufferingMaxItemsMin
	var emu *Emulator
	runtime := HandlerRuntime(func(ctx context.Context, _ Invocation) ([]byte, error) {
		for range lines {
			emu.FunctionLog("line")
		}
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		emu.WaitDelivered(ctx, lines)
		return nil, nil
	})
	cfg := Config{Runtime: runtime, Timeout: 30 * time.Second, AwaitExtensions: []string{"test-ext"}}
	var err error
	emu, err = New(cfg)
	require.NoError(t, err)
	defer emu.Close()
	x := &testExtension{t: t, api: emu.RuntimeAPI(), client: &http.Client{}}
	x.register("test-ext", []string{EventInvoke}, false)
	status, _ := x.subscribe(telemetryapi.SubscribeRequest{
		SchemaVersion: telemetryapi.SchemaVersion20221213, Types: []string{telemetryapi.StreamFunction},
		Buffering:   telemetryapi.Buffering{MaxItems: telemetryapi.BufferingMaxItemsMin, TimeoutMs: telemetryapi.BufferingTimeoutMsMax},
		Destination: telemetryapi.Destination{Protocol: telemetryapi.ProtocolHTTP, URI: x.listen()},
	})
	require.Equal(t, http.StatusOK, status)
	done := make(chan struct{})
	go x.loop(done)
	_, err = emu.Start(context.Background())
	require.NoError(t, err)
	_, err = emu.Invoke(context.Background(), InvokeRequest{})
	require.NoError(t, err)
	x.mu.Lock()
	defer x.mu.Unlock()
	assert.Equal(t, 2, x.batches, "two full batches, without waiting 30 s")
	assert.Len(t, x.received, lines)
}
