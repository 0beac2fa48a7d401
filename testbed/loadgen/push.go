// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package loadgen

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
)

// The push load: what the extension sends the gateway for functions that push Prometheus
// metrics to its Pushgateway API (layer/internal/pushgw Collect, sent by
// layer/internal/forward sendPayload). Per flush, one OTLP/JSON request to MetricsPath with
// the increments since the instance's last accepted flush: counters as delta monotonic
// sums, histograms as delta explicit histograms, gauges as their current value; the
// resource names the job (service.name) and the sandbox (faas.name, faas.instance = the
// extension instance id, cloud.*); the headers are the sandbox's and Lambda-Batch-Sequence,
// one counter per extension instance shared with its Telemetry API batches.

const (
	// MetricsPath is the OTLP/HTTP metrics path, where the extension sends pushes.
	MetricsPath = "/v1/metrics"
	// PushScope is the instrumentation scope of forwarded pushes.
	PushScope = "otelcol-lambda-extension/pushgateway"

	// PushCounter counts invocations by route and status (a prometheus_client Counter).
	PushCounter = "lambda_invocations_total"
	// PushHistogram is the invocations' duration by route (a prometheus_client Histogram
	// with its default buckets).
	PushHistogram = "lambda_execution_duration_seconds"
	// PushGauge is the time of the sandbox's newest push, in seconds since the epoch (the
	// classic Pushgateway "last success" gauge); the gateway keeps the newest value.
	PushGauge = "lambda_last_push_timestamp_seconds"

	// PushStatusOK and PushStatusError are the counter's status label values.
	PushStatusOK    = "ok"
	PushStatusError = "error"
)

// PushBuckets are prometheus_client's default histogram buckets, without +Inf.
var PushBuckets = []float64{.005, .01, .025, .05, .075, .1, .25, .5, .75, 1, 2.5, 5, 7.5, 10}

// PushRoutes are the route label values a function's invocations take.
var PushRoutes = []string{"/orders", "/payments", "/refunds"}

// durationUnit: every generated duration is a whole number of these (1/1024 s), so that
// every sum of durations the gateway and the ground truth make is exact in float64, in any
// order: histogram sums compare exactly.
const durationUnit = 1.0 / 1024

// PushConfig is a fleet of sandboxes that push.
type PushConfig struct {
	// Prefix names the jobs <Prefix>-job<j> and the functions <Prefix>-fn<f>; it also makes
	// the extension instance ids unique.
	Prefix string
	// Jobs is how many push jobs (service names); function f pushes under job f % Jobs.
	Jobs int
	// Functions is how many functions; sandbox s runs function s % Functions.
	Functions int
	// Sandboxes is how many sandboxes push at once, over all functions.
	Sandboxes int
	// Flushes is how many flushes each sandbox makes.
	Flushes int
	// MaxInvocations bounds the invocations a sandbox runs between two flushes (at least 1
	// each time); default 10.
	MaxInvocations int
	// ErrorRate is the share of invocations counted with status error.
	ErrorRate float64
	// Replay is the chance that a flush, once acknowledged, is sent again byte for byte with
	// the same sequence number (an acknowledgement lost on the way): the gateway must not
	// count it again.
	Replay float64
	// Recycle is the chance that a sandbox is replaced after a flush: the next flush comes
	// from a new extension instance of the same function (a new instance id, sequence
	// numbers from 1, an empty registry).
	Recycle float64
	// Interval is the time between a sandbox's flushes, for the points' timestamps;
	// default 1s.
	Interval time.Duration
	// Start is the first flush's time; zero means Flushes intervals before now.
	Start time.Time
	Seed  uint64
}

// PushBatch is one flush of one sandbox, as the extension sends it.
type PushBatch struct {
	// Sandbox is the sandbox slot (index into PushFleet.Sandboxes); its flushes must be sent
	// in order, each acknowledged before the next.
	Sandbox         int
	Function, Job   string
	Instance        string // the extension instance id
	Sequence        uint64
	Header          http.Header
	Body            []byte
	Points          int // data points (a histogram point is one)
	Invocations     int // invocations whose increments it carries
	Replays         int // times the sender sends it again after it was acknowledged
	Time            time.Time
	Gauge           float64 // PushGauge's value in the batch
	FirstOfInstance bool
}

// PushSeries names one series of the push load in the gateway's output: the job, and the
// point's labels (Status is empty for the histogram; the gauge has neither).
type PushSeries struct {
	Job, Route, Status string
}

// HistogramTruth is a histogram's ground truth: count, sum and per-bucket counts (not
// cumulative; len(PushBuckets)+1, the last is +Inf's own).
type HistogramTruth struct {
	Count   uint64
	Sum     float64
	Buckets []uint64
}

// Cumulative is the count of the bucket with upper bound PushBuckets[i] (i ==
// len(PushBuckets): +Inf), as Prometheus' _bucket{le} holds it.
func (h *HistogramTruth) Cumulative(i int) uint64 {
	var n uint64
	for _, c := range h.Buckets[:i+1] {
		n += c
	}
	return n
}

// PushTruth is what the gateway must hold for the push load, summed over sandboxes (and
// replicas): every series' total.
type PushTruth struct {
	// Counters: PushCounter's total per job, route and status (the sum of the increments).
	Counters map[PushSeries]float64
	// Histograms: PushHistogram per job and route.
	Histograms map[PushSeries]*HistogramTruth
	// Invocations is the counters' total; Batches and Points count the flushes and their
	// data points (replays not included); Replays counts the flushes to send twice;
	// Instances counts the extension instances (sandboxes and their replacements).
	Invocations, Batches, Points, Replays, Instances int
}

// PushFleet is the generated push load.
type PushFleet struct {
	Config PushConfig
	// Sandboxes holds each sandbox slot's flushes in order (Config.Flushes each).
	Sandboxes [][]PushBatch
	Truth     PushTruth
}

// Jobs lists the job names in order.
func (f *PushFleet) Jobs() []string {
	out := make([]string, f.Config.Jobs)
	for j := range out {
		out[j] = fmt.Sprintf("%s-job%d", f.Config.Prefix, j)
	}
	return out
}

// LastGauge is PushGauge's value the gateway must show per job, having received the flushes
// that keep says: that of the newest point (the gateway keeps a gauge's newest value).
func (f *PushFleet) LastGauge(keep func(*PushBatch) bool) map[string]float64 {
	newest := map[string]time.Time{}
	out := map[string]float64{}
	for _, flushes := range f.Sandboxes {
		for i := range flushes {
			b := &flushes[i]
			if keep != nil && !keep(b) {
				continue
			}
			if t, ok := newest[b.Job]; !ok || !b.Time.Before(t) {
				newest[b.Job], out[b.Job] = b.Time, b.Gauge
			}
		}
	}
	return out
}

// Round returns the flushes from..to-1 of every sandbox (to is capped at Config.Flushes),
// each sandbox's in order: for a warm-up and the rest.
func (f *PushFleet) Round(from, to int) [][]PushBatch {
	out := make([][]PushBatch, len(f.Sandboxes))
	for s, flushes := range f.Sandboxes {
		out[s] = flushes[min(from, len(flushes)):min(to, len(flushes))]
	}
	return out
}

// pushInstance is one extension instance's registry: the running state of every series its
// function pushed, of which the extension owes the gateway the increments since the last
// accepted flush.
type pushInstance struct {
	id       string
	sequence uint64
	counters map[PushSeries]float64         // owed increment; present once pushed
	hists    map[PushSeries]*HistogramTruth // owed increments; present once pushed
}

// GeneratePush makes the push load; the same PushConfig (with Start set) always gives the
// same batches.
func GeneratePush(cfg PushConfig) (*PushFleet, error) {
	if cfg.Jobs <= 0 || cfg.Functions <= 0 || cfg.Sandboxes <= 0 || cfg.Flushes <= 0 {
		return nil, fmt.Errorf("loadgen: need jobs, functions, sandboxes and flushes > 0, got %d, %d, %d, %d",
			cfg.Jobs, cfg.Functions, cfg.Sandboxes, cfg.Flushes)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "push"
	}
	if cfg.MaxInvocations <= 0 {
		cfg.MaxInvocations = 10
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Now().Add(-time.Duration(cfg.Flushes+1) * cfg.Interval)
	}
	cfg.Start = cfg.Start.Truncate(time.Millisecond)
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x6a09e667f3bcc909))
	f := &PushFleet{Config: cfg, Sandboxes: make([][]PushBatch, cfg.Sandboxes), Truth: PushTruth{
		Counters: map[PushSeries]float64{}, Histograms: map[PushSeries]*HistogramTruth{}}}
	for s := range cfg.Sandboxes {
		fn := s % cfg.Functions
		function := fmt.Sprintf("%s-fn%d", cfg.Prefix, fn)
		job := fmt.Sprintf("%s-job%d", cfg.Prefix, fn%cfg.Jobs)
		generation := 0
		newInstance := func() *pushInstance {
			generation++
			f.Truth.Instances++
			return &pushInstance{id: fmt.Sprintf("%s-fn%d-sb%d-gen%d", cfg.Prefix, fn, s, generation),
				counters: map[PushSeries]float64{}, hists: map[PushSeries]*HistogramTruth{}}
		}
		inst := newInstance()
		f.Sandboxes[s] = make([]PushBatch, 0, cfg.Flushes)
		for k := range cfg.Flushes {
			if k > 0 && rng.Float64() < cfg.Recycle {
				inst = newInstance()
			}
			// The flush's time: unique over the fleet (a microsecond per sandbox within an
			// interval), so that the newest gauge point is one point.
			at := cfg.Start.Add(time.Duration(k)*cfg.Interval + time.Duration(s)*time.Microsecond)
			b := PushBatch{Sandbox: s, Function: function, Job: job, Instance: inst.id, Time: at,
				FirstOfInstance: inst.sequence == 0}
			b.Invocations = 1 + rng.IntN(cfg.MaxInvocations)
			for range b.Invocations {
				route := PushRoutes[rng.IntN(len(PushRoutes))]
				status := PushStatusOK
				if rng.Float64() < cfg.ErrorRate {
					status = PushStatusError
				}
				key := PushSeries{Job: job, Route: route, Status: status}
				inst.counters[key]++
				hk := PushSeries{Job: job, Route: route}
				h := inst.hists[hk]
				if h == nil {
					h = &HistogramTruth{Buckets: make([]uint64, len(PushBuckets)+1)}
					inst.hists[hk] = h
				}
				d := drawDuration(rng)
				h.Count++
				h.Sum += d
				h.Buckets[bucketOf(d)]++
			}
			// The sequence counter is shared with the instance's Telemetry API batches:
			// some of those went between two flushes.
			inst.sequence += 1 + uint64(rng.IntN(3))
			b.Sequence = inst.sequence
			b.Gauge = float64(at.UnixMilli()) / 1000
			if rng.Float64() < cfg.Replay {
				b.Replays = 1
				f.Truth.Replays++
			}
			body, points, err := pushBody(cfg, &b, inst)
			if err != nil {
				return nil, err
			}
			b.Body, b.Points = body, points
			b.Header = pushHeader(&b)
			f.Truth.add(inst)
			f.Truth.Batches++
			f.Truth.Points += points
			f.Truth.Invocations += b.Invocations
			// What was sent is no longer owed; the series stay in the registry.
			for key := range inst.counters {
				inst.counters[key] = 0
			}
			for _, h := range inst.hists {
				h.Count, h.Sum = 0, 0
				clear(h.Buckets)
			}
			f.Sandboxes[s] = append(f.Sandboxes[s], b)
		}
	}
	return f, nil
}

// add adds an instance's owed increments to the truth.
func (t *PushTruth) add(inst *pushInstance) {
	for k, v := range inst.counters {
		t.Counters[k] += v
	}
	for k, h := range inst.hists {
		th := t.Histograms[k]
		if th == nil {
			th = &HistogramTruth{Buckets: make([]uint64, len(PushBuckets)+1)}
			t.Histograms[k] = th
		}
		th.Count += h.Count
		th.Sum += h.Sum
		for i, c := range h.Buckets {
			th.Buckets[i] += c
		}
	}
}

// drawDuration is an invocation's duration: mostly up to half a second, some up to 4 s, a
// few over the last bound (10 s); always a whole number of durationUnit.
func drawDuration(rng *rand.Rand) float64 {
	switch p := rng.Float64(); {
	case p < 0.005:
		return float64(10*1024+1+rng.IntN(20*1024)) * durationUnit
	case p < 0.1:
		return float64(1+rng.IntN(4*1024)) * durationUnit
	default:
		return float64(1+rng.IntN(512)) * durationUnit
	}
}

// bucketOf is the index of the bucket a value falls in (le: value <= bound).
func bucketOf(v float64) int {
	i, _ := slices.BinarySearch(PushBuckets, v)
	return i
}

// pushBody encodes what the instance owes as the extension's OTLP/JSON request: every series
// its registry holds (the extension sends what was pushed since the last flush, and a
// prometheus_client push carries every series of the registry, changed or not), in the
// extension's order (metric, then labels).
func pushBody(cfg PushConfig, b *PushBatch, inst *pushInstance) ([]byte, int, error) {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	res := rm.Resource().Attributes()
	res.PutStr("cloud.provider", "aws")
	res.PutStr("cloud.platform", "aws_lambda")
	res.PutStr("faas.name", b.Function)
	res.PutStr("faas.instance", b.Instance)
	res.PutStr("faas.version", "$LATEST")
	res.PutStr("cloud.region", region)
	res.PutStr("cloud.account.id", accountID)
	res.PutInt("faas.max_memory", memorySizeMB<<20)
	res.PutStr("service.name", b.Job)
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(PushScope)
	start := pcommon.NewTimestampFromTime(b.Time.Add(-cfg.Interval))
	if b.FirstOfInstance {
		start = pcommon.NewTimestampFromTime(b.Time.Add(-cfg.Interval / 2))
	}
	ts := pcommon.NewTimestampFromTime(b.Time)

	m := sm.Metrics().AppendEmpty()
	m.SetName(PushHistogram)
	m.SetDescription("Lambda execution duration in seconds")
	hist := m.SetEmptyHistogram()
	hist.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	for _, k := range sortedSeries(inst.hists) {
		h := inst.hists[k]
		dp := hist.DataPoints().AppendEmpty()
		dp.Attributes().PutStr("route", k.Route)
		dp.SetStartTimestamp(start)
		dp.SetTimestamp(ts)
		dp.SetCount(h.Count)
		dp.SetSum(h.Sum)
		dp.ExplicitBounds().FromRaw(PushBuckets)
		dp.BucketCounts().FromRaw(h.Buckets)
	}

	m = sm.Metrics().AppendEmpty()
	m.SetName(PushCounter)
	m.SetDescription("Total Lambda invocations")
	sum := m.SetEmptySum()
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	sum.SetIsMonotonic(true)
	for _, k := range sortedSeries(inst.counters) {
		dp := sum.DataPoints().AppendEmpty()
		dp.Attributes().PutStr("route", k.Route)
		dp.Attributes().PutStr("status", k.Status)
		dp.SetStartTimestamp(start)
		dp.SetTimestamp(ts)
		dp.SetDoubleValue(inst.counters[k])
	}

	m = sm.Metrics().AppendEmpty()
	m.SetName(PushGauge)
	m.SetDescription("When the sandbox last pushed")
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(ts)
	dp.SetDoubleValue(b.Gauge)

	body, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalJSON()
	return body, md.DataPointCount(), err
}

func sortedSeries[V any](m map[PushSeries]V) []PushSeries {
	out := make([]PushSeries, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b PushSeries) int {
		if a.Route != b.Route {
			if a.Route < b.Route {
				return -1
			}
			return 1
		}
		if a.Status < b.Status {
			return -1
		}
		if a.Status > b.Status {
			return 1
		}
		return 0
	})
	return out
}

// pushHeader is what the extension's sender writes: the sandbox and the sequence number.
func pushHeader(b *PushBatch) http.Header {
	h := http.Header{}
	h.Set("Content-Type", ContentTypeJSON)
	wire.Batch{Sandbox: wire.Sandbox{
		FunctionName: b.Function, FunctionVersion: "$LATEST", Region: region, AccountID: accountID,
		MemorySizeMB: memorySizeMB, Architecture: "x86_64", Runtime: "python3.12", TimeoutMs: 3000,
		ExtensionInstanceID: b.Instance,
	}, Sequence: b.Sequence}.SetHeaders(h)
	return h
}

// LeLabel is the le label value Prometheus gives bucket i of PushBuckets (i ==
// len(PushBuckets): +Inf).
func LeLabel(i int) string {
	if i >= len(PushBuckets) {
		return "+Inf"
	}
	return strconv.FormatFloat(PushBuckets[i], 'f', -1, 64)
}
