// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdaemu // import "github.com/otelcol-lambda/otelcol-lambda/testbed/lambdaemu"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
)

// InitResult is the outcome of the cold start.
type InitResult struct {
	// Duration is from the start of init until the runtime and every extension called
	// next (what Lambda reports as the init duration).
	Duration time.Duration
	// Error is the init error (from /init/error, or Sandbox.Timedout), empty on success.
	Error      string
	Extensions []ExtensionInfo
}

// Start runs the init phase: it spawns the extensions, waits until they registered,
// starts the runtime, and waits until the runtime and every extension called next. With
// Config.Runtime nil the caller must run a runtime against RuntimeAPI itself.
func (e *Emulator) Start(ctx context.Context) (InitResult, error) {
	e.mu.Lock()
	if e.phase != phaseNew {
		e.mu.Unlock()
		return InitResult{}, errors.New("lambdaemu: Start called twice")
	}
	e.phase = phaseInit
	e.initStart = time.Now()
	deadline := e.initStart.Add(e.cfg.InitTimeout)
	e.emitLocked(telemetryapi.TypePlatformInitStart, telemetryapi.PlatformInitStart{
		InitializationType: telemetryapi.InitTypeOnDemand,
		Phase:              telemetryapi.PhaseInit,
		FunctionName:       e.cfg.FunctionName,
		FunctionVersion:    e.cfg.FunctionVersion,
	})
	for _, spec := range e.cfg.Extensions {
		if err := e.spawnLocked(spec); err != nil {
			e.mu.Unlock()
			return InitResult{}, fmt.Errorf("lambdaemu: spawn extension %s: %w", spec.Path, err)
		}
	}
	// Lambda starts the runtime once every extension registered.
	e.waitFor(ctx, deadline, func() bool {
		for _, p := range e.processes {
			if p.ext == nil && !p.exited() {
				return false
			}
		}
		for _, name := range e.cfg.AwaitExtensions {
			if !e.registeredLocked(name) {
				return false
			}
		}
		return true
	})
	if e.cfg.Runtime != nil {
		rctx, cancel := context.WithCancel(e.ctx)
		e.runtimeCancel = cancel
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			err := e.cfg.Runtime(rctx, e.RuntimeAPI())
			e.runtimeExited(err)
		}()
	}
	ready := e.waitFor(ctx, deadline, func() bool {
		if e.initError != "" {
			return true
		}
		for _, p := range e.processes {
			if p.ext == nil && p.exited() {
				return true // an extension died before registering: init fails below
			}
		}
		if e.runtimeGone && !e.runtimeReady {
			return true // the runtime (or its wrapper) exited before it asked for work
		}
		if !e.runtimeReady {
			return false
		}
		for _, x := range e.extensions {
			if x.nextCalls == 0 && (x.proc == nil || !x.proc.exited()) {
				return false
			}
		}
		return true
	})
	for _, p := range e.processes {
		if e.initError == "" && p.exited() && (p.ext == nil || p.ext.nextCalls == 0) {
			e.initError = "Extension.Crash: " + p.name
		}
	}
	if e.initError == "" && e.runtimeGone && !e.runtimeReady {
		e.initError = "Runtime.ExitError"
	}
	if !ready && e.initError == "" {
		e.initError = "Sandbox.Timedout"
	}
	dur := time.Since(e.initStart)
	status, errorType := telemetryapi.StatusSuccess, ""
	if e.initError != "" {
		status, errorType = telemetryapi.StatusError, e.initError
	}
	e.emitLocked(telemetryapi.TypePlatformInitRuntimeDone, telemetryapi.PlatformInitRuntimeDone{
		InitializationType: telemetryapi.InitTypeOnDemand, Phase: telemetryapi.PhaseInit, Status: status, ErrorType: errorType,
	})
	for _, x := range e.extensions {
		var events []string
		if x.invoke {
			events = append(events, EventInvoke)
		}
		if x.shutdown {
			events = append(events, EventShutdown)
		}
		e.emitLocked(telemetryapi.TypePlatformExtension, telemetryapi.PlatformExtension{Name: x.name, State: "Ready", Events: events})
	}
	e.emitLocked(telemetryapi.TypePlatformInitReport, telemetryapi.PlatformInitReport{
		InitializationType: telemetryapi.InitTypeOnDemand, Phase: telemetryapi.PhaseInit, Status: status, ErrorType: errorType,
		Metrics: telemetryapi.InitReportMetrics{DurationMs: millis(dur)},
	})
	e.coldInitMs = millis(dur)
	result := InitResult{Duration: dur, Error: e.initError}
	e.phase = phaseIdle
	e.freezeLocked()
	e.mu.Unlock()
	result.Extensions = e.Extensions()
	if result.Error != "" {
		return result, fmt.Errorf("lambdaemu: init failed: %s", result.Error)
	}
	return result, nil
}

// runtimeExited is called when the runtime function returned: during an invocation that
// is a crash.
func (e *Emulator) runtimeExited(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.runtimeGone = true
	e.notifyLocked()
	if inv := e.current; inv != nil && inv.runtimeDone.IsZero() && inv.crashed == "" {
		inv.crashed = "Runtime.ExitError"
		var exit *RuntimeExitError
		if errors.As(err, &exit) && exit.ErrorType != "" {
			inv.crashed = exit.ErrorType
		}
		e.notifyLocked()
	}
}

// InvokeRequest is one invocation's input.
type InvokeRequest struct {
	Payload []byte
	// TraceHeader is the X-Ray trace header; generated when empty.
	TraceHeader string
}

// InvokeResult is what the caller and the bill of one invocation see.
type InvokeResult struct {
	RequestID string
	Response  []byte
	// Status is success, error, timeout or failure (as in platform.report).
	Status    string
	ErrorType string
	Start     time.Time
	// ResponseLatency is from the start of the invocation until the runtime posted the
	// response: what the function's caller waits.
	ResponseLatency time.Duration
	// RuntimeDuration is from the start until the runtime called next.
	RuntimeDuration time.Duration
	// PostRuntime is from the runtime's next until the last extension's next: the
	// extensions' billed time after the runtime (PostRuntimeExtensionsDuration).
	PostRuntime time.Duration
	// Duration is the invoke phase (what platform.report's durationMs says).
	Duration time.Duration
	// Reset is true when the sandbox was shut down after this invocation (timeout, or a
	// crash of the runtime or of an extension); Shutdown tells how that went.
	Reset    bool
	Shutdown *ShutdownResult
}

// Invoke runs one invocation and returns when its invoke phase ended (the runtime and
// every extension registered for INVOKE called next), or at the deadline.
func (e *Emulator) Invoke(ctx context.Context, req InvokeRequest) (InvokeResult, error) {
	e.mu.Lock()
	if e.phase != phaseIdle {
		p := e.phase
		e.mu.Unlock()
		return InvokeResult{}, fmt.Errorf("lambdaemu: cannot invoke in phase %d (Start first; after a reset, a new Emulator)", p)
	}
	e.thawLocked()
	e.phase = phaseInvoke
	now := time.Now()
	inv := &invocation{
		id:          newID(),
		payload:     req.Payload,
		traceHeader: req.TraceHeader,
		start:       now,
		deadline:    now.Add(e.cfg.Timeout),
	}
	if inv.payload == nil {
		inv.payload = []byte("{}")
	}
	if inv.traceHeader == "" {
		inv.traceHeader = newTraceHeader(now)
	}
	e.emitLocked(telemetryapi.TypePlatformStart, telemetryapi.PlatformStart{
		RequestID: inv.id, Version: e.cfg.FunctionVersion,
		Tracing: &telemetryapi.TraceContext{Type: telemetryapi.TracingTypeXRay, Value: inv.traceHeader},
	})
	event, _ := json.Marshal(map[string]any{
		"eventType":          EventInvoke,
		"deadlineMs":         inv.deadline.UnixMilli(),
		"requestId":          inv.id,
		"invokedFunctionArn": e.cfg.FunctionARN(),
		"tracing":            map[string]string{"type": telemetryapi.TracingTypeXRay, "value": inv.traceHeader},
	})
	targets := make(map[*extension]int)
	for _, x := range e.extensions {
		if x.invoke {
			targets[x] = e.enqueueLocked(x, event)
		}
	}
	e.current = inv
	e.runtimeQueue = append(e.runtimeQueue, inv)
	e.notifyLocked()

	status, errorType := "", ""
	// A runtime that finishes after the deadline timed out, however late this goroutine
	// noticed.
	finishedInTime := func() bool {
		return (!inv.runtimeDone.IsZero() && !inv.runtimeDone.After(inv.deadline)) || inv.crashed != "" ||
			e.crashedExtensionLocked() != ""
	}
	if !e.waitFor(ctx, inv.deadline, finishedInTime) {
		status, errorType = telemetryapi.StatusTimeout, "Sandbox.Timedout"
		inv.runtimeDone = time.Now()
		e.emitRuntimeDoneLocked(inv, telemetryapi.StatusTimeout)
	}
	// The extensions' time after the runtime is part of the invocation (and its timeout).
	extensionsDone := func() bool {
		for x, n := range targets {
			if !x.doneWith(n) {
				return false
			}
		}
		return true
	}
	// A crashed runtime or extension resets the sandbox at once: Lambda does not wait for
	// the others to finish the invocation (they get SHUTDOWN instead).
	if status == "" && inv.crashed == "" && e.crashedExtensionLocked() == "" && !e.waitFor(ctx, inv.deadline, extensionsDone) {
		status, errorType = telemetryapi.StatusTimeout, "Extension.TimedOut"
	}
	crashedExtension := e.crashedExtensionLocked()
	end := time.Now()
	switch {
	case status != "":
	case crashedExtension != "":
		// Lambda fails the invocation with Extension.Crash and resets the sandbox; the
		// runtime, which may have died of it too (its proxy gone), is not what failed.
		status, errorType = telemetryapi.StatusError, errorTypeExtensionCrash
	case inv.crashed != "":
		status, errorType = telemetryapi.StatusError, inv.crashed
	case inv.errorType != "":
		status, errorType = telemetryapi.StatusError, inv.errorType
	default:
		status = telemetryapi.StatusSuccess
	}
	result := InvokeResult{
		RequestID: inv.id, Response: inv.response, Status: status, ErrorType: errorType,
		Start: inv.start, Duration: end.Sub(inv.start),
	}
	if !inv.responded.IsZero() {
		result.ResponseLatency = inv.responded.Sub(inv.start)
	}
	if !inv.runtimeDone.IsZero() {
		result.RuntimeDuration = inv.runtimeDone.Sub(inv.start)
		result.PostRuntime = max(0, end.Sub(inv.runtimeDone))
	}
	metrics := telemetryapi.ReportMetrics{
		DurationMs:       millis(result.Duration),
		BilledDurationMs: math.Ceil(millis(result.Duration)),
		MemorySizeMB:     float64(e.cfg.MemorySizeMB),
		MaxMemoryUsedMB:  e.cfg.MaxMemoryUsedMB,
	}
	if !e.reportedInit {
		e.reportedInit = true
		initMs := e.coldInitMs
		metrics.InitDurationMs = &initMs
	}
	// platform.report is produced now; the sandbox freezes below, so subscribers get it
	// at the next invocation or at shutdown.
	e.emitLocked(telemetryapi.TypePlatformReport, telemetryapi.PlatformReport{
		RequestID: inv.id, Status: status, ErrorType: errorType, Metrics: metrics,
		Tracing: &telemetryapi.TraceContext{Type: telemetryapi.TracingTypeXRay, Value: inv.traceHeader},
	})
	e.current = nil
	e.runtimeQueue = e.runtimeQueue[:0]
	e.phase = phaseIdle
	reset := status == telemetryapi.StatusTimeout || inv.crashed != "" || crashedExtension != ""
	if !reset {
		e.freezeLocked()
	}
	e.mu.Unlock()
	if ctx.Err() != nil {
		return result, ctx.Err()
	}
	if reset {
		reason := ShutdownFailure
		if status == telemetryapi.StatusTimeout {
			reason = ShutdownTimeout
		}
		sr, err := e.Shutdown(ctx, reason)
		result.Reset, result.Shutdown = true, &sr
		return result, err
	}
	return result, nil
}

// ExtensionShutdown is how one extension process ended.
type ExtensionShutdown struct {
	Name string
	// Exited is true when the process exited by itself before the deadline.
	Exited bool
	// Killed is true when it was still running at the deadline and got SIGKILL.
	Killed bool
	// After is from the SHUTDOWN event to the process's exit.
	After    time.Duration
	ExitCode int
}

// ShutdownResult is the outcome of the shutdown phase.
type ShutdownResult struct {
	Reason     string
	Deadline   time.Time
	Extensions []ExtensionShutdown
}

// Shutdown runs the shutdown phase: SHUTDOWN goes to the extensions registered for it, the
// runtime is stopped, and processes still running at the deadline are killed. Telemetry
// keeps flowing to subscribers until Close.
func (e *Emulator) Shutdown(ctx context.Context, reason string) (ShutdownResult, error) {
	e.mu.Lock()
	if e.phase != phaseIdle {
		p := e.phase
		e.mu.Unlock()
		return ShutdownResult{}, fmt.Errorf("lambdaemu: cannot shut down in phase %d", p)
	}
	e.thawLocked()
	e.phase = phaseShutdown
	start := time.Now()
	deadline := start.Add(e.cfg.ShutdownBudget)
	event, _ := json.Marshal(map[string]any{
		"eventType":      EventShutdown,
		"shutdownReason": reason,
		"deadlineMs":     deadline.UnixMilli(),
	})
	targets := make(map[*extension]int)
	for _, x := range e.extensions {
		if x.shutdown {
			targets[x] = e.enqueueLocked(x, event)
		}
	}
	if e.runtimeCancel != nil {
		e.runtimeCancel()
	}
	e.waitFor(ctx, deadline, func() bool {
		for _, p := range e.processes {
			if !p.exited() {
				return false
			}
		}
		// An extension that is not our process is done once it has its SHUTDOWN event.
		for x, n := range targets {
			if x.proc == nil && x.delivered < n {
				return false
			}
		}
		return true
	})
	procs := append([]*process(nil), e.processes...)
	e.mu.Unlock()

	result := ShutdownResult{Reason: reason, Deadline: deadline}
	for _, p := range procs {
		s := ExtensionShutdown{Name: p.name}
		if p.exited() {
			s.Exited = true
		} else {
			s.Killed = true
			p.kill()
		}
		<-p.done
		s.After = p.exitedAt.Sub(start)
		if p.cmd.ProcessState != nil {
			s.ExitCode = p.cmd.ProcessState.ExitCode()
		}
		result.Extensions = append(result.Extensions, s)
	}
	return result, nil
}

// errorTypeExtensionCrash is the error type of an invocation during which an extension
// process exited.
const errorTypeExtensionCrash = "Extension.Crash"

// crashedExtensionLocked names a spawned extension process that has exited, "" if none.
// It is called only outside the shutdown phase, where an extension that exits has
// crashed: extensions exit after SHUTDOWN. On Lambda an extension crash during an
// invocation fails it with Extension.Crash, and, as for any failure during Invoke, "the
// Lambda service performs a reset" that "behaves like a Shutdown event"; the runtime and
// the extensions are initialized again for the next invocation
// (docs.aws.amazon.com/lambda/latest/dg/runtimes-extensions-api.html#runtimes-extensions-api-failure).
// Here the reset ends the Emulator, and the next invocation is a new Emulator's.
func (e *Emulator) crashedExtensionLocked() string {
	for _, p := range e.processes {
		if p.exited() {
			return p.name
		}
	}
	return ""
}

func (e *Emulator) registeredLocked(name string) bool {
	for _, x := range e.extensions {
		if x.name == name {
			return true
		}
	}
	return false
}
