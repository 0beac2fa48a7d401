// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package scenario runs fleet scenarios: the load of testbed/loadgen, sent to one or more
// gateway processes (the built distribution with distribution/config.yaml), which write
// to a real Prometheus and, through a tee, to the validating sink testbed/rwsink. A
// scenario may take the backend down for a while, or stop or kill a gateway and start it
// again. It passes only when both backends hold the ground truth exactly: the counter
// total of every series (summed over reset segments when a gateway restarted, and over
// replicas), per function; or, when a gateway was killed, at most what it had not yet
// flushed is missing and nothing is counted twice. The soak (Scenario.Soak) is such a
// scenario, long, with the gateway's RSS and CPU read over time; the pipelines compared
// with the stock one (Ours, Stock) are shared with testbed/cmd/gatewaybench.
package scenario // import "github.com/otelcol-lambda/otelcol-lambda/testbed/scenario"

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/loadgen"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/rwsink"
)

// Scenario is one run.
type Scenario struct {
	Name, About string
	Fleet       loadgen.Config
	// Rate is invocations per second over all replicas; 0 sends as fast as it can.
	Rate    float64
	Workers int // per replica
	// Replicas is how many gateway processes share the load, routed by function name as
	// the loadbalancing exporter of a first Collector tier would (or by Balancer); default 1.
	Replicas int
	// Balancer, when set, sends the load to a real HAProxy in front of the replicas instead
	// of routing it in the sender (see Balancer).
	Balancer *Balancer
	// Resend is the share of Telemetry API batches sent a second time right after their
	// acknowledgement (same bytes, same sequence number), as the extension resends a batch
	// whose answer it did not get: the connection broke after the gateway took it.
	Resend float64
	// GiveUpAfter, when set, is how long the sender waits for an answer before it gives up
	// and resends the batch (same bytes, same sequence number), as the extension does past
	// its flush timeout (OTELCOL_LAMBDA_FLUSH_TIMEOUT_MS, 200 ms by default); else 30 s.
	GiveUpAfter time.Duration
	// OutageAt and OutageFor: the backend answers 503 (or, with Unreachable, is not there)
	// from OutageAt after the load starts, for OutageFor.
	OutageAt, OutageFor time.Duration
	// Unreachable makes the outage a backend that is not there, as when Prometheus is down:
	// the front stops listening and drops its connections, so that the gateway's
	// connections are refused, instead of answering 503.
	Unreachable bool
	// Flush, when set, is this scenario's flush interval and correlation window instead of
	// Options.Flush.
	Flush time.Duration
	// Reliability, when set, makes it a scenario of testbed/results/reliability.md: it
	// also measures the gateway's peak RSS, its first warning about the failing backend and
	// how long a SIGTERM at the end takes to stop it (see Reliability).
	Reliability *Reliability
	// Disruption stops or kills a gateway during the load and starts it again.
	Disruption *Disruption
	// WriteAheadLog runs the gateways with distribution/overlays/write-ahead-log.yaml: a
	// killed replica loses nothing it acknowledged, so the scenario must come out exact
	// like a graceful restart.
	WriteAheadLog bool
	// Stock also runs the stock pipeline (testbed/bench/stock-pipeline.yaml: otlp ->
	// batch -> spanmetrics -> prometheusremotewrite) and sends it the functions' own spans,
	// all that it can take, to compare what each counts. Needs Fleet.FunctionSpans.
	Stock bool
	// Push, when set, sends sandboxes' Pushgateway pushes (see PushLoad) instead of Fleet.
	Push *PushLoad
	// Soak, when set, makes it the soak of testbed/results/soak.md: the gateway's RSS and
	// CPU over a long load (see Soak).
	Soak *Soak
}

// Comparison is what the stock pipeline counted beside otelcol-lambda, over the fleet.
type Comparison struct {
	// Generated: invocations, failed invocations, and the functions' own spans, which are
	// all that the stock pipeline can see.
	Invocations, Errors, Spans    int
	OursInvocations, OursErrors   float64
	StockInvocations, StockErrors float64
	// Functions whose invocation count is exact, of Functions.
	Functions, OursExact, StockExact int
	// StockSeries is how many calls series the stock pipeline wrote to Prometheus.
	StockSeries            int
	StockSpansAcknowledged int
}

// Disruption is a gateway stopped (SIGTERM: the Collector drains its pipelines) or killed
// (SIGKILL: nothing is drained), then started again on the same addresses with the same
// instance id, so that its series reset.
type Disruption struct {
	Replica int
	At      time.Duration // after the load starts
	Down    time.Duration // between the exit and the new start
	Kill    bool
}

func (d Disruption) signal() string {
	if d.Kill {
		return "SIGKILL"
	}
	return "SIGTERM"
}

// Options are the parts every scenario shares.
type Options struct {
	Bin  string // the built distribution
	Root string // the repository root, for distribution/config.yaml
	// Flush is lambda_metrics' flush interval and lambda_correlation's window.
	Flush time.Duration
	// Drain bounds the wait for the backends to hold the ground truth after the load.
	Drain time.Duration
	// Poll is how often the backends are read while waiting for them; default 250 ms.
	Poll time.Duration
	// PrometheusBin is the Prometheus binary; default "prometheus" on PATH.
	PrometheusBin string
	Logf          func(format string, args ...any)
}

// Result is what a scenario measured.
type Result struct {
	Scenario  Scenario
	Flush     time.Duration
	Truth     loadgen.Truth
	Stats     loadgen.Stats
	Batches   int
	Functions int
	Checks    int
	// Timeline says what happened when, relative to the start of the load.
	Timeline []string
	// SinkExact and PrometheusExact: how long after the load ended each backend held the
	// ground truth; zero when it did not.
	SinkExact, PrometheusExact time.Duration
	SinkMismatches             []string
	PrometheusMismatches       []string
	// PrometheusResets counts the counter resets Prometheus' raw samples showed.
	PrometheusResets int
	// Lost and LossBound, when a gateway was killed: invocations missing from Prometheus,
	// and the most the scenario allows (what the killed replica may have received since
	// its last flush).
	Lost, LossBound   float64
	SinkLost          float64
	Overcounted       []string
	SinkRequests      int
	OutageRefused     int64
	PrometheusRefused int64
	Comparison        *Comparison
	// Push is what a push scenario sent.
	Push *PushResult
	// Reliability is what a Scenario.Reliability measured.
	Reliability *ReliabilityFigures
	// Soak is what a Scenario.Soak measured.
	Soak *SoakFigures
	// Resent is how many copies of acknowledged batches Scenario.Resend sent.
	Resent int
	// Balance is what a Scenario.Balancer run measured.
	Balance *BalanceFigures
	Err     error
}

// Passed says whether the scenario met its criterion.
func (r Result) Passed() bool {
	if r.Err != nil || len(r.Overcounted) > 0 {
		return false
	}
	if f := r.Reliability; f != nil {
		if !f.passed() {
			return false
		}
		if r.Scenario.Reliability.Cardinality {
			return true // no per-function checks: f.passed says it all
		}
		// The per-function checks, once more after the gateway exited; how soon the
		// backends caught up (SinkExact, PrometheusExact) is a measurement.
		return f.CheckedAfterExit && len(r.SinkMismatches) == 0 && len(r.PrometheusMismatches) == 0
	}
	if d := r.Scenario.Disruption; d != nil && d.Kill && !r.Scenario.WriteAheadLog {
		return r.Lost <= r.LossBound && r.SinkLost <= r.LossBound
	}
	return len(r.SinkMismatches) == 0 && len(r.PrometheusMismatches) == 0 && r.SinkExact > 0 && r.PrometheusExact > 0
}

// switchable is the backend's front: it answers 503 while down, else passes on.
type switchable struct {
	next    http.Handler
	down    atomic.Bool
	refused atomic.Int64
	// passed counts the writes passed on to the backends.
	passed atomic.Int64
}

func (s *switchable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.down.Load() {
		s.refused.Add(1)
		http.Error(w, "backend outage (scenario)", http.StatusServiceUnavailable)
		return
	}
	s.passed.Add(1)
	s.next.ServeHTTP(w, r)
}

// Run runs one scenario to its end.
func Run(ctx context.Context, o Options, s Scenario) (r Result) {
	if o.Flush <= 0 {
		o.Flush = time.Second
	}
	if o.Drain <= 0 {
		o.Drain = 2 * time.Minute
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if s.Replicas <= 0 {
		s.Replicas = 1
	}
	if s.Workers <= 0 {
		s.Workers = 4
	}
	if s.Flush > 0 {
		o.Flush = s.Flush
	}
	gatewayFlush := o.Flush
	if s.Soak != nil && s.Flush <= 0 {
		// The distribution's own intervals: the gateway is given none.
		o.Flush, gatewayFlush = distributionFlush, 0
	}
	if o.Poll <= 0 {
		o.Poll = 250 * time.Millisecond
	}
	if s.Reliability != nil {
		// The catch-up after a long outage is measured, up to the outage's length, reading
		// the backends once a second: minutes of samples are not read for free, and the
		// reading must not slow down what it measures.
		o.Drain = max(o.Drain, s.OutageFor)
		o.Poll = max(o.Poll, time.Second)
	}
	r.Scenario, r.Flush = s, o.Flush
	if s.Soak != nil {
		if r.Err = validateSoak(s); r.Err != nil {
			return r
		}
		// Minutes of samples are read once a second at most, as a reliability scenario's.
		o.Poll = max(o.Poll, time.Second)
	}
	rn := &run{o: o, s: s, r: &r, began: time.Now(), gatewayFlush: gatewayFlush}
	var l load
	var err error
	switch {
	case s.Reliability != nil && s.Reliability.Cardinality:
		l, err = newCardinalityLoad(s, &r)
	case s.Push != nil:
		l, err = newPushLoad(s, &r)
		rn.holds = make([]atomic.Bool, s.Replicas)
	default:
		l, err = newFleetLoad(s, &r)
	}
	if err != nil {
		r.Err = err
		return r
	}
	rn.load = l
	generated := time.Since(rn.began)

	if rn.prom, err = harness.StartPrometheus(o.PrometheusBin); err != nil {
		r.Err = err
		return r
	}
	defer rn.prom.Stop()
	if s.Reliability == nil || !s.Reliability.Cardinality {
		// A cardinality scenario's hundreds of thousands of series, every sample of each
		// kept, would not fit the sink: Prometheus alone holds them.
		rn.sink = rwsink.New()
	}
	rn.tee = &harness.Tee{Sink: rn.sink, Prometheus: rn.prom.WriteURL()}
	rn.front = &switchable{next: rn.tee}
	if rn.frontSrv, err = serveFront(rn.front); err != nil {
		r.Err = err
		return r
	}
	defer rn.frontSrv.stop()
	rn.remoteWrite = rn.frontSrv.url + "/api/v1/write"

	defer rn.stopReplicas()
	if err := rn.reserveSlots(); err != nil {
		r.Err = err
		return r
	}
	if err := rn.startReplicas(); err != nil {
		r.Err = err
		return r
	}
	if s.Balancer != nil {
		err := rn.startBalancer(ctx)
		if rn.lb != nil {
			defer rn.lb.Stop()
		}
		if err != nil {
			r.Err = err
			return r
		}
	}
	if s.Reliability != nil {
		r.Reliability = &ReliabilityFigures{LoadAverage: harness.LoadAverage(), Drain: o.Drain}
		stopWatch := rn.watchMemory()
		defer stopWatch()
	}
	if s.Stock {
		rn.stock, err = Stock.Start(o.Root, harness.GatewayConfig{Bin: o.Bin, RemoteWrite: rn.remoteWrite, Flush: o.Flush})
		if err != nil {
			r.Err = fmt.Errorf("the stock pipeline: %w", err)
			return r
		}
		defer rn.stock.Stop()
	}

	var soak *soakWatch
	if s.Soak != nil {
		if soak, err = rn.watchSoak(generated); err != nil {
			r.Err = err
			return r
		}
		defer soak.halt()
	}

	rn.loadStart = time.Now()
	loadDone := make(chan struct{})
	rn.outage(loadDone)
	rn.disrupt(ctx, loadDone)
	urls := make([]string, len(rn.gateways))
	for i, g := range rn.gateways {
		urls[i] = g.URL
	}
	var gatewayCPU, balancerCPU time.Duration
	var others *harness.OtherWork
	if s.Balancer != nil {
		urls = []string{rn.lb.URL}
		rn.scaleOut(ctx, loadDone)
		gatewayCPU, balancerCPU = rn.processCPU()
		others = harness.StartOtherWork(append([]*harness.Process{rn.lb.Process}, gatewayProcesses(rn.gateways)...)...)
	}
	var sent string
	r.Stats, sent, err = l.send(ctx, rn, urls)
	close(loadDone)
	loadEnd := time.Now()
	if f := r.Balance; f != nil && s.Disruption == nil && addedReplicas(s) == 0 {
		g, b := rn.processCPU()
		f.GatewayCPU, f.BalancerCPU, f.Invocations = g-gatewayCPU, b-balancerCPU, r.Stats.AcknowledgedInvocations
		f.OtherCores = others.Cores()
	}
	if soak != nil {
		soak.loadSent()
	}
	rn.event("%s", sent)
	rn.side.Wait()
	if err == nil {
		err = errors.Join(rn.sideErrs...)
	}
	if err != nil {
		r.Err = err
		return r
	}

	rn.window = time.Since(rn.began) + o.Drain + time.Minute
	r.Err = l.settle(ctx, rn, loadEnd)
	if s.Reliability != nil && r.Err == nil {
		r.Err = rn.measureReliability(ctx, loadEnd)
	}
	if soak != nil {
		var serr error
		r.Soak, serr = soak.stop()
		r.Err = errors.Join(r.Err, serr)
	}
	if rn.sink != nil {
		r.SinkRequests, _ = rn.sink.Requests()
	} else {
		r.SinkRequests = int(rn.front.passed.Load())
	}
	r.OutageRefused = rn.front.refused.Load()
	r.PrometheusRefused = rn.tee.Refused.Load()
	if f := r.Reliability; f != nil {
		f.Wall = time.Since(rn.began)
	}
	return r
}

// load is what a scenario generates, sends and checks: the Telemetry API fleet
// (fleetLoad) or the sandboxes' pushes (pushLoad). Run does the rest, the same for both.
type load interface {
	// send sends the load to the replicas (urls[i] is replica i) while Run's side tasks
	// go on, and returns the timeline's entry for its end.
	send(ctx context.Context, rn *run, urls []string) (st loadgen.Stats, sent string, err error)
	// settle waits until the backends hold the load's checks, or as close as they come,
	// and records what they hold in rn.r.
	settle(ctx context.Context, rn *run, loadEnd time.Time) error
}

// run is one scenario's processes and what goes on beside its load.
type run struct {
	o     Options
	s     Scenario
	r     *Result
	began time.Time // before the load was generated: the start of the query window
	load  load

	prom        *harness.Prometheus
	sink        *rwsink.Sink
	tee         *harness.Tee
	front       *switchable
	frontSrv    *frontServer
	remoteWrite string     // the front's remote-write URL, for the gateways
	gwMu        sync.Mutex // a restart replaces a gateway while others read the slice
	gateways    []*harness.Gateway
	stock       *harness.Gateway // Scenario.Stock's pipeline
	// gatewayFlush is the replicas' flush interval and correlation window; zero leaves
	// the distribution's own.
	gatewayFlush time.Duration
	// holds[i], while true, holds back the push load's replays to replica i: set around a
	// restart (push scenarios only).
	holds []atomic.Bool

	loadStart  time.Time
	timelineMu sync.Mutex
	side       sync.WaitGroup
	sideMu     sync.Mutex
	sideErrs   []error
	// window reaches back from the settling to before the load was generated.
	window time.Duration

	// lb is Scenario.Balancer's HAProxy, slots the addresses of its server lines.
	lb    *harness.HAProxy
	slots []harness.GatewayAddrs

	// outageStart and outageEnd: when the backend went down and came back (zero: it did
	// not); stopped says the reliability measurement stopped the gateways already.
	outageMu               sync.Mutex
	outageStart, outageEnd time.Time
	stopped                bool
}

// replicaID is replica i's service.instance.id, so its instance label.
func replicaID(s Scenario, i int) string { return fmt.Sprintf("%s-replica-%d", s.Name, i) }

func (rn *run) startReplicas() error {
	rn.gateways = make([]*harness.Gateway, rn.s.Replicas)
	for i := range rn.gateways {
		cfg := harness.GatewayConfig{
			Bin:         rn.o.Bin,
			RemoteWrite: rn.remoteWrite,
			InstanceID:  replicaID(rn.s, i),
			Flush:       rn.gatewayFlush,
		}
		if rn.slots != nil {
			cfg.Addrs = &rn.slots[i]
		}
		g, err := Ours.Start(rn.o.Root, cfg, rn.overlays()...)
		if err != nil {
			return err
		}
		rn.gateways[i] = g
	}
	return nil
}

// overlays are the configuration files every replica gets over distribution/config.yaml.
func (rn *run) overlays() []string {
	var overlays []string
	if rn.s.WriteAheadLog {
		overlays = append(overlays, filepath.Join("distribution", "overlays", "write-ahead-log.yaml"))
	}
	if rn.s.Soak != nil && rn.s.Soak.Overlay != "" {
		overlays = append(overlays, rn.s.Soak.Overlay)
	}
	return overlays
}

// stopReplicas stops the replicas; when the scenario failed, it keeps their output.
func (rn *run) stopReplicas() {
	rn.gwMu.Lock()
	defer rn.gwMu.Unlock()
	for _, g := range rn.gateways {
		if g == nil {
			continue
		}
		if err := g.Stop(); err != nil && rn.r.Err == nil {
			rn.r.Err = err
		}
		if !rn.r.Passed() {
			rn.o.Logf("gateway %s output (last 4 KiB; all of it in %s):\n%s", g.Config.InstanceID,
				keep(g.Output.String(), rn.s.Name), harness.Tail(g.Output.String(), 4096))
		}
	}
}

// event adds to the timeline, relative to the start of the load.
func (rn *run) event(format string, args ...any) {
	msg := fmt.Sprintf("%5.1fs: ", time.Since(rn.loadStart).Seconds()) + fmt.Sprintf(format, args...)
	rn.timelineMu.Lock()
	rn.r.Timeline = append(rn.r.Timeline, msg)
	rn.timelineMu.Unlock()
	rn.o.Logf("  %s", msg)
}

// beside runs task beside the load; Run waits for it after the send, and fails with its
// error.
func (rn *run) beside(task func() error) {
	rn.side.Add(1)
	go func() {
		defer rn.side.Done()
		if err := task(); err != nil {
			rn.sideMu.Lock()
			rn.sideErrs = append(rn.sideErrs, err)
			rn.sideMu.Unlock()
		}
	}()
}

// at runs task beside the load, when after the load's start, unless the load ended first.
func (rn *run) at(when time.Duration, loadDone <-chan struct{}, task func() error) {
	rn.beside(func() error {
		select {
		case <-time.After(when):
			return task()
		case <-loadDone:
			return nil
		}
	})
}

// outage takes the backend down (503) at Scenario.OutageAt for OutageFor, unless the load
// ends first.
func (rn *run) outage(loadDone <-chan struct{}) {
	s := rn.s
	if s.OutageFor <= 0 {
		return
	}
	rn.at(s.OutageAt, loadDone, func() error {
		rn.outageMu.Lock()
		rn.outageStart = time.Now()
		rn.outageMu.Unlock()
		if s.Unreachable {
			if err := rn.frontSrv.stop(); err != nil {
				return fmt.Errorf("taking the backend down: %w", err)
			}
			rn.event("backend unreachable (connections refused) for %s", s.OutageFor)
		} else {
			rn.front.down.Store(true)
			rn.event("backend down (503) for %s", s.OutageFor)
		}
		time.Sleep(s.OutageFor)
		if s.Unreachable {
			if err := rn.frontSrv.start(); err != nil {
				return fmt.Errorf("bringing the backend back: %w", err)
			}
		}
		rn.front.down.Store(false)
		rn.outageMu.Lock()
		rn.outageEnd = time.Now()
		rn.outageMu.Unlock()
		rn.event("backend up")
		return nil
	})
}

// disrupt stops or kills a replica at Disruption.At and starts it again Down later, unless
// the load ends first.
func (rn *run) disrupt(ctx context.Context, loadDone <-chan struct{}) {
	d := rn.s.Disruption
	if d == nil {
		return
	}
	rn.at(d.At, loadDone, func() error {
		var notes []string
		if rn.holds != nil {
			// The gateway remembers accepted sequence numbers in memory: no deliberate
			// replay may straddle the restart (see loadgen.SendConfig.HoldReplays).
			rn.holds[d.Replica].Store(true)
			time.Sleep(250 * time.Millisecond)
			notes = append(notes, "replays to it held from 0.25 s before until it is back")
		}
		if rn.lb != nil {
			share, err := rn.killedShare(ctx, d.Replica)
			if err != nil {
				return err
			}
			rn.r.Balance.KilledShare = share
			notes = append(notes, fmt.Sprintf("its share of what HAProxy had forwarded: %.1f%%", 100*share))
		}
		held := ""
		if len(notes) > 0 {
			held = " (" + strings.Join(notes, "; ") + ")"
		}
		rn.gwMu.Lock()
		g := rn.gateways[d.Replica]
		rn.gwMu.Unlock()
		var stopErr error
		if d.Kill {
			g.Kill()
		} else {
			stopErr = g.Stop()
		}
		rn.event("%s stopped with %s%s", g.Config.InstanceID, d.signal(), held)
		time.Sleep(d.Down)
		ng, err := g.Restart()
		if err != nil {
			return fmt.Errorf("restarting %s: %w", g.Config.InstanceID, err)
		}
		rn.gwMu.Lock()
		rn.gateways[d.Replica] = ng
		rn.gwMu.Unlock()
		if rn.holds != nil {
			rn.holds[d.Replica].Store(false)
		}
		rn.event("%s started again, same addresses and instance id", g.Config.InstanceID)
		return stopErr
	})
}

// prometheusTotals reads Prometheus with read over the run's window, with a timeout per
// query, and records the counter resets it saw.
func (rn *run) prometheusTotals(ctx context.Context, read func(context.Context, *harness.Prometheus, time.Duration) (Totals, int, error)) func() (Totals, error) {
	return func() (Totals, error) {
		qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		t, resets, err := read(qctx, rn.prom, rn.window)
		rn.r.PrometheusResets = resets
		return t, err
	}
}

// fleetLoad is the Telemetry API load of Scenario.Fleet, with the functions' own spans.
type fleetLoad struct {
	fleet  *loadgen.Fleet
	checks []Check
	// stockSpans is how many function spans the stock pipeline acknowledged.
	stockSpans int64
}

func newFleetLoad(s Scenario, r *Result) (load, error) {
	fleet, err := loadgen.Generate(s.Fleet)
	if err != nil {
		return nil, err
	}
	fleet.Batches, r.Resent = withResends(fleet.Batches, s.Resend, s.Fleet.Seed)
	l := &fleetLoad{fleet: fleet, checks: Checks(fleet, s.Disruption == nil)}
	r.Truth, r.Batches, r.Functions, r.Checks = fleet.Total(), len(fleet.Batches), len(fleet.Truth), len(l.checks)
	return l, nil
}

// send sends the batches to the replicas, and the functions' own spans to the stock
// pipeline beside them.
func (l *fleetLoad) send(ctx context.Context, rn *run, urls []string) (loadgen.Stats, string, error) {
	if rn.stock != nil {
		var spans []loadgen.Batch
		for _, b := range l.fleet.Batches {
			if b.IsTraces() {
				spans = append(spans, b)
			}
		}
		rn.beside(func() error {
			st, err := sendBatches(ctx, rn.s, []string{rn.stock.URL}, spans)
			l.stockSpans = st.AcknowledgedSpans
			if err != nil {
				return fmt.Errorf("sending to the stock pipeline: %w", err)
			}
			return nil
		})
	}
	st, err := sendBatches(ctx, rn.s, urls, l.fleet.Batches)
	return st, fmt.Sprintf("load sent: %d batches acknowledged, %d retried requests", st.Acknowledged, st.Retried), err
}

// settle converges (a killed replica: measures what is missing and counted twice), then
// compares with the stock pipeline.
func (l *fleetLoad) settle(ctx context.Context, rn *run, loadEnd time.Time) error {
	r, s := rn.r, rn.s
	promTotals := rn.prometheusTotals(ctx, func(ctx context.Context, prom *harness.Prometheus, window time.Duration) (Totals, int, error) {
		if (s.Reliability != nil || s.Soak != nil) && s.Disruption == nil {
			// Minutes of samples: no gateway restarts, so each series' largest value is
			// its total, and Prometheus need not send every sample.
			return PrometheusLastTotals(ctx, prom, l.checks, s.Fleet.Prefix, window)
		}
		return PrometheusTotals(ctx, prom, l.checks, s.Fleet.Prefix, window)
	})
	var err error
	if d := s.Disruption; d != nil && d.Kill && !s.WriteAheadLog {
		share := functionShare(s, l.fleet)
		if r.Balance != nil {
			share = r.Balance.KilledShare
		}
		r.LossBound = lossBound(s.Rate*share, rn.o.Flush)
		err = settleAfterKill(ctx, r, l.checks, rn.sink, promTotals, rn.o)
	} else {
		err = converge(ctx, r, l.checks, func() Totals { return SinkTotals(rn.sink) }, promTotals, loadEnd, rn.o)
	}
	if rn.lb != nil && err == nil {
		err = rn.measureBalance(ctx, l.fleet, promTotals)
	}
	if rn.stock != nil && err == nil {
		r.Comparison, err = compareStock(ctx, rn.prom, l.fleet, promTotals, rn.window)
		if r.Comparison != nil {
			r.Comparison.StockSpansAcknowledged = int(l.stockSpans)
		}
	}
	return err
}

// converge waits until the sink and Prometheus hold the ground truth, then checks that
// they still do a few flushes later (nothing counted twice after the fact).
func converge(ctx context.Context, r *Result, checks []Check, sinkTotals func() Totals, promTotals func() (Totals, error), loadEnd time.Time, o Options) error {
	deadline := time.Now().Add(o.Drain)
	for r.SinkExact == 0 || r.PrometheusExact == 0 {
		if r.SinkExact == 0 {
			if r.SinkMismatches = Mismatches(checks, sinkTotals()); len(r.SinkMismatches) == 0 {
				r.SinkExact = time.Since(loadEnd)
			}
		}
		if r.PrometheusExact == 0 {
			got, err := promTotals()
			if err != nil {
				return err
			}
			if r.PrometheusMismatches = Mismatches(checks, got); len(r.PrometheusMismatches) == 0 {
				r.PrometheusExact = time.Since(loadEnd)
			}
		}
		if r.SinkExact > 0 && r.PrometheusExact > 0 {
			break
		}
		if time.Now().After(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(o.Poll):
		}
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(3 * o.Flush):
	}
	r.SinkMismatches = Mismatches(checks, sinkTotals())
	got, err := promTotals()
	if err != nil {
		return err
	}
	r.PrometheusMismatches = Mismatches(checks, got)
	if len(r.SinkMismatches) > 0 {
		r.SinkExact = 0
	}
	if len(r.PrometheusMismatches) > 0 {
		r.PrometheusExact = 0
	}
	return nil
}

// settleAfterKill waits until the backends stop changing (every flush of every replica has
// arrived), then measures what is missing and what is counted twice.
func settleAfterKill(ctx context.Context, r *Result, checks []Check, sink *rwsink.Sink, promTotals func() (Totals, error), o Options) error {
	const metric = "faas_invocations_total"
	deadline := time.Now().Add(o.Drain)
	lastProm, lastSink, stable := -1.0, -1.0, 0
	for {
		got, err := promTotals()
		if err != nil {
			return err
		}
		lost, over := Shortfall(checks, got, metric)
		for _, m := range metrics(checks) {
			if m != metric {
				_, twice := Shortfall(checks, got, m)
				over = append(over, twice...)
			}
		}
		sinkLost, sinkOver := Shortfall(checks, SinkTotals(sink), metric)
		r.Lost, r.SinkLost, r.Overcounted = lost, sinkLost, append(over, sinkOver...)
		if lost == lastProm && sinkLost == lastSink {
			stable++
		} else {
			stable = 0
		}
		lastProm, lastSink = lost, sinkLost
		// Unchanged over three flush intervals: nothing more is coming.
		if stable >= 12 || time.Now().After(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(o.Flush / 4):
		}
	}
}

// lossBound is what a killed replica may have received and not yet flushed: its rate
// (invocations per second) over the correlation window, the flush interval, and a second
// for the batch processor and the remote write in flight.
func lossBound(rate float64, flush time.Duration) float64 {
	return rate * (2*flush + time.Second).Seconds()
}

// functionShare is the killed replica's share of the invocations when the sender routes by
// function name.
func functionShare(s Scenario, fleet *loadgen.Fleet) float64 {
	share := 0
	for _, b := range fleet.Batches {
		if replicaOf(b.Function, s.Replicas) == s.Disruption.Replica {
			share += b.Invocations
		}
	}
	return float64(share) / float64(max(1, fleet.Total().Invocations))
}

// replicaOf routes a function to a replica, as a first tier routing by function name.
func replicaOf(function string, replicas int) int {
	h := fnv.New32a()
	h.Write([]byte(function))
	return int(h.Sum32() % uint32(replicas))
}

// sendBatches sends each replica its share of the batches at its part of the rate.
func sendBatches(ctx context.Context, s Scenario, urls []string, batches []loadgen.Batch) (loadgen.Stats, error) {
	total := 0
	for _, b := range batches {
		total += b.Invocations
	}
	function := func(b loadgen.Batch) string { return b.Function }
	return sendByReplica(urls, batches, function, func(i int, share []loadgen.Batch) (loadgen.Stats, error) {
		rate := 0.0
		if s.Rate > 0 {
			invocations := 0
			for _, b := range share {
				invocations += b.Invocations
			}
			rate = s.Rate * float64(invocations) / float64(total)
		}
		return loadgen.Send(ctx, loadgen.SendConfig{URL: urls[i], Workers: s.Workers, Rate: rate, Timeout: sendTimeout(s, total),
			Client: impatientClient(s)}, share)
	})
}

// impatientClient is the sender's client when Scenario.GiveUpAfter is set: one kept-alive
// connection per worker, each request given up after GiveUpAfter. Nil leaves loadgen's.
func impatientClient(s Scenario) *http.Client {
	if s.GiveUpAfter <= 0 {
		return nil
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = max(1, s.Workers)
	return &http.Client{Timeout: s.GiveUpAfter, Transport: transport}
}

// sendTimeout bounds a send: 5 minutes, or for a paced load that lasts longer (the long
// outages), twice its length and a minute.
func sendTimeout(s Scenario, invocations int) time.Duration {
	timeout := 5 * time.Minute
	if s.Rate > 0 {
		expected := time.Duration(float64(invocations) / s.Rate * float64(time.Second))
		timeout = max(timeout, 2*expected+time.Minute)
	}
	return timeout
}

// sendByReplica routes each item to a replica by its function's name, as a first tier
// would, sends every replica's share on a goroutine of its own, and sums what they sent.
func sendByReplica[T any](urls []string, items []T, function func(T) string, send func(i int, share []T) (loadgen.Stats, error)) (loadgen.Stats, error) {
	shares := make([][]T, len(urls))
	for _, item := range items {
		i := replicaOf(function(item), len(urls))
		shares[i] = append(shares[i], item)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		sum   loadgen.Stats
		errs  []error
		start = time.Now()
	)
	for i, share := range shares {
		if len(share) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := send(i, share)
			mu.Lock()
			defer mu.Unlock()
			sum.Add(st)
			if err != nil {
				errs = append(errs, fmt.Errorf("replica %d: %w", i, err))
			}
		}()
	}
	wg.Wait()
	sum.Duration = time.Since(start)
	return sum, errors.Join(errs...)
}

// keep writes a failed run's whole output to a temporary file and returns its path.
func keep(output, name string) string {
	f, err := os.CreateTemp("", "scenario-"+name+"-*.log")
	if err != nil {
		return "(not kept: " + err.Error() + ")"
	}
	defer f.Close()
	_, _ = f.WriteString(output)
	return f.Name()
}

// compareStock reads what the stock pipeline counted per function (spanmetrics' calls and
// error calls, summed over its series) beside what otelcol-lambda counted.
func compareStock(ctx context.Context, prom *harness.Prometheus, fleet *loadgen.Fleet, promTotals func() (Totals, error), window time.Duration) (*Comparison, error) {
	ours, err := promTotals()
	if err != nil {
		return nil, err
	}
	calls, _, err := prom.CounterTotals(ctx, fmt.Sprintf(`%s{%s=~"%s-.*"}`, Stock.Count, Stock.Function, fleet.Config.Prefix), window)
	if err != nil {
		return nil, err
	}
	c := &Comparison{Functions: len(fleet.Truth), StockSeries: len(calls)}
	stockBy := map[string]float64{}
	for _, s := range calls {
		stockBy[s.Labels[Stock.Function]] += s.Value
		c.StockInvocations += s.Value
		if s.Labels["status_code"] == stockErrorStatus {
			c.StockErrors += s.Value
		}
	}
	for fn, t := range fleet.Truth {
		m := map[string]string{Ours.Function: fn}
		c.Invocations += t.Invocations
		c.Spans += t.Spans
		got := ours(Ours.Count, m)
		c.OursInvocations += got
		c.OursErrors += ours("faas_errors_total", m)
		for _, n := range t.Errors {
			c.Errors += n
		}
		if got == float64(t.Invocations) {
			c.OursExact++
		}
		if stockBy[fn] == float64(t.Invocations) {
			c.StockExact++
		}
	}
	return c, nil
}
