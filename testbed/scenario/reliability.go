// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package scenario

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/internal/promtext"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/loadgen"
)

// Reliability makes a scenario one of testbed/results/reliability.md. Besides its checks it
// measures, per run: the invocations generated, counted in Prometheus, lost and counted
// twice (see Discrepancy); the gateway's peak RSS (VmHWM); when the gateway first logged a
// warning about the failing backend; and how long a SIGTERM at the end takes to stop it.
// The timings are measurements, reported, never asserted.
type Reliability struct {
	// Cardinality is a fleet beyond the connector's cardinality_limit: the per-function
	// checks cannot hold there, so the scenario checks what must still hold: the totals
	// over every series, the overflow series included, are the truth (nothing lost), and
	// no function's own series hold more than it had (nothing counted twice). It also
	// sends the SIGTERM StopAfter the load, while Prometheus is still behind the
	// gateway's writes, and reads Prometheus once the gateway has exited. It runs without
	// the sink.
	Cardinality bool
	// StopAfter (Cardinality) is the wait between the load's end and the SIGTERM. Other
	// scenarios send it once the backends hold the truth (or the drain timed out).
	StopAfter time.Duration
	// StopWithin bounds the wait for the gateway to exit after the SIGTERM; a gateway
	// still running then is killed, and the scenario fails. Default 10 minutes.
	StopWithin time.Duration
}

// ReliabilityFigures is what a reliability scenario measured.
type ReliabilityFigures struct {
	// Counts per metric (faas_invocations_total first), read from Prometheus after the
	// gateway exited.
	Counts []MetricCount
	// PeakRSS is the gateway's peak resident set (VmHWM, sampled every 250 ms until it
	// exited), the largest over replicas, in bytes.
	PeakRSS int64
	// Warning is the first warn or error line the gateway logged about the remote write
	// from the outage's start (without an outage, the load's) until the SIGTERM;
	// WarningAt is when (zero: none), WarningDelay how long after that start.
	// WarningInOutage says it came before the backend was back.
	Warning         string
	WarningAt       time.Time
	WarningDelay    time.Duration
	WarningInOutage bool
	// WarnLines counts the gateway's warn and error lines about the remote write from the
	// outage's (or load's) start to the SIGTERM, WarnMessages them by message; ShutdownLines counts
	// those during the shutdown, FirstShutdownLine is the first of these.
	WarnLines, ShutdownLines int
	WarnMessages             map[string]int
	FirstShutdownLine        string
	// Outage is how long the backend was down (zero: no outage).
	Outage time.Duration
	// Shutdown is the time from SIGTERM to the process's exit (the longest over replicas);
	// Killed says a gateway did not exit within Reliability.StopWithin and was killed.
	Shutdown time.Duration
	Killed   bool
	// SinceLoad is how long after the load's end the SIGTERM went out.
	SinceLoad time.Duration
	// SelfMetrics are the gateway's own metrics (its telemetry endpoint) just before the
	// SIGTERM that tell of queues, retries, drops, overflow and evictions: name -> value,
	// summed over the labels.
	SelfMetrics map[string]float64
	// Series is how many series Prometheus holds at the end (its TSDB head: everything the
	// gateway wrote, the run's Prometheus being its own).
	Series int
	// Sandboxes is how many distinct sandboxes (extension instance ids) the load had.
	Sandboxes int
	// Wall is the scenario's whole run, from before the load was generated to its report.
	Wall time.Duration
	// Drain is how long after the load the scenario waited for the backends to hold every
	// check (Options.Drain, or the outage's length when longer).
	Drain time.Duration
	// CheckedAfterExit says the per-function checks (Checks) ran once more after the
	// gateway exited; Result.SinkMismatches and PrometheusMismatches are then theirs.
	CheckedAfterExit bool
	// LoadAverage is the machine's load average (1, 5, 15 minutes) when the gateway
	// started: the machine may be shared.
	LoadAverage string
}

// MetricCount is one metric's ground truth against what Prometheus holds, per Discrepancy.
type MetricCount struct {
	Metric                   string
	Generated                float64
	Counted, Lost, Twice     float64
	Overflow                 float64
	Series, OverflowSeries   int
	Functions, ExactFunction int // functions generated; of which counted exactly in their own series
}

// Invocations is the faas_invocations_total row, if any.
func (f *ReliabilityFigures) Invocations() MetricCount {
	for _, c := range f.Counts {
		if c.Metric == "faas_invocations_total" {
			return c
		}
	}
	return MetricCount{}
}

// passed is the reliability criterion: nothing lost, nothing counted twice, in every
// metric counted; and the gateway exited by itself.
func (f *ReliabilityFigures) passed() bool {
	if f.Killed || len(f.Counts) == 0 {
		return false
	}
	for _, c := range f.Counts {
		if c.Lost != 0 || c.Twice != 0 {
			return false
		}
	}
	return true
}

// countedMetrics are the counters a reliability scenario reads, with their truth per
// function. All are whole counts.
var countedMetrics = []struct {
	metric string
	of     func(*loadgen.Truth) float64
}{
	{"faas_invocations_total", func(t *loadgen.Truth) float64 { return float64(t.Invocations) }},
	{"faas_errors_total", func(t *loadgen.Truth) float64 {
		n := 0
		for _, v := range t.Errors {
			n += v
		}
		return float64(n)
	}},
	{"faas_timeouts_total", func(t *loadgen.Truth) float64 { return float64(t.Timeouts) }},
	{"faas_coldstarts_total", func(t *loadgen.Truth) float64 { return float64(t.ColdStarts) }},
	{"faas_invoke_duration_seconds_count", func(t *loadgen.Truth) float64 { return float64(t.DurationCount) }},
}

// overflowLabel is the label of the connector's overflow series (otel.metric.overflow).
const overflowLabel = "otel_metric_overflow"

// Discrepancy compares a counter's truth per function with what the backend holds: own[fn]
// in the function's own series, overflow in the overflow series (which has no function).
// What a function's own series miss may be in the overflow series, and nowhere else:
//
//	counted = sum(own) + overflow
//	lost    = max(0, sum over functions of max(0, truth - own) - overflow)
//	twice   = sum over functions of max(0, own - truth) + max(0, overflow - what the own series miss)
//
// Below the cardinality limit there is no overflow, and lost and twice are the shortfall
// and the excess summed per function.
func Discrepancy(truth, own map[string]float64, overflow float64) (counted, lost, twice float64) {
	var missing float64
	for fn, want := range truth {
		missing += math.Max(0, want-own[fn])
	}
	for fn, got := range own {
		counted += got
		twice += math.Max(0, got-truth[fn])
	}
	counted += overflow
	lost = math.Max(0, missing-overflow)
	twice += math.Max(0, overflow-missing)
	return counted, lost, twice
}

// measureReliability stops the gateways with SIGTERM (timed) and records what the run
// measured: counts after the exit, the first warning, the series written.
func (rn *run) measureReliability(ctx context.Context, loadEnd time.Time) error {
	f := rn.r.Reliability
	if !rn.stopped {
		rn.stopTimed(ctx, loadEnd)
	}
	rn.outageMu.Lock()
	start, end := rn.outageStart, rn.outageEnd
	rn.outageMu.Unlock()
	if !start.IsZero() && !end.IsZero() {
		f.Outage = end.Sub(start)
	}

	qctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	window := time.Since(rn.began) + time.Minute
	fleet := rn.fleet()
	for _, m := range countedMetrics {
		truth := map[string]float64{}
		var generated float64
		for fn, t := range fleet.Truth {
			truth[fn] = m.of(t)
			generated += truth[fn]
		}
		c, err := countMetric(qctx, rn.prom, m.metric, truth, window)
		if err != nil {
			return err
		}
		c.Generated = generated
		f.Counts = append(f.Counts, c)
	}
	var err error
	if f.Series, err = headSeries(qctx, rn.prom); err != nil {
		return err
	}
	if l, ok := rn.load.(*fleetLoad); ok && rn.sink != nil {
		got, _, err := PrometheusLastTotals(qctx, rn.prom, l.checks, rn.s.Fleet.Prefix, window)
		if err != nil {
			return err
		}
		rn.r.PrometheusMismatches = Mismatches(l.checks, got)
		rn.r.SinkMismatches = Mismatches(l.checks, SinkTotals(rn.sink))
		f.CheckedAfterExit = true
	}
	return nil
}

// fleet is the run's generated Telemetry API load.
func (rn *run) fleet() *loadgen.Fleet {
	switch l := rn.load.(type) {
	case *fleetLoad:
		return l.fleet
	case *cardinalityLoad:
		return l.fleet
	}
	return &loadgen.Fleet{}
}

// countMetric reads every series of metric over the window, each series' total as its
// largest value (a reliability run restarts no gateway, so no counter resets), and
// compares with the truth per function.
func countMetric(ctx context.Context, prom *harness.Prometheus, metric string, truth map[string]float64, window time.Duration) (MetricCount, error) {
	series, err := prom.Query(ctx, fmt.Sprintf("max_over_time(%s[%dms])", metric, window.Milliseconds()), time.Time{})
	if err != nil {
		return MetricCount{}, err
	}
	c := MetricCount{Metric: metric, Series: len(series), Functions: len(truth)}
	own := map[string]float64{}
	for _, s := range series {
		if s.Labels[overflowLabel] == "true" {
			c.Overflow += s.Value
			c.OverflowSeries++
			continue
		}
		own[s.Labels["faas_name"]] += s.Value
	}
	c.Counted, c.Lost, c.Twice = Discrepancy(truth, own, c.Overflow)
	for fn, want := range truth {
		if own[fn] == want {
			c.ExactFunction++
		}
	}
	return c, nil
}

// PrometheusLastTotals answers as PrometheusTotals does, for a run in which no gateway
// restarted: each series' total is its largest value over the window (max_over_time), so
// Prometheus sends one value per series instead of every sample. It sees no resets.
func PrometheusLastTotals(ctx context.Context, prom *harness.Prometheus, checks []Check, prefix string, window time.Duration) (Totals, int, error) {
	byMetric := map[string][]harness.Series{}
	for _, m := range metrics(checks) {
		series, err := prom.Query(ctx, fmt.Sprintf(`max_over_time(%s{faas_name=~"%s-.*"}[%dms])`, m, prefix, window.Milliseconds()), time.Time{})
		if err != nil {
			return nil, 0, err
		}
		byMetric[m] = series
	}
	return sumMatching(byMetric), 0, nil
}

// headSeries is how many series Prometheus' TSDB head holds.
func headSeries(ctx context.Context, prom *harness.Prometheus) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, prom.URL+"/api/v1/status/tsdb", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			HeadStats struct {
				NumSeries int `json:"numSeries"`
			} `json:"headStats"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, fmt.Errorf("prometheus TSDB status: %w", err)
	}
	return body.Data.HeadStats.NumSeries, nil
}

// stopTimed reads the gateways' own metrics, sends them SIGTERM and times their exit,
// then reads their logs for the first warning about the remote write.
func (rn *run) stopTimed(ctx context.Context, loadEnd time.Time) {
	f, rel := rn.r.Reliability, rn.s.Reliability
	within := rel.StopWithin
	if within <= 0 {
		within = 10 * time.Minute
	}
	rn.gwMu.Lock()
	gateways := slices.Clone(rn.gateways)
	rn.stopped = true
	rn.gwMu.Unlock()
	f.SelfMetrics = map[string]float64{}
	for _, g := range gateways {
		mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		m, err := selfMetrics(mctx, g.Addrs)
		cancel()
		if err != nil {
			rn.o.Logf("  reading %s's own metrics: %v", g.Config.InstanceID, err)
		}
		for k, v := range m {
			f.SelfMetrics[k] += v
		}
	}
	f.SinceLoad = time.Since(loadEnd)
	rn.event("SIGTERM to the gateway (%s after the load)", f.SinceLoad.Round(100*time.Millisecond))
	outputs := make([]int, len(gateways))
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, g := range gateways {
		outputs[i] = len(g.Output.String())
		wg.Add(1)
		go func() {
			defer wg.Done()
			began := time.Now()
			err := g.Process.Stop(syscall.SIGTERM, within)
			took := time.Since(began)
			mu.Lock()
			defer mu.Unlock()
			f.Shutdown = max(f.Shutdown, took)
			if err != nil {
				f.Killed = true
				rn.o.Logf("  %s: %v", g.Config.InstanceID, err)
			}
		}()
	}
	wg.Wait()
	if f.Killed {
		rn.event("a gateway did not exit within %s of SIGTERM and was killed", within)
	} else {
		rn.event("gateway exited, %s after SIGTERM", f.Shutdown.Round(100*time.Millisecond))
	}

	rn.outageMu.Lock()
	start, end := rn.outageStart, rn.outageEnd
	rn.outageMu.Unlock()
	if start.IsZero() {
		start = rn.loadStart // no outage: what the load alone made the gateway say
	}
	for i, g := range gateways {
		out := g.Output.String()
		before, during := out[:outputs[i]], out[outputs[i]:]
		{
			w := FirstWarning(before, start)
			f.WarnLines += w.Lines
			for m, n := range w.Messages {
				if f.WarnMessages == nil {
					f.WarnMessages = map[string]int{}
				}
				f.WarnMessages[m] += n
			}
			if w.Line != "" && (f.WarningAt.IsZero() || w.At.Before(f.WarningAt)) {
				f.Warning, f.WarningAt = w.Line, w.At
				f.WarningDelay = w.At.Sub(start)
				f.WarningInOutage = end.IsZero() || w.At.Before(end)
			}
		}
		w := FirstWarning(during, time.Time{})
		f.ShutdownLines += w.Lines
		if f.FirstShutdownLine == "" {
			f.FirstShutdownLine = w.Line
		}
	}
}

// watchMemory samples the gateways' peak RSS every 250 ms into the figures until stop is
// called (VmHWM only grows, so the last reading before a process exits holds its peak).
func (rn *run) watchMemory() (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	f := rn.r.Reliability
	sample := func() {
		rn.gwMu.Lock()
		gateways := slices.Clone(rn.gateways)
		rn.gwMu.Unlock()
		for _, g := range gateways {
			if g == nil {
				continue
			}
			select {
			case <-g.Process.Done():
				continue
			default:
			}
			if _, peak, err := g.Process.Memory(); err == nil {
				rn.timelineMu.Lock()
				f.PeakRSS = max(f.PeakRSS, peak)
				rn.timelineMu.Unlock()
			}
		}
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			sample()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// Warning is the first line of a gateway's log about the remote write, at warn level or
// above, and how many such lines there were.
type Warning struct {
	Line  string
	At    time.Time
	Lines int
	// Messages counts the lines by message (the log's fourth field).
	Messages map[string]int
}

// remoteWriteMention is what a log line about the failing backend mentions: the exporter,
// the remote write, exporting in general (the Collector's "Exporting failed"), or a
// flush that the exporter failed ("Failed ConsumeMetrics" of lambda_metrics and
// lambda_fleet_metrics, whose only consumer is the remote write).
var remoteWriteMention = regexp.MustCompile(`(?i)remote.?write|export|ConsumeMetrics`)

// FirstWarning reads a gateway's log (the Collector's console encoding: time, level,
// caller, message and fields, tab-separated) for the lines at warn level or above that
// mention the remote write and were logged at since or later (a zero since: all). Lines
// without a time (stack traces) are skipped.
func FirstWarning(log string, since time.Time) Warning {
	var w Warning
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		ts, rest, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			continue
		}
		level, rest2, _ := strings.Cut(rest, "\t")
		switch strings.ToLower(level) {
		case "warn", "warning", "error", "dpanic", "panic", "fatal":
		default:
			continue
		}
		if at.Before(since) || !remoteWriteMention.MatchString(rest) {
			continue
		}
		w.Lines++
		_, msg, _ := strings.Cut(rest2, "\t") // past the caller
		msg, _, _ = strings.Cut(msg, "\t")
		if w.Messages == nil {
			w.Messages = map[string]int{}
		}
		w.Messages[msg]++
		if w.Line == "" {
			w.Line, w.At = clip(resourceField.ReplaceAllString(line, ""), 400), at
		}
	}
	return w
}

// resourceField is the gateway's resource, which every log line repeats: left out of the
// quoted line.
var resourceField = regexp.MustCompile(`"resource": \{[^{}]*\}, ?`)

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// selfMetricNames are the gateway's own metrics a reliability report quotes: the
// exporter's queue and what it failed to send, refusals, drops, overflow and evictions.
var selfMetricNames = regexp.MustCompile(`queue_size|queue_capacity|send_failed|enqueue_failed|sent_metric_points|retr|refused|dropped|evict|overflow`)

// selfMetrics scrapes a gateway's telemetry endpoint and sums the matching families over
// their labels (counters and gauges; a histogram's count).
func selfMetrics(ctx context.Context, addrs harness.GatewayAddrs) (map[string]float64, error) {
	families, err := addrs.ReadTelemetry(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, fam := range families {
		if !selfMetricNames.MatchString(fam.Name) {
			continue
		}
		for _, m := range fam.Metrics {
			switch fam.Type {
			case promtext.Histogram, promtext.Summary:
				out[fam.Name+"_count"] += m.Count
			default:
				out[fam.Name] += m.Value
			}
		}
	}
	return out, nil
}

// cardinalityLoad is a Telemetry API fleet beyond the connector's cardinality limit:
// fleetLoad's batches, without its per-function checks (see Reliability.Cardinality).
type cardinalityLoad struct {
	fleet *loadgen.Fleet
}

func newCardinalityLoad(s Scenario, r *Result) (load, error) {
	fleet, err := loadgen.Generate(s.Fleet)
	if err != nil {
		return nil, err
	}
	r.Truth, r.Batches, r.Functions = fleet.Total(), len(fleet.Batches), len(fleet.Truth)
	return &cardinalityLoad{fleet: fleet}, nil
}

func (l *cardinalityLoad) send(ctx context.Context, rn *run, urls []string) (loadgen.Stats, string, error) {
	rn.r.Reliability.Sandboxes = sandboxes(l.fleet)
	return (&fleetLoad{fleet: l.fleet}).send(ctx, rn, urls)
}

// settle waits Reliability.StopAfter, then stops the gateway, while Prometheus is still
// behind its writes. measureReliability reads the rest.
func (l *cardinalityLoad) settle(ctx context.Context, rn *run, loadEnd time.Time) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(loadEnd.Add(rn.s.Reliability.StopAfter))):
	}
	rn.stopTimed(ctx, loadEnd)
	return nil
}

// sandboxes counts the distinct extension instance ids of a fleet's batches.
func sandboxes(f *loadgen.Fleet) int {
	ids := map[string]bool{}
	for _, b := range f.Batches {
		ids[b.Header.Get(wire.HeaderExtensionInstanceID)] = true
	}
	return len(ids)
}

// frontServer serves the backend's front on a fixed loopback address that it can stop
// (connections refused, open ones closed) and start again, for an unreachable backend.
type frontServer struct {
	h    http.Handler
	addr string
	url  string
	mu   sync.Mutex
	srv  *http.Server
}

func serveFront(h http.Handler) (*frontServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &frontServer{h: h, addr: l.Addr().String()}
	f.url = "http://" + f.addr
	f.serve(l)
	return f, nil
}

func (f *frontServer) serve(l net.Listener) {
	f.srv = &http.Server{Handler: f.h, ReadHeaderTimeout: 10 * time.Second}
	srv := f.srv
	go func() { _ = srv.Serve(l) }()
}

// stop closes the listener and every connection; a stopped front refuses connections.
func (f *frontServer) stop() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.srv == nil {
		return nil
	}
	err := f.srv.Close()
	f.srv = nil
	return err
}

// start listens on the same address again (retrying for up to 30 s should something else
// have taken the port meanwhile).
func (f *frontServer) start() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.srv != nil {
		return nil
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		l, err := net.Listen("tcp", f.addr)
		if err == nil {
			f.serve(l)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("listening on %s again: %w", f.addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
