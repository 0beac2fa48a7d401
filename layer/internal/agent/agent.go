// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package agent is the extension's event loop: it registers with the Extensions API,
// subscribes to the Telemetry API, serves OTLP/HTTP and the Pushgateway API, and on each
// INVOKE and at SHUTDOWN decides whether and how long to flush before signalling that it
// is done. When the function starts its runtime through the layer's wrapper script, it also
// runs the Runtime API proxy (layer/internal/runtimeproxy) and sends what the proxy finds
// of each invocation (event source, errorType) with the invocation's platform events. It
// never fails the function: anything that goes wrong is logged, and the extension keeps
// answering Lambda.
package agent // import "github.com/otelcol-lambda/otelcol-lambda/layer/internal/agent"

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/layer/internal/config"
	"github.com/otelcol-lambda/otelcol-lambda/layer/internal/extapi"
	"github.com/otelcol-lambda/otelcol-lambda/layer/internal/flush"
	"github.com/otelcol-lambda/otelcol-lambda/layer/internal/forward"
	"github.com/otelcol-lambda/otelcol-lambda/layer/internal/otlpproxy"
	"github.com/otelcol-lambda/otelcol-lambda/layer/internal/pushgw"
	"github.com/otelcol-lambda/otelcol-lambda/layer/internal/queue"
	"github.com/otelcol-lambda/otelcol-lambda/layer/internal/runtimeproxy"
	"github.com/otelcol-lambda/otelcol-lambda/layer/internal/telemetry"
)

// Timing bounds.
const (
	// runtimeDoneGrace is how long after the invocation's deadline the end strategy still
	// waits for runtimeDone (Lambda sends a timed-out invocation's runtimeDone then).
	runtimeDoneGrace = 100 * time.Millisecond
	// shutdownMargin is kept free before the SHUTDOWN deadline, to exit before SIGKILL.
	shutdownMargin = 100 * time.Millisecond
	// shutdownReportWait bounds the wait for the last invocation's platform.report.
	shutdownReportWait = 500 * time.Millisecond
	// breakerMax bounds how long blocking flushes are skipped after failures.
	breakerMax = 30 * time.Second
	// The Telemetry API's buffering: the minimum timeout, so that the end strategy waits
	// as little as Lambda allows for runtimeDone.
	bufferingTimeoutMs = telemetryapi.BufferingTimeoutMsMin
)

// Options are what the process gives the agent.
type Options struct {
	Config config.Config
	// ConfigProblems are the configuration errors Load found (the Config already holds
	// the fallbacks).
	ConfigProblems []error
	// RuntimeAPI is AWS_LAMBDA_RUNTIME_API.
	RuntimeAPI string
	// Name is the extension's file name, which Lambda requires at registration.
	Name string
	// Getenv reads the sandbox's environment (function name, region, ...).
	Getenv func(string) string
	// Logf writes the extension's log (never called from the telemetry handler).
	Logf func(format string, args ...any)
	// Listening, if set, is told where each server listens ("telemetry", "otlp",
	// "pushgateway"): tests serve on port 0.
	Listening func(what string, addr net.Addr)
	// Now is the extension's clock (time.Now when nil): the flush strategy's gaps and
	// periods, the breaker and the pushes' timestamps are measured with it. Lambda's
	// deadlines are not: they are instants on the wall clock Lambda shares with the
	// sandbox, and become real timers.
	Now func() time.Time
	// RuntimeProxyListen is where the Runtime API proxy listens (127.0.0.1, any free
	// port, when empty).
	RuntimeProxyListen string
}

// Agent is one running extension.
type Agent struct {
	opts Options
	cfg  config.Config
	api  *extapi.Client
	now  func() time.Time // opts.Now

	events   *queue.Queue[telemetry.Item]
	payloads *queue.Queue[forward.Payload]
	listener *telemetry.Listener
	sender   *forward.Sender
	store    *pushgw.Store
	servers  []*http.Server
	planner  *flush.Planner

	proxy       *runtimeproxy.Proxy // nil when not running
	proxyAddr   string
	proxyClosed bool

	mu      sync.Mutex
	sandbox wire.Sandbox

	subscribed     bool // the Telemetry API delivers to us: runtimeDone can be waited for
	lastRequestID  string
	breakerUntil   time.Time
	breakerBackoff time.Duration
	invocations    int
	flushes        int
	failedFlushes  int
}

// ErrStrictConfig is returned when a strict configuration has errors: the init failed.
var ErrStrictConfig = errors.New("invalid configuration and OTELCOL_LAMBDA_STRICT=true")

// Run runs the extension until SHUTDOWN (nil) or until it cannot go on (an error; the
// process should exit non-zero).
func Run(ctx context.Context, opts Options) error {
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Getenv == nil {
		opts.Getenv = func(string) string { return "" }
	}
	a := &Agent{opts: opts, cfg: opts.Config, api: extapi.New(opts.RuntimeAPI), now: opts.Now}
	for _, p := range opts.ConfigProblems {
		opts.Logf("config: %v", p)
	}
	a.removeStaleAddress()
	if len(opts.ConfigProblems) > 0 && a.cfg.Strict {
		if _, err := a.api.Register(ctx, opts.Name, []string{extapi.Shutdown}); err != nil {
			return fmt.Errorf("%w; and register failed: %v", ErrStrictConfig, err)
		}
		msg := errors.Join(opts.ConfigProblems...).Error()
		if err := a.api.InitError(ctx, "Extension.ConfigInvalid", msg); err != nil {
			opts.Logf("init/error: %v", err)
		}
		return ErrStrictConfig
	}
	if a.cfg.Endpoint == "" {
		return a.runDisabled(ctx)
	}
	if err := a.init(ctx); err != nil {
		a.closeRuntimeProxy()
		return err
	}
	defer a.close()
	return a.loop(ctx)
}

// runDisabled registers for SHUTDOWN only, so Lambda never waits for us at an invocation,
// and stays out of the way.
func (a *Agent) runDisabled(ctx context.Context) error {
	if _, err := a.api.Register(ctx, a.opts.Name, []string{extapi.Shutdown}); err != nil {
		return err
	}
	a.opts.Logf("%s is not set: forwarding nothing, serving nothing", config.EnvEndpoint)
	for {
		ev, err := a.api.Next(ctx)
		if err != nil {
			return err
		}
		if ev.EventType == extapi.Shutdown {
			return nil
		}
	}
}

func (a *Agent) init(ctx context.Context) error {
	a.events = queue.New(a.cfg.BufferBytes, telemetry.Item.Size)
	a.payloads = queue.New(a.cfg.BufferBytes, forward.Payload.Size)
	a.listener = telemetry.New(a.events) // the proxy's findings go to it
	// Before registering: Lambda starts the runtime (and the wrapper reads the address)
	// once every extension registered.
	a.startRuntimeProxy(ctx)
	reg, err := a.api.Register(ctx, a.opts.Name, []string{extapi.Invoke, extapi.Shutdown})
	if err != nil {
		return err
	}
	a.sandbox = a.identity(reg)
	a.store = pushgw.NewStore(a.cfg.PushMaxSeries, a.now)
	a.planner = flush.NewPlanner(a.cfg.Flush, a.now())

	senderOpts := forward.Options{
		Endpoint: a.cfg.Endpoint, Token: a.cfg.Token, CAFile: a.cfg.CAFile, Gzip: a.cfg.Gzip,
		MaxBatchBytes: a.cfg.MaxBatchBytes, Sandbox: a.currentSandbox, Logf: a.opts.Logf,
	}
	if a.sender, err = forward.New(senderOpts); err != nil {
		a.opts.Logf("config: %s: %v; using the system's CAs only", config.EnvCAFile, err)
		senderOpts.CAFile = ""
		a.sender, _ = forward.New(senderOpts) // without a CA file New cannot fail
	}

	// The destination must listen before subscribing: Lambda starts sending at once.
	if uri, err := a.listener.Listen(a.cfg.ListenerHost, a.cfg.ListenerPort); err != nil {
		a.opts.Logf("cannot listen for the Telemetry API on %s: %v; forwarding no platform events", a.cfg.ListenerHost, err)
	} else if err := a.api.Subscribe(ctx, telemetryapi.SubscribeRequest{
		SchemaVersion: telemetryapi.SchemaVersion20221213,
		Types:         a.cfg.TelemetryTypes,
		Buffering: telemetryapi.Buffering{
			MaxItems:  telemetryapi.BufferingMaxItemsMin,
			MaxBytes:  telemetryapi.BufferingMaxBytesMin,
			TimeoutMs: bufferingTimeoutMs,
		},
		Destination: telemetryapi.Destination{Protocol: telemetryapi.ProtocolHTTP, URI: uri},
	}); err != nil {
		a.opts.Logf("cannot subscribe to the Telemetry API: %v; forwarding no platform events", err)
	} else {
		a.subscribed = true
	}
	otlpAddr := a.serve("otlp", a.cfg.OTLPEndpoint, otlpproxy.Handler{Queue: a.payloads})
	pushAddr := a.serve("pushgateway", a.cfg.PushEndpoint, pushgw.Handler{Store: a.store})
	proxyAddr := "on " + a.proxyAddr
	switch {
	case a.proxy != nil:
	case a.cfg.RuntimeProxy == config.ProxyAuto && !usesWrapper(a.opts.Getenv):
		// The one way to miss it silently: an OS-only runtime whose bootstrap execs the
		// wrapper, where AWS_LAMBDA_EXEC_WRAPPER is not set.
		proxyAddr = "off (AWS_LAMBDA_EXEC_WRAPPER does not name " + wrapperName +
			"; set OTELCOL_LAMBDA_RUNTIME_PROXY=on if the bootstrap execs it)"
	default:
		proxyAddr = "off"
	}
	a.opts.Logf("forwarding to %s (flush %s, telemetry %s); OTLP/HTTP on %s; Pushgateway API on %s; Runtime API proxy %s",
		a.cfg.Endpoint, a.cfg.Flush, strings.Join(a.cfg.TelemetryTypes, ","), otlpAddr, pushAddr, proxyAddr)
	return nil
}

// serve starts an HTTP server in the sandbox and returns where it listens; a port already
// taken is logged, not fatal.
func (a *Agent) serve(what, addr string, h http.Handler) string {
	if addr == "" {
		return "off"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		a.opts.Logf("cannot serve %s on %s: %v", what, addr, err)
		return "off (" + addr + " is taken)"
	}
	if a.opts.Listening != nil {
		a.opts.Listening(what, ln.Addr())
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	a.servers = append(a.servers, srv)
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String()
}

func (a *Agent) close() {
	a.closeRuntimeProxy()
	for _, s := range a.servers {
		_ = s.Close()
	}
	_ = a.listener.Close()
	a.sender.Close()
}

// identity is the sandbox as the gateway sees it.
func (a *Agent) identity(reg extapi.Registration) wire.Sandbox {
	getenv := a.opts.Getenv
	s := wire.Sandbox{
		FunctionName:        firstOf(getenv("AWS_LAMBDA_FUNCTION_NAME"), reg.FunctionName),
		FunctionVersion:     firstOf(getenv("AWS_LAMBDA_FUNCTION_VERSION"), reg.FunctionVersion),
		Region:              getenv("AWS_REGION"),
		AccountID:           reg.AccountID,
		Architecture:        architecture(),
		ExtensionInstanceID: newInstanceID(),
	}
	// AWS_Lambda_python3.12 and the like; unset on OS-only runtimes. The gateway prices
	// SnapStart restores by it, and refuses a batch whose runtime is no token: better none.
	if rt := getenv("AWS_EXECUTION_ENV"); wire.IsRuntime(rt) {
		s.Runtime = rt
	}
	if mb, err := strconv.ParseFloat(getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), 64); err == nil && mb > 0 {
		s.MemorySizeMB = mb
	}
	return s
}

func (a *Agent) currentSandbox() wire.Sandbox {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sandbox
}

func firstOf(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// architecture names the CPU as Lambda does.
func architecture() string {
	if runtime.GOARCH == "amd64" {
		return "x86_64"
	}
	return runtime.GOARCH
}

func newInstanceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// pushSource hands what the Pushgateway API owes the gateway to the sender.
type pushSource struct{ a *Agent }

func (p pushSource) Collect() *forward.Payload {
	s := p.a.currentSandbox()
	attrs := []pushgw.KeyValue{
		pushgw.StringAttr("cloud.provider", "aws"),
		pushgw.StringAttr("cloud.platform", "aws_lambda"),
		pushgw.StringAttr("faas.name", s.FunctionName),
		pushgw.StringAttr("faas.instance", s.ExtensionInstanceID),
	}
	if s.FunctionVersion != "" {
		attrs = append(attrs, pushgw.StringAttr("faas.version", s.FunctionVersion))
	}
	if s.Region != "" {
		attrs = append(attrs, pushgw.StringAttr("cloud.region", s.Region))
	}
	if s.AccountID != "" {
		attrs = append(attrs, pushgw.StringAttr("cloud.account.id", s.AccountID))
	}
	if s.MemorySizeMB > 0 {
		attrs = append(attrs, pushgw.IntAttr("faas.max_memory", int64(s.MemorySizeMB)*telemetryapi.BytesPerMB))
	}
	body := p.a.store.Collect(attrs)
	if body == nil {
		return nil
	}
	return &forward.Payload{Path: otlpproxy.PathMetrics, ContentType: "application/json", Body: body}
}

func (a *Agent) loop(ctx context.Context) error {
	for {
		ev, err := a.api.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		switch ev.EventType {
		case extapi.Invoke:
			a.onInvoke(ctx, ev)
		case extapi.Shutdown:
			a.onShutdown(ev)
			return nil
		}
	}
}

// learn records what an INVOKE tells about the sandbox: the configured timeout (whole
// seconds on Lambda, so the deadline's distance is rounded) and the ARN.
func (a *Agent) learn(ev extapi.Event, received time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ev.DeadlineMs > 0 {
		remaining := time.UnixMilli(ev.DeadlineMs).Sub(received)
		timeoutMs := math.Max(1, math.Round(remaining.Seconds())) * 1000
		a.sandbox.TimeoutMs = math.Max(a.sandbox.TimeoutMs, timeoutMs)
	}
	if arn := ev.InvokedFunctionARN; arn != "" && a.sandbox.FunctionARN == "" {
		// arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]
		parts := strings.Split(arn, ":")
		if len(parts) >= 7 {
			a.sandbox.FunctionARN = strings.Join(parts[:7], ":")
			if a.sandbox.AccountID == "" {
				a.sandbox.AccountID = parts[4]
			}
			if a.sandbox.Region == "" {
				a.sandbox.Region = parts[3]
			}
		}
	}
}

func (a *Agent) onInvoke(ctx context.Context, ev extapi.Event) {
	now := a.now()
	a.learn(ev, time.Now())
	a.invocations++
	a.lastRequestID = ev.RequestID
	d := a.planner.OnInvoke(now)
	switch {
	case d.WaitForRuntimeDone && !a.subscribed:
		a.flush(ctx, a.cfg.FlushTimeout, false)
	case d.WaitForRuntimeDone:
		deadline := time.Now().Add(time.Minute)
		if ev.DeadlineMs > 0 {
			deadline = time.UnixMilli(ev.DeadlineMs).Add(runtimeDoneGrace)
		}
		waitCtx, cancel := context.WithDeadline(ctx, deadline)
		for {
			// end,periodically: flush while a long invocation runs.
			stepCtx, stepCancel := waitCtx, context.CancelFunc(func() {})
			if d.Period > 0 {
				stepCtx, stepCancel = context.WithTimeout(waitCtx, d.Period)
			}
			done := a.listener.WaitInvocationEnd(stepCtx, ev.RequestID)
			stepCancel()
			if done || waitCtx.Err() != nil {
				break
			}
			a.flush(ctx, a.cfg.FlushTimeout, false)
		}
		cancel()
		a.flush(ctx, a.cfg.FlushTimeout, false)
	case d.FlushNow || a.events.Bytes()+a.payloads.Bytes() > a.cfg.BufferBytes/2:
		// Due, or the buffer is filling up: flush while the function runs, before the
		// oldest data has to be dropped.
		a.flush(ctx, a.cfg.FlushTimeout, false)
	}
}

// flush sends what is buffered within budget. After a failure, the flushes the function
// waits for are skipped for a while (doubling up to breakerMax), so that a gateway that
// is down or hanging costs an invocation nothing most of the time; force ignores that.
func (a *Agent) flush(ctx context.Context, budget time.Duration, force bool) {
	now := a.now()
	if !force && now.Before(a.breakerUntil) {
		return
	}
	fctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	a.flushes++
	err := a.sender.Flush(fctx, a.events, a.payloads, pushSource{a})
	a.planner.Flushed(now)
	if err == nil {
		a.breakerBackoff = 0
		a.breakerUntil = time.Time{}
		return
	}
	a.failedFlushes++
	a.breakerBackoff = min(max(2*a.breakerBackoff, time.Second), breakerMax)
	a.breakerUntil = a.now().Add(a.breakerBackoff)
}

func (a *Agent) onShutdown(ev extapi.Event) {
	deadline := time.Now().Add(time.Second)
	if ev.DeadlineMs > 0 {
		deadline = time.UnixMilli(ev.DeadlineMs).Add(-shutdownMargin)
	}
	// Lambda emits the last invocation's report at shutdown: wait a little for it.
	if a.lastRequestID != "" && a.subscribed {
		wait := min(time.Until(deadline)/2, shutdownReportWait)
		wctx, cancel := context.WithTimeout(context.Background(), wait)
		a.listener.WaitReport(wctx, a.lastRequestID)
		cancel()
	}
	if budget := time.Until(deadline); budget > 0 {
		a.flush(context.Background(), budget, true)
	}
	// The runtime is done and its last findings went with the flush.
	a.closeRuntimeProxy()
	st := a.sender.Stats()
	a.opts.Logf("shutdown (%s): %d invocations, %d flushes (%d failed); sent %d batches (%d events) and %d payloads, %d payloads refused; %d events, %d payloads and %d pushed series still buffered, %d dropped events reported%s",
		ev.ShutdownReason, a.invocations, a.flushes, a.failedFlushes, st.Batches, st.Events, st.Payloads, st.DroppedPayloads,
		a.events.Len(), a.payloads.Len()+st.KeptPayloads, a.store.Owed(), st.ReportedDropped, a.proxyStats())
}

// proxyStats is the Runtime API proxy's part of the shutdown line ("" without a proxy).
func (a *Agent) proxyStats() string {
	if a.proxy == nil {
		return ""
	}
	ps, ls := a.proxy.Stats(), a.listener.Stats()
	return fmt.Sprintf("; runtime API proxy: %d invocation events queued, %d forgotten, %d error types too late, %d out-of-bounds fields dropped; %d callbacks dropped, %d callback panics, %d upstream errors",
		ls.Findings, ls.ForgottenFindings, ls.LostErrorTypes, ls.DroppedFields, ps.DroppedEvents, ps.CallbackPanics, ps.UpstreamErrors)
}
