// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package scenario

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/loadgen"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/rwsink"
)

// PushLoad makes a scenario a push scenario (Scenario.Push): sandboxes that push Prometheus
// metrics through the extension's Pushgateway API, as the extension forwards them to the
// gateway (testbed/loadgen.GeneratePush), instead of the Telemetry API load of
// Scenario.Fleet.
type PushLoad struct {
	Fleet loadgen.PushConfig
	// Rate is flushes per second over all replicas; 0 sends as fast as the gateways take.
	Rate float64
}

// PushResult is what a push scenario sent; Result holds the rest.
type PushResult struct {
	Truth loadgen.PushTruth
	Stats loadgen.PushStats
	// Series is how many series of the push metrics the truth has (over replicas, not
	// counting the instance label); Gauges how many gauge values were checked (per replica).
	Series, Gauges int
}

// Pseudo-metrics of the push checks, read from the same series as the metric they prefix.
const (
	// seriesOf counts the distinct label sets (instance aside) of a metric matching the
	// check: a sandbox's identity that became a label shows as more series.
	seriesOf = "series:"
	// gaugeOf is the newest value of a gauge, summed over the matching series (the checks
	// name the instance: one series).
	gaugeOf = "gauge:"
)

// pushMetrics are the series names the push checks read.
var pushMetrics = []string{
	loadgen.PushCounter,
	loadgen.PushHistogram + "_count",
	loadgen.PushHistogram + "_sum",
	loadgen.PushHistogram + "_bucket",
	loadgen.PushGauge,
}

// PushChecks lists what the gateway must hold for a push fleet: per job, route and status
// the counter's total; per job and route the histogram's count, sum (exactly: the
// durations are whole 1/1024 s) and every bucket; per job the counter's and the count's
// totals over all labels, and how many series each metric has; and per replica, the
// gauge's newest value of every job whose flushes it received (replicaOf routes a flush).
func PushChecks(fleet *loadgen.PushFleet, replicaIDs []string, replicaOf func(*loadgen.PushBatch) int) []Check {
	var out []Check
	t := fleet.Truth
	seriesByJob := map[string]int{}
	countByJob := map[string]float64{}
	invocationsByJob := map[string]float64{}
	for _, k := range slices.SortedFunc(maps.Keys(t.Counters), comparePushSeries) {
		out = append(out, Check{Metric: loadgen.PushCounter, Match: map[string]string{"job": k.Job, "route": k.Route, "status": k.Status}, Want: t.Counters[k]})
		invocationsByJob[k.Job] += t.Counters[k]
		seriesByJob[k.Job]++
	}
	histSeries := map[string]int{}
	for _, k := range slices.SortedFunc(maps.Keys(t.Histograms), comparePushSeries) {
		h := t.Histograms[k]
		m := map[string]string{"job": k.Job, "route": k.Route}
		out = append(out,
			Check{Metric: loadgen.PushHistogram + "_count", Match: m, Want: float64(h.Count)},
			Check{Metric: loadgen.PushHistogram + "_sum", Match: m, Want: h.Sum},
		)
		for i := range len(loadgen.PushBuckets) + 1 {
			out = append(out, Check{Metric: loadgen.PushHistogram + "_bucket",
				Match: map[string]string{"job": k.Job, "route": k.Route, "le": loadgen.LeLabel(i)}, Want: float64(h.Cumulative(i))})
		}
		countByJob[k.Job] += float64(h.Count)
		histSeries[k.Job]++
	}
	for _, job := range fleet.Jobs() {
		m := map[string]string{"job": job}
		out = append(out,
			Check{Metric: loadgen.PushCounter, Match: m, Want: invocationsByJob[job]},
			Check{Metric: loadgen.PushHistogram + "_count", Match: m, Want: countByJob[job]},
			Check{Metric: seriesOf + loadgen.PushCounter, Match: m, Want: float64(seriesByJob[job])},
			Check{Metric: seriesOf + loadgen.PushHistogram + "_bucket", Match: m, Want: float64(histSeries[job] * (len(loadgen.PushBuckets) + 1))},
			Check{Metric: seriesOf + loadgen.PushGauge, Match: m, Want: 1},
		)
	}
	for i, id := range replicaIDs {
		last := fleet.LastGauge(func(b *loadgen.PushBatch) bool { return replicaOf(b) == i })
		for _, job := range slices.Sorted(maps.Keys(last)) {
			out = append(out, Check{Metric: gaugeOf + loadgen.PushGauge, Match: map[string]string{"job": job, "instance": id}, Want: last[job]})
		}
	}
	return out
}

func comparePushSeries(a, b loadgen.PushSeries) int {
	return strings.Compare(a.Job+"\x00"+a.Route+"\x00"+a.Status, b.Job+"\x00"+b.Route+"\x00"+b.Status)
}

// pushSeries is one series as either backend holds it: its labels, its counter total over
// reset segments, and its newest value.
type pushSeries struct {
	labels      map[string]string
	total, last float64
}

// pushTotals answers the push checks from the series of each metric.
func pushTotals(byMetric map[string][]pushSeries) Totals {
	return func(metric string, match map[string]string) float64 {
		switch {
		case strings.HasPrefix(metric, seriesOf):
			sets := map[string]bool{}
			for _, s := range byMetric[strings.TrimPrefix(metric, seriesOf)] {
				if matchesAll(s.labels, match) {
					sets[labelSet(s.labels)] = true
				}
			}
			return float64(len(sets))
		case strings.HasPrefix(metric, gaugeOf):
			var v float64
			for _, s := range byMetric[strings.TrimPrefix(metric, gaugeOf)] {
				if matchesAll(s.labels, match) {
					v += s.last
				}
			}
			return v
		}
		var total float64
		for _, s := range byMetric[metric] {
			if matchesAll(s.labels, match) {
				total += s.total
			}
		}
		return total
	}
}

// labelSet is a series' labels without its name and instance, as one string.
func labelSet(labels map[string]string) string {
	keys := slices.Sorted(maps.Keys(labels))
	var b strings.Builder
	for _, k := range keys {
		if k == "__name__" || k == "instance" {
			continue
		}
		b.WriteString(k + "=" + labels[k] + "\x00")
	}
	return b.String()
}

// PushPrometheusTotals reads every raw sample of the push metrics of the fleet's jobs over
// the last window.
func PushPrometheusTotals(ctx context.Context, prom *harness.Prometheus, prefix string, window time.Duration) (Totals, int, error) {
	byMetric := map[string][]pushSeries{}
	resets := 0
	for _, m := range pushMetrics {
		series, r, err := prom.CounterTotals(ctx, fmt.Sprintf(`%s{job=~"%s-job.*"}`, m, prefix), window)
		if err != nil {
			return nil, 0, err
		}
		if m != loadgen.PushGauge {
			resets += r
		}
		for _, s := range series {
			ps := pushSeries{labels: s.Labels, total: s.Value}
			if n := len(s.Points); n > 0 {
				ps.last = s.Points[n-1].Value
			}
			byMetric[m] = append(byMetric[m], ps)
		}
	}
	return pushTotals(byMetric), resets, nil
}

// PushSinkTotals reads the validating sink.
func PushSinkTotals(sink *rwsink.Sink, prefix string) Totals {
	byMetric := map[string][]pushSeries{}
	for _, m := range pushMetrics {
		for _, s := range sink.Find(m, nil) {
			if strings.HasPrefix(s.Labels["job"], prefix+"-job") {
				byMetric[m] = append(byMetric[m], pushSeries{labels: s.Labels, total: s.Total, last: s.Value})
			}
		}
	}
	return pushTotals(byMetric)
}

// runPush runs a push scenario: the gateways, Prometheus and the sink as for every
// scenario, the push load instead of the Telemetry API load, and the push checks.
func runPush(ctx context.Context, o Options, s Scenario) (r Result) {
	r.Scenario, r.Flush = s, o.Flush
	began := time.Now()
	if d := s.Disruption; d != nil && d.Kill {
		r.Err = errors.New("push scenarios stop gateways gracefully only")
		return r
	}
	fleet, err := loadgen.GeneratePush(s.Push.Fleet)
	if err != nil {
		r.Err = err
		return r
	}
	replicaIDs := make([]string, s.Replicas)
	for i := range replicaIDs {
		replicaIDs[i] = fmt.Sprintf("%s-replica-%d", s.Name, i)
	}
	route := func(b *loadgen.PushBatch) int { return replicaOf(b.Function, s.Replicas) }
	checks := PushChecks(fleet, replicaIDs, route)
	pr := &PushResult{Truth: fleet.Truth, Series: len(fleet.Truth.Counters) + len(fleet.Truth.Histograms)*(len(loadgen.PushBuckets)+3) + fleet.Config.Jobs}
	for _, c := range checks {
		if strings.HasPrefix(c.Metric, gaugeOf) {
			pr.Gauges++
		}
	}
	r.Push = pr
	r.Truth.Invocations, r.Batches, r.Functions, r.Checks = fleet.Truth.Invocations, fleet.Truth.Batches, fleet.Config.Functions, len(checks)

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
	var gwMu sync.Mutex
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
			InstanceID:  replicaIDs[i],
			Flush:       o.Flush,
		})
		if err != nil {
			r.Err = err
			return r
		}
		gateways[i] = g
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
	holdReplays := make([]atomic.Bool, s.Replicas) // per replica
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
			// The gateway remembers accepted sequence numbers in memory: no deliberate
			// replay may straddle the restart (see loadgen.PushSendConfig.HoldReplays).
			holdReplays[d.Replica].Store(true)
			time.Sleep(250 * time.Millisecond)
			gwMu.Lock()
			g := gateways[d.Replica]
			gwMu.Unlock()
			if err := g.Stop(); err != nil {
				disruptErr = err
			}
			event("%s stopped with SIGTERM (replays to it held from 0.25 s before until it is back)", g.Config.InstanceID)
			time.Sleep(d.Down)
			ng, err := g.Restart()
			if err != nil {
				disruptErr = fmt.Errorf("restarting %s: %w", g.Config.InstanceID, err)
				return
			}
			gwMu.Lock()
			gateways[d.Replica] = ng
			gwMu.Unlock()
			holdReplays[d.Replica].Store(false)
			event("%s started again, same addresses and instance id", g.Config.InstanceID)
		}()
	}
	urls := make([]string, len(gateways))
	for i, g := range gateways {
		urls[i] = g.URL
	}
	pr.Stats, err = sendPush(ctx, s, urls, fleet, holdReplays)
	r.Stats = loadgen.Stats{Generated: pr.Stats.Generated, Sent: pr.Stats.Sent, Acknowledged: pr.Stats.Acknowledged,
		Attempts: pr.Stats.Attempts, Retried: pr.Stats.Retried, Replayed: pr.Stats.Replayed, Duration: pr.Stats.Duration,
		GeneratedInvocations: pr.Stats.GeneratedInvocations, AcknowledgedInvocations: pr.Stats.AcknowledgedInvocations}
	close(loadDone)
	loadEnd := time.Now()
	event("load sent: %d flushes acknowledged, %d replays acknowledged, %d held, %d retried requests",
		pr.Stats.Acknowledged, pr.Stats.Replayed, pr.Stats.ReplaysHeld, pr.Stats.Retried)
	side.Wait()
	if err == nil {
		err = disruptErr
	}
	if err != nil {
		r.Err = err
		return r
	}

	window := time.Since(began) + o.Drain + time.Minute
	promTotals := func() (Totals, error) {
		qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		t, resets, err := PushPrometheusTotals(qctx, prom, fleet.Config.Prefix, window)
		r.PrometheusResets = resets
		return t, err
	}
	r.Err = converge(ctx, &r, checks, func() Totals { return PushSinkTotals(sink, fleet.Config.Prefix) }, promTotals, loadEnd, o)
	r.SinkRequests, _ = sink.Requests()
	r.OutageRefused = front.refused.Load()
	r.PrometheusRefused = tee.Refused.Load()
	return r
}

// sendPush splits the sandboxes by replica (by function name) and sends each share at its
// part of the rate; holds[i] holds the replays to replica i.
func sendPush(ctx context.Context, s Scenario, urls []string, fleet *loadgen.PushFleet, holds []atomic.Bool) (loadgen.PushStats, error) {
	shares := make([][][]loadgen.PushBatch, len(urls))
	for _, flushes := range fleet.Sandboxes {
		if len(flushes) == 0 {
			continue
		}
		i := replicaOf(flushes[0].Function, len(urls))
		shares[i] = append(shares[i], flushes)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		sum   loadgen.PushStats
		errs  []error
		start = time.Now()
	)
	for i, share := range shares {
		if len(share) == 0 {
			continue
		}
		rate := 0.0
		if s.Push.Rate > 0 {
			rate = s.Push.Rate * float64(len(share)) / float64(len(fleet.Sandboxes))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := loadgen.SendPush(ctx, loadgen.PushSendConfig{URL: urls[i], Workers: s.Workers, Rate: rate,
				Timeout: 5 * time.Minute, HoldReplays: &holds[i]}, share)
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

// renderPush writes a push scenario's section of the report.
func renderPush(b *strings.Builder, r Result) {
	s, p := r.Scenario, r.Push
	cfg := s.Push.Fleet
	row := func(k string, v any) { fmt.Fprintf(b, "| %s | %v |\n", k, v) }
	b.WriteString("| figure | value |\n|---|---|\n")
	row("jobs / functions / sandboxes", fmt.Sprintf("%d / %d / %d", cfg.Jobs, cfg.Functions, cfg.Sandboxes))
	row("extension instances (sandboxes and their replacements)", p.Truth.Instances)
	row("gateway replicas", max(1, s.Replicas))
	row("flush interval (gateway)", r.Flush)
	row("flushes per sandbox, invocations per flush", fmt.Sprintf("%d, 1 to %d", cfg.Flushes, max(1, cfg.MaxInvocations)))
	row("flushes generated / sent / acknowledged", fmt.Sprintf("%d / %d / %d", p.Stats.Generated, p.Stats.Sent, p.Stats.Acknowledged))
	row("replays of acknowledged flushes: due / sent and acknowledged / held around the restart", fmt.Sprintf("%d / %d / %d", p.Truth.Replays, p.Stats.Replayed, p.Stats.ReplaysHeld))
	row("requests (retries; refused 429/503, unreachable)", fmt.Sprintf("%d (%d; %d, %d)", p.Stats.Attempts, p.Stats.Retried, p.Stats.Refused, p.Stats.Unreachable))
	row("data points generated / acknowledged", fmt.Sprintf("%d / %d", p.Stats.GeneratedPoints, p.Stats.AcknowledgedPoints))
	row("invocations counted by the pushes", p.Truth.Invocations)
	if s.Push.Rate > 0 {
		row("send mode", fmt.Sprintf("rate %.0f flushes/s, %d workers per replica", s.Push.Rate, max(1, s.Workers)))
	} else {
		row("send mode", fmt.Sprintf("max, %d workers per replica", max(1, s.Workers)))
	}
	row("load duration", p.Stats.Duration.Round(time.Millisecond))
	if p.Stats.Duration > 0 {
		row("achieved rate", fmt.Sprintf("%.0f flushes/s", float64(p.Stats.Acknowledged)/p.Stats.Duration.Seconds()))
	}
	if s.OutageFor > 0 {
		row("remote writes refused during the outage", r.OutageRefused)
	}
	row("remote writes received (Prometheus refused)", fmt.Sprintf("%d (%d)", r.SinkRequests, r.PrometheusRefused))
	row("counter resets seen in Prometheus", r.PrometheusResets)
	row("series expected (counter, histogram _bucket/_count/_sum, gauge; instance aside)", p.Series)
	row("checks (series sums, series counts, gauges per replica)", fmt.Sprintf("%d (%d gauges)", r.Checks, p.Gauges))
	row("Prometheus exact", exactness(r, r.PrometheusExact, 0))
	row("sink exact", exactness(r, r.SinkExact, 0))
	b.WriteString("\n")
}

// pushIntro describes the push scenarios' load and checks, for the report.
const pushIntro = "The push scenarios (`push-*`) replace that load with sandboxes that push Prometheus metrics to the extension's " +
	"Pushgateway API (`testbed/loadgen.GeneratePush`), as the extension forwards them: per flush, one OTLP/JSON request to " +
	"`/v1/metrics` with the increments since the instance's last acknowledged flush (`lambda_invocations_total{route,status}` " +
	"as a delta monotonic sum, `lambda_execution_duration_seconds{route}` as a delta histogram with prometheus_client's " +
	"default buckets, `lambda_last_push_timestamp_seconds` as a gauge), the resource naming the job (service.name) and the " +
	"sandbox (faas.instance = the extension instance id), the sandbox headers and `Lambda-Batch-Sequence` (numbers with gaps: " +
	"the counter is shared with the Telemetry API batches). A sandbox sends its next flush once the previous one is " +
	"acknowledged; refused flushes are resent with the same sequence and bytes; some acknowledged flushes are deliberately " +
	"sent again (they must not count); some sandboxes are replaced between flushes by a new extension instance. Checked " +
	"per job: the counter's total per route and status, the histogram's count, sum and every bucket per route (exactly: the " +
	"durations are whole 1/1024 s, so every sum is exact in any order), the totals over all labels, how many series each " +
	"metric has (a sandbox identity that became a label would show as more), and per replica the gauge's newest value. " +
	"Counters, counts, sums and buckets are read as above (per reset segment, summed over replicas). From 0.25 s before a " +
	"gateway stops until it is back, the deliberate replays to it are held (skipped, and counted): the gateway remembers the " +
	"accepted (instance id, sequence) pairs in memory only, so a resend of a flush that the stopped process acknowledged " +
	"counts again in the new one (retries of flushes it did not acknowledge go on throughout).\n\n"
