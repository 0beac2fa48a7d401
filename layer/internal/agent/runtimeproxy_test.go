// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/layer/internal/config"
	"github.com/otelcol-lambda/otelcol-lambda/layer/internal/flush"
	"github.com/otelcol-lambda/otelcol-lambda/layer/internal/runtimeproxy"
	"github.com/otelcol-lambda/otelcol-lambda/layer/wrapper"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/lambdaemu"
)

// wrapperEnv is what a function that uses the layer's wrapper has.
var wrapperEnv = map[string]string{"AWS_LAMBDA_EXEC_WRAPPER": "/opt/" + wrapper.Name}

// wrappedRuntime runs handler as a runtime that Lambda started through
// /opt/otelcol-lambda-wrapper when wrapped: it talks to the address the extension
// published in file, if any, else to Lambda (the script itself is tested in
// layer/wrapper). used receives the address it talked to.
func wrappedRuntime(wrapped bool, file string, handler lambdaemu.Handler, used chan<- string) lambdaemu.RuntimeFunc {
	return func(ctx context.Context, api string) error {
		if b, err := os.ReadFile(file); err == nil && wrapped {
			api = strings.TrimSpace(string(b))
		}
		select {
		case used <- api:
		default: // a restarted runtime: the test looks at the first
		}
		return lambdaemu.HandlerRuntime(handler)(ctx, api)
	}
}

type proxySandbox struct {
	*sandbox
	file string
	used chan string
}

// startProxySandbox starts a sandbox with the end strategy whose runtime goes through the
// wrapper if o.env sets AWS_LAMBDA_EXEC_WRAPPER, with the address file at file ("": a new
// one).
func startProxySandbox(t *testing.T, o sandboxOptions, file string, handler lambdaemu.Handler) *proxySandbox {
	t.Helper()
	if file == "" {
		file = filepath.Join(t.TempDir(), "runtime-api")
	}
	ps := &proxySandbox{file: file, used: make(chan string, 1)}
	cfg := o.cfg
	o.cfg = func(c *config.Config) {
		c.Flush = flush.Strategy{End: true}
		c.RuntimeAPIFile = ps.file
		if cfg != nil {
			cfg(c)
		}
	}
	if handler == nil {
		handler = func(_ context.Context, inv lambdaemu.Invocation) ([]byte, error) { return inv.Payload, nil }
	}
	emu := o.emu
	o.emu = func(c *lambdaemu.Config) {
		c.Runtime = wrappedRuntime(o.env["AWS_LAMBDA_EXEC_WRAPPER"] != "", ps.file, handler, ps.used)
		if emu != nil {
			emu(c)
		}
	}
	ps.sandbox = startSandbox(t, o)
	return ps
}

// runtimeAPI is the address the runtime talked to.
func (ps *proxySandbox) runtimeAPI() string {
	select {
	case api := <-ps.used:
		return api
	case <-time.After(30 * time.Second):
		ps.t.Fatal("the runtime did not start")
		return ""
	}
}

func (ps *proxySandbox) invokeWith(payload []byte) lambdaemu.InvokeResult {
	ps.t.Helper()
	res, err := ps.emu.Invoke(context.Background(), lambdaemu.InvokeRequest{Payload: payload})
	require.NoError(ps.t, err)
	return res
}

func sqsEvent(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "sqs-event.json"))
	require.NoError(t, err)
	return b
}

// eventRequestID is the request id of a start, runtimeDone, report or otelcol.invocation.
func eventRequestID(ev telemetryapi.Event) string {
	var rec struct {
		RequestID string `json:"requestId"`
	}
	_ = json.Unmarshal(ev.Record, &rec)
	return rec.RequestID
}

// invocationBefore returns the otelcol.invocation record that the gateway received just
// before the event of type typ of requestID, failing the test if there is none.
func invocationBefore(t *testing.T, events []telemetryapi.Event, typ, requestID string) (telemetryapi.Event, telemetryapi.Invocation) {
	t.Helper()
	for i, ev := range events {
		if ev.Type != typ || eventRequestID(ev) != requestID {
			continue
		}
		require.Positive(t, i, "nothing before the %s of %s", typ, requestID)
		prev := events[i-1]
		require.Equal(t, telemetryapi.TypeInvocation, prev.Type, "just before the %s of %s", typ, requestID)
		var rec telemetryapi.Invocation
		require.NoError(t, json.Unmarshal(prev.Record, &rec))
		require.Equal(t, requestID, rec.RequestID)
		return prev, rec
	}
	t.Fatalf("no %s of %s at the gateway", typ, requestID)
	return telemetryapi.Event{}, telemetryapi.Invocation{}
}

// TestRuntimeProxyTellsTheEventSource: a function that starts its runtime through the
// wrapper gets its invocations' event source and errorType to the gateway, each in an
// otelcol.invocation event just before the invocation's runtimeDone.
func TestRuntimeProxyTellsTheEventSource(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	ps := startProxySandbox(t, sandboxOptions{env: wrapperEnv}, "", func(context.Context, lambdaemu.Invocation) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 2 {
			return nil, errors.New("poison message")
		}
		return []byte(`{"batchItemFailures":[]}`), nil
	})
	ps.start()
	api := ps.runtimeAPI()
	assert.NotEqual(t, ps.emu.RuntimeAPI(), api, "the runtime talks to the proxy")
	published, err := os.ReadFile(ps.file)
	require.NoError(t, err)
	assert.Equal(t, api+"\n", string(published))
	assert.Contains(t, ps.log(), "Runtime API proxy on "+api)

	want := &telemetryapi.EventSource{
		Kind: "sqs", Trigger: "pubsub", MessagingSystem: "aws_sqs", Destination: "SQSQueue",
		ARN: "arn:aws:sqs:us-west-2:123456789012:SQSQueue", EventTimeUnixMs: 1520621625029, BatchSize: 1,
	}
	event := sqsEvent(t)
	var results []lambdaemu.InvokeResult
	for i := range 3 {
		res := ps.invokeWith(event)
		results = append(results, res)
		wantStatus, wantErrorType := telemetryapi.StatusSuccess, ""
		if i == 1 {
			wantStatus, wantErrorType = telemetryapi.StatusError, "Handled"
		}
		assert.Equal(t, wantStatus, res.Status, "invocation %d", i)
		// The end strategy flushed the invocation's runtimeDone, and its finding with it.
		ev, rec := invocationBefore(t, ps.gateway.Accepted(), telemetryapi.TypePlatformRuntimeDone, res.RequestID)
		assert.Equal(t, want, rec.Source, "invocation %d", i)
		assert.Equal(t, wantErrorType, rec.ErrorType, "invocation %d", i)
		// The event's time is when the proxy received the event: within the invocation.
		assert.False(t, ev.Time.Before(res.Start.Truncate(time.Millisecond)), "invocation %d: %v before %v", i, ev.Time, res.Start)
	}
	ps.shutdown()
	events := ps.gateway.Accepted()
	assert.Equal(t, len(results), countType(events, telemetryapi.TypeInvocation), "one per invocation")
	for _, res := range results {
		got := requestEvents(events, res.RequestID)
		assert.Equal(t, 1, got[telemetryapi.TypePlatformRuntimeDone])
		assert.Equal(t, 1, got[telemetryapi.TypePlatformReport])
	}
	for _, b := range ps.gateway.Batches() {
		assert.Empty(t, b.Batch.ReportsWithoutRuntimeDone)
	}
	assert.NoFileExists(t, ps.file, "withdrawn at SHUTDOWN")
	assert.Contains(t, ps.log(), "runtime API proxy: 3 invocation events queued, 0 forgotten, 0 error types too late, 0 out-of-bounds fields dropped; 0 callbacks dropped, 0 callback panics, 0 upstream errors")
}

// TestRuntimeProxyFindingOfACrash: a runtime that dies mid-invocation has no runtimeDone;
// its finding goes just before the report the extension marks.
func TestRuntimeProxyFindingOfACrash(t *testing.T) {
	ps := startProxySandbox(t, sandboxOptions{
		env: wrapperEnv,
		emu: func(c *lambdaemu.Config) { c.Timeout = 3 * time.Second },
	}, "", func(context.Context, lambdaemu.Invocation) ([]byte, error) {
		return nil, &lambdaemu.RuntimeExitError{ErrorType: "Runtime.OutOfMemory"}
	})
	ps.start()
	assert.NotEqual(t, ps.emu.RuntimeAPI(), ps.runtimeAPI())
	crash := ps.invokeWith(sqsEvent(t))
	require.True(t, crash.Reset)
	select {
	case err := <-ps.done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the agent did not return after SHUTDOWN")
	}
	_, rec := invocationBefore(t, ps.gateway.Accepted(), telemetryapi.TypePlatformReport, crash.RequestID)
	require.NotNil(t, rec.Source)
	assert.Equal(t, "sqs", rec.Source.Kind)
	assert.Empty(t, rec.ErrorType, "the runtime posted none")
}

// TestRuntimeProxyNeverBreaksTheFunction: whenever the proxy does not run, nothing is
// published (a stale address is removed), the runtime talks to Lambda, and the gateway
// gets what it gets without the proxy.
func TestRuntimeProxyNeverBreaksTheFunction(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	tests := []struct {
		name        string
		env         map[string]string
		mode        config.ProxyMode
		proxyListen string
		badFile     bool
		log         string
	}{
		{name: "listen address taken", env: wrapperEnv, mode: config.ProxyAuto, proxyListen: taken.Addr().String(), log: "runtime API proxy: runtimeproxy: listen"},
		{name: "address cannot be written", env: wrapperEnv, mode: config.ProxyOn, badFile: true, log: "not a directory"},
		{name: "off", env: wrapperEnv, mode: config.ProxyOff, log: "Runtime API proxy off"},
		{name: "no wrapper", mode: config.ProxyAuto, log: "Runtime API proxy off (AWS_LAMBDA_EXEC_WRAPPER does not name otelcol-lambda-wrapper; set OTELCOL_LAMBDA_RUNTIME_PROXY=on if the bootstrap execs it)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "runtime-api")
			if tt.badFile {
				// Under a regular file: no directory to write in.
				require.NoError(t, os.WriteFile(filepath.Join(dir, "file"), nil, 0o644))
				file = filepath.Join(dir, "file", "runtime-api")
			} else {
				// A previous extension's address, to a proxy long gone.
				require.NoError(t, os.WriteFile(file, []byte("127.0.0.1:1\n"), 0o644))
			}
			ps := startProxySandbox(t, sandboxOptions{
				env:         tt.env,
				proxyListen: tt.proxyListen,
				cfg:         func(c *config.Config) { c.RuntimeProxy = tt.mode },
			}, file, nil)
			ps.start()
			api := ps.runtimeAPI()
			res := ps.invokeWith(sqsEvent(t))
			assert.Equal(t, telemetryapi.StatusSuccess, res.Status)
			ps.shutdown()
			assert.Equal(t, ps.emu.RuntimeAPI(), api, "the runtime talks to Lambda")
			if tt.env == nil {
				assert.FileExists(t, file, "without the wrapper, the extension touches no file")
			} else {
				assert.NoFileExists(t, file, "the stale address is gone")
			}
			assert.Zero(t, countType(ps.gateway.Accepted(), telemetryapi.TypeInvocation))
			assert.Equal(t, 1, requestEvents(ps.gateway.Accepted(), res.RequestID)[telemetryapi.TypePlatformReport])
			assert.Contains(t, ps.log(), tt.log)
			assert.NotContains(t, ps.log(), "invocation events queued", "no proxy stats without a proxy")
		})
	}
}

func TestWrapperNameIsTheLayers(t *testing.T) {
	assert.Equal(t, wrapper.Name, wrapperName)
	assert.True(t, usesWrapper(func(string) string { return "/opt/otelcol-lambda-wrapper" }))
	assert.False(t, usesWrapper(func(string) string { return "/opt/other-wrapper" }))
}

func TestPublishAddressReplacesTheFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "runtime-api")
	require.NoError(t, os.WriteFile(file, []byte("127.0.0.1:1\n"), 0o600))
	require.NoError(t, publishAddress(file, "127.0.0.1:40000"))
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:40000\n", string(b))
	info, err := os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), info.Mode().Perm())
	entries, err := os.ReadDir(filepath.Dir(file))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left")
}

// BenchmarkProxyStart is what the Runtime API proxy adds to the extension's init: create
// and start it, publish its address, and (not part of the init, but so that each
// iteration starts from nothing) close it and remove the file. ns/op covers all of it;
// start+publish-µs the init's part.
func BenchmarkProxyStart(b *testing.B) {
	upstream, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	defer upstream.Close()
	file := filepath.Join(b.TempDir(), "runtime-api")
	cfg := runtimeproxy.Config{
		Upstream:     upstream.Addr().String(),
		OnInvocation: func(runtimeproxy.Invocation) {},
		OnOutcome:    func(runtimeproxy.Outcome) {},
	}
	b.ReportAllocs()
	var wall time.Duration
	for b.Loop() {
		t0 := time.Now()
		p, _, err := startProxy(context.Background(), cfg, file)
		wall += time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		p.Close()
		_ = os.Remove(file)
	}
	b.ReportMetric(float64(wall.Microseconds())/float64(b.N), "start+publish-µs")
}
