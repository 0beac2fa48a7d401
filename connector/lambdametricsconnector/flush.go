// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdametricsconnector // import "github.com/otelcol-lambda/otelcol-lambda/connector/lambdametricsconnector"

import (
	"context"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/otelcol-lambda/otelcol-lambda/connector/lambdametricsconnector/internal/metadata"
	"github.com/otelcol-lambda/otelcol-lambda/internal/acklog"
	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/series"
	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
)

// gaugeSnapshot is a function's configuration as flush found it, read without mu.
type gaugeSnapshot struct {
	fn        *function
	updated   pcommon.Timestamp
	memBytes  int64
	timeoutMs int64
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
	overflowed, sourcesOverflowed := c.overflowed, c.sourcesOverflowed
	c.overflowed, c.sourcesOverflowed = 0, 0
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
	c.record(ctx, overflowed, sourcesOverflowed, expired, err)
	return err
}

// record updates the connector's own telemetry for one flush.
func (c *lambdaMetrics) record(ctx context.Context, overflowed, sourcesOverflowed int64, expired int, flushErr error) {
	if overflowed > 0 {
		c.telemetry.ConnectorLambdaMetricsOverflow.Add(ctx, overflowed)
	}
	if sourcesOverflowed > 0 {
		c.telemetry.ConnectorLambdaMetricsEventSourcesOverflow.Add(ctx, sourcesOverflowed)
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
		at := c.seriesAt(e.fn, e.dims, e.other, e.first, now)
		at.update(c.invocations).Int += e.count
		if e.errType != "" {
			at.update(c.errors, lambdaconv.AttrErrorType, e.errType).Int += e.count
			if e.errType == lambdaconv.ErrorTypeTimeout {
				at.update(c.timeouts).Int += e.count
			}
		}
		cold := "false"
		if e.cold {
			cold = "true"
			at.update(c.coldstarts, attrInitializationType, e.initType).Int += e.count
		}
		at.update(c.invokeDuration, lambdaconv.AttrFaaSColdstart, cold).Hist.Merge(e.dur)
		if e.age != nil {
			at.update(c.eventAge).Hist.Merge(e.age)
		}
	}
	for _, e := range p.rep {
		at := c.seriesAt(e.fn, e.dims, e.other, e.first, now)
		at.update(c.billedDuration).Int += e.billedMs
		if e.fn.overflow || e.cost > 0 {
			at.update(c.cost).Float += e.cost
		}
		if e.mem.Count() > 0 {
			at.update(c.memUsage).Hist.Merge(e.mem)
		}
	}
	for _, e := range p.ini {
		at := c.seriesAt(e.fn, nil, false, e.first, now)
		if e.late > 0 {
			at.update(c.coldstarts, attrInitializationType, e.initType).Int += e.late
		}
		if e.initType == telemetryapi.InitTypeSnapStart {
			at.update(c.restoreDuration).Hist.Merge(e.dur)
		} else {
			at.update(c.initDuration, attrInitializationType, e.initType).Hist.Merge(e.dur)
		}
	}
	for _, g := range c.gauges {
		if g.memBytes > 0 {
			s := c.get(c.memorySize, g.fn, nil, false, g.updated, now)
			s.Int = g.memBytes
			s.Touch(g.updated)
		}
		if g.timeoutMs > 0 {
			s := c.get(c.timeout, g.fn, nil, false, g.updated, now)
			s.Float = float64(g.timeoutMs) / 1000
			s.Touch(g.updated)
		}
	}
}

// seriesAt names the series of a function and its dimension values (or its overflowed
// event sources: other), in any metric, that a delta started at start is folded into at now.
func (c *lambdaMetrics) seriesAt(fn *function, dims []string, other bool, start, now pcommon.Timestamp) seriesOf {
	return seriesOf{c: c, fn: fn, dims: dims, other: other, start: start, now: now}
}

type seriesOf struct {
	c          *lambdaMetrics
	fn         *function
	dims       []string
	other      bool
	start, now pcommon.Timestamp
}

// update returns the series of m with the extra attributes (key, value pairs), marked as
// updated now, for the caller to add the delta to.
func (at seriesOf) update(m *series.Metric, extra ...string) *series.Series {
	s := at.c.get(m, at.fn, at.dims, at.other, at.start, at.now, extra...)
	s.Touch(at.now)
	return s
}

// get returns the series of m for a function, its dimension values and optional extra
// attributes (key, value pairs). The series of the overflow function is the overflow series;
// the function's overflowed event sources (other) have its identity and
// otel.metric.overflow=true instead of the dimensions.
func (c *lambdaMetrics) get(m *series.Metric, fn *function, dims []string, other bool, start, now pcommon.Timestamp, extra ...string) *series.Series {
	if fn.overflow {
		return m.Overflow(start, now)
	}
	return m.Get(c.seriesKey(fn, dims, other, extra...), start, now, func(attrs pcommon.Map) {
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
		if other {
			attrs.PutBool(series.AttrOverflow, true)
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
