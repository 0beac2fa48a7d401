// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdaemu // import "github.com/otelcol-lambda/otelcol-lambda/testbed/lambdaemu"

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
)

// Runtime API paths and headers.
const (
	RuntimeAPIPrefix          = "/2018-06-01/runtime"
	HeaderRuntimeRequestID    = "Lambda-Runtime-Aws-Request-Id"
	HeaderRuntimeDeadlineMs   = "Lambda-Runtime-Deadline-Ms"
	HeaderRuntimeFunctionARN  = "Lambda-Runtime-Invoked-Function-Arn"
	HeaderRuntimeTraceID      = "Lambda-Runtime-Trace-Id"
	HeaderRuntimeFunctionErr  = "Lambda-Runtime-Function-Error-Type"
	maxResponseBytes          = 6 << 20 // Lambda's synchronous response limit
	errorTypeInvalidRequestID = "InvalidRequestID"
)

// invocation is one INVOKE. Its fields are guarded by Emulator.mu.
type invocation struct {
	id          string
	payload     []byte
	traceHeader string
	start       time.Time
	deadline    time.Time
	handedOut   bool
	responded   time.Time
	response    []byte
	errorType   string
	runtimeDone time.Time
	crashed     string // the error type when the runtime died during the invocation
}

func (e *Emulator) routeRuntime(mux *http.ServeMux) {
	mux.HandleFunc("GET "+RuntimeAPIPrefix+"/invocation/next", e.handleRuntimeNext)
	mux.HandleFunc("POST "+RuntimeAPIPrefix+"/invocation/{id}/response", e.handleRuntimeResult(false))
	mux.HandleFunc("POST "+RuntimeAPIPrefix+"/invocation/{id}/error", e.handleRuntimeResult(true))
	mux.HandleFunc("POST "+RuntimeAPIPrefix+"/init/error", e.handleRuntimeInitError)
}

func (e *Emulator) handleRuntimeNext(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	if !e.runtimeReady {
		e.runtimeReady = true
		e.notifyLocked()
	}
	// Calling next after a response is how the runtime says it finished: Lambda emits
	// platform.runtimeDone then.
	if inv := e.current; inv != nil && inv.handedOut && !inv.responded.IsZero() && inv.runtimeDone.IsZero() {
		inv.runtimeDone = time.Now()
		e.emitRuntimeDoneLocked(inv, "")
		e.notifyLocked()
	}
	if !e.waitFor(r.Context(), time.Time{}, func() bool { return len(e.runtimeQueue) > 0 }) {
		e.mu.Unlock()
		return
	}
	inv := e.runtimeQueue[0]
	e.runtimeQueue = e.runtimeQueue[1:]
	inv.handedOut = true
	e.mu.Unlock()

	h := w.Header()
	h.Set(HeaderRuntimeRequestID, inv.id)
	h.Set(HeaderRuntimeDeadlineMs, strconv.FormatInt(inv.deadline.UnixMilli(), 10))
	h.Set(HeaderRuntimeFunctionARN, e.cfg.FunctionARN())
	h.Set(HeaderRuntimeTraceID, inv.traceHeader)
	h.Set("Content-Type", "application/json")
	_, _ = w.Write(inv.payload)
}

func (e *Emulator) handleRuntimeResult(isError bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxResponseBytes+1))
		if err != nil {
			writeError(w, http.StatusBadRequest, errorTypeInvalidRequest, "cannot read the body: "+err.Error())
			return
		}
		if len(body) > maxResponseBytes {
			writeError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "the response is larger than 6 MB")
			return
		}
		id := r.PathValue("id")
		e.mu.Lock()
		inv := e.current
		if inv == nil || inv.id != id || !inv.handedOut {
			e.mu.Unlock()
			writeError(w, http.StatusBadRequest, errorTypeInvalidRequestID, "no invocation "+strconv.Quote(id)+" in progress")
			return
		}
		if !inv.responded.IsZero() {
			e.mu.Unlock()
			writeError(w, http.StatusBadRequest, errorTypeInvalidRequestID, "invocation "+strconv.Quote(id)+" already has a response")
			return
		}
		inv.responded = time.Now()
		inv.response = body
		if isError {
			inv.errorType = r.Header.Get(HeaderRuntimeFunctionErr)
			if inv.errorType == "" {
				var fe struct {
					ErrorType string `json:"errorType"`
				}
				_ = json.Unmarshal(body, &fe)
				inv.errorType = fe.ErrorType
			}
			if inv.errorType == "" {
				inv.errorType = "Unhandled"
			}
		}
		e.notifyLocked()
		e.mu.Unlock()
		writeStatusOK(w, http.StatusAccepted)
	}
}

func (e *Emulator) handleRuntimeInitError(w http.ResponseWriter, r *http.Request) {
	errType := r.Header.Get(HeaderRuntimeFunctionErr)
	if errType == "" {
		errType = "Runtime.Unknown"
	}
	e.mu.Lock()
	if e.initError == "" {
		e.initError = errType
	}
	e.notifyLocked()
	e.mu.Unlock()
	writeStatusOK(w, http.StatusAccepted)
}

// emitRuntimeDoneLocked emits platform.runtimeDone with the spans Lambda reports. status
// "" means: from the invocation's outcome.
func (e *Emulator) emitRuntimeDoneLocked(inv *invocation, status string) {
	end := inv.runtimeDone
	errorType := inv.errorType
	if status == "" {
		status = telemetryapi.StatusSuccess
		if errorType != "" {
			status = telemetryapi.StatusError
		}
	} else if status == telemetryapi.StatusTimeout {
		errorType = "Sandbox.Timedout"
	}
	produced := float64(len(inv.response))
	rec := telemetryapi.PlatformRuntimeDone{
		RequestID: inv.id,
		Status:    status,
		ErrorType: errorType,
		Metrics:   &telemetryapi.RuntimeDoneMetrics{DurationMs: millis(end.Sub(inv.start)), ProducedBytes: &produced},
		Tracing:   &telemetryapi.TraceContext{Type: telemetryapi.TracingTypeXRay, Value: inv.traceHeader},
	}
	if !inv.responded.IsZero() {
		rec.Spans = []telemetryapi.Span{
			{Name: telemetryapi.SpanResponseLatency, Start: inv.start, DurationMs: millis(inv.responded.Sub(inv.start))},
			{Name: telemetryapi.SpanResponseDuration, Start: inv.responded, DurationMs: 0},
			{Name: telemetryapi.SpanRuntimeOverhead, Start: inv.responded, DurationMs: millis(end.Sub(inv.responded))},
		}
	}
	e.emitLocked(telemetryapi.TypePlatformRuntimeDone, rec)
}

// RuntimeHasEvent reports whether an invocation is in progress whose event the runtime
// took (invocation/next answered) and has not answered yet: the runtime is in its handler.
func (e *Emulator) RuntimeHasEvent() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	inv := e.current
	return inv != nil && inv.handedOut && inv.responded.IsZero() && inv.crashed == ""
}

// Invocation is what a runtime receives from invocation/next.
type Invocation struct {
	RequestID          string
	Deadline           time.Time
	InvokedFunctionARN string
	TraceID            string
	Payload            []byte
}

// RuntimeExitError makes a [HandlerRuntime] runtime exit in the middle of an invocation,
// as a runtime that crashed or ran out of memory: the invocation gets no response and no
// platform.runtimeDone, its platform.report says ErrorType, and the sandbox is reset.
type RuntimeExitError struct {
	ErrorType string // e.g. "Runtime.ExitError", "Runtime.OutOfMemory"
}

func (e *RuntimeExitError) Error() string { return "runtime exited: " + e.ErrorType }

// Handler handles one invocation; an error is reported with invocation/{id}/error.
type Handler func(ctx context.Context, inv Invocation) ([]byte, error)

// HandlerRuntime is a runtime that runs handler for each invocation, as a runtime's
// client loop does (aws-lambda-go's lambda.Start, for example).
func HandlerRuntime(handler Handler) RuntimeFunc {
	return func(ctx context.Context, api string) error {
		client := &http.Client{}
		defer client.CloseIdleConnections()
		base := "http://" + api + RuntimeAPIPrefix
		for ctx.Err() == nil {
			inv, err := runtimeNext(ctx, client, base)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			invCtx, cancel := context.WithDeadline(ctx, inv.Deadline)
			out, herr := handler(invCtx, inv)
			cancel()
			var exit *RuntimeExitError
			if errors.As(herr, &exit) {
				return exit
			}
			path, body, errType := "/response", out, ""
			if herr != nil {
				path, errType = "/error", "Handled"
				body, _ = json.Marshal(map[string]string{"errorMessage": herr.Error(), "errorType": errType})
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/invocation/"+inv.RequestID+path, bytes.NewReader(body))
			if err != nil {
				return err
			}
			if errType != "" {
				req.Header.Set(HeaderRuntimeFunctionErr, errType)
			}
			resp, err := client.Do(req)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
		return nil
	}
}

func runtimeNext(ctx context.Context, client *http.Client, base string) (Invocation, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/invocation/next", nil)
	if err != nil {
		return Invocation{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return Invocation{}, err
	}
	defer resp.Body.Close()
	payload, err := io.ReadAll(resp.Body)
	if err != nil {
		return Invocation{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return Invocation{}, fmt.Errorf("invocation/next: %s", resp.Status)
	}
	deadlineMs, _ := strconv.ParseInt(resp.Header.Get(HeaderRuntimeDeadlineMs), 10, 64)
	return Invocation{
		RequestID:          resp.Header.Get(HeaderRuntimeRequestID),
		Deadline:           time.UnixMilli(deadlineMs),
		InvokedFunctionARN: resp.Header.Get(HeaderRuntimeFunctionARN),
		TraceID:            resp.Header.Get(HeaderRuntimeTraceID),
		Payload:            payload,
	}, nil
}

// ProcessRuntime starts a function program as Lambda starts a runtime: argv with the
// function's environment (AWS_LAMBDA_RUNTIME_API, the function's name, version, memory and
// region, _HANDLER and LAMBDA_TASK_ROOT) plus env, in the directory LAMBDA_TASK_ROOT names
// (the task root is the runtime's working directory on Lambda, where the Node.js and Python
// runtime clients look for the handler), its output to output, until the sandbox ends. It
// runs any runtime client: aws-lambda-go, a Node or Python bootstrap.
//
// When the environment sets AWS_LAMBDA_EXEC_WRAPPER, the program started is the wrapper,
// with argv as its arguments, as Lambda's managed runtimes do ("Lambda sends to your script
// the path to the interpreter and all of the original arguments for the standard runtime
// startup", docs.aws.amazon.com/lambda/latest/dg/runtimes-modify.html#runtime-wrapper).
// With Config.OSOnlyRuntime the variable is left alone: "Wrapper scripts are not supported
// on OS-only runtimes (the provided runtime family)" (same page). A wrapper that cannot be
// started fails the runtime as it would on Lambda ("invocations may fail if the wrapper
// script does not successfully start the runtime process").
func ProcessRuntime(cfg Config, argv, env []string, output io.Writer) RuntimeFunc {
	cfg.setDefaults()
	return func(ctx context.Context, api string) error {
		environ := append(append(os.Environ(),
			"AWS_LAMBDA_RUNTIME_API="+api,
			"AWS_LAMBDA_FUNCTION_NAME="+cfg.FunctionName,
			"AWS_LAMBDA_FUNCTION_VERSION="+cfg.FunctionVersion,
			"AWS_LAMBDA_FUNCTION_MEMORY_SIZE="+strconv.Itoa(cfg.MemorySizeMB),
			"AWS_REGION="+cfg.Region,
			"_HANDLER="+cfg.Handler,
		), env...)
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		if wrapper := lookupEnv(environ, envExecWrapper); wrapper != "" && !cfg.OSOnlyRuntime {
			cmd = exec.CommandContext(ctx, wrapper, argv...)
		}
		cmd.Env = environ
		cmd.Dir = lookupEnv(environ, "LAMBDA_TASK_ROOT")
		cmd.Stdout, cmd.Stderr = output, output
		cmd.WaitDelay = 5 * time.Second
		err := cmd.Run()
		if ctx.Err() != nil {
			return nil // the sandbox ended
		}
		return err
	}
}

// envExecWrapper names the wrapper script Lambda starts a managed runtime through.
const envExecWrapper = "AWS_LAMBDA_EXEC_WRAPPER"

// lookupEnv returns the value of key in environ (KEY=value entries), the last one winning
// as for a process started with it; "" when absent.
func lookupEnv(environ []string, key string) string {
	for i := len(environ) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(environ[i], key+"="); ok {
			return v
		}
	}
	return ""
}
