// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package scenario runs fleet scenarios: the load of testbed/loadgen, sent to one or more
// gateway processes (the built distribution with distribution/config.yaml), which write
// to a real Prometheus and, through a tee, to the validating sink testbed/rwsink. A
// scenario may take the backend down for a while, or stop or kill a gateway and start it
// again. It passes only when both backends hold the ground truth exactly: the counter
// total of every series (summed over reset segments when a gateway restarted, and over
// replicas), per function; or, when a gateway was killed, at most what it had not yet
// flushed is missing and nothing is counted twice.
package scenario // import "github.com/otelcol-lambda/otelcol-lambda/testbed/scenario"

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"os"
	"path/filepath"
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
	// the loadbalancing exporter of a first Collector tier would; default 1.
	Replicas int
	// OutageAt and OutageFor: the backend answers 503 from OutageAt after the load starts.
	OutageAt, OutageFor time.Duration
	// Disruption stops or kills a gateway during the load and starts it again.
	Disruption *Disruption
	// Stock also runs the stock pipeline (testbed/bench/stock-pipeline.yaml: otlp ->
	// batch -> spanmetrics -> prometheusremotewrite) and sends it the functions' own spans,
	// all that it can take, to compare what each counts. Needs Fleet.FunctionSpans.
	Stock bool
	// Push, when set, sends sandboxes' Pushgateway pushes (see PushLoad) instead of Fleet.
	Push *PushLoad
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
	Err  error
}

// Passed says whether the scenario met its criterion.
func (r Result) Passed() bool {
	if r.Err != nil || len(r.Overcounted) > 0 {
		return false
	}
	if d := r.Scenario.Disruption; d != nil && d.Kill {
		return r.Lost <= r.LossBound && r.SinkLost <= r.LossBound
	}
	return len(r.SinkMismatches) == 0 && len(r.PrometheusMismatches) == 0 && r.SinkExact > 0 && r.PrometheusExact > 0
}

// switchable is the backend's front: it answers 503 while down, else passes on.
type switchable struct {
	next    http.Handler
	down    atomic.Bool
	refused atomic.Int64
}

func (s *switchable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.down.Load() {
		s.refused.Add(1)
		http.Error(w, "backend outage (scenario)", http.StatusServiceUnavailable)
		return
	}
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
	if s.Push != nil {
		return runPush(ctx, o, s)
	}
	r.Scenario, r.Flush = s, o.Flush
	began := time.Now()
	fleet, err := loadgen.Generate(s.Fleet)
	if err != nil {
		r.Err = err
		return r
	}
	checks := Checks(fleet, s.Disruption == nil)
	r.Truth, r.Batches, r.Functions, r.Checks = fleet.Total(), len(fleet.Batches), len(fleet.Truth), len(checks)

	prom, err := harness.StartPrometheus(o.PrometheusBin)
	if err != nil {
		r.Err = err
		return r
	}
	defer prom.Stop()
	sink := rwsink.New()
	tee := &harness.Tee{Sink: sink, Prometheus: prom.WriteURL()}
	front := &switchable{next: tee}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.Err = err
		return r
	}
	srv := &http.Server{Handler: front, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()

	gateways := make([]*harness.Gateway, s.Replicas)
	var gwMu sync.Mutex // a restart replaces a gateway while others read the slice
	defer func() {
		gwMu.Lock()
		defer gwMu.Unlock()
		for _, g := range gateways {
			if g == nil {
				continue
			}
			if err := g.Stop(); err != nil && r.Err == nil {
				r.Err = err
			}
			if !r.Passed() {
				o.Logf("gateway %s output (last 4 KiB; all of it in %s):\n%s", g.Config.InstanceID,
					keep(g.Output.String(), s.Name), harness.Tail(g.Output.String(), 4096))
			}
		}
	}()
	for i := range gateways {
		g, err := harness.StartGateway(harness.GatewayConfig{
			Bin:         o.Bin,
			Configs:     []string{filepath.Join(o.Root, "distribution", "config.yaml")},
			RemoteWrite: "http://" + l.Addr().String() + "/api/v1/write",
			InstanceID:  fmt.Sprintf("%s-replica-%d", s.Name, i),
			Flush:       o.Flush,
		})
		if err != nil {
			r.Err = err
			return r
		}
		gateways[i] = g
	}

	var stock *harness.Gateway
	if s.Stock {
		stock, err = harness.StartGateway(harness.GatewayConfig{
			Bin:         o.Bin,
			Configs:     []string{filepath.Join(o.Root, "testbed", "bench", "stock-pipeline.yaml")},
			RemoteWrite: "http://" + l.Addr().String() + "/api/v1/write",
			Flush:       o.Flush,
		})
		if err != nil {
			r.Err = fmt.Errorf("the stock pipeline: %w", err)
			return r
		}
		defer stock.Stop()
	}

	loadStart := time.Now()
	var timelineMu sync.Mutex
	event := func(format string, args ...any) {
		msg := fmt.Sprintf("%5.1fs: ", time.Since(loadStart).Seconds()) + fmt.Sprintf(format, args...)
		timelineMu.Lock()
		r.Timeline = append(r.Timeline, msg)
		timelineMu.Unlock()
		o.Logf("  %s", msg)
	}
	loadDone := make(chan struct{})
	var side sync.WaitGroup
	if s.OutageFor > 0 {
		side.Add(1)
		go func() {
			defer side.Done()
			select {
			case <-time.After(s.OutageAt):
			case <-loadDone:
				return
			}
			front.down.Store(true)
			event("backend down (503) for %s", s.OutageFor)
			time.Sleep(s.OutageFor)
			front.down.Store(false)
			event("backend up")
		}()
	}
	var disruptErr error
	if d := s.Disruption; d != nil {
		side.Add(1)
		go func() {
			defer side.Done()
			select {
			case <-time.After(d.At):
			case <-loadDone:
				return
			}
			gwMu.Lock()
			g := gateways[d.Replica]
			gwMu.Unlock()
			if d.Kill {
				g.Kill()
			} else if err := g.Stop(); err != nil {
				disruptErr = err
			}
			event("%s stopped with %s", g.Config.InstanceID, d.signal())
			time.Sleep(d.Down)
			ng, err := g.Restart()
			if err != nil {
				disruptErr = fmt.Errorf("restarting %s: %w", g.Config.InstanceID, err)
				return
			}
			gwMu.Lock()
			gateways[d.Replica] = ng
			gwMu.Unlock()
			event("%s started again, same addresses and instance id", g.Config.InstanceID)
		}()
	}
	urls := make([]string, len(gateways))
	for i, g := range gateways {
		urls[i] = g.URL
	}
	var stockStats loadgen.Stats
	var stockErr error
	if stock != nil {
		var spans []loadgen.Batch
		for _, b := range fleet.Batches {
			if b.IsTraces() {
				spans = append(spans, b)
			}
		}
		side.Add(1)
		go func() {
			defer side.Done()
			stockStats, stockErr = send(ctx, s, []string{stock.URL}, spans)
		}()
	}
	r.Stats, err = send(ctx, s, urls, fleet.Batches)
	close(loadDone)
	loadEnd := time.Now()
	event("load sent: %d batches acknowledged, %d retried requests", r.Stats.Acknowledged, r.Stats.Retried)
	side.Wait()
	if err == nil {
		err = disruptErr
	}
	if err == nil && stockErr != nil {
		err = fmt.Errorf("sending to the stock pipeline: %w", stockErr)
	}
	if err != nil {
		r.Err = err
		return r
	}

	window := time.Since(began) + o.Drain + time.Minute
	promTotals := func() (Totals, error) {
		qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		t, resets, err := PrometheusTotals(qctx, prom, checks, s.Fleet.Prefix, window)
		r.PrometheusResets = resets
		return t, err
	}
	if d := s.Disruption; d != nil && d.Kill {
		r.LossBound = lossBound(s, fleet, o.Flush)
		r.Err = settleAfterKill(ctx, &r, checks, sink, promTotals, o)
	} else {
		r.Err = converge(ctx, &r, checks, func() Totals { return SinkTotals(sink) }, promTotals, loadEnd, o)
	}
	if stock != nil && r.Err == nil {
		r.Comparison, r.Err = compareStock(ctx, prom, fleet, promTotals, window)
		if r.Comparison != nil {
			r.Comparison.StockSpansAcknowledged = int(stockStats.AcknowledgedSpans)
		}
	}
	r.SinkRequests, _ = sink.Requests()
	r.OutageRefused = front.refused.Load()
	r.PrometheusRefused = tee.Refused.Load()
	return r
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
		case <-time.After(250 * time.Millisecond):
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

// lossBound is what a killed replica may have received and not yet flushed: its share of
// the rate over the correlation window, the flush interval, and a second for the batch
// processor and the remote write in flight.
func lossBound(s Scenario, fleet *loadgen.Fleet, flush time.Duration) float64 {
	share := 0
	for _, b := range fleet.Batches {
		if replicaOf(b.Function, s.Replicas) == s.Disruption.Replica {
			share += b.Invocations
		}
	}
	rate := s.Rate * float64(share) / float64(max(1, fleet.Total().Invocations))
	return rate * (2*flush + time.Second).Seconds()
}

// replicaOf routes a function to a replica, as a first tier routing by function name.
func replicaOf(function string, replicas int) int {
	h := fnv.New32a()
	h.Write([]byte(function))
	return int(h.Sum32() % uint32(replicas))
}

// send splits the batches by replica and sends each share at its part of the rate.
func send(ctx context.Context, s Scenario, urls []string, batches []loadgen.Batch) (loadgen.Stats, error) {
	shares := make([][]loadgen.Batch, len(urls))
	invocations := make([]int, len(urls))
	total := 0
	for _, b := range batches {
		i := replicaOf(b.Function, len(urls))
		shares[i] = append(shares[i], b)
		invocations[i] += b.Invocations
		total += b.Invocations
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
		rate := 0.0
		if s.Rate > 0 {
			rate = s.Rate * float64(invocations[i]) / float64(total)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := loadgen.Send(ctx, loadgen.SendConfig{URL: urls[i], Workers: s.Workers, Rate: rate, Timeout: 5 * time.Minute}, share)
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
	calls, _, err := prom.CounterTotals(ctx, fmt.Sprintf(`traces_span_metrics_calls_total{service_name=~"%s-.*"}`, fleet.Config.Prefix), window)
	if err != nil {
		return nil, err
	}
	c := &Comparison{Functions: len(fleet.Truth), StockSeries: len(calls)}
	stockBy := map[string]float64{}
	for _, s := range calls {
		stockBy[s.Labels["service_name"]] += s.Value
		c.StockInvocations += s.Value
		if s.Labels["status_code"] == "STATUS_CODE_ERROR" {
			c.StockErrors += s.Value
		}
	}
	for fn, t := range fleet.Truth {
		m := map[string]string{"faas_name": fn}
		c.Invocations += t.Invocations
		c.Spans += t.Spans
		got := ours("faas_invocations_total", m)
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
