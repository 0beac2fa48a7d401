// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdaemu // import "github.com/otelcol-lambda/otelcol-lambda/testbed/lambdaemu"

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
)

// Documented limits.
const (
	// DefaultShutdownBudget is the SHUTDOWN phase's budget when at least one external
	// extension is registered.
	DefaultShutdownBudget = 2000 * time.Millisecond
	// DefaultInitTimeout is how long the init phase may take (10 s on Lambda).
	DefaultInitTimeout = 10 * time.Second
)

// Shutdown reasons, as Lambda writes them on the wire (lowercase).
const (
	ShutdownSpindown = "spindown"
	ShutdownTimeout  = "timeout"
	ShutdownFailure  = "failure"
)

// ExtensionSpec is an external extension: an executable spawned at the cold start, as
// Lambda spawns each file of /opt/extensions.
type ExtensionSpec struct {
	// Path of the executable; its base name is the extension's name.
	Path string
	// Env is added to the documented environment (KEY=value).
	Env []string
}

// RuntimeFunc runs a function runtime against the Runtime API at api (host:port) until
// ctx is done. [HandlerRuntime] makes one from a Go handler.
type RuntimeFunc func(ctx context.Context, api string) error

// Config describes the function and its sandbox.
type Config struct {
	FunctionName    string // default "emulated-function"
	FunctionVersion string // default "$LATEST"
	Handler         string // default "index.handler"
	Region          string // default "us-east-1"
	AccountID       string // default "123456789012"
	MemorySizeMB    int    // default 128
	// Timeout is the function's configured timeout (default 3 s).
	Timeout time.Duration
	// MaxMemoryUsedMB is what platform.report says the invocation used (default 64).
	MaxMemoryUsedMB float64
	// Extensions are spawned as processes at Start.
	Extensions []ExtensionSpec
	// AwaitExtensions names extensions that are not spawned here (run in-process by a
	// test) and that init waits for to register.
	AwaitExtensions []string
	// Runtime is started once the extensions registered (nil: no runtime, for tests
	// that drive the Runtime API themselves).
	Runtime RuntimeFunc
	// OSOnlyRuntime is an OS-only runtime (provided.al2023, provided.al2), whose
	// bootstrap is the function's own program: Lambda does not apply
	// AWS_LAMBDA_EXEC_WRAPPER there ([ProcessRuntime]).
	OSOnlyRuntime bool
	// InitTimeout bounds Start (default DefaultInitTimeout).
	InitTimeout time.Duration
	// ShutdownBudget is the SHUTDOWN phase's budget (default DefaultShutdownBudget).
	ShutdownBudget time.Duration
	// FreezeProcesses stops the extension processes (SIGSTOP) while the sandbox is
	// frozen, as Lambda does, and continues them (SIGCONT) on thaw.
	FreezeProcesses bool
	// ExtensionOutput, if set, receives the extensions' stdout and stderr as well.
	ExtensionOutput io.Writer
}

func (c *Config) setDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.FunctionName, "emulated-function")
	def(&c.FunctionVersion, "$LATEST")
	def(&c.Handler, "index.handler")
	def(&c.Region, "us-east-1")
	def(&c.AccountID, "123456789012")
	if c.MemorySizeMB <= 0 {
		c.MemorySizeMB = 128
	}
	if c.Timeout <= 0 {
		c.Timeout = 3 * time.Second
	}
	if c.MaxMemoryUsedMB <= 0 {
		c.MaxMemoryUsedMB = 64
	}
	if c.InitTimeout <= 0 {
		c.InitTimeout = DefaultInitTimeout
	}
	if c.ShutdownBudget <= 0 {
		c.ShutdownBudget = DefaultShutdownBudget
	}
}

// FunctionARN is the function's unqualified ARN.
func (c Config) FunctionARN() string {
	return "arn:aws:lambda:" + c.Region + ":" + c.AccountID + ":function:" + c.FunctionName
}

type phase int

const (
	phaseNew phase = iota
	phaseInit
	phaseIdle // frozen between invocations
	phaseInvoke
	phaseShutdown
	phaseClosed
)

// Emulator is one emulated sandbox. Its methods are safe for concurrent use, but
// invocations run one at a time, as in a Lambda execution environment.
type Emulator struct {
	cfg    Config
	ln     net.Listener
	server *http.Server
	client *http.Client // the Telemetry API's client to subscribers

	ctx    context.Context // lives until Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex
	changed    chan struct{} // closed and replaced on every state change
	phase      phase
	frozen     bool
	initStart  time.Time
	extensions []*extension
	byID       map[string]*extension
	processes  []*process
	subs       []*subscriber
	events     []telemetryapi.Event // every event emitted, for subscribers and tests
	extLogs    []string
	dropped    int
	delivered  int

	runtimeCancel context.CancelFunc
	runtimeReady  bool // the runtime called invocation/next at least once
	runtimeGone   bool // the runtime function returned (its process exited)
	runtimeQueue  []*invocation
	current       *invocation
	initError     string
	coldInitMs    float64 // reported in the first invocation's report
	reportedInit  bool
}

// New starts the emulator's HTTP server on a loopback port. Call Start for the cold start
// and Close when done.
func New(cfg Config) (*Emulator, error) {
	cfg.setDefaults()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("lambdaemu: listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Emulator{
		cfg:     cfg,
		ln:      ln,
		ctx:     ctx,
		cancel:  cancel,
		changed: make(chan struct{}),
		byID:    make(map[string]*extension),
	}
	e.client = &http.Client{Transport: &http.Transport{
		DialContext:         dialSandbox,
		MaxIdleConnsPerHost: 4,
	}}
	mux := http.NewServeMux()
	e.routeExtensions(mux)
	e.routeTelemetry(mux)
	e.routeRuntime(mux)
	e.server = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		_ = e.server.Serve(ln)
	}()
	return e, nil
}

// dialSandbox resolves sandbox.localdomain, the sandbox's own host name, to loopback.
func dialSandbox(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err == nil && host == "sandbox.localdomain" {
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// RuntimeAPI is the value of AWS_LAMBDA_RUNTIME_API: host:port of the emulated APIs.
func (e *Emulator) RuntimeAPI() string { return e.ln.Addr().String() }

// Config returns the configuration with defaults applied.
func (e *Emulator) Config() Config { return e.cfg }

// notifyLocked wakes everything waiting for a state change. e.mu must be held.
func (e *Emulator) notifyLocked() {
	close(e.changed)
	e.changed = make(chan struct{})
}

// waitFor waits until cond (called with e.mu held) is true, ctx is done or the deadline
// passes (zero: no deadline). It returns with e.mu held and reports whether cond held.
func (e *Emulator) waitFor(ctx context.Context, deadline time.Time, cond func() bool) bool {
	var timer <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timer = t.C
	}
	for !cond() {
		ch := e.changed
		e.mu.Unlock()
		select {
		case <-ch:
			e.mu.Lock()
		case <-ctx.Done():
			e.mu.Lock()
			return cond()
		case <-timer:
			e.mu.Lock()
			return cond()
		case <-e.ctx.Done():
			e.mu.Lock()
			return cond()
		}
	}
	return true
}

// emitLocked records an event and hands it to the subscribers that asked for its stream.
func (e *Emulator) emitLocked(typ string, record any) {
	ev, err := telemetryapi.NewEvent(time.Now(), typ, record)
	if err != nil {
		return // records are built here; an error is a bug caught by the tests
	}
	e.events = append(e.events, ev)
	for _, s := range e.subs {
		s.add(ev)
	}
}

// Events returns every Telemetry API event the sandbox produced so far.
func (e *Emulator) Events() []telemetryapi.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]telemetryapi.Event(nil), e.events...)
}

// FunctionLog emits a function log line, as if the function wrote it to stdout.
func (e *Emulator) FunctionLog(line string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.emitLocked(telemetryapi.TypeFunction, line)
}

// ExtensionLogs returns the lines the extension processes wrote to stdout and stderr.
func (e *Emulator) ExtensionLogs() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.extLogs...)
}

// DeliveredEvents counts the events delivered to subscribers (summed over them).
func (e *Emulator) DeliveredEvents() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.delivered
}

// WaitDelivered waits until at least n events were delivered to subscribers, or ctx ends.
func (e *Emulator) WaitDelivered(ctx context.Context, n int) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.waitFor(ctx, time.Time{}, func() bool { return e.delivered >= n })
}

// DroppedDeliveries counts event batches that could not be delivered to a subscriber.
func (e *Emulator) DroppedDeliveries() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dropped
}

// freezeLocked ends a phase: telemetry delivery pauses, and processes stop if configured.
func (e *Emulator) freezeLocked() {
	e.frozen = true
	if e.cfg.FreezeProcesses {
		for _, p := range e.processes {
			p.signalStop()
		}
	}
	e.notifyLocked()
}

// thawLocked starts a phase.
func (e *Emulator) thawLocked() {
	if e.cfg.FreezeProcesses && e.frozen {
		for _, p := range e.processes {
			p.signalCont()
		}
	}
	e.frozen = false
	for _, s := range e.subs {
		s.wake()
	}
	e.notifyLocked()
}

// Close ends the sandbox now: processes are killed, the server stops. It is safe to call
// more than once and after Shutdown.
func (e *Emulator) Close() error {
	e.mu.Lock()
	e.phase = phaseClosed
	if e.runtimeCancel != nil {
		e.runtimeCancel()
	}
	procs := append([]*process(nil), e.processes...)
	e.notifyLocked()
	e.mu.Unlock()
	for _, p := range procs {
		p.kill()
	}
	for _, p := range procs {
		<-p.done
	}
	e.cancel()
	err := e.server.Close()
	e.wg.Wait()
	e.client.CloseIdleConnections()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// newID returns a random UUID-shaped identifier.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// newTraceHeader returns an X-Ray trace header for an invocation.
func newTraceHeader(now time.Time) string {
	var id [12]byte
	var parent [8]byte
	_, _ = rand.Read(id[:])
	_, _ = rand.Read(parent[:])
	return "Root=1-" + strconv.FormatInt(now.Unix(), 16) + "-" + hex.EncodeToString(id[:]) +
		";Parent=" + hex.EncodeToString(parent[:]) + ";Sampled=1"
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
