// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdaemu // import "github.com/otelcol-lambda/otelcol-lambda/testbed/lambdaemu"

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
)

// Extensions API paths and headers.
const (
	ExtensionAPIPrefix          = "/2020-01-01/extension"
	HeaderExtensionName         = "Lambda-Extension-Name"
	HeaderExtensionAcceptFeat   = "Lambda-Extension-Accept-Feature"
	HeaderExtensionEventID      = "Lambda-Extension-Event-Identifier"
	HeaderExtensionFunctionErr  = "Lambda-Extension-Function-Error-Type"
	EventInvoke                 = "INVOKE"
	EventShutdown               = "SHUTDOWN"
	featureAccountID            = "accountId"
	errorTypeInvalidRequest     = "InvalidRequestPayload"
	errorTypeForbidden          = "Extension.ForbiddenAction"
	errorTypeUnknownExtensionID = "Extension.UnknownExtensionIdentifier"
)

// extension is a registered extension. Its fields are guarded by Emulator.mu.
type extension struct {
	id, name   string
	invoke     bool
	shutdown   bool
	queue      [][]byte // events waiting for the extension's next call
	enqueued   int      // events ever queued
	delivered  int      // events handed out by next
	finished   int      // events the extension said it was done with (by calling next again)
	nextCalls  int
	registered time.Time
	firstNext  time.Time
	lastNext   time.Time
	initError  string
	exitError  string
	proc       *process // nil for an extension that is not a process spawned here
}

// doneWith reports whether the extension finished its n-th event (or is gone).
func (x *extension) doneWith(n int) bool {
	return x.finished >= n || (x.proc != nil && x.proc.exited())
}

// ExtensionInfo describes a registered extension.
type ExtensionInfo struct {
	Name       string
	ID         string
	Events     []string
	Registered time.Time
	// FirstNext is when it first called /event/next: the end of its init.
	FirstNext time.Time
	NextCalls int
	InitError string
	ExitError string
	// PID is the process id when the emulator spawned it.
	PID int
	// Spawned is when the emulator spawned it.
	Spawned time.Time
}

// Extensions describes the registered extensions.
func (e *Emulator) Extensions() []ExtensionInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]ExtensionInfo, 0, len(e.extensions))
	for _, x := range e.extensions {
		info := ExtensionInfo{
			Name: x.name, ID: x.id, Registered: x.registered, FirstNext: x.firstNext,
			NextCalls: x.nextCalls, InitError: x.initError, ExitError: x.exitError,
		}
		if x.invoke {
			info.Events = append(info.Events, EventInvoke)
		}
		if x.shutdown {
			info.Events = append(info.Events, EventShutdown)
		}
		if x.proc != nil {
			info.PID = x.proc.pid()
			info.Spawned = x.proc.spawned
		}
		out = append(out, info)
	}
	return out
}

func (e *Emulator) routeExtensions(mux *http.ServeMux) {
	mux.HandleFunc("POST "+ExtensionAPIPrefix+"/register", e.handleRegister)
	mux.HandleFunc("GET "+ExtensionAPIPrefix+"/event/next", e.handleNext)
	mux.HandleFunc("POST "+ExtensionAPIPrefix+"/init/error", e.handleExtensionError(true))
	mux.HandleFunc("POST "+ExtensionAPIPrefix+"/exit/error", e.handleExtensionError(false))
}

// writeError answers as the Lambda APIs do: {"errorMessage","errorType"}.
func writeError(w http.ResponseWriter, status int, errorType, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(telemetryapi.ErrorResponse{ErrorType: errorType, ErrorMessage: message})
}

func writeStatusOK(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
}

func (e *Emulator) handleRegister(w http.ResponseWriter, r *http.Request) {
	name := r.Header.Get(HeaderExtensionName)
	if name == "" {
		writeError(w, http.StatusBadRequest, errorTypeInvalidRequest, "missing "+HeaderExtensionName+" header")
		return
	}
	var body struct {
		Events []string `json:"events"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, errorTypeInvalidRequest, "cannot decode the body: "+err.Error())
		return
	}
	x := &extension{id: newID(), name: name, registered: time.Now()}
	for _, ev := range body.Events {
		switch ev {
		case EventInvoke:
			x.invoke = true
		case EventShutdown:
			x.shutdown = true
		default:
			writeError(w, http.StatusBadRequest, errorTypeInvalidRequest, "unknown event "+strconv.Quote(ev)+", must be INVOKE or SHUTDOWN")
			return
		}
	}
	e.mu.Lock()
	if e.phase != phaseInit && e.phase != phaseNew {
		e.mu.Unlock()
		writeError(w, http.StatusForbidden, errorTypeForbidden, "extensions can register only during the init phase")
		return
	}
	for _, p := range e.processes {
		if p.name == name && p.ext == nil {
			p.ext, x.proc = x, p
			break
		}
	}
	e.extensions = append(e.extensions, x)
	e.byID[x.id] = x
	e.notifyLocked()
	e.mu.Unlock()

	resp := map[string]string{
		"functionName":    e.cfg.FunctionName,
		"functionVersion": e.cfg.FunctionVersion,
		"handler":         e.cfg.Handler,
	}
	for _, f := range r.Header.Values(HeaderExtensionAcceptFeat) {
		if slices.Contains(strings.Split(f, ","), featureAccountID) {
			resp["accountId"] = e.cfg.AccountID
		}
	}
	w.Header().Set(telemetryapi.HeaderExtensionIdentifier, x.id)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

// lookup finds the extension named by the identifier header, or answers 403.
func (e *Emulator) lookup(w http.ResponseWriter, r *http.Request) *extension {
	id := r.Header.Get(telemetryapi.HeaderExtensionIdentifier)
	e.mu.Lock()
	x := e.byID[id]
	e.mu.Unlock()
	if x == nil {
		writeError(w, http.StatusForbidden, errorTypeUnknownExtensionID, "unknown or missing "+telemetryapi.HeaderExtensionIdentifier)
	}
	return x
}

func (e *Emulator) handleNext(w http.ResponseWriter, r *http.Request) {
	x := e.lookup(w, r)
	if x == nil {
		return
	}
	e.mu.Lock()
	now := time.Now()
	x.nextCalls++
	if x.firstNext.IsZero() {
		x.firstNext = now
	}
	x.lastNext = now
	x.finished = x.delivered
	e.notifyLocked()
	ok := e.waitFor(r.Context(), time.Time{}, func() bool { return len(x.queue) > 0 })
	if !ok {
		e.mu.Unlock()
		return // the extension went away, or the emulator closed
	}
	event := x.queue[0]
	x.queue = x.queue[1:]
	x.delivered++
	e.notifyLocked()
	e.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(HeaderExtensionEventID, newID())
	_, _ = w.Write(event)
}

func (e *Emulator) handleExtensionError(init bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		x := e.lookup(w, r)
		if x == nil {
			return
		}
		errType := r.Header.Get(HeaderExtensionFunctionErr)
		if errType == "" {
			writeError(w, http.StatusBadRequest, errorTypeInvalidRequest, "missing "+HeaderExtensionFunctionErr+" header")
			return
		}
		e.mu.Lock()
		if init {
			x.initError = errType
			if e.initError == "" {
				e.initError = "Extension.InitError: " + x.name + ": " + errType
			}
		} else {
			x.exitError = errType
		}
		e.notifyLocked()
		e.mu.Unlock()
		writeStatusOK(w, http.StatusAccepted)
	}
}

// enqueueLocked queues an event for an extension and returns its number.
func (e *Emulator) enqueueLocked(x *extension, event []byte) int {
	x.queue = append(x.queue, event)
	x.enqueued++
	e.notifyLocked()
	return x.enqueued
}

// process is a spawned extension.
type process struct {
	name     string
	cmd      *exec.Cmd
	spawned  time.Time
	done     chan struct{} // closed when the process exited
	exitedAt time.Time
	exitErr  error
	ext      *extension // set when it registers
}

func (p *process) pid() int {
	if p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) signalStop() {
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGSTOP)
	}
}

func (p *process) signalCont() {
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
	}
}

func (p *process) kill() {
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
		_ = p.cmd.Process.Kill()
	}
}

// environment is what Lambda gives an extension process (not AWS_LAMBDA_LOG_*,
// _HANDLER and the other variables Lambda keeps from extensions).
func (e *Emulator) environment(spec ExtensionSpec) []string {
	env := []string{
		"AWS_LAMBDA_RUNTIME_API=" + e.RuntimeAPI(),
		"AWS_LAMBDA_FUNCTION_NAME=" + e.cfg.FunctionName,
		"AWS_LAMBDA_FUNCTION_VERSION=" + e.cfg.FunctionVersion,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(e.cfg.MemorySizeMB),
		"AWS_LAMBDA_INITIALIZATION_TYPE=" + telemetryapi.InitTypeOnDemand,
		"AWS_REGION=" + e.cfg.Region,
		"AWS_DEFAULT_REGION=" + e.cfg.Region,
		"TZ=:UTC",
		"LANG=en_US.UTF-8",
		"PATH=/usr/local/bin:/usr/bin/:/bin:/opt/bin",
	}
	return append(env, spec.Env...)
}

// spawnLocked starts an extension process. Its output becomes extension log events.
func (e *Emulator) spawnLocked(spec ExtensionSpec) error {
	cmd := exec.Command(spec.Path)
	cmd.Env = e.environment(spec)
	cmd.Dir = filepath.Dir(spec.Path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout // one stream, as Lambda's log capture
	p := &process{name: filepath.Base(spec.Path), cmd: cmd, done: make(chan struct{})}
	p.spawned = time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	e.processes = append(e.processes, p)
	var outDone = make(chan struct{})
	go func() {
		defer close(outDone)
		e.captureOutput(stdout)
	}()
	go func() {
		<-outDone
		p.exitErr = cmd.Wait()
		p.exitedAt = time.Now()
		close(p.done)
		e.mu.Lock()
		e.notifyLocked()
		e.mu.Unlock()
	}()
	return nil
}

// captureOutput turns an extension's output lines into extension log events.
func (e *Emulator) captureOutput(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if e.cfg.ExtensionOutput != nil {
			_, _ = io.WriteString(e.cfg.ExtensionOutput, line+"\n")
		}
		e.mu.Lock()
		if len(e.extLogs) < 100000 {
			e.extLogs = append(e.extLogs, line)
		}
		e.emitLocked(telemetryapi.TypeExtension, line)
		e.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, r)
}
