// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package loadgen generates the load of a fleet of Lambda functions as the extension
// forwards it to the gateway (Telemetry API events in batches, one sandbox per batch, with
// the internal/wire headers), records the ground truth of what it generated, and sends it
// without ever dropping a batch client-side (see [Send]).
package loadgen // import "github.com/otelcol-lambda/otelcol-lambda/testbed/loadgen"

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
)

// Mix is the share of invocations with each outcome, each in [0, 1]; Error, Timeout and
// OOM together at most 1, the rest succeed.
type Mix struct {
	// ColdStart is the chance that an invocation finds its sandbox slot recycled and runs
	// in a new sandbox (initStart, initRuntimeDone, initReport first). A slot's first
	// invocation, and the one after an out-of-memory kill, always is a cold start.
	ColdStart float64
	// Error: runtimeDone and report with status error and one of [ErrorTypes].
	Error float64
	// Timeout: status timeout.
	Timeout float64
	// OOM: the runtime is killed for memory; no runtimeDone, and the report is listed in
	// Lambda-Reports-Without-Runtime-Done.
	OOM float64
	// Retry is the chance that a failed invocation is retried asynchronously: a later
	// invocation of the same function, maybe in another sandbox, with the same request id.
	Retry float64
}

// ErrorTypes are the Lambda errorType values an error invocation draws from, each of a
// different error.type class.
var ErrorTypes = []string{"Handled", "Runtime.ExitError", "Runtime.Unknown", "Extension.Crash"}

// Config is a fleet and its load.
type Config struct {
	// Prefix names the functions <Prefix>-fn<i>; it also makes request and sandbox ids unique.
	Prefix      string
	Functions   int
	Sandboxes   int // per function
	Invocations int
	// PerBatch is the most invocations a batch carries (a sandbox's flush).
	PerBatch int
	Mix      Mix
	Seed     uint64
	// Start is the first invocation's time; zero means an hour before now.
	Start time.Time
}

// Batch is one POST to the gateway's telemetry path.
type Batch struct {
	Function string
	// Slot is the function's sandbox slot (index over the fleet); batches of one slot must be
	// sent in order.
	Slot        int
	Header      http.Header
	Body        []byte
	Invocations int
}

// Truth is what was generated for one function: what the gateway must count.
type Truth struct {
	Invocations int
	// Errors by error.type (lambdaconv.ErrorType); timeouts and OOM kills included.
	Errors     map[string]int
	Timeouts   int
	ColdStarts int
	// Retries is how many invocations reused an earlier invocation's request id.
	Retries int
	// OOMs is how many invocations were counted from a marked report.
	OOMs int
}

// Fleet is the generated load.
type Fleet struct {
	Config  Config
	Batches []Batch
	// Truth per function name.
	Truth map[string]*Truth
}

// Total sums the truth over functions.
func (f *Fleet) Total() Truth {
	t := Truth{Errors: map[string]int{}}
	for _, ft := range f.Truth {
		t.Invocations += ft.Invocations
		t.Timeouts += ft.Timeouts
		t.ColdStarts += ft.ColdStarts
		t.Retries += ft.Retries
		t.OOMs += ft.OOMs
		for k, v := range ft.Errors {
			t.Errors[k] += v
		}
	}
	return t
}

// Functions lists the function names in order.
func (f *Fleet) Functions() []string {
	out := make([]string, 0, len(f.Truth))
	for fn := range f.Truth {
		out = append(out, fn)
	}
	sort.Strings(out)
	return out
}

// slot is a sandbox slot of a function: a sequence of sandboxes, one at a time.
type slot struct {
	fn         int
	generation int // sandboxes this slot has had
	sequence   uint64
	clock      time.Time
	events     []telemetryapi.Event
	marked     []int
	count      int
	live       bool
}

type pendingRetry struct {
	requestID string
	after     time.Time
}

// Generate makes the fleet's load; the same Config (with Start set) always gives the same
// batches.
func Generate(cfg Config) (*Fleet, error) {
	if cfg.Functions <= 0 || cfg.Sandboxes <= 0 || cfg.Invocations < 0 {
		return nil, fmt.Errorf("loadgen: need functions and sandboxes > 0, got %d x %d", cfg.Functions, cfg.Sandboxes)
	}
	if m := cfg.Mix; m.Error+m.Timeout+m.OOM > 1 {
		return nil, fmt.Errorf("loadgen: error, timeout and OOM shares add up to more than 1")
	}
	if cfg.PerBatch <= 0 {
		cfg.PerBatch = 50
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "fleet"
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Now().Add(-time.Hour)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	g := &generator{cfg: cfg, rng: rng, fleet: &Fleet{Config: cfg, Truth: map[string]*Truth{}}}
	g.slots = make([]*slot, cfg.Functions*cfg.Sandboxes)
	for i := range g.slots {
		g.slots[i] = &slot{fn: i / cfg.Sandboxes, clock: cfg.Start.Add(time.Duration(i) * time.Millisecond)}
	}
	g.retries = make([][]pendingRetry, cfg.Functions)
	g.nextID = make([]int, cfg.Functions)
	for i := range cfg.Functions {
		g.fleet.Truth[g.fnName(i)] = &Truth{Errors: map[string]int{}}
	}
	for range cfg.Invocations {
		if err := g.invoke(rng.IntN(len(g.slots))); err != nil {
			return nil, err
		}
	}
	for i := range g.slots {
		if err := g.flush(i); err != nil {
			return nil, err
		}
	}
	return g.fleet, nil
}

type generator struct {
	cfg     Config
	rng     *rand.Rand
	fleet   *Fleet
	slots   []*slot
	retries [][]pendingRetry
	nextID  []int
}

func (g *generator) fnName(fn int) string { return fmt.Sprintf("%s-fn%d", g.cfg.Prefix, fn) }

func (g *generator) add(s *slot, t time.Time, typ string, record any) error {
	e, err := telemetryapi.NewEvent(t, typ, record)
	if err != nil {
		return err
	}
	s.events = append(s.events, e)
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Milliseconds()) }

// invoke generates one invocation in slot i.
func (g *generator) invoke(i int) error {
	s := g.slots[i]
	mix := g.cfg.Mix
	truth := g.fleet.Truth[g.fnName(s.fn)]

	cold := !s.live || g.rng.Float64() < mix.ColdStart
	if cold && s.live {
		if err := g.flush(i); err != nil { // the old sandbox's last batch
			return err
		}
	}
	if cold {
		s.live, s.generation, s.sequence = true, s.generation+1, 0
		initDur := time.Duration(100+g.rng.IntN(400)) * time.Millisecond
		t := s.clock
		if err := g.add(s, t, telemetryapi.TypePlatformInitStart, telemetryapi.PlatformInitStart{
			InitializationType: telemetryapi.InitTypeOnDemand, Phase: "init"}); err != nil {
			return err
		}
		if err := g.add(s, t.Add(initDur), telemetryapi.TypePlatformInitRuntimeDone, telemetryapi.PlatformInitRuntimeDone{
			InitializationType: telemetryapi.InitTypeOnDemand, Phase: "init", Status: telemetryapi.StatusSuccess}); err != nil {
			return err
		}
		if err := g.add(s, t.Add(initDur), telemetryapi.TypePlatformInitReport, telemetryapi.PlatformInitReport{
			InitializationType: telemetryapi.InitTypeOnDemand, Phase: "init", Status: telemetryapi.StatusSuccess,
			Metrics: telemetryapi.InitReportMetrics{DurationMs: ms(initDur)}}); err != nil {
			return err
		}
		s.clock = t.Add(initDur + time.Millisecond)
		truth.ColdStarts++
	}

	// A pending retry of this function whose first attempt has ended is taken first.
	requestID := ""
	if q := g.retries[s.fn]; len(q) > 0 {
		r := q[0]
		g.retries[s.fn] = q[1:]
		requestID = r.requestID
		if s.clock.Before(r.after) {
			s.clock = r.after
		}
		truth.Retries++
	} else {
		requestID = fmt.Sprintf("%s-fn%d-req%d", g.cfg.Prefix, s.fn, g.nextID[s.fn])
		g.nextID[s.fn]++
	}

	status, errorType := telemetryapi.StatusSuccess, ""
	oom := false
	switch p := g.rng.Float64(); {
	case p < mix.Error:
		status, errorType = telemetryapi.StatusError, ErrorTypes[g.rng.IntN(len(ErrorTypes))]
	case p < mix.Error+mix.Timeout:
		status, errorType = telemetryapi.StatusTimeout, "Sandbox.Timedout"
	case p < mix.Error+mix.Timeout+mix.OOM:
		status, errorType, oom = telemetryapi.StatusError, "Runtime.OutOfMemory", true
	}
	dur := time.Duration(5+g.rng.IntN(300)) * time.Millisecond
	if status == telemetryapi.StatusTimeout {
		dur = 3 * time.Second
	}
	start := s.clock
	end := start.Add(dur)
	if err := g.add(s, start, telemetryapi.TypePlatformStart, telemetryapi.PlatformStart{RequestID: requestID, Version: "$LATEST"}); err != nil {
		return err
	}
	if !oom {
		produced := float64(100 + g.rng.IntN(1000))
		if err := g.add(s, end, telemetryapi.TypePlatformRuntimeDone, telemetryapi.PlatformRuntimeDone{
			RequestID: requestID, Status: status, ErrorType: errorType,
			Metrics: &telemetryapi.RuntimeDoneMetrics{DurationMs: ms(dur), ProducedBytes: &produced}}); err != nil {
			return err
		}
	}
	report := telemetryapi.PlatformReport{RequestID: requestID, Status: status, ErrorType: errorType,
		Metrics: telemetryapi.ReportMetrics{DurationMs: ms(dur), BilledDurationMs: ms(dur) + 1, MemorySizeMB: 512,
			MaxMemoryUsedMB: float64(60 + g.rng.IntN(100))}}
	if oom {
		report.Metrics.MaxMemoryUsedMB = 512
		s.marked = append(s.marked, len(s.events))
		truth.OOMs++
	}
	if err := g.add(s, end.Add(2*time.Millisecond), telemetryapi.TypePlatformReport, report); err != nil {
		return err
	}
	s.count++
	s.clock = end.Add(time.Duration(10+g.rng.IntN(500)) * time.Millisecond)

	truth.Invocations++
	if et := lambdaconv.ErrorType(status, errorType); et != "" {
		truth.Errors[et]++
		if status == telemetryapi.StatusTimeout {
			truth.Timeouts++
		}
		if g.rng.Float64() < mix.Retry {
			g.retries[s.fn] = append(g.retries[s.fn], pendingRetry{requestID: requestID, after: end.Add(time.Second)})
		}
	}
	if oom {
		// The sandbox is gone; the slot's next invocation starts a new one.
		if err := g.flush(i); err != nil {
			return err
		}
		s.live = false
	} else if s.count >= g.cfg.PerBatch {
		return g.flush(i)
	}
	return nil
}

// flush turns slot i's pending events into a batch.
func (g *generator) flush(i int) error {
	s := g.slots[i]
	if len(s.events) == 0 {
		return nil
	}
	body, err := telemetryapi.AppendEvents(nil, s.events)
	if err != nil {
		return err
	}
	s.sequence++
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	fn := g.fnName(s.fn)
	wire.Batch{
		Sandbox: wire.Sandbox{
			FunctionName: fn, FunctionVersion: "$LATEST", Region: "eu-west-1", AccountID: "123456789012",
			MemorySizeMB: 512, Architecture: "arm64", Runtime: "provided.al2023", TimeoutMs: 3000,
			ExtensionInstanceID: fmt.Sprintf("%s-fn%d-slot%d-gen%d", g.cfg.Prefix, s.fn, i, s.generation),
		},
		Sequence:                  s.sequence,
		ReportsWithoutRuntimeDone: s.marked,
	}.SetHeaders(h)
	g.fleet.Batches = append(g.fleet.Batches, Batch{Function: fn, Slot: i, Header: h, Body: body, Invocations: s.count})
	s.events, s.marked, s.count = nil, nil, 0
	return nil
}
