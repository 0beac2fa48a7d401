// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package scenario

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
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

// PushResult is what a push scenario generated; Result holds the rest.
type PushResult struct {
	Truth loadgen.PushTruth
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

// pushLoad is the push load of Scenario.Push.
type pushLoad struct {
	fleet  *loadgen.PushFleet
	checks []Check
}

func newPushLoad(s Scenario, r *Result) (load, error) {
	if d := s.Disruption; d != nil && d.Kill {
		return nil, errors.New("push scenarios stop gateways gracefully only")
	}
	if s.Stock {
		return nil, errors.New("push scenarios have no stock pipeline to compare with")
	}
	fleet, err := loadgen.GeneratePush(s.Push.Fleet)
	if err != nil {
		return nil, err
	}
	replicaIDs := make([]string, s.Replicas)
	for i := range replicaIDs {
		replicaIDs[i] = replicaID(s, i)
	}
	route := func(b *loadgen.PushBatch) int { return replicaOf(b.Function, s.Replicas) }
	l := &pushLoad{fleet: fleet, checks: PushChecks(fleet, replicaIDs, route)}
	pr := &PushResult{Truth: fleet.Truth, Series: len(fleet.Truth.Counters) + len(fleet.Truth.Histograms)*(len(loadgen.PushBuckets)+3) + fleet.Config.Jobs}
	for _, c := range l.checks {
		if strings.HasPrefix(c.Metric, gaugeOf) {
			pr.Gauges++
		}
	}
	r.Push = pr
	r.Truth.Invocations, r.Batches, r.Functions, r.Checks = fleet.Truth.Invocations, fleet.Truth.Batches, fleet.Config.Functions, len(l.checks)
	return l, nil
}

// send sends each replica the sandboxes of its functions at its part of the rate; the
// replays to a replica are held while rn.holds says so.
func (l *pushLoad) send(ctx context.Context, rn *run, urls []string) (loadgen.Stats, string, error) {
	s := rn.s
	// GeneratePush gives every sandbox its flushes: the first names the function.
	function := func(flushes []loadgen.PushBatch) string { return flushes[0].Function }
	st, err := sendByReplica(urls, l.fleet.Sandboxes, function, func(i int, share [][]loadgen.PushBatch) (loadgen.Stats, error) {
		rate := 0.0
		if s.Push.Rate > 0 {
			rate = s.Push.Rate * float64(len(share)) / float64(len(l.fleet.Sandboxes))
		}
		return loadgen.SendPush(ctx, loadgen.SendConfig{URL: urls[i], Workers: s.Workers, Rate: rate,
			Timeout: 5 * time.Minute, HoldReplays: &rn.holds[i]}, share)
	})
	return st, fmt.Sprintf("load sent: %d flushes acknowledged, %d replays acknowledged, %d held, %d retried requests",
		st.Acknowledged, st.Replayed, st.ReplaysHeld, st.Retried), err
}

func (l *pushLoad) settle(ctx context.Context, rn *run, loadEnd time.Time) error {
	prefix := l.fleet.Config.Prefix
	promTotals := rn.prometheusTotals(ctx, func(ctx context.Context, prom *harness.Prometheus, window time.Duration) (Totals, int, error) {
		return PushPrometheusTotals(ctx, prom, prefix, window)
	})
	return converge(ctx, rn.r, l.checks, func() Totals { return PushSinkTotals(rn.sink, prefix) }, promTotals, loadEnd, rn.o)
}

// renderPush writes the figures of a push scenario.
func renderPush(b *strings.Builder, r Result) {
	s, p, st := r.Scenario, r.Push, r.Stats
	cfg := s.Push.Fleet
	row(b, "jobs / functions / sandboxes", fmt.Sprintf("%d / %d / %d", cfg.Jobs, cfg.Functions, cfg.Sandboxes))
	row(b, "extension instances (sandboxes and their replacements)", p.Truth.Instances)
	row(b, "gateway replicas", max(1, s.Replicas))
	row(b, "flush interval (gateway)", r.Flush)
	row(b, "flushes per sandbox, invocations per flush", fmt.Sprintf("%d, 1 to %d", cfg.Flushes, max(1, cfg.MaxInvocations)))
	row(b, "flushes generated / sent / acknowledged", fmt.Sprintf("%d / %d / %d", st.Generated, st.Sent, st.Acknowledged))
	row(b, "replays of acknowledged flushes: due / sent and acknowledged / held around the restart", fmt.Sprintf("%d / %d / %d", p.Truth.Replays, st.Replayed, st.ReplaysHeld))
	row(b, "requests (retries; refused 429/503, unreachable)", fmt.Sprintf("%d (%d; %d, %d)", st.Attempts, st.Retried, st.Refused, st.Unreachable))
	row(b, "data points generated / acknowledged", fmt.Sprintf("%d / %d", st.GeneratedPoints, st.AcknowledgedPoints))
	row(b, "invocations counted by the pushes", p.Truth.Invocations)
	renderSend(b, r, s.Push.Rate, "flushes", st.Acknowledged)
	row(b, "series expected (counter, histogram _bucket/_count/_sum, gauge; instance aside)", p.Series)
	row(b, "checks (series sums, series counts, gauges per replica)", fmt.Sprintf("%d (%d gauges)", r.Checks, p.Gauges))
	row(b, "Prometheus exact", exactness(r, r.PrometheusExact, 0))
	row(b, "sink exact", exactness(r, r.SinkExact, 0))
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
