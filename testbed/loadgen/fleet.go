// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package loadgen generates the load of a fleet of Lambda functions as the extension
// forwards it to the gateway (Telemetry API events in batches, one sandbox per batch, with
// the internal/wire headers; optionally the functions' own spans as OTLP), records the
// ground truth of what it generated, and sends it without ever dropping a batch
// client-side (see [Send]).
//
// Every function has an event source ([Triggers], in turn). With [Config.FunctionSpans]
// each invocation whose handler returned also yields the function's root span, which the
// gateway's lambda_correlation processor joins with the platform's invocation span to
// label the invocation with its event source; [Truth] says which Prometheus series must
// hold what (see [Truth.InvocationsByLabels]).
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
	// invocation of the same function, maybe in another sandbox, with the same request id
	// (with Config.FunctionSpans, in the same sandbox slot: see there).
	Retry float64
}

// ErrorTypes are the Lambda errorType values an error invocation draws from, each of a
// different error.type class.
var ErrorTypes = []string{"Handled", "Runtime.ExitError", "Runtime.Unknown", "Extension.Crash"}

// Config is a fleet and its load.
type Config struct {
	// Prefix names the functions <Prefix>-fn<i>; it also makes request and sandbox ids unique.
	Prefix    string
	Functions int
	Sandboxes int // per function
	// Slots, when positive, is the fleet's number of sandbox slots in all, instead of
	// Functions x Sandboxes (Sandboxes is then not used): slot i runs function
	// i % Functions, and the first Slots invocations go to each slot in turn, so that every
	// slot brings up its sandbox (a cardinality scenario's "50,000 sandboxes").
	Slots       int
	Invocations int
	// PerBatch is the most invocations a batch carries (a sandbox's flush).
	PerBatch int
	Mix      Mix
	Seed     uint64
	// Start is the first invocation's time; zero means an hour before now.
	Start time.Time
	// FunctionSpans makes every invocation whose handler returned (see [Truth.Spans]) also
	// produce the function's own root span, as otellambda with
	// instrumentation/go/lambdaevents writes it: a SERVER span with faas.invocation_id and
	// the event source of the function's trigger, in the trace Lambda's X-Ray context names
	// (the platform events then carry that context in "tracing"). A sandbox's spans go in
	// one OTLP batch per flush, right after its telemetry batch.
	//
	// Asynchronous retries then stay in the sandbox slot of their first attempt, in a later
	// batch. lambda_correlation holds one span per role and (function, request id): a second
	// invocation span of the same request id releases the first one unpaired, so two
	// attempts in flight at once could leave one without its event source. Send acknowledges
	// a slot's batches one after the other, so the first attempt is paired (or has no
	// function span at all) before its retry arrives.
	FunctionSpans bool
	// ReportLag delivers each batch's last platform.report in the sandbox's next batch, as
	// Lambda does with an extension that flushes at the end of every invoke: the report of
	// invocation N only exists after N's invoke phase ended, so the extension sends it while
	// handling N+1. A sandbox's last batch (it is recycled, killed for memory, or the
	// generation ends, i.e. SHUTDOWN) carries its reports as they are.
	ReportLag bool
}

// Batch is one POST to the gateway: Telemetry API events to wire.TelemetryPath, or the
// functions' spans (OTLP/protobuf) to TracesPath.
type Batch struct {
	Function string
	// Slot is the function's sandbox slot (index over the fleet); batches of one slot must be
	// sent in order.
	Slot int
	// Path is where the batch goes under SendConfig.URL: wire.TelemetryPath (also when
	// empty) or TracesPath.
	Path string
	// ContentType is the body's media type: ContentTypeJSON or ContentTypeProtobuf.
	ContentType string
	Header      http.Header
	Body        []byte
	// Invocations is how many invocations the gateway counts from a telemetry batch (one per
	// platform.runtimeDone or marked report); 0 for OTLP batches.
	Invocations int
	// Spans is how many function spans an OTLP batch carries; 0 for telemetry batches.
	Spans int
}

// IsTraces tells whether the batch is an OTLP traces batch.
func (b *Batch) IsTraces() bool { return b.Path == TracesPath }

// Truth is what was generated for one function: what the gateway must count. The
// Prometheus series named below are those of the default distribution (lambda_metrics with
// its default dimensions), selected by faas_name.
type Truth struct {
	// Invocations: faas_invocations_total, over all labels.
	Invocations int
	// Errors by error.type (lambdaconv.ErrorType); timeouts and OOM kills included:
	// faas_errors_total{error_type}.
	Errors map[string]int
	// Timeouts: faas_timeouts_total.
	Timeouts int
	// ColdStarts: faas_coldstarts_total.
	ColdStarts int
	// Retries is how many invocations reused an earlier invocation's request id.
	Retries int
	// OOMs is how many invocations were counted from a marked report.
	OOMs int

	// Trigger is the function's event source (set whether or not Config.FunctionSpans is).
	Trigger Trigger
	// Spans is how many invocations produced the function's own span (Config.FunctionSpans):
	// those whose handler returned, i.e. successes and function errors, not out-of-memory
	// kills, timeouts nor Runtime.* failures. The gateway counts these under
	// Trigger.Labels and the others without event-source labels
	// (see InvocationsByLabels).
	Spans int

	// DurationCount and DurationSum (seconds) are faas_invoke_duration_seconds_count and
	// _sum, over all labels. Every invocation has a duration: the receiver takes it from
	// platform.runtimeDone's durationMs, or from the report's for an invocation counted from
	// a marked report (the span runs from platform.start for that long). DurationSum adds
	// the same float64 terms as the connector, in another order: compare with a relative
	// tolerance (1e-9 is ample).
	DurationCount int
	DurationSum   float64
	// BilledDurationMs sums the reports' billedDurationMs; every invocation has a report
	// (OOM kills too), and the gateway adds it whenever that report arrives.
	BilledDurationMs int64
	// EventAgeCount and EventAgeSum (seconds) are aws_lambda_event_age_seconds_count and
	// _sum: one per function span, the invocation's start minus the source time its event
	// carried (Config.FunctionSpans only). Compare the sum with a relative tolerance.
	EventAgeCount int
	EventAgeSum   float64
	// LaggedReports is how many platform.report events were delivered in a later batch than
	// their invocation (Config.ReportLag).
	LaggedReports int
}

// BilledDurationSeconds is aws_lambda_billed_duration_seconds_total, computed as the
// connector does (whole milliseconds times 0.001). The reports carry no event-source
// labels: select by faas_name only.
func (t *Truth) BilledDurationSeconds() float64 { return float64(t.BilledDurationMs) * 0.001 }

// InvocationsByLabels is faas_invocations_total by event-source labels: Spans under
// Trigger.Labels, the rest under the zero Labels (no event-source labels). Entries with no
// invocations are left out. It holds when every function span reached the gateway within
// lambda_correlation's window of its invocation span (Send keeps a slot's batches in order
// and never drops one; a backend outage long enough to refuse batches for longer than the
// window, or more than max_pending held spans, breaks it).
func (t *Truth) InvocationsByLabels() map[Labels]int {
	out := map[Labels]int{}
	if t.Spans > 0 {
		out[t.Trigger.Labels] += t.Spans
	}
	if n := t.Invocations - t.Spans; n > 0 {
		out[Labels{}] += n
	}
	return out
}

// Fleet is the generated load.
type Fleet struct {
	Config  Config
	Batches []Batch
	// Truth per function name.
	Truth map[string]*Truth
}

// Total sums the truth over functions (Trigger stays zero).
func (f *Fleet) Total() Truth {
	t := Truth{Errors: map[string]int{}}
	for _, ft := range f.Truth {
		t.Invocations += ft.Invocations
		t.Timeouts += ft.Timeouts
		t.ColdStarts += ft.ColdStarts
		t.Retries += ft.Retries
		t.OOMs += ft.OOMs
		t.Spans += ft.Spans
		t.DurationCount += ft.DurationCount
		t.DurationSum += ft.DurationSum
		t.BilledDurationMs += ft.BilledDurationMs
		t.EventAgeCount += ft.EventAgeCount
		t.EventAgeSum += ft.EventAgeSum
		t.LaggedReports += ft.LaggedReports
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
	ran        int // invocations run, over all its sandboxes
	flushed    int // ran when the last batch was made
	clock      time.Time
	events     []telemetryapi.Event
	marked     []int
	count      int
	live       bool
	logStream  string
	spans      []functionSpan
}

type pendingRetry struct {
	requestID string
	after     time.Time
	// serial is the first attempt's place among its slot's invocations: with FunctionSpans
	// the retry waits until the batch holding it has been made.
	serial int
	event  eventSource
}

// memorySizeMB is every function's configured memory.
const memorySizeMB = 512

// Generate makes the fleet's load; the same Config (with Start set) always gives the same
// batches.
func Generate(cfg Config) (*Fleet, error) {
	if cfg.Functions <= 0 || (cfg.Sandboxes <= 0 && cfg.Slots <= 0) || cfg.Invocations < 0 {
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
	// The Telemetry API's times have millisecond precision: so have the generated ones, or
	// the truth would hold durations that the events cannot carry.
	cfg.Start = cfg.Start.Truncate(time.Millisecond)
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	// Ids, event ages and log streams come from a second stream, so that the outcomes
	// drawn from the first are the same with and without function spans.
	aux := rand.New(rand.NewPCG(cfg.Seed^0xd1b54a32d192ed03, cfg.Seed+0x8cb92ba72f3d8dd7))
	g := &generator{cfg: cfg, rng: rng, aux: aux, fleet: &Fleet{Config: cfg, Truth: map[string]*Truth{}}}
	if cfg.Slots > 0 {
		g.slots = make([]*slot, cfg.Slots)
	} else {
		g.slots = make([]*slot, cfg.Functions*cfg.Sandboxes)
	}
	for i := range g.slots {
		fn := i / max(1, cfg.Sandboxes)
		if cfg.Slots > 0 {
			fn = i % cfg.Functions
		}
		g.slots[i] = &slot{fn: fn, clock: cfg.Start.Add(time.Duration(i) * time.Millisecond)}
	}
	if cfg.FunctionSpans {
		g.retries = make([][]pendingRetry, len(g.slots))
	} else {
		g.retries = make([][]pendingRetry, cfg.Functions)
	}
	g.nextID = make([]int, cfg.Functions)
	g.triggers = make([]Trigger, cfg.Functions)
	for i := range cfg.Functions {
		g.triggers[i] = triggerOf(i, g.fnName(i))
		g.fleet.Truth[g.fnName(i)] = &Truth{Errors: map[string]int{}, Trigger: g.triggers[i]}
	}
	for n := range cfg.Invocations {
		i := n // with Slots, every slot first
		if cfg.Slots <= 0 || n >= len(g.slots) {
			i = rng.IntN(len(g.slots))
		}
		if err := g.invoke(i); err != nil {
			return nil, err
		}
	}
	for i := range g.slots {
		if err := g.flush(i, true); err != nil {
			return nil, err
		}
	}
	return g.fleet, nil
}

type generator struct {
	cfg      Config
	rng      *rand.Rand
	aux      *rand.Rand
	fleet    *Fleet
	slots    []*slot
	triggers []Trigger
	// retries waiting, per function; per slot with FunctionSpans.
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

// takeRetry returns the pending retry slot i should run now, if any: the function's oldest
// (any slot's), or with FunctionSpans the slot's own oldest whose first attempt's batch has
// been made.
func (g *generator) takeRetry(i int) (pendingRetry, bool) {
	s := g.slots[i]
	q := s.fn
	if g.cfg.FunctionSpans {
		q = i
	}
	if len(g.retries[q]) == 0 {
		return pendingRetry{}, false
	}
	r := g.retries[q][0]
	if g.cfg.FunctionSpans && s.flushed <= r.serial {
		return pendingRetry{}, false
	}
	g.retries[q] = g.retries[q][1:]
	return r, true
}

// invoke generates one invocation in slot i.
func (g *generator) invoke(i int) error {
	s := g.slots[i]
	mix := g.cfg.Mix
	truth := g.fleet.Truth[g.fnName(s.fn)]
	trigger := g.triggers[s.fn]

	cold := !s.live || g.rng.Float64() < mix.ColdStart
	if cold && s.live {
		if err := g.flush(i, true); err != nil { // the old sandbox's last batch
			return err
		}
	}
	if cold {
		s.live, s.generation, s.sequence = true, s.generation+1, 0
		if g.cfg.FunctionSpans {
			s.logStream = newLogStream(g.aux, s.clock)
		}
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

	// A pending retry of this function whose first attempt has ended is taken first. A
	// retry carries the same event, so its source time too.
	requestID := ""
	var event *eventSource
	if r, ok := g.takeRetry(i); ok {
		requestID = r.requestID
		if s.clock.Before(r.after) {
			s.clock = r.after
		}
		truth.Retries++
		event = &r.event
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

	var tracing *telemetryapi.TraceContext
	var ids xrayIDs
	if g.cfg.FunctionSpans {
		ids = newXRayIDs(g.aux, start)
		tracing = ids.tracing()
		if event == nil {
			ev := drawEvent(g.aux, trigger.Kind, start)
			event = &ev
		}
	}
	if err := g.add(s, start, telemetryapi.TypePlatformStart, telemetryapi.PlatformStart{RequestID: requestID, Version: "$LATEST", Tracing: tracing}); err != nil {
		return err
	}
	if !oom {
		produced := float64(100 + g.rng.IntN(1000))
		if err := g.add(s, end, telemetryapi.TypePlatformRuntimeDone, telemetryapi.PlatformRuntimeDone{
			RequestID: requestID, Status: status, ErrorType: errorType, Tracing: tracing,
			Metrics: &telemetryapi.RuntimeDoneMetrics{DurationMs: ms(dur), ProducedBytes: &produced}}); err != nil {
			return err
		}
	}
	report := telemetryapi.PlatformReport{RequestID: requestID, Status: status, ErrorType: errorType, Tracing: tracing,
		Metrics: telemetryapi.ReportMetrics{DurationMs: ms(dur), BilledDurationMs: ms(dur) + 1, MemorySizeMB: memorySizeMB,
			MaxMemoryUsedMB: float64(60 + g.rng.IntN(100))}}
	if oom {
		report.Metrics.MaxMemoryUsedMB = memorySizeMB
		s.marked = append(s.marked, len(s.events))
		truth.OOMs++
	}
	if err := g.add(s, end.Add(2*time.Millisecond), telemetryapi.TypePlatformReport, report); err != nil {
		return err
	}
	serial := s.ran
	s.count++
	s.ran++
	s.clock = end.Add(time.Duration(10+g.rng.IntN(500)) * time.Millisecond)

	truth.Invocations++
	// The invocation span lasts durationMs from platform.start (runtimeDone's, or the marked
	// report's: the same value here).
	truth.DurationCount++
	truth.DurationSum += float64(telemetryapi.MillisToDuration(ms(dur)).Nanoseconds()) / 1e9
	truth.BilledDurationMs += int64(report.Metrics.BilledDurationMs)
	if g.cfg.FunctionSpans && spanRuns(status, errorType, oom) {
		// The handler runs inside the invoke phase: after the runtime picked the event up,
		// and before it posts the response.
		s.spans = append(s.spans, functionSpan{ids: ids, requestID: requestID,
			start: start.Add(time.Millisecond), end: end.Add(-time.Millisecond), event: *event})
		truth.Spans++
		truth.EventAgeCount++
		truth.EventAgeSum += eventAge(start, event.time.UnixMilli())
	}
	if et := lambdaconv.ErrorType(status, errorType); et != "" {
		truth.Errors[et]++
		if status == telemetryapi.StatusTimeout {
			truth.Timeouts++
		}
		if g.rng.Float64() < mix.Retry {
			r := pendingRetry{requestID: requestID, after: end.Add(time.Second), serial: serial}
			q := s.fn
			if g.cfg.FunctionSpans {
				q, r.event = i, *event
			}
			g.retries[q] = append(g.retries[q], r)
		}
	}
	if oom {
		// The sandbox is gone; the slot's next invocation starts a new one.
		if err := g.flush(i, true); err != nil {
			return err
		}
		s.live = false
	} else if s.count >= g.cfg.PerBatch {
		return g.flush(i, false)
	}
	return nil
}

// flush turns slot i's pending events into a batch, and its function spans into an OTLP
// batch after it. final is the sandbox's last flush (recycled, killed, or SHUTDOWN at the
// end of the generation): with ReportLag, every other flush leaves the last invocation's
// report for the sandbox's next batch, where it comes first.
func (g *generator) flush(i int, final bool) error {
	s := g.slots[i]
	if len(s.events) == 0 {
		return nil
	}
	events := s.events
	var carried *telemetryapi.Event
	if g.cfg.ReportLag && !final && events[len(events)-1].Type == telemetryapi.TypePlatformReport {
		// Not a marked report: an out-of-memory kill always ends the sandbox (final).
		carried = &events[len(events)-1]
		events = events[:len(events)-1]
		g.fleet.Truth[g.fnName(s.fn)].LaggedReports++
	}
	body, err := telemetryapi.AppendEvents(nil, events)
	if err != nil {
		return err
	}
	s.sequence++
	s.flushed = s.ran
	fn := g.fnName(s.fn)
	sandbox := wire.Sandbox{
		FunctionName: fn, FunctionVersion: "$LATEST", Region: region, AccountID: accountID,
		MemorySizeMB: memorySizeMB, Architecture: "arm64", Runtime: "provided.al2023", TimeoutMs: 3000,
		ExtensionInstanceID: fmt.Sprintf("%s-fn%d-slot%d-gen%d", g.cfg.Prefix, s.fn, i, s.generation),
	}
	h := http.Header{}
	h.Set("Content-Type", ContentTypeJSON)
	wire.Batch{Sandbox: sandbox, Sequence: s.sequence, ReportsWithoutRuntimeDone: s.marked}.SetHeaders(h)
	g.fleet.Batches = append(g.fleet.Batches, Batch{Function: fn, Slot: i, Path: wire.TelemetryPath, ContentType: ContentTypeJSON,
		Header: h, Body: body, Invocations: s.count})

	if len(s.spans) > 0 {
		body, err := tracesBody(functionResource{name: fn, logStream: s.logStream}, g.triggers[s.fn], s.spans)
		if err != nil {
			return err
		}
		// The extension forwards the function's OTLP as received, with the sandbox's
		// headers (no batch sequence: OTLP requests are not numbered).
		h := http.Header{}
		h.Set("Content-Type", ContentTypeProtobuf)
		sandbox.SetHeaders(h)
		g.fleet.Batches = append(g.fleet.Batches, Batch{Function: fn, Slot: i, Path: TracesPath, ContentType: ContentTypeProtobuf,
			Header: h, Body: body, Spans: len(s.spans)})
	}

	s.events, s.marked, s.count, s.spans = nil, nil, 0, nil
	if carried != nil {
		s.events = []telemetryapi.Event{*carried}
	}
	return nil
}
