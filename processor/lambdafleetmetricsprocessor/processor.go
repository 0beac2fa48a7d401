// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdafleetmetricsprocessor // import "github.com/otelcol-lambda/otelcol-lambda/processor/lambdafleetmetricsprocessor"

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-lambda/otelcol-lambda/internal/flushloop"
	"github.com/otelcol-lambda/otelcol-lambda/internal/series"
	"github.com/otelcol-lambda/otelcol-lambda/internal/warnlog"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/processor/lambdafleetmetricsprocessor/internal/metadata"
	"github.com/otelcol-lambda/otelcol-lambda/processor/lambdafleetmetricsprocessor/internal/streams"
)

const (
	attrServiceName      = "service.name"
	attrServiceNamespace = "service.namespace"
	attrServiceInstance  = "service.instance.id"

	// unknownService is the job of data without a service name, as the OTel SDKs name it.
	unknownService = "unknown_service"

	// maxRefusalsNamed bounds the refusals spelled out in one error.
	maxRefusalsNamed = 3
)

// fleetProcessor is the lambda_fleet_metrics processor. ConsumeMetrics folds each data
// point into its fleet series under mu; a ticker sends the series on, holding no lock
// while the next consumer runs.
type fleetProcessor struct {
	cfg       *Config
	next      consumer.Metrics
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
	warnings  *warnlog.Logger
	outcomes  [len(outcomeNames)]metric.MeasurementOption
	now       func() time.Time
	replica   string
	seed      maphash.Seed

	mu      sync.Mutex
	jobs    map[jobKey]*job
	held    int // series held in all jobs, overflow series included
	streams *streams.Tracker
	keyBuf  []byte
	kvBuf   []keyValue
	histBuf []uint64
	// What the series and streams gauges said last, to report changes.
	reportedSeries, reportedStreams int

	flushes      *flushloop.Loop
	shutdownOnce sync.Once
}

type jobKey struct{ namespace, name string }

// job is one service's fleet series, bounded together by max_series_per_job.
type job struct {
	key     jobKey
	series  int // series held, the overflow series not included
	metrics map[metricKey]*fleetMetric
}

type metricKey struct{ scopeName, scopeVersion, name string }

// shape is what must agree for data to share a fleet metric.
type shape struct {
	typ       pmetric.MetricType // of the output: summaries become histograms
	monotonic bool
	unit      string
}

func (s shape) String() string {
	var kind string
	switch s.typ {
	case pmetric.MetricTypeSum:
		kind = "up-down counter (non-monotonic sum)"
		if s.monotonic {
			kind = "counter (monotonic sum)"
		}
	case pmetric.MetricTypeExponentialHistogram:
		kind = "native (exponential) histogram"
	default:
		kind = strings.ToLower(s.typ.String())
	}
	if s.unit != "" {
		kind += " in " + s.unit
	}
	return kind
}

type fleetMetric struct {
	key   metricKey
	shape shape
	mode  string // gauges and levels: how sandboxes' values combine
	store *series.Metric
}

// level is a gauge's (or an up-down counter's) state beside its series: what each sandbox
// said, and what was added as deltas.
type level struct {
	deltas    float64 // non-monotonic delta sums
	hasDeltas bool
	bySandbox map[uint64]sandboxValue
}

type sandboxValue struct {
	value float64
	at    pcommon.Timestamp
}

type keyValue struct {
	key string
	val pcommon.Value
}

func newFleetProcessor(set processor.Settings, cfg *Config, next consumer.Metrics, now func() time.Time) (*fleetProcessor, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	start := pcommon.NewTimestampFromTime(now())
	p := &fleetProcessor{
		cfg:       cfg,
		next:      next,
		logger:    set.Logger,
		telemetry: tb,
		warnings:  warnlog.New(set.Logger),
		now:       now,
		replica:   series.ReplicaID(set.Resource),
		seed:      maphash.MakeSeed(),
		jobs:      make(map[jobKey]*job),
		streams:   streams.New(start, cfg.Streams.MaxStreams, pcommon.Timestamp(cfg.Streams.IdleTimeout)),
	}
	for i, name := range outcomeNames {
		p.outcomes[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", name)))
	}
	p.flushes = flushloop.New(p.flush, p.logger)
	return p, nil
}

// Capabilities: the input is read, never changed.
func (*fleetProcessor) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// Start sends the fleet series every metrics_flush_interval.
func (p *fleetProcessor) Start(context.Context, component.Host) error {
	p.flushes.Start(p.cfg.MetricsFlushInterval)
	return nil
}

// Shutdown stops the ticker and sends the series a last time; it is safe without Start.
func (p *fleetProcessor) Shutdown(ctx context.Context) error {
	p.shutdownOnce.Do(func() {
		p.flushes.Stop(ctx)
		p.telemetry.Shutdown()
	})
	return nil
}

// tally counts what became of the points of one request.
type tally struct {
	outcomes [4]int64 // folded, baseline, stale, overflow
	refused  map[string]int64
	named    []string
}

const (
	outFolded = iota
	outBaseline
	outStale
	outOverflow
)

var outcomeNames = [...]string{"folded", "baseline", "stale", "overflow"}

func (t *tally) refuse(reason string, n int, why string) {
	if t.refused == nil {
		t.refused = make(map[string]int64)
	}
	t.refused[reason] += int64(n)
	if len(t.named) < maxRefusalsNamed {
		t.named = append(t.named, why)
	}
}

func (t *tally) total() int64 {
	var n int64
	for _, c := range t.refused {
		n += c
	}
	return n
}

// ConsumeMetrics folds every data point into its fleet series. Points it cannot fold are
// named in a permanent error (the receiver answers 400, so a forwarder does not resend a
// request whose other points are already folded); the rest of the request is kept.
func (p *fleetProcessor) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	var t tally
	p.fold(md, pcommon.NewTimestampFromTime(p.now()), &t)
	for i, n := range t.outcomes {
		if n > 0 {
			p.telemetry.ProcessorLambdaFleetMetricsPoints.Add(ctx, n, p.outcomes[i])
		}
	}
	if len(t.refused) == 0 {
		return nil
	}
	for reason, n := range t.refused {
		p.telemetry.ProcessorLambdaFleetMetricsRefused.Add(ctx, n, metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reason))))
	}
	err := fmt.Errorf("lambda_fleet_metrics refused %d data points: %s", t.total(), strings.Join(t.named, "; "))
	p.warnings.Warn("Refused data points that cannot be added to their fleet series", zap.Error(err))
	return consumererror.NewPermanent(err)
}

func (p *fleetProcessor) fold(md pmetric.Metrics, now pcommon.Timestamp, t *tally) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, rm := range md.ResourceMetrics().All() {
		res := rm.Resource().Attributes()
		j := p.job(res)
		sandbox := p.hashMap(res)
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				p.foldMetric(j, sandbox, sm.Scope(), m, now, t)
			}
		}
	}
}

// job returns the job of a resource, made when new.
func (p *fleetProcessor) job(res pcommon.Map) *job {
	k := jobKey{name: unknownService}
	if v, ok := res.Get(attrServiceName); ok && v.AsString() != "" {
		k.name = v.AsString()
	}
	if v, ok := res.Get(attrServiceNamespace); ok {
		k.namespace = v.AsString()
	}
	j := p.jobs[k]
	if j == nil {
		j = &job{key: k, metrics: make(map[metricKey]*fleetMetric)}
		p.jobs[k] = j
	}
	return j
}

// shapeOf is the output shape of an input metric.
func shapeOf(m pmetric.Metric) shape {
	s := shape{typ: m.Type(), unit: m.Unit()}
	switch m.Type() {
	case pmetric.MetricTypeSum:
		s.monotonic = m.Sum().IsMonotonic()
	case pmetric.MetricTypeSummary:
		s.typ = pmetric.MetricTypeHistogram
	}
	return s
}

// metric returns the fleet metric that m folds into, or an error when the job already has
// a metric of that name with another shape.
func (p *fleetProcessor) metric(j *job, scope pcommon.InstrumentationScope, m pmetric.Metric) (*fleetMetric, error) {
	k := metricKey{scopeName: scope.Name(), scopeVersion: scope.Version(), name: m.Name()}
	if k.scopeName == wire.PushgatewayScope {
		// Pushes reach Prometheus with a Pushgateway's labels: no otel_scope_name.
		k.scopeName, k.scopeVersion = "", ""
	}
	want := shapeOf(m)
	if fm := j.metrics[k]; fm != nil {
		if fm.shape != want {
			return nil, fmt.Errorf("metric %q of job %q is a %s here, but a %s was seen first", m.Name(), j.key.name, want, fm.shape)
		}
		return fm, nil
	}
	desc := series.Desc{Name: m.Name(), Description: m.Description(), Unit: m.Unit(), Float: true}
	fm := &fleetMetric{key: k, shape: want}
	switch want.typ {
	case pmetric.MetricTypeSum:
		desc.Kind = series.KindSum
		desc.NonMonotonic = !want.monotonic
		fm.mode = ModeSum
	case pmetric.MetricTypeGauge:
		desc.Kind = series.KindGauge
		fm.mode = p.cfg.Gauges.DefaultMode
		if mode, ok := p.cfg.Gauges.Modes[m.Name()]; ok {
			fm.mode = mode
		}
	case pmetric.MetricTypeHistogram:
		desc.Kind = series.KindHistogram // bounds per series, from the data
	case pmetric.MetricTypeExponentialHistogram:
		desc.Kind = series.KindHistogram
		desc.Histogram = &series.HistogramConfig{Exponential: true, MaxSize: p.cfg.ExponentialMaxSize}
	default:
		return nil, fmt.Errorf("metric %q has no data", m.Name())
	}
	fm.store = series.NewMetric(desc, p.cfg.MaxSeriesPerJob)
	j.metrics[k] = fm
	return fm, nil
}

func (p *fleetProcessor) foldMetric(j *job, sandbox uint64, scope pcommon.InstrumentationScope, m pmetric.Metric, now pcommon.Timestamp, t *tally) {
	n := series.PointCount(m)
	if n == 0 {
		return
	}
	fm, err := p.metric(j, scope, m)
	if err != nil {
		t.refuse("type_conflict", n, err.Error())
		return
	}
	// A stream is one sandbox's series: the resource, scope and metric, then the
	// point's attributes.
	var h maphash.Hash
	h.SetSeed(p.seed)
	writeUint64(&h, sandbox)
	h.WriteString(scope.Name())
	h.WriteByte(0)
	h.WriteString(scope.Version())
	h.WriteByte(0)
	h.WriteString(m.Name())
	metricHash := h.Sum64()

	switch m.Type() {
	case pmetric.MetricTypeSum:
		sum := m.Sum()
		cumulative := sum.AggregationTemporality() == pmetric.AggregationTemporalityCumulative
		for _, dp := range sum.DataPoints().All() {
			p.foldNumber(j, fm, sandbox, metricHash, dp, cumulative, now, t)
		}
	case pmetric.MetricTypeGauge:
		for _, dp := range m.Gauge().DataPoints().All() {
			p.foldNumber(j, fm, sandbox, metricHash, dp, false, now, t)
		}
	case pmetric.MetricTypeHistogram:
		hist := m.Histogram()
		cumulative := hist.AggregationTemporality() == pmetric.AggregationTemporalityCumulative
		for _, dp := range hist.DataPoints().All() {
			if dp.Flags().NoRecordedValue() {
				t.outcomes[outStale]++
				continue
			}
			p.foldHistogram(j, fm, metricHash, dp.Attributes(), dp.StartTimestamp(), dp.Timestamp(),
				dp.ExplicitBounds().AsRaw(), dp.BucketCounts().AsRaw(), dp.Count(), dp.Sum(), cumulative, now, t)
		}
	case pmetric.MetricTypeSummary:
		// Quantiles cannot be added across sandboxes; count and sum can, as a histogram
		// without bounds. Summaries are cumulative by definition.
		for _, dp := range m.Summary().DataPoints().All() {
			if dp.Flags().NoRecordedValue() {
				t.outcomes[outStale]++
				continue
			}
			p.foldHistogram(j, fm, metricHash, dp.Attributes(), dp.StartTimestamp(), dp.Timestamp(),
				nil, []uint64{dp.Count()}, dp.Count(), dp.Sum(), true, now, t)
		}
	case pmetric.MetricTypeExponentialHistogram:
		hist := m.ExponentialHistogram()
		cumulative := hist.AggregationTemporality() == pmetric.AggregationTemporalityCumulative
		for _, dp := range hist.DataPoints().All() {
			p.foldExponential(j, fm, metricHash, dp, cumulative, now, t)
		}
	}
}

// series returns the fleet series of a point's attributes, made when new: the metric's
// overflow series once the job holds max_series_per_job. Its outcome is what folding into
// it means: folded, or overflow. It returns nil when max_series, which bounds every series
// of every job (overflow series included), leaves no room for a new one.
func (p *fleetProcessor) series(j *job, fm *fleetMetric, attrs pcommon.Map, now pcommon.Timestamp) (*series.Series, int) {
	p.keyBuf = p.appendKey(p.keyBuf[:0], attrs)
	if s := fm.store.Lookup(p.keyBuf); s != nil {
		return s, outFolded
	}
	if j.series >= p.cfg.MaxSeriesPerJob {
		if !fm.store.HasOverflow() {
			if p.held >= p.cfg.MaxSeries {
				return nil, 0
			}
			p.held++
		}
		return fm.store.Overflow(now, now), outOverflow
	}
	if p.held >= p.cfg.MaxSeries {
		return nil, 0
	}
	j.series++
	p.held++
	return fm.store.Get(p.keyBuf, now, now, func(m pcommon.Map) { copyLabels(attrs, m) }), outFolded
}

// refuseFull names a point refused for want of room.
func (p *fleetProcessor) refuseFull(t *tally, fm *fleetMetric) {
	t.refuse("limit", 1, fmt.Sprintf("metric %q: the gateway holds max_series (%d) series; a new series waits until idle ones expire", fm.key.name, p.cfg.MaxSeries))
}

// Labels the output sets itself: job is the series' service name and instance the
// gateway replica. A point attribute of the same name (a Pushgateway grouping key
// .../instance/<x>, a common idiom) would be overwritten by them and two series would
// become one; it is renamed exported_<name>, as Prometheus renames a scraped label that
// clashes with a target label.
var clashingLabels = map[string]string{"instance": "exported_instance", "job": "exported_job"}

func copyLabels(from, to pcommon.Map) {
	to.EnsureCapacity(from.Len())
	for k, v := range from.All() {
		if renamed, ok := clashingLabels[k]; ok {
			k = renamed
		}
		v.CopyTo(to.PutEmpty(k))
	}
}

// streamKey is the key of one sandbox's stream of a metric: the point's attributes added
// to the metric's hash. Call it after series, which left the attributes' key in keyBuf.
func (p *fleetProcessor) streamKey(metricHash uint64) uint64 {
	var h maphash.Hash
	h.SetSeed(p.seed)
	writeUint64(&h, metricHash)
	_, _ = h.Write(p.keyBuf)
	return h.Sum64()
}

func (p *fleetProcessor) foldNumber(j *job, fm *fleetMetric, sandbox, metricHash uint64, dp pmetric.NumberDataPoint, cumulative bool, now pcommon.Timestamp, t *tally) {
	if dp.Flags().NoRecordedValue() {
		t.outcomes[outStale]++
		return
	}
	v := dp.DoubleValue()
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		v = float64(dp.IntValue())
	}
	isLevel := fm.shape.typ == pmetric.MetricTypeGauge || !fm.shape.monotonic
	// NaN is a gauge's own business in mode last; anywhere it is added up it would stay.
	nanAllowed := fm.shape.typ == pmetric.MetricTypeGauge && fm.mode == ModeLast
	if math.IsInf(v, 0) || (math.IsNaN(v) && !nanAllowed) || (!isLevel && v < 0) {
		t.refuse("invalid", 1, fmt.Sprintf("%s %q has the value %v", fm.shape, fm.key.name, v))
		return
	}
	if !p.validTime(dp.StartTimestamp(), dp.Timestamp(), now, fm, t) {
		return
	}
	s, outcome := p.series(j, fm, dp.Attributes(), now)
	if s == nil {
		p.refuseFull(t, fm)
		return
	}
	s.Touch(now)
	if isLevel {
		t.outcomes[outcome]++
		lv, _ := s.State.(*level)
		if lv == nil {
			lv = &level{}
			s.State = lv
		}
		switch {
		case fm.shape.typ == pmetric.MetricTypeSum && !cumulative:
			lv.deltas += v // an up-down counter's increments
			lv.hasDeltas = true
		case fm.mode == ModeLast:
			s.Float = v // the last one taken in: points' own clocks may lie
		default:
			if lv.bySandbox == nil {
				lv.bySandbox = make(map[uint64]sandboxValue)
			}
			lv.bySandbox[sandbox] = sandboxValue{value: v, at: now}
		}
		return
	}
	if !cumulative {
		t.outcomes[outcome]++
		s.Float += v
		return
	}
	d, counted := p.streams.Number(p.streamKey(metricHash), dp.StartTimestamp(), dp.Timestamp(), now, v)
	t.outcomes[streamOutcome(counted, outcome)]++
	if counted == streams.Counted {
		s.Float += d
	}
}

// streamOutcome is the outcome of a cumulative point: what the stream made of it, or, when
// it counted, what folding it meant.
func streamOutcome(o streams.Outcome, folded int) int {
	switch o {
	case streams.Baseline:
		return outBaseline
	case streams.Stale:
		return outStale
	}
	return folded
}

func (p *fleetProcessor) foldHistogram(j *job, fm *fleetMetric, metricHash uint64, attrs pcommon.Map, start, ts pcommon.Timestamp,
	bounds []float64, counts []uint64, count uint64, sum float64, cumulative bool, now pcommon.Timestamp, t *tally) {
	if len(counts) == 0 {
		if count == 0 {
			t.outcomes[outStale]++ // an empty point: nothing to add
			return
		}
		counts = []uint64{count} // no buckets: all in one
		bounds = nil
	}
	if len(counts) != len(bounds)+1 || len(bounds) > maxExplicitBounds || !validBounds(bounds) || math.IsNaN(sum) || math.IsInf(sum, 0) || overflows(counts) {
		t.refuse("invalid", 1, fmt.Sprintf("histogram %q has %d bucket counts for %d bounds (at most %d, finite, increasing), a non-finite sum, or counts beyond 2^64", fm.key.name, len(counts), len(bounds), maxExplicitBounds))
		return
	}
	if !p.validTime(start, ts, now, fm, t) {
		return
	}
	s, outcome := p.series(j, fm, attrs, now)
	if s == nil {
		p.refuseFull(t, fm)
		return
	}
	if s.Hist == nil {
		s.Hist = series.NewHistogram(&series.HistogramConfig{Bounds: slices.Clone(bounds)})
	}
	if !slices.Equal(bounds, s.Hist.Bounds()) && !refines(bounds, s.Hist.Bounds()) {
		t.refuse("bounds_mismatch", 1, fmt.Sprintf("histogram %q of job %q has the bounds %v; %v %v", fm.key.name, j.key.name, bounds, series.ErrBoundsMismatch, s.Hist.Bounds()))
		return
	}
	s.Touch(now)
	if cumulative {
		var counted streams.Outcome
		counts, sum, counted = p.streams.Histogram(p.streamKey(metricHash), start, ts, now, bounds, counts, sum, p.histBuf)
		p.histBuf = counts
		if outcome = streamOutcome(counted, outcome); counted != streams.Counted {
			t.outcomes[outcome]++
			return
		}
	}
	if total := total(counts); s.Hist.Count()+total < s.Hist.Count() {
		t.refuse("invalid", 1, fmt.Sprintf("histogram %q: its count would go beyond 2^64", fm.key.name))
		return
	}
	t.outcomes[outcome]++
	_ = s.Hist.AddExplicit(bounds, counts, sum) // bounds checked above
}

// maxExplicitBounds bounds the buckets of one histogram: each becomes a Prometheus series
// (_bucket{le=...}), and max_series counts the histogram as one.
const maxExplicitBounds = 200

// total adds up counts (which overflows has checked).
func total(counts []uint64) uint64 {
	var n uint64
	for _, c := range counts {
		n += c
	}
	return n
}

// overflows says whether the counts add up beyond uint64.
func overflows(counts []uint64) bool {
	var n uint64
	for _, c := range counts {
		if n+c < n {
			return true
		}
		n += c
	}
	return false
}

// validBounds: finite and strictly increasing, as OTLP requires.
func validBounds(bounds []float64) bool {
	for i, b := range bounds {
		if math.IsNaN(b) || math.IsInf(b, 0) || (i > 0 && b <= bounds[i-1]) {
			return false
		}
	}
	return true
}

// refines says whether every bound of coarse is among fine's, so that fine's buckets add
// exactly into coarse's. Buckets never fold into a series without any: that would keep
// nothing of them, silently.
func refines(fine, coarse []float64) bool {
	if len(coarse) == 0 {
		return len(fine) == 0
	}
	for _, b := range coarse {
		if _, ok := slices.BinarySearch(fine, b); !ok {
			return false
		}
	}
	return true
}

func (p *fleetProcessor) foldExponential(j *job, fm *fleetMetric, metricHash uint64, dp pmetric.ExponentialHistogramDataPoint, cumulative bool, now pcommon.Timestamp, t *tally) {
	if dp.Flags().NoRecordedValue() {
		t.outcomes[outStale]++
		return
	}
	for _, c := range dp.Negative().BucketCounts().All() {
		if c != 0 {
			t.refuse("unsupported", 1, fmt.Sprintf("exponential histogram %q: %v", fm.key.name, series.ErrNegativeBuckets))
			return
		}
	}
	if math.IsNaN(dp.Sum()) || math.IsInf(dp.Sum(), 0) || !validExponential(dp.Scale(), dp.Positive().Offset(), dp.Positive().BucketCounts().Len()) {
		t.refuse("invalid", 1, fmt.Sprintf("exponential histogram %q has a non-finite sum, or a scale (%d) or buckets beyond what float64 values can fill", fm.key.name, dp.Scale()))
		return
	}
	s, outcome := p.series(j, fm, dp.Attributes(), now)
	if s.Hist == nil { // the overflow series of an exponential metric has its config
		s.Hist = series.NewHistogram(&series.HistogramConfig{Exponential: true, MaxSize: p.cfg.ExponentialMaxSize})
	}
	s.Touch(now)
	e := streams.Exponential{Scale: dp.Scale(), Zero: dp.ZeroCount(), Offset: dp.Positive().Offset(), Counts: dp.Positive().BucketCounts().AsRaw(), Sum: dp.Sum()}
	if cumulative {
		var counted streams.Outcome
		e, counted = p.streams.Exponential(p.streamKey(metricHash), dp.StartTimestamp(), dp.Timestamp(), now, e)
		if outcome = streamOutcome(counted, outcome); counted != streams.Counted {
			t.outcomes[outcome]++
			return
		}
	}
	if n := total(e.Counts) + e.Zero; overflows(append([]uint64{e.Zero}, e.Counts...)) || s.Hist.Count()+n < s.Hist.Count() {
		t.refuse("invalid", 1, fmt.Sprintf("exponential histogram %q: its count would go beyond 2^64", fm.key.name))
		return
	}
	t.outcomes[outcome]++
	s.Hist.AddExponential(e.Scale, e.Zero, e.Offset, e.Counts, e.Sum)
}

// maxClockSkew is how far in the future a point's time or start time may be. Beyond it
// the point is refused: a stream's clock in the future would make every later point look
// stale, and a start in the future would make every new stream look old.
const maxClockSkew = pcommon.Timestamp(time.Hour)

func (p *fleetProcessor) validTime(start, ts, now pcommon.Timestamp, fm *fleetMetric, t *tally) bool {
	if ts > now+maxClockSkew || start > now+maxClockSkew {
		t.refuse("invalid", 1, fmt.Sprintf("metric %q has a time or start time more than an hour in the future", fm.key.name))
		return false
	}
	return true
}

// Exponential histograms: the scales OTLP defines, and at most the buckets that float64
// values can fill (index |i| <= 1075 * 2^scale). Anything else is refused before it
// reaches the store, whose bucket arithmetic would otherwise overflow.
const (
	minExponentialScale = -10
	maxExponentialScale = 20
)

func validExponential(scale, offset int32, n int) bool {
	if scale < minExponentialScale || scale > maxExponentialScale {
		return false
	}
	limit := int64(1075) << max(scale, 0)
	first, last := int64(offset), int64(offset)+int64(n)-1
	return first >= -limit && last <= limit
}

// flush sends every fleet series on, after expiring idle ones and working out the levels.
func (p *fleetProcessor) flush(ctx context.Context) error {
	nowTime := p.now()
	now := pcommon.NewTimestampFromTime(nowTime)
	md := pmetric.NewMetrics()

	p.mu.Lock()
	cutoff := pcommon.NewTimestampFromTime(nowTime.Add(-p.cfg.MetricsExpiration))
	ttlCutoff := pcommon.NewTimestampFromTime(nowTime.Add(-p.cfg.Gauges.SandboxTTL))
	p.streams.Sweep(now)
	heldSeries := 0
	for _, j := range sortedJobs(p.jobs) {
		var rm pmetric.ResourceMetrics
		var sm pmetric.ScopeMetrics
		var scope metricKey
		for _, fm := range sortedMetrics(j.metrics) {
			before := fm.store.Len()
			j.series -= fm.store.Expire(cutoff)
			p.held -= before - fm.store.Len()
			if fm.store.Len() == 0 {
				delete(j.metrics, fm.key)
				continue
			}
			heldSeries += fm.store.Len()
			if fm.mode != "" {
				fm.store.Range(func(s *series.Series) { settle(s, fm.mode, ttlCutoff) })
			}
			if rm == (pmetric.ResourceMetrics{}) {
				rm = md.ResourceMetrics().AppendEmpty()
				attrs := rm.Resource().Attributes()
				attrs.PutStr(attrServiceName, j.key.name)
				if j.key.namespace != "" {
					attrs.PutStr(attrServiceNamespace, j.key.namespace)
				}
				attrs.PutStr(attrServiceInstance, p.replica)
			}
			if sm == (pmetric.ScopeMetrics{}) || scope.scopeName != fm.key.scopeName || scope.scopeVersion != fm.key.scopeVersion {
				sm = rm.ScopeMetrics().AppendEmpty()
				sm.Scope().SetName(fm.key.scopeName)
				sm.Scope().SetVersion(fm.key.scopeVersion)
				scope = fm.key
			}
			fm.store.AppendTo(sm.Metrics(), now)
		}
		if len(j.metrics) == 0 {
			delete(p.jobs, j.key)
		}
	}
	seriesDelta, streamsDelta := heldSeries-p.reportedSeries, p.streams.Len()-p.reportedStreams
	p.reportedSeries, p.reportedStreams = heldSeries, p.streams.Len()
	forgotten := p.streams.TakeEvicted()
	p.mu.Unlock()

	p.telemetry.ProcessorLambdaFleetMetricsSeries.Add(ctx, int64(seriesDelta))
	p.telemetry.ProcessorLambdaFleetMetricsStreams.Add(ctx, int64(streamsDelta))
	if forgotten > 0 {
		p.telemetry.ProcessorLambdaFleetMetricsStreamsForgotten.Add(ctx, int64(forgotten))
	}
	if md.DataPointCount() == 0 {
		return nil
	}
	return p.next.ConsumeMetrics(ctx, md)
}

// settle works out a level's value: the newest value (mode last) or the sum, max or min of
// the sandboxes that reported within sandbox_ttl, plus an up-down counter's deltas. When
// every sandbox dropped out the last value stays, until the series expires.
func settle(s *series.Series, mode string, ttlCutoff pcommon.Timestamp) {
	lv, _ := s.State.(*level)
	if lv == nil {
		return
	}
	for k, sv := range lv.bySandbox {
		if sv.at < ttlCutoff {
			delete(lv.bySandbox, k)
		}
	}
	if len(lv.bySandbox) == 0 {
		if lv.hasDeltas {
			s.Float = lv.deltas
		}
		return
	}
	first := true
	var v float64
	for _, sv := range lv.bySandbox {
		switch {
		case first:
			v = sv.value
		case mode == ModeMax:
			v = math.Max(v, sv.value)
		case mode == ModeMin:
			v = math.Min(v, sv.value)
		default:
			v += sv.value
		}
		first = false
	}
	if mode == ModeSum {
		v += lv.deltas
	}
	s.Float = v
}

func sortedJobs(m map[jobKey]*job) []*job {
	out := make([]*job, 0, len(m))
	for _, j := range m {
		out = append(out, j)
	}
	slices.SortFunc(out, func(a, b *job) int {
		return cmp.Or(cmp.Compare(a.key.namespace, b.key.namespace), cmp.Compare(a.key.name, b.key.name))
	})
	return out
}

func sortedMetrics(m map[metricKey]*fleetMetric) []*fleetMetric {
	out := make([]*fleetMetric, 0, len(m))
	for _, fm := range m {
		out = append(out, fm)
	}
	slices.SortFunc(out, func(a, b *fleetMetric) int {
		return cmp.Or(cmp.Compare(a.key.scopeName, b.key.scopeName), cmp.Compare(a.key.scopeVersion, b.key.scopeVersion), cmp.Compare(a.key.name, b.key.name))
	})
	return out
}

// appendKey appends a canonical encoding of attrs (sorted by key, typed values), so that
// the same attributes in another order are the same series.
func (p *fleetProcessor) appendKey(b []byte, attrs pcommon.Map) []byte {
	kvs := p.kvBuf[:0]
	for k, v := range attrs.All() {
		kvs = append(kvs, keyValue{k, v})
	}
	slices.SortFunc(kvs, func(a, b keyValue) int { return strings.Compare(a.key, b.key) })
	for _, kv := range kvs {
		// Lengths first, so that no value can pass for a separator.
		b = binary.AppendUvarint(b, uint64(len(kv.key)))
		b = append(b, kv.key...)
		b = append(b, byte(kv.val.Type()))
		v := kv.val.AsString()
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	p.kvBuf = kvs[:0]
	return b
}

// hashMap hashes a resource's attributes in key order: the sandbox's identity.
func (p *fleetProcessor) hashMap(attrs pcommon.Map) uint64 {
	var h maphash.Hash
	h.SetSeed(p.seed)
	p.keyBuf = p.appendKey(p.keyBuf[:0], attrs)
	_, _ = h.Write(p.keyBuf)
	return h.Sum64()
}

func writeUint64(h *maphash.Hash, v uint64) {
	var b [8]byte
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	_, _ = h.Write(b[:])
}
