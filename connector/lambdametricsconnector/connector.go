// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdametricsconnector // import "github.com/otelcol-lambda/otelcol-lambda/connector/lambdametricsconnector"

import (
	"context"
	"errors"
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
	"github.com/otelcol-lambda/otelcol-lambda/internal/flushloop"
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
)

// lambdaMetrics is the lambda_metrics connector. Spans are aggregated into per-interval
// deltas under mu, one map lookup per span (function.go finds a resource's function,
// spans.go aggregates its spans, keys.go builds the map keys); flush swaps the deltas out,
// folds them into the cumulative series under flushMu, and sends them on holding no lock
// (flush.go, inflight.go).
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

	// overflowed counts the spans sent to the overflow series since the last flush, and
	// sourcesOverflowed those counted under their function's overflowed event sources.
	overflowed        int64
	sourcesOverflowed int64
	telemetry         *metadata.TelemetryBuilder

	flushMu sync.Mutex
	spare   *pending
	gauges  []gaugeSnapshot
	pbuf    []byte

	invocations, errors, timeouts, coldstarts    *series.Metric
	invokeDuration, eventAge                     *series.Metric
	billedDuration, cost, memUsage, initDuration *series.Metric
	restoreDuration                              *series.Metric
	memorySize, timeout                          *series.Metric
	all                                          []*series.Metric

	flushes      *flushloop.Loop
	shutdownOnce sync.Once
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
		Description: "Duration of the init phases, from the init spans."})
	c.restoreDuration = newMetric(series.Desc{Name: "aws.lambda.restore_duration", Unit: "s", Kind: series.KindHistogram, Histogram: &c.initCfg,
		Description: "Duration of the SnapStart restores, from the restore spans."})
	c.billedDuration = newMetric(series.Desc{Name: "aws.lambda.billed_duration", Unit: "s", Kind: series.KindSum, IntScale: 0.001,
		Description: "Billed duration, from the reports."})
	c.cost = newMetric(series.Desc{Name: "aws.lambda.cost", Unit: "usd", Kind: series.KindSum, Float: true,
		Description: "Estimated cost in USD: per request, plus memory GB times billed seconds, plus memory GB per SnapStart restore where AWS charges it, at the configured prices."})
	c.memUsage = newMetric(series.Desc{Name: "faas.mem_usage", Unit: "By", Kind: series.KindHistogram, Histogram: &c.memCfg,
		Description: "Maximum memory used per invocation, from the reports."})
	c.memorySize = newMetric(series.Desc{Name: "aws.lambda.memory_size", Unit: "By", Kind: series.KindGauge,
		Description: "Memory configured for the function."})
	c.timeout = newMetric(series.Desc{Name: "aws.lambda.timeout", Unit: "s", Kind: series.KindGauge, Float: true,
		Description: "Timeout configured for the function."})
	c.flushes = flushloop.New(c.flush, c.logger)
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
	c.flushes.Start(c.cfg.MetricsFlushInterval)
	return nil
}

// Shutdown stops the flushing and flushes once more, so that nothing counted is lost.
func (c *lambdaMetrics) Shutdown(ctx context.Context) error {
	var err error
	c.shutdownOnce.Do(func() {
		c.flushes.Stop(ctx)
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
