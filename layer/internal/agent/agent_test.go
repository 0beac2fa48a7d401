// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/internal/testclock"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/layer/internal/config"
	"github.com/otelcol-lambda/otelcol-lambda/layer/internal/flush"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/gatewaytest"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/lambdaemu"
)

const extensionName = "otelcol-lambda-extension"

// sandbox is one emulated sandbox running the agent in-process.
type sandbox struct {
	t       *testing.T
	emu     *lambdaemu.Emulator
	gateway *gatewaytest.Gateway
	done    chan error

	mu    sync.Mutex
	logs  []string
	addrs map[string]string
}

func (s *sandbox) logf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logs = append(s.logs, fmt.Sprintf(format, args...))
}

func (s *sandbox) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.logs, "\n")
}

func (s *sandbox) addr(what string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addrs[what]
}

// testConfig is the default configuration with everything on loopback and free ports.
func testConfig(endpoint string) config.Config {
	cfg := config.Default()
	cfg.Endpoint = endpoint
	cfg.ListenerHost = "127.0.0.1"
	cfg.OTLPEndpoint = "127.0.0.1:0"
	cfg.PushEndpoint = "127.0.0.1:0"
	// Generous: these tests assert what arrives, never how fast, and machines are shared.
	cfg.FlushTimeout = 10 * time.Second
	return cfg
}

type sandboxOptions struct {
	cfg      func(*config.Config)
	emu      func(*lambdaemu.Config)
	handler  lambdaemu.Handler
	problems []error
	gateway  *gatewaytest.Gateway
	// clock is the agent's clock, which the test moves for the flush strategy's periods
	// and the breaker; nil: the real one.
	clock *testclock.Clock
	// env is added to the sandbox's environment.
	env map[string]string
	// proxyListen is where the Runtime API proxy listens (Options.RuntimeProxyListen).
	proxyListen string
}

func startSandbox(t *testing.T, o sandboxOptions) *sandbox {
	t.Helper()
	gw := o.gateway
	if gw == nil {
		gw = gatewaytest.New()
	}
	t.Cleanup(gw.Close)
	cfg := testConfig(gw.URL)
	// Each sandbox its own: tests run many at once on one machine.
	cfg.RuntimeAPIFile = filepath.Join(t.TempDir(), "runtime-api")
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	handler := o.handler
	if handler == nil {
		handler = func(_ context.Context, inv lambdaemu.Invocation) ([]byte, error) { return inv.Payload, nil }
	}
	ecfg := lambdaemu.Config{
		FunctionName: "checkout", MemorySizeMB: 256, Timeout: 30 * time.Second,
		Runtime:         lambdaemu.HandlerRuntime(handler),
		AwaitExtensions: []string{extensionName},
		ShutdownBudget:  10 * time.Second, // ends as soon as the agent has SHUTDOWN

	}
	if o.emu != nil {
		o.emu(&ecfg)
	}
	emu, err := lambdaemu.New(ecfg)
	require.NoError(t, err)
	s := &sandbox{t: t, emu: emu, gateway: gw, done: make(chan error, 1), addrs: map[string]string{}}
	env := map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME": "checkout", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "AWS_REGION": "us-east-1", "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
	}
	for k, v := range o.env {
		env[k] = v
	}
	var now func() time.Time
	if o.clock != nil {
		now = o.clock.Now
	}
	go func() {
		s.done <- Run(context.Background(), Options{
			Config: cfg, ConfigProblems: o.problems, RuntimeAPI: emu.RuntimeAPI(), Name: extensionName,
			Getenv: func(k string) string { return env[k] }, Logf: s.logf,
			Listening: func(what string, addr net.Addr) {
				s.mu.Lock()
				s.addrs[what] = addr.String()
				s.mu.Unlock()
			},
			Now:                now,
			RuntimeProxyListen: o.proxyListen,
		})
	}()
	t.Cleanup(func() { _ = emu.Close() })
	return s
}

func (s *sandbox) start() lambdaemu.InitResult {
	s.t.Helper()
	res, err := s.emu.Start(context.Background())
	require.NoError(s.t, err)
	return res
}

func (s *sandbox) invoke() lambdaemu.InvokeResult {
	s.t.Helper()
	res, err := s.emu.Invoke(context.Background(), lambdaemu.InvokeRequest{Payload: []byte(`{}`)})
	require.NoError(s.t, err)
	return res
}

// invokeSucceeding invokes n times, asserts that each invocation succeeded (whatever the
// gateway does), and returns their request ids.
func (s *sandbox) invokeSucceeding(n int) []string {
	s.t.Helper()
	ids := make([]string, n)
	for i := range ids {
		res := s.invoke()
		assert.Equal(s.t, telemetryapi.StatusSuccess, res.Status)
		ids[i] = res.RequestID
	}
	return ids
}

// shutdown ends the sandbox and waits for the agent to return.
func (s *sandbox) shutdown() {
	s.t.Helper()
	_, err := s.emu.Shutdown(context.Background(), lambdaemu.ShutdownSpindown)
	require.NoError(s.t, err)
	select {
	case err := <-s.done:
		require.NoError(s.t, err)
	case <-time.After(30 * time.Second):
		s.t.Fatal("the agent did not return after SHUTDOWN")
	}
}

// requestEvents returns the accepted events of one request id, by type.
func requestEvents(events []telemetryapi.Event, requestID string) map[string]int {
	out := map[string]int{}
	for _, ev := range events {
		rec, err := ev.DecodeRecord()
		if err != nil {
			continue
		}
		var id string
		switch r := rec.(type) {
		case *telemetryapi.PlatformStart:
			id = r.RequestID
		case *telemetryapi.PlatformRuntimeDone:
			id = r.RequestID
		case *telemetryapi.PlatformReport:
			id = r.RequestID
		}
		if id == requestID {
			out[ev.Type]++
		}
	}
	return out
}

func countType(events []telemetryapi.Event, typ string) int {
	n := 0
	for _, ev := range events {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

// checkSequences asserts that accepted batches are numbered 1, 2, 3... with one instance.
func checkSequences(t *testing.T, batches []gatewaytest.Batch) {
	t.Helper()
	var want uint64 = 1
	instance := ""
	for _, b := range batches {
		if b.Status != http.StatusOK || b.Replay {
			continue
		}
		if instance == "" {
			instance = b.Batch.Sandbox.ExtensionInstanceID
		}
		assert.Equal(t, instance, b.Batch.Sandbox.ExtensionInstanceID)
		assert.Equal(t, want, b.Batch.Sequence, "accepted batches are numbered without gaps")
		want = b.Batch.Sequence + 1
	}
}

func TestEndStrategy(t *testing.T) {
	s := startSandbox(t, sandboxOptions{cfg: func(c *config.Config) { c.Flush = flush.Strategy{End: true} }})
	s.start()
	var ids []string
	for i := range 3 {
		res := s.invoke()
		ids = append(ids, res.RequestID)
		// Before the extension signalled next, the invocation's runtimeDone was delivered.
		got := requestEvents(s.gateway.Accepted(), res.RequestID)
		assert.Equal(t, 1, got[telemetryapi.TypePlatformRuntimeDone], "invocation %d", i)
		assert.Equal(t, 1, got[telemetryapi.TypePlatformStart], "invocation %d", i)
		if i > 0 {
			// The previous report arrived with this invocation's thaw and went with its flush.
			prev := requestEvents(s.gateway.Accepted(), ids[i-1])
			assert.Equal(t, 1, prev[telemetryapi.TypePlatformReport], "report of invocation %d", i-1)
		}
	}
	s.shutdown()
	events := s.gateway.Accepted()
	for _, id := range ids {
		got := requestEvents(events, id)
		assert.Equal(t, map[string]int{telemetryapi.TypePlatformStart: 1, telemetryapi.TypePlatformRuntimeDone: 1, telemetryapi.TypePlatformReport: 1}, got)
	}
	assert.Equal(t, 1, countType(events, telemetryapi.TypePlatformInitStart))
	batches := s.gateway.Batches()
	checkSequences(t, batches)
	for _, b := range batches {
		assert.Empty(t, b.Batch.ReportsWithoutRuntimeDone)
		assert.Zero(t, b.Batch.DroppedEvents)
		assert.Equal(t, "gzip", b.Header.Get("Content-Encoding"))
		sb := b.Batch.Sandbox
		assert.Equal(t, "checkout", sb.FunctionName)
		assert.Equal(t, "123456789012", sb.AccountID, "from the accountId feature")
		assert.Equal(t, "arn:aws:lambda:us-east-1:123456789012:function:checkout", sb.FunctionARN)
		assert.Equal(t, float64(256), sb.MemorySizeMB)
		assert.Equal(t, "AWS_Lambda_python3.12", sb.Runtime)
		assert.NotEmpty(t, sb.Architecture)
		assert.NotEmpty(t, sb.ExtensionInstanceID)
	}
	// The timeout is known from the first INVOKE's deadline.
	assert.Equal(t, float64(30000), batches[len(batches)-1].Batch.Sandbox.TimeoutMs)
}

func TestPeriodicStrategyWaitsForThePeriod(t *testing.T) {
	s := startSandbox(t, sandboxOptions{cfg: func(c *config.Config) { c.Flush = flush.Strategy{Period: time.Hour} }})
	s.start()
	var ids []string
	for range 3 {
		ids = append(ids, s.invoke().RequestID)
	}
	assert.Empty(t, s.gateway.Batches(), "nothing is due within the period")
	s.shutdown()
	events := s.gateway.Accepted()
	for _, id := range ids {
		assert.Equal(t, 1, requestEvents(events, id)[telemetryapi.TypePlatformReport], "everything goes at SHUTDOWN")
	}
	checkSequences(t, s.gateway.Batches())
}

func TestPeriodicStrategyFlushesAtInvoke(t *testing.T) {
	var s *sandbox
	clock := testclock.New(time.Now())
	s = startSandbox(t, sandboxOptions{
		clock: clock,
		cfg:   func(c *config.Config) { c.Flush = flush.Strategy{Period: time.Minute} },
		// Each invocation lasts until Lambda delivered what it had buffered (the init
		// events, the previous report), as a function that runs longer than the 25 ms
		// buffering timeout does.
		handler: func(ctx context.Context, _ lambdaemu.Invocation) ([]byte, error) {
			s.emu.WaitDelivered(ctx, len(s.emu.Events()))
			return nil, nil
		},
	})
	s.start()
	clock.Add(time.Minute)
	first := s.invoke()
	assert.Empty(t, s.gateway.Batches(), "nothing was buffered at the first INVOKE")
	// The second INVOKE finds the period over and flushes what arrived during the first
	// invocation, while the function runs.
	clock.Add(time.Minute)
	s.invoke()
	assert.NotEmpty(t, s.gateway.Batches())
	assert.Equal(t, 1, countType(s.gateway.Accepted(), telemetryapi.TypePlatformInitStart))
	assert.Equal(t, 1, requestEvents(s.gateway.Accepted(), first.RequestID)[telemetryapi.TypePlatformStart])
	s.shutdown()
	assert.Equal(t, 1, requestEvents(s.gateway.Accepted(), first.RequestID)[telemetryapi.TypePlatformReport])
	checkSequences(t, s.gateway.Batches())
}

func TestEndPeriodicallyFlushesDuringLongInvocations(t *testing.T) {
	var s *sandbox
	handler := func(ctx context.Context, _ lambdaemu.Invocation) ([]byte, error) {
		s.emu.FunctionLog("working")
		// Return only once the log line reached the gateway: a periodic flush during the
		// invocation sent it.
		for {
			for _, ev := range s.gateway.Accepted() {
				if ev.Type == telemetryapi.TypeFunction {
					return []byte("done"), nil
				}
			}
			select {
			case <-s.gateway.Changed():
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	s = startSandbox(t, sandboxOptions{
		cfg:     func(c *config.Config) { c.Flush = flush.Strategy{End: true, Period: 20 * time.Millisecond} },
		handler: handler,
		emu:     func(c *lambdaemu.Config) { c.Timeout = 20 * time.Second },
	})
	s.start()
	res := s.invoke()
	assert.Equal(t, telemetryapi.StatusSuccess, res.Status)
	assert.Equal(t, "done", string(res.Response))
	s.shutdown()
}

func TestAdaptiveStartsWithEnd(t *testing.T) {
	s := startSandbox(t, sandboxOptions{})
	s.start()
	res := s.invoke()
	assert.Equal(t, 1, requestEvents(s.gateway.Accepted(), res.RequestID)[telemetryapi.TypePlatformRuntimeDone],
		"a rarely invoked function flushes at the end of the invocation")
	s.shutdown()
}

func TestGatewayDownNeverFailsTheFunction(t *testing.T) {
	gw := gatewaytest.New()
	gw.SetPolicy(func(*http.Request, []telemetryapi.Event) int { return http.StatusServiceUnavailable })
	s := startSandbox(t, sandboxOptions{gateway: gw, cfg: func(c *config.Config) {
		c.Flush = flush.Strategy{End: true}
		c.FlushTimeout = 50 * time.Millisecond
	}})
	s.start()
	ids := s.invokeSucceeding(5)
	assert.Empty(t, gw.Accepted())
	// The gateway comes back: SHUTDOWN delivers everything that was buffered.
	gw.SetPolicy(nil)
	s.shutdown()
	events := gw.Accepted()
	for _, id := range ids {
		assert.Equal(t, map[string]int{telemetryapi.TypePlatformStart: 1, telemetryapi.TypePlatformRuntimeDone: 1, telemetryapi.TypePlatformReport: 1},
			requestEvents(events, id))
	}
	checkSequences(t, gw.Batches())
	assert.Contains(t, s.log(), "cannot reach the gateway")
	assert.Contains(t, s.log(), "reachable again")
}

// TestBreakerSkipsFlushesWhileTheGatewayFails: after a failed flush, the flushes the
// function waits for are skipped for a backoff that doubles with each failure, so a gateway
// that is down costs most invocations nothing.
func TestBreakerSkipsFlushesWhileTheGatewayFails(t *testing.T) {
	gw := gatewaytest.New()
	gw.SetPolicy(func(*http.Request, []telemetryapi.Event) int { return http.StatusServiceUnavailable })
	clock := testclock.New(time.Now())
	s := startSandbox(t, sandboxOptions{gateway: gw, clock: clock, cfg: func(c *config.Config) {
		c.Flush = flush.Strategy{End: true}
		// Time for an attempt to reach the gateway on a loaded machine; the 503's
		// Retry-After (1 s) does not fit, so a flush is one attempt.
		c.FlushTimeout = 900 * time.Millisecond
	}})
	s.start()
	steps := []struct {
		advance time.Duration
		flushes bool
	}{
		{advance: 0, flushes: true}, // fails: skip for 1 s
		{advance: 0, flushes: false},
		{advance: time.Second, flushes: true}, // fails again: skip for 2 s
		{advance: time.Second, flushes: false},
		{advance: time.Second, flushes: true},
	}
	for i, step := range steps {
		clock.Add(step.advance)
		before := len(gw.Batches())
		assert.Equal(t, telemetryapi.StatusSuccess, s.invoke().Status)
		assert.Equal(t, step.flushes, len(gw.Batches()) > before, "invocation %d", i)
	}
	// SHUTDOWN ignores the breaker.
	gw.SetPolicy(nil)
	s.shutdown()
	assert.Equal(t, len(steps), countType(gw.Accepted(), telemetryapi.TypePlatformReport))
}

func TestBufferFullDropsOldestAndReportsIt(t *testing.T) {
	gw := gatewaytest.New()
	gw.SetPolicy(func(*http.Request, []telemetryapi.Event) int { return http.StatusServiceUnavailable })
	line := strings.Repeat("x", 4000)
	var s *sandbox
	s = startSandbox(t, sandboxOptions{
		gateway: gw,
		cfg: func(c *config.Config) {
			c.Flush = flush.Strategy{End: true}
			c.FlushTimeout = 20 * time.Millisecond
			c.BufferBytes = 64 << 10
		},
		handler: func(context.Context, lambdaemu.Invocation) ([]byte, error) {
			for range 10 {
				s.emu.FunctionLog(line)
			}
			return nil, nil
		},
	})
	s.start()
	const invocations = 5 // 50 lines of 4 kB: more than the 64 KiB buffer
	for range invocations {
		s.invoke()
	}
	gw.SetPolicy(nil)
	s.shutdown()
	batches := gw.Batches()
	var reported uint64
	for _, b := range batches {
		if b.Status == http.StatusOK && !b.Replay {
			reported += b.Batch.DroppedEvents
		}
	}
	logs := countType(gw.Accepted(), telemetryapi.TypeFunction)
	assert.Positive(t, reported, "the drops are reported to the gateway")
	assert.Less(t, logs, invocations*10)
	assert.Contains(t, s.log(), "were dropped")
	checkSequences(t, batches)
}

func TestGatewaySlowReplaysKeepTheirSequence(t *testing.T) {
	gw := gatewaytest.New()
	var mu sync.Mutex
	slowLeft := 2
	gw.SetPolicy(func(r *http.Request, _ []telemetryapi.Event) int {
		mu.Lock()
		slow := slowLeft > 0
		slowLeft--
		mu.Unlock()
		if slow {
			// Accepted, but answered after the extension gave up: a retry follows.
			<-r.Context().Done()
		}
		return 0
	})
	s := startSandbox(t, sandboxOptions{gateway: gw, cfg: func(c *config.Config) {
		c.Flush = flush.Strategy{End: true}
		c.FlushTimeout = 30 * time.Millisecond
	}, emu: func(c *lambdaemu.Config) { c.ShutdownBudget = lambdaemu.DefaultShutdownBudget }})
	s.start()
	ids := s.invokeSucceeding(4)
	s.shutdown()
	batches := gw.Batches()
	bodies := map[uint64][]byte{}
	replays := 0
	for _, b := range batches {
		if prev, ok := bodies[b.Batch.Sequence]; ok {
			replays++
			assert.Equal(t, prev, b.Raw, "a retry resends the same batch under the same number")
			assert.True(t, b.Replay)
		}
		bodies[b.Batch.Sequence] = b.Raw
	}
	assert.Positive(t, replays)
	// Deduped by sequence, every invocation counts once.
	events := gw.Accepted()
	for _, id := range ids {
		assert.Equal(t, 1, requestEvents(events, id)[telemetryapi.TypePlatformRuntimeDone])
		assert.Equal(t, 1, requestEvents(events, id)[telemetryapi.TypePlatformReport])
	}
}

func TestOversizeBatchesAreSplit(t *testing.T) {
	gw := gatewaytest.New()
	gw.SetPolicy(func(_ *http.Request, events []telemetryapi.Event) int {
		if len(events) > 2 {
			return http.StatusRequestEntityTooLarge
		}
		return 0
	})
	s := startSandbox(t, sandboxOptions{gateway: gw, cfg: func(c *config.Config) { c.Flush = flush.Strategy{End: true} }})
	s.start()
	var ids []string
	for range 3 {
		ids = append(ids, s.invoke().RequestID)
	}
	s.shutdown()
	events := gw.Accepted()
	for _, id := range ids {
		assert.Equal(t, map[string]int{telemetryapi.TypePlatformStart: 1, telemetryapi.TypePlatformRuntimeDone: 1, telemetryapi.TypePlatformReport: 1},
			requestEvents(events, id))
	}
	refused := 0
	for _, b := range gw.Batches() {
		if b.Status == http.StatusRequestEntityTooLarge {
			refused++
		} else {
			assert.LessOrEqual(t, len(b.Events), 2)
		}
	}
	assert.Positive(t, refused)
	checkSequences(t, gw.Batches())
}

func TestReportWithoutRuntimeDoneIsMarked(t *testing.T) {
	calls := 0
	s := startSandbox(t, sandboxOptions{
		cfg: func(c *config.Config) { c.Flush = flush.Strategy{End: true} },
		handler: func(context.Context, lambdaemu.Invocation) ([]byte, error) {
			calls++
			if calls == 2 {
				return nil, &lambdaemu.RuntimeExitError{ErrorType: "Runtime.OutOfMemory"}
			}
			return []byte("ok"), nil
		},
		emu: func(c *lambdaemu.Config) { c.Timeout = 3 * time.Second },
	})
	s.start()
	ok := s.invoke()
	crash, err := s.emu.Invoke(context.Background(), lambdaemu.InvokeRequest{})
	require.NoError(t, err)
	require.True(t, crash.Reset, "the sandbox is reset after the crash")
	select {
	case err := <-s.done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the agent did not return after SHUTDOWN")
	}
	marked := map[string]bool{}
	for _, b := range s.gateway.Batches() {
		if b.Status != http.StatusOK || b.Replay {
			continue
		}
		for _, idx := range b.Batch.ReportsWithoutRuntimeDone {
			require.Less(t, idx, len(b.Events))
			ev := b.Events[idx]
			require.Equal(t, telemetryapi.TypePlatformReport, ev.Type)
			rec, err := ev.DecodeRecord()
			require.NoError(t, err)
			marked[rec.(*telemetryapi.PlatformReport).RequestID] = true
		}
	}
	assert.Equal(t, map[string]bool{crash.RequestID: true}, marked, "only the crashed invocation's report is marked")
	assert.Equal(t, 1, requestEvents(s.gateway.Accepted(), ok.RequestID)[telemetryapi.TypePlatformReport])
}

func TestOTLPIsForwardedByteForByte(t *testing.T) {
	s := startSandbox(t, sandboxOptions{cfg: func(c *config.Config) { c.Flush = flush.Strategy{End: true} }})
	s.start()
	payload := []byte{0x0a, 0x03, 0xff, 0x00, 0x7f, 'o', 't', 'l', 'p'} // opaque bytes, not decoded
	tests := []struct {
		path, contentType, encoding, wantResponse string
	}{
		{"/v1/traces", "application/x-protobuf", "gzip", ""},
		{"/v1/metrics", "application/json", "", "{}"},
		{"/v1/logs", "application/x-protobuf", "", ""},
	}
	for _, tt := range tests {
		req, err := http.NewRequest(http.MethodPost, "http://"+s.addr("otlp")+tt.path, bytes.NewReader(payload))
		require.NoError(t, err)
		req.Header.Set("Content-Type", tt.contentType)
		if tt.encoding != "" {
			req.Header.Set("Content-Encoding", tt.encoding)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, tt.wantResponse, string(body))
	}
	// A wrong content type and a wrong path are refused with a message.
	resp, err := http.Post("http://"+s.addr("otlp")+"/v1/traces", "text/plain", strings.NewReader("x"))
	require.NoError(t, err)
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)
	assert.Contains(t, string(msg), "application/x-protobuf")

	s.invoke() // the end-of-invocation flush sends them
	got := s.gateway.Payloads()
	require.Len(t, got, len(tests))
	for i, tt := range tests {
		assert.Equal(t, tt.path, got[i].Path)
		assert.Equal(t, payload, got[i].Body, "forwarded as received")
		assert.Equal(t, tt.contentType, got[i].Header.Get("Content-Type"))
		assert.Equal(t, tt.encoding, got[i].Header.Get("Content-Encoding"))
		assert.Equal(t, "checkout", got[i].Header.Get(wire.HeaderFunctionName))
		assert.NotEmpty(t, got[i].Header.Get(wire.HeaderExtensionInstanceID))
		assert.Equal(t, "256", got[i].Header.Get(wire.HeaderMemorySizeMB))
	}
	s.shutdown()
}

// TestBearerToken: the gateway takes what carries its token; with a wrong one, everything
// is dropped, the log says why, and the function never fails.
func TestBearerToken(t *testing.T) {
	for _, tt := range []struct {
		name, token string
		reports     int
	}{
		{name: "right", token: "s3cret", reports: 1},
		{name: "wrong", token: "wrong", reports: 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			gw := gatewaytest.New()
			gw.Token = "s3cret"
			s := startSandbox(t, sandboxOptions{gateway: gw, cfg: func(c *config.Config) {
				c.Flush = flush.Strategy{End: true}
				c.Token = tt.token
			}})
			s.start()
			res := s.invoke()
			assert.Equal(t, telemetryapi.StatusSuccess, res.Status)
			s.shutdown()
			assert.Equal(t, tt.reports, requestEvents(gw.Accepted(), res.RequestID)[telemetryapi.TypePlatformReport])
			if tt.reports == 0 {
				assert.Empty(t, gw.Accepted())
				assert.Contains(t, s.log(), "HTTP 401")
			}
		})
	}
}

func TestPushgatewayAPI(t *testing.T) {
	s := startSandbox(t, sandboxOptions{cfg: func(c *config.Config) { c.Flush = flush.Strategy{End: true} }})
	s.start()
	base := "http://" + s.addr("pushgateway")
	push := func(method, path, body string) (int, string) {
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "text/plain; version=0.0.4")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		msg, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(msg)
	}
	code, _ := push(http.MethodPut, "/metrics/job/orders/queue@base64/cmVwb3J0cy9kYWlseQ",
		"# TYPE orders_total counter\norders_total{status=\"ok\"} 3\n# TYPE inflight gauge\ninflight 2\n")
	assert.Equal(t, http.StatusOK, code)
	// Bad input: 400 with a message naming the problem.
	code, msg := push(http.MethodPut, "/metrics/job/orders", "orders_total{status=\"ok\" 3\n")
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, msg, "line 1")
	code, msg = push(http.MethodPut, "/metrics/job/orders/only-a-name", "x 1\n")
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, msg, "value for every label")

	s.invoke()
	got := s.gateway.Payloads()
	require.Len(t, got, 1)
	assert.Equal(t, "/v1/metrics", got[0].Path)
	assert.Equal(t, "application/json", got[0].Header.Get("Content-Type"))
	assert.Equal(t, "checkout", got[0].Header.Get(wire.HeaderFunctionName))
	var req struct {
		ResourceMetrics []struct {
			Resource struct {
				Attributes []struct {
					Key   string
					Value map[string]string
				}
			}
			ScopeMetrics []struct {
				Metrics []struct {
					Name string
					Sum  *struct {
						AggregationTemporality int
						IsMonotonic            bool
						DataPoints             []struct {
							Attributes []struct {
								Key   string
								Value map[string]string
							}
							StartTimeUnixNano string
							TimeUnixNano      string
							AsDouble          float64
						}
					}
				}
			}
		}
	}
	assert.Equal(t, "gzip", got[0].Header.Get("Content-Encoding"))
	require.NoError(t, json.Unmarshal(plain(t, got[0]), &req))
	require.Len(t, req.ResourceMetrics, 1)
	attrs := map[string]string{}
	for _, a := range req.ResourceMetrics[0].Resource.Attributes {
		attrs[a.Key] = a.Value["stringValue"] + a.Value["intValue"]
	}
	assert.Equal(t, "orders", attrs["service.name"])
	assert.Equal(t, "checkout", attrs["faas.name"])
	assert.Equal(t, "268435456", attrs["faas.max_memory"])
	assert.NotEmpty(t, attrs["faas.instance"])
	metrics := req.ResourceMetrics[0].ScopeMetrics[0].Metrics
	require.Len(t, metrics, 2)
	counter := metrics[1]
	require.Equal(t, "orders_total", counter.Name)
	require.NotNil(t, counter.Sum)
	assert.Equal(t, 1, counter.Sum.AggregationTemporality, "delta: the increments since the last accepted batch")
	assert.True(t, counter.Sum.IsMonotonic)
	dp := counter.Sum.DataPoints[0]
	assert.Equal(t, float64(3), dp.AsDouble)
	assert.NotEmpty(t, dp.StartTimeUnixNano)
	pointAttrs := map[string]string{}
	for _, a := range dp.Attributes {
		pointAttrs[a.Key] = a.Value["stringValue"]
	}
	assert.Equal(t, map[string]string{"queue": "reports/daily", "status": "ok"}, pointAttrs)

	assert.NotEmpty(t, got[0].Header.Get("Lambda-Batch-Sequence"), "numbered, so that the gateway recognises a resend")

	// Nothing pushed, nothing sent; a new push sends its increment, from the last batch on.
	s.invoke()
	assert.Len(t, s.gateway.Payloads(), 1)
	code, _ = push(http.MethodPost, "/metrics/job/orders/queue@base64/cmVwb3J0cy9kYWlseQ", "# TYPE orders_total counter\norders_total{status=\"ok\"} 5\n")
	assert.Equal(t, http.StatusOK, code)
	code, _ = push(http.MethodDelete, "/metrics/job/orders", "")
	assert.Equal(t, http.StatusAccepted, code)
	s.invoke()
	got = s.gateway.Payloads()
	require.Len(t, got, 2)
	require.NoError(t, json.Unmarshal(plain(t, got[1]), &req))
	metrics = req.ResourceMetrics[0].ScopeMetrics[0].Metrics
	require.Len(t, metrics, 1, "only what was pushed")
	assert.Equal(t, float64(2), metrics[0].Sum.DataPoints[0].AsDouble, "from 3 to 5")
	assert.Equal(t, dp.TimeUnixNano, metrics[0].Sum.DataPoints[0].StartTimeUnixNano, "the increment starts where the last batch ended")
	s.shutdown()
}

func plain(t *testing.T, p gatewaytest.Payload) []byte {
	t.Helper()
	b, err := p.Plain()
	require.NoError(t, err)
	return b
}

func TestNoEndpointStaysOutOfTheWay(t *testing.T) {
	s := startSandbox(t, sandboxOptions{cfg: func(c *config.Config) { c.Endpoint = "" }})
	init := s.start()
	require.Len(t, init.Extensions, 1)
	assert.Equal(t, []string{lambdaemu.EventShutdown}, init.Extensions[0].Events, "not waited for at invocations")
	res := s.invoke()
	assert.Equal(t, telemetryapi.StatusSuccess, res.Status)
	s.shutdown()
	assert.Contains(t, s.log(), "OTELCOL_LAMBDA_ENDPOINT is not set")
	assert.Empty(t, s.gateway.Batches())
}

func TestStrictConfigFailsTheInit(t *testing.T) {
	s := startSandbox(t, sandboxOptions{
		cfg:      func(c *config.Config) { c.Strict = true },
		problems: []error{fmt.Errorf(`invalid OTELCOL_LAMBDA_FLUSH="x": bad; using adaptive`)},
	})
	res, err := s.emu.Start(context.Background())
	require.Error(t, err)
	assert.Contains(t, res.Error, "Extension.ConfigInvalid")
	assert.ErrorIs(t, <-s.done, ErrStrictConfig)
	assert.Contains(t, s.log(), "OTELCOL_LAMBDA_FLUSH")
}

func TestLenientConfigLogsAndGoesOn(t *testing.T) {
	s := startSandbox(t, sandboxOptions{
		cfg:      func(c *config.Config) { c.Flush = flush.Strategy{End: true} },
		problems: []error{fmt.Errorf(`invalid OTELCOL_LAMBDA_FLUSH="x": bad; using adaptive`)},
	})
	s.start()
	s.invoke()
	s.shutdown()
	assert.Contains(t, s.log(), `config: invalid OTELCOL_LAMBDA_FLUSH="x"`)
	assert.NotEmpty(t, s.gateway.Accepted())
}
