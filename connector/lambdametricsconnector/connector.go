// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdametricsconnector // import "github.com/otelcol-lambda/otelcol-lambda/connector/lambdametricsconnector"

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/otelcol-lambda/otelcol-lambda/connector/lambdametricsconnector/internal/metadata"
	"github.com/otelcol-lambda/otelcol-lambda/internal/acklog"
	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/series"
)

const (
	// attrInitializationType is the data point attribute of the initialization type on
	// faas.coldstarts and faas.init_duration: the label initialization_type of the
	// metric contract, docs/architecture.md (the spans carry it as lambdaconv.AttrInitializationType).
	attrInitializationType = "initialization_type"

	// maxDimensions bounds the configurable dimensions (a fixed array on the hot path).
	maxDimensions = 8

	// pendingFactor bounds the distinct keys collected between two flushes, per span type,
	// to pendingFactor times the cardinality limit; beyond it measurements go to overflow.
	pendingFactor = 4

	sep    = 0x1f
	sepEnd = 0x1e
)

// lambdaMetrics is the lambda_metrics connector. Spans are aggregated into per-interval
// deltas under mu (one map lookup per span); flush swaps the deltas out, folds them into the
// cumulative series under flushMu, and sends them on holding no lock.
type lambdaMetrics struct {
	cfg      *Config
	next     consumer.Metrics
	logger   *zap.Logger
	now      func() time.Time
	resource pcommon.Resource

	durCfg, initCfg, ageCfg, memCfg series.HistogramConfig

	mu         sync.Mutex
	fns        map[string]*function
	nextFnID   uint32
	overflowFn *function
	cur        *pending
	buf        []byte
	maxPending int
	// acks are the tokens of the write-ahead log's spans counted this interval (see
	// internal/acklog); unacked are those of earlier flushes whose export failed.
	acks, unacked []string
	releaseAcks   func()
	// store keeps the flush being written (see inflight.go); nil without storage. resend
	// is a stored flush to write again before any newer one.
	id     component.ID
	store  storage.Client
	resend *pmetric.Metrics

	// overflowed counts the spans sent to the overflow series since the last flush.
	overflowed int64
	telemetry  *metadata.TelemetryBuilder

	flushMu sync.Mutex
	spare   *pending
	gauges  []gaugeSnapshot
	pbuf    []byte

	invocations, errors, timeouts, coldstarts    *series.Metric
	invokeDuration, eventAge                     *series.Metric
	billedDuration, cost, memUsage, initDuration *series.Metric
	memorySize, timeout                          *series.Metric
	all                                          []*series.Metric

	stop         chan struct{}
	done         chan struct{}
	shutdownOnce sync.Once
}

// function is one Lambda function version: the identity every series carries. Identity
// fields never change after creation; the rest is guarded by mu.
type function struct {
	id                             uint32
	key                            string
	name, version, account, region string
	overflow                       bool

	updated   pcommon.Timestamp
	memBytes  int64
	timeoutMs int64
	arch      string
	priced    bool
	perReq    float64
	perGBs    float64
}

type gaugeSnapshot struct {
	fn        *function
	updated   pcommon.Timestamp
	memBytes  int64
	timeoutMs int64
}

// pending holds the deltas of one flush interval, keyed by everything any metric labels by.
type pending struct {
	inv map[string]*invEntry
	rep map[string]*repEntry
	ini map[string]*initEntry
}

func newPending() *pending {
	return &pending{inv: map[string]*invEntry{}, rep: map[string]*repEntry{}, ini: map[string]*initEntry{}}
}

type invEntry struct {
	fn       *function
	dims     []string
	errType  string
	initType string
	cold     bool
	first    pcommon.Timestamp
	count    int64
	dur      *series.Histogram
	age      *series.Histogram
}

type repEntry struct {
	fn       *function
	dims     []string
	first    pcommon.Timestamp
	billedMs int64
	cost     float64
	mem      *series.Histogram
}

type initEntry struct {
	fn       *function
	initType string
	first    pcommon.Timestamp
	dur      *series.Histogram
}

// spanAttrs is what one pass over a span's attributes collects.
type spanAttrs struct {
	spanType, errType, initType string
	ackToken                    string
	cold                        bool
	billedMs, memSize, maxUsed  int64
	eventMs                     int64
	dims                        [maxDimensions]string
}

func newConnector(set connector.Settings, cfg *Config, next consumer.Metrics, now func() time.Time) (*lambdaMetrics, error) {
	telemetry, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	c := &lambdaMetrics{
		telemetry:  telemetry,
		cfg:        cfg,
		id:         set.ID,
		next:       next,
		logger:     set.Logger,
		now:        now,
		resource:   outputResource(set.Resource),
		fns:        map[string]*function{},
		overflowFn: &function{id: ^uint32(0), overflow: true},
		cur:        newPending(),
		spare:      newPending(),
		maxPending: pendingFactor * cfg.CardinalityLimit,
	}
	hist := func(b []float64) series.HistogramConfig {
		h := series.HistogramConfig{Bounds: b}
		if e := cfg.Histograms.Exponential; e != nil {
			h.Exponential, h.MaxSize = true, e.MaxSize
		}
		return h
	}
	c.durCfg = hist(seconds(cfg.Histograms.InvokeDuration))
	c.durCfg.Exemplars = cfg.Exemplars.Enabled
	c.initCfg = hist(seconds(cfg.Histograms.InitDuration))
	c.ageCfg = hist(seconds(cfg.Histograms.EventAge))
	mem := make([]float64, len(cfg.Histograms.MemUsage))
	for i, b := range cfg.Histograms.MemUsage {
		mem[i] = float64(b)
	}
	c.memCfg = hist(mem)

	newMetric := func(d series.Desc) *series.Metric {
		m := series.NewMetric(d, cfg.CardinalityLimit)
		c.all = append(c.all, m)
		return m
	}
	c.invocations = newMetric(series.Desc{Name: "faas.invocations", Unit: "{invocation}", Kind: series.KindSum,
		Description: "Invocations, counted once each from the invocation span (at platform.runtimeDone)."})
	c.errors = newMetric(series.Desc{Name: "faas.errors", Unit: "{error}", Kind: series.KindSum,
		Description: "Invocations that did not succeed, timeouts included, by error.type."})
	c.timeouts = newMetric(series.Desc{Name: "faas.timeouts", Unit: "{timeout}", Kind: series.KindSum,
		Description: "Invocations that ran into the function's timeout."})
	c.invokeDuration = newMetric(series.Desc{Name: "faas.invoke_duration", Unit: "s", Kind: series.KindHistogram, Histogram: &c.durCfg,
		Description: "Duration of the invocations (the invoke phase, as Lambda reports it)."})
	c.coldstarts = newMetric(series.Desc{Name: "faas.coldstarts", Unit: "{coldstart}", Kind: series.KindSum,
		Description: "Invocations that were the first of their sandbox, by initialization type."})
	c.eventAge = newMetric(series.Desc{Name: "aws.lambda.event_age", Unit: "s", Kind: series.KindHistogram, Histogram: &c.ageCfg,
		Description: "Time from the event source taking in the (oldest) event to the start of the invocation."})
	c.initDuration = newMetric(series.Desc{Name: "faas.init_duration", Unit: "s", Kind: series.KindHistogram, Histogram: &c.initCfg,
		Description: "Duration of the init (or SnapStart restore) phases, from the init spans."})
	c.billedDuration = newMetric(series.Desc{Name: "aws.lambda.billed_duration", Unit: "s", Kind: series.KindSum, IntScale: 0.001,
		Description: "Billed duration, from the reports."})
	c.cost = newMetric(series.Desc{Name: "aws.lambda.cost", Unit: "usd", Kind: series.KindSum, Float: true,
		Description: "Estimated cost in USD: per request plus memory GB times billed seconds, at the configured prices."})
	c.memUsage = newMetric(series.Desc{Name: "faas.mem_usage", Unit: "By", Kind: series.KindHistogram, Histogram: &c.memCfg,
		Description: "Maximum memory used per invocation, from the reports."})
	c.memorySize = newMetric(series.Desc{Name: "aws.lambda.memory_size", Unit: "By", Kind: series.KindGauge,
		Description: "Memory configured for the function."})
	c.timeout = newMetric(series.Desc{Name: "aws.lambda.timeout", Unit: "s", Kind: series.KindGauge, Float: true,
		Description: "Timeout configured for the function."})
	return c, nil
}

func seconds(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = d.Seconds()
	}
	return out
}

// outputResource is the gateway replica: its service.name becomes job and its
// service.instance.id instance, so that replicas never overwrite each other's series.
func outputResource(in pcommon.Resource) pcommon.Resource {
	out := pcommon.NewResource()
	name := "otelcol-lambda"
	if v, ok := in.Attributes().Get("service.name"); ok && v.Str() != "" {
		name = v.Str()
	}
	out.Attributes().PutStr("service.name", name)
	out.Attributes().PutStr("service.instance.id", series.ReplicaID(in))
	if v, ok := in.Attributes().Get("service.version"); ok {
		out.Attributes().PutStr("service.version", v.Str())
	}
	return out
}

// Capabilities tells the pipeline that spans are only read.
func (*lambdaMetrics) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// Start starts flushing every metrics_flush_interval.
func (c *lambdaMetrics) Start(ctx context.Context, host component.Host) error {
	if err := c.startInflight(ctx, host); err != nil {
		return err
	}
	// The receiver's write-ahead log stays open until this connector's last flush is
	// acknowledged, though the receiver shuts down first.
	c.releaseAcks = acklog.Hold()
	c.stop, c.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(c.done)
		t := time.NewTicker(c.cfg.MetricsFlushInterval)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
				if err := c.flush(context.Background()); err != nil {
					c.logger.Error("Failed ConsumeMetrics", zap.Error(err))
				}
			}
		}
	}()
	return nil
}

// Shutdown stops the flushing and flushes once more, so that nothing counted is lost.
func (c *lambdaMetrics) Shutdown(ctx context.Context) error {
	var err error
	c.shutdownOnce.Do(func() {
		if c.stop != nil {
			close(c.stop)
			<-c.done
		}
		if ferr := c.flush(ctx); ferr != nil {
			// Logged, not returned: a SIGTERM during an outage is no failure of the gateway,
			// and export_watch and the exporter already count what was not written.
			c.logger.Warn("The last flush before shutdown was not written; what it counted since the last written flush is lost", zap.Error(ferr))
		}
		if c.releaseAcks != nil {
			c.releaseAcks()
		}
		if c.store != nil {
			err = errors.Join(err, c.store.Close(ctx))
		}
		c.telemetry.Shutdown()
	})
	return err
}

// ConsumeTraces aggregates the spans' measurements into the current interval's deltas.
func (c *lambdaMetrics) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	now := pcommon.NewTimestampFromTime(c.now())
	c.mu.Lock()
	defer c.mu.Unlock()
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		fn, sdk := c.function(rs.Resource(), now)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				c.span(fn, sdk, spans.At(k), now)
			}
		}
	}
	return nil
}

// function finds (or creates) the function of a resource and records its configuration. sdk
// tells whether generic spans of this resource may count as invocations.
func (c *lambdaMetrics) function(res pcommon.Resource, now pcommon.Timestamp) (*function, bool) {
	var name, service, version, account, region, arch string
	var maxMem, timeoutMs int64
	var sandbox bool
	for k, v := range res.Attributes().All() {
		switch k {
		case lambdaconv.AttrFaaSName:
			name = v.Str()
		case lambdaconv.AttrServiceName:
			service = v.Str()
		case lambdaconv.AttrFaaSVersion:
			version = str(v)
		case lambdaconv.AttrCloudAccountID:
			account = str(v)
		case lambdaconv.AttrCloudRegion:
			region = v.Str()
		case lambdaconv.AttrHostArch:
			arch = v.Str()
		case lambdaconv.AttrFaaSMaxMemory:
			maxMem = num(v)
		case lambdaconv.AttrTimeoutMs:
			timeoutMs = num(v)
		case lambdaconv.AttrFaaSInstance:
			sandbox = true
		}
	}
	sdk := c.cfg.SDKSpans.Enabled && name != "" && !sandbox
	if name == "" {
		name = service
	}
	b := append(c.buf[:0], name...)
	b = append(b, sep)
	b = append(b, version...)
	b = append(b, sep)
	b = append(b, account...)
	b = append(b, sep)
	b = append(b, region...)
	c.buf = b
	fn := c.fns[string(b)]
	if fn == nil {
		if len(c.fns) >= c.cfg.CardinalityLimit {
			return c.overflowFn, sdk
		}
		c.nextFnID++
		fn = &function{
			id: c.nextFnID, key: string(b),
			name: strings.Clone(name), version: strings.Clone(version),
			account: strings.Clone(account), region: strings.Clone(region),
		}
		c.fns[fn.key] = fn
	}
	fn.updated = now
	if maxMem > 0 {
		fn.memBytes = maxMem
	}
	if timeoutMs > 0 {
		fn.timeoutMs = timeoutMs
	}
	if !fn.priced || fn.arch != arch {
		c.price(fn, arch)
	}
	return fn, sdk
}

// price picks the price of fn's region and architecture, else of its architecture.
func (c *lambdaMetrics) price(fn *function, arch string) {
	fn.arch, fn.priced, fn.perReq, fn.perGBs = strings.Clone(arch), false, 0, 0
	for _, p := range c.cfg.Prices {
		if p.Architecture != arch || (p.Region != "" && p.Region != fn.region) {
			continue
		}
		if !fn.priced || p.Region != "" {
			fn.priced, fn.perReq, fn.perGBs = true, p.PerRequest, p.PerGBSecond
		}
	}
}

func str(v pcommon.Value) string {
	if v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return v.AsString()
}

func num(v pcommon.Value) int64 {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return v.Int()
	case pcommon.ValueTypeDouble:
		return int64(v.Double())
	}
	return 0
}

func (c *lambdaMetrics) span(fn *function, sdk bool, span ptrace.Span, now pcommon.Timestamp) {
	var a spanAttrs
	for k, v := range span.Attributes().All() {
		switch k {
		case lambdaconv.AttrSpanType:
			a.spanType = v.Str()
		case lambdaconv.AttrErrorType:
			a.errType = str(v)
		case lambdaconv.AttrFaaSColdstart:
			a.cold = v.Bool()
		case lambdaconv.AttrInitializationType:
			a.initType = str(v)
		case lambdaconv.AttrBilledDurationMs:
			a.billedMs = num(v)
		case lambdaconv.AttrMemorySize:
			a.memSize = num(v)
		case lambdaconv.AttrMaxMemoryUsed:
			a.maxUsed = num(v)
		case lambdaconv.AttrEventTimeUnixMs:
			a.eventMs = num(v)
		case lambdaconv.AttrAckToken:
			a.ackToken = v.Str()
		default:
			for i, d := range c.cfg.Dimensions {
				if k == d {
					a.dims[i] = str(v)
					break
				}
			}
		}
	}
	if a.ackToken != "" {
		c.acks = append(c.acks, a.ackToken)
	}
	if fn.overflow && (a.spanType != "" || sdk) {
		c.overflowed++ // a span that counts in some metric, past the function limit
	}
	switch a.spanType {
	case lambdaconv.SpanTypeInvocation:
		c.invocation(fn, span, &a, now)
	case lambdaconv.SpanTypeReport:
		c.report(fn, &a, now)
	case lambdaconv.SpanTypeInit:
		c.init(fn, span, &a, now)
	case "":
		if sdk {
			if kind := span.Kind(); kind == ptrace.SpanKindServer || kind == ptrace.SpanKindConsumer {
				a.errType = ""
				if span.Status().Code() == ptrace.StatusCodeError {
					a.errType = lambdaconv.ErrorTypeFunction
				}
				c.invocation(fn, span, &a, now)
			}
		}
	}
}

func (c *lambdaMetrics) keyDims(fn *function, dims []string) []byte {
	b := binary.LittleEndian.AppendUint32(c.buf[:0], fn.id)
	for _, d := range dims {
		b = append(b, d...)
		b = append(b, sep)
	}
	return b
}

func cloneDims(dims []string) []string {
	out := make([]string, len(dims))
	for i, d := range dims {
		out[i] = strings.Clone(d)
	}
	return out
}

func spanSeconds(span ptrace.Span) float64 {
	start, end := span.StartTimestamp(), span.EndTimestamp()
	if end <= start {
		return 0
	}
	return float64(end-start) / 1e9
}

func (c *lambdaMetrics) invocation(fn *function, span ptrace.Span, a *spanAttrs, now pcommon.Timestamp) {
	dims := a.dims[:len(c.cfg.Dimensions)]
	if !a.cold {
		a.initType = ""
	}
	build := func(fn *function, dims []string) []byte {
		b := append(c.keyDims(fn, dims), sepEnd)
		b = append(b, a.errType...)
		b = append(b, sepEnd)
		if a.cold {
			b = append(b, '1')
		}
		b = append(b, a.initType...)
		c.buf = b
		return b
	}
	b := build(fn, dims)
	e := c.cur.inv[string(b)]
	if e == nil {
		if len(c.cur.inv) >= c.maxPending {
			c.overflowed++
			fn, dims = c.overflowFn, nil
			b = build(fn, dims)
			e = c.cur.inv[string(b)]
		}
		if e == nil {
			e = &invEntry{
				fn: fn, dims: cloneDims(dims), errType: strings.Clone(a.errType),
				initType: strings.Clone(a.initType), cold: a.cold, first: now,
				dur: series.NewHistogram(&c.durCfg),
			}
			c.cur.inv[string(b)] = e
		}
	}
	e.count++
	d := spanSeconds(span)
	if c.durCfg.Exemplars {
		e.dur.RecordWithExemplar(d, series.Exemplar{TraceID: span.TraceID(), SpanID: span.SpanID(), Value: d, Time: span.EndTimestamp()})
	} else {
		e.dur.Record(d)
	}
	if a.eventMs > 0 {
		age := max(float64(int64(span.StartTimestamp())-a.eventMs*1e6)/1e9,
			0) // clocks disagree: the event cannot be younger than its invocation
		if e.age == nil {
			e.age = series.NewHistogram(&c.ageCfg)
		}
		e.age.Record(age)
	}
}

func (c *lambdaMetrics) report(fn *function, a *spanAttrs, now pcommon.Timestamp) {
	dims := a.dims[:len(c.cfg.Dimensions)]
	b := c.keyDims(fn, dims)
	c.buf = b
	e := c.cur.rep[string(b)]
	if e == nil {
		if len(c.cur.rep) >= c.maxPending {
			c.overflowed++
			fn, dims = c.overflowFn, nil
			b = c.keyDims(fn, dims)
			c.buf = b
			e = c.cur.rep[string(b)]
		}
		if e == nil {
			e = &repEntry{fn: fn, dims: cloneDims(dims), first: now, mem: series.NewHistogram(&c.memCfg)}
			c.cur.rep[string(b)] = e
		}
	}
	memSize := a.memSize
	if memSize > 0 {
		fn.memBytes = memSize
	} else {
		memSize = fn.memBytes
	}
	e.billedMs += a.billedMs
	if fn.priced {
		// Lambda's MB are MiB and its GB-seconds use GB = MB/1024, so GB = bytes/2^30.
		e.cost += fn.perReq + float64(memSize)/(1<<30)*float64(a.billedMs)/1000*fn.perGBs
	}
	if a.maxUsed > 0 {
		e.mem.Record(float64(a.maxUsed))
	}
}

func (c *lambdaMetrics) init(fn *function, span ptrace.Span, a *spanAttrs, now pcommon.Timestamp) {
	build := func(fn *function) []byte {
		b := binary.LittleEndian.AppendUint32(c.buf[:0], fn.id)
		b = append(b, a.initType...)
		c.buf = b
		return b
	}
	b := build(fn)
	e := c.cur.ini[string(b)]
	if e == nil {
		if len(c.cur.ini) >= c.maxPending {
			c.overflowed++
			fn = c.overflowFn
			b = build(fn)
			e = c.cur.ini[string(b)]
		}
		if e == nil {
			e = &initEntry{fn: fn, initType: strings.Clone(a.initType), first: now, dur: series.NewHistogram(&c.initCfg)}
			c.cur.ini[string(b)] = e
		}
	}
	e.dur.Record(spanSeconds(span))
}

// flush folds the interval's deltas into the cumulative series and sends them all on.
func (c *lambdaMetrics) flush(ctx context.Context) error {
	c.flushMu.Lock()
	now := pcommon.NewTimestampFromTime(c.now())
	cutoff := now - pcommon.Timestamp(c.cfg.MetricsExpiration)

	c.mu.Lock()
	p := c.cur
	c.cur, c.spare = c.spare, nil
	acks := append(c.unacked, c.acks...)
	c.acks, c.unacked = nil, nil
	overflowed := c.overflowed
	c.overflowed = 0
	c.gauges = c.gauges[:0]
	for k, fn := range c.fns {
		if fn.updated < cutoff {
			delete(c.fns, k)
			continue
		}
		c.gauges = append(c.gauges, gaugeSnapshot{fn: fn, updated: fn.updated, memBytes: fn.memBytes, timeoutMs: fn.timeoutMs})
	}
	c.mu.Unlock()

	c.fold(p, now)
	clear(p.inv)
	clear(p.rep)
	clear(p.ini)
	c.spare = p

	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	c.resource.CopyTo(rm.Resource())
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(metadata.ScopeName)
	expired := 0
	for _, m := range c.all {
		expired += m.Expire(cutoff)
		m.AppendTo(sm.Metrics(), now)
	}
	c.flushMu.Unlock()

	err := c.sendStored(ctx)
	if err == nil && sm.Metrics().Len() > 0 {
		if serr := c.storeInflight(ctx, acks, md); serr != nil {
			// Sent anyway: a kill during this write may count its spans twice.
			c.logger.Warn("Could not store the flush before sending it", zap.Error(serr))
		}
		err = c.next.ConsumeMetrics(ctx, md)
	}
	c.acknowledge(acks, err)
	if err == nil && len(acks) > 0 {
		c.deleteInflight(ctx)
	}
	c.record(ctx, overflowed, expired, err)
	return err
}

// record updates the connector's own telemetry for one flush.
func (c *lambdaMetrics) record(ctx context.Context, overflowed int64, expired int, flushErr error) {
	if overflowed > 0 {
		c.telemetry.ConnectorLambdaMetricsOverflow.Add(ctx, overflowed)
	}
	if expired > 0 {
		c.telemetry.ConnectorLambdaMetricsSeriesExpired.Add(ctx, int64(expired))
	}
	if flushErr != nil {
		c.telemetry.ConnectorLambdaMetricsFlushFailures.Add(ctx, 1)
	}
}

// acknowledge hands the tokens of the spans folded into a flush to the write-ahead log
// once the flush was written; when it was not, they wait for the next flush, which
// carries the same counts in its cumulative values.
func (c *lambdaMetrics) acknowledge(acks []string, flushErr error) {
	if len(acks) == 0 {
		return
	}
	if flushErr != nil {
		c.mu.Lock()
		c.unacked = acks
		c.mu.Unlock()
		return
	}
	acklog.Acknowledge(acks)
}

// fold adds one interval's deltas to the cumulative series. Caller holds flushMu.
func (c *lambdaMetrics) fold(p *pending, now pcommon.Timestamp) {
	for _, e := range p.inv {
		s := c.get(c.invocations, e.fn, e.dims, e.first, now)
		s.Int += e.count
		s.Touch(now)
		if e.errType != "" {
			s = c.get(c.errors, e.fn, e.dims, e.first, now, lambdaconv.AttrErrorType, e.errType)
			s.Int += e.count
			s.Touch(now)
			if e.errType == lambdaconv.ErrorTypeTimeout {
				s = c.get(c.timeouts, e.fn, e.dims, e.first, now)
				s.Int += e.count
				s.Touch(now)
			}
		}
		cold := "false"
		if e.cold {
			cold = "true"
			s = c.get(c.coldstarts, e.fn, e.dims, e.first, now, attrInitializationType, e.initType)
			s.Int += e.count
			s.Touch(now)
		}
		s = c.get(c.invokeDuration, e.fn, e.dims, e.first, now, lambdaconv.AttrFaaSColdstart, cold)
		s.Hist.Merge(e.dur)
		s.Touch(now)
		if e.age != nil {
			s = c.get(c.eventAge, e.fn, e.dims, e.first, now)
			s.Hist.Merge(e.age)
			s.Touch(now)
		}
	}
	for _, e := range p.rep {
		s := c.get(c.billedDuration, e.fn, e.dims, e.first, now)
		s.Int += e.billedMs
		s.Touch(now)
		if e.fn.overflow || e.cost > 0 {
			s = c.get(c.cost, e.fn, e.dims, e.first, now)
			s.Float += e.cost
			s.Touch(now)
		}
		if e.mem.Count() > 0 {
			s = c.get(c.memUsage, e.fn, e.dims, e.first, now)
			s.Hist.Merge(e.mem)
			s.Touch(now)
		}
	}
	for _, e := range p.ini {
		s := c.get(c.initDuration, e.fn, nil, e.first, now, attrInitializationType, e.initType)
		s.Hist.Merge(e.dur)
		s.Touch(now)
	}
	for _, g := range c.gauges {
		if g.memBytes > 0 {
			s := c.get(c.memorySize, g.fn, nil, g.updated, now)
			s.Int = g.memBytes
			s.Touch(g.updated)
		}
		if g.timeoutMs > 0 {
			s := c.get(c.timeout, g.fn, nil, g.updated, now)
			s.Float = float64(g.timeoutMs) / 1000
			s.Touch(g.updated)
		}
	}
}

// get returns the series of m for a function, its dimension values and optional extra
// attributes (key, value pairs). The series of the overflow function is the overflow series.
func (c *lambdaMetrics) get(m *series.Metric, fn *function, dims []string, start, now pcommon.Timestamp, extra ...string) *series.Series {
	if fn.overflow {
		return m.Overflow(start, now)
	}
	b := append(c.pbuf[:0], fn.key...)
	b = append(b, sepEnd)
	for _, d := range dims {
		b = append(b, d...)
		b = append(b, sep)
	}
	for _, x := range extra {
		b = append(b, sepEnd)
		b = append(b, x...)
	}
	c.pbuf = b
	return m.Get(b, start, now, func(attrs pcommon.Map) {
		attrs.PutStr(lambdaconv.AttrFaaSName, fn.name)
		for _, kv := range [...][2]string{
			{lambdaconv.AttrFaaSVersion, fn.version},
			{lambdaconv.AttrCloudAccountID, fn.account},
			{lambdaconv.AttrCloudRegion, fn.region},
		} {
			if kv[1] != "" {
				attrs.PutStr(kv[0], kv[1])
			}
		}
		for i, d := range dims {
			if d != "" {
				attrs.PutStr(c.cfg.Dimensions[i], d)
			}
		}
		for i := 0; i+1 < len(extra); i += 2 {
			switch {
			case extra[i] == lambdaconv.AttrFaaSColdstart:
				attrs.PutBool(extra[i], extra[i+1] == "true")
			case extra[i+1] != "":
				attrs.PutStr(extra[i], extra[i+1])
			}
		}
	})
}
