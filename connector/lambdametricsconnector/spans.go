// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdametricsconnector // import "github.com/otelcol-lambda/otelcol-lambda/connector/lambdametricsconnector"

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/series"
)

// pending holds the deltas of one flush interval, keyed by everything any metric labels by.
type pending struct {
	inv map[string]*invEntry
	rep map[string]*repEntry
	ini map[string]*initEntry
}

func newPending() *pending {
	return &pending{inv: map[string]*invEntry{}, rep: map[string]*repEntry{}, ini: map[string]*initEntry{}}
}

// invEntry is the delta of the invocation spans of one function, dimension values, error
// type and initialization type.
type invEntry struct {
	fn       *function
	dims     []string
	src      *eventSource
	other    bool // fn's overflowed event sources, without dims
	errType  string
	initType string
	cold     bool
	first    pcommon.Timestamp
	count    int64
	dur      *series.Histogram
	age      *series.Histogram
}

// repEntry is the delta of the report spans of one function and dimension values.
type repEntry struct {
	fn       *function
	dims     []string
	src      *eventSource
	other    bool // fn's overflowed event sources, without dims
	first    pcommon.Timestamp
	billedMs int64
	cost     float64
	mem      *series.Histogram
}

// initEntry is the delta of the init spans of one function and initialization type.
type initEntry struct {
	fn       *function
	initType string
	first    pcommon.Timestamp
	dur      *series.Histogram
	// late counts the cold starts learnt after their invocation was counted, which these
	// init spans carry (lambdaconv.AttrColdstartLate).
	late int64
}

// spanAttrs is what one pass over a span's attributes collects.
type spanAttrs struct {
	spanType, errType, initType string
	ackToken                    string
	cold, late, restored        bool
	billedMs, memSize, maxUsed  int64
	eventMs                     int64
	dims                        [maxDimensions]string
}

// scan collects the attributes the metrics need; dims are the configured dimensions.
func (a *spanAttrs) scan(attrs pcommon.Map, dims []string) {
	for k, v := range attrs.All() {
		switch k {
		case lambdaconv.AttrSpanType:
			a.spanType = v.Str()
		case lambdaconv.AttrErrorType:
			a.errType = str(v)
		case lambdaconv.AttrFaaSColdstart:
			a.cold = v.Bool()
		case lambdaconv.AttrColdstartLate:
			a.late = v.Bool()
		case lambdaconv.AttrRestoreDurationMs:
			a.restored = true
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
			for i, d := range dims {
				if k == d {
					a.dims[i] = str(v)
					break
				}
			}
		}
	}
}

// span adds one span of fn to the current interval's deltas, by its span type. Caller holds mu.
func (c *lambdaMetrics) span(fn *function, sdk bool, span ptrace.Span, now pcommon.Timestamp) {
	var a spanAttrs
	a.scan(span.Attributes(), c.cfg.Dimensions)
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

// pendingEntry finds the delta of fn, dims and extra in m, or makes one with newEntry. A new
// delta's dimension values must be one of fn's event sources: when fn has no room for
// another, the delta is that of fn's overflowed event sources, without dimensions (other).
// When m holds maxPending deltas already, a new key's measurement goes to the overflow
// function's delta instead, without dimensions, and the span counts as overflowed. newEntry
// gets the function, the dimension values (a copy, since the span's are only borrowed), the
// event source and other of the delta. Caller holds mu.
func pendingEntry[E any](c *lambdaMetrics, m map[string]*E, fn *function, dims []string, now pcommon.Timestamp,
	newEntry func(fn *function, dims []string, src *eventSource, other bool) *E, extra ...string,
) *E {
	if fn.overflow {
		dims = nil // the overflow series has no dimensions: one delta will do
	}
	if e := m[string(c.pendingKey(fn, dims, false, extra...))]; e != nil {
		return e
	}
	src, other := c.eventSource(fn, dims, now)
	if other {
		dims = nil
	}
	key := c.pendingKey(fn, dims, other, extra...)
	e := m[string(key)]
	if e == nil && len(m) >= c.maxPending {
		c.overflowed++
		fn, dims, src, other = c.overflowFn, nil, nil, false
		key = c.pendingKey(fn, dims, other, extra...)
		e = m[string(key)]
	}
	if e == nil {
		e = newEntry(fn, cloneDims(dims), src, other)
		m[string(key)] = e
	}
	return e
}

func (c *lambdaMetrics) invocation(fn *function, span ptrace.Span, a *spanAttrs, now pcommon.Timestamp) {
	cold := ""
	if a.cold {
		cold = "1"
	} else {
		a.initType = "" // initialization_type labels cold starts only
	}
	e := pendingEntry(c, c.cur.inv, fn, a.dims[:len(c.cfg.Dimensions)], now, func(fn *function, dims []string, src *eventSource, other bool) *invEntry {
		return &invEntry{
			fn: fn, dims: dims, src: src, other: other, errType: strings.Clone(a.errType),
			initType: strings.Clone(a.initType), cold: a.cold, first: now,
			dur: series.NewHistogram(&c.durCfg),
		}
	}, a.errType, cold, a.initType)
	e.src.see(now)
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
	e := pendingEntry(c, c.cur.rep, fn, a.dims[:len(c.cfg.Dimensions)], now, func(fn *function, dims []string, src *eventSource, other bool) *repEntry {
		return &repEntry{fn: fn, dims: dims, src: src, other: other, first: now, mem: series.NewHistogram(&c.memCfg)}
	})
	e.src.see(now)
	// The delta's function: the overflow function when the report did not fit, which has
	// no price, as for the functions past cardinality_limit.
	fn = e.fn
	memSize := a.memSize
	if memSize > 0 {
		fn.memBytes = memSize
	} else {
		memSize = fn.memBytes
	}
	e.billedMs += a.billedMs
	if fn.priced {
		// Lambda's MB are MiB and its GB-seconds use GB = MB/1024, so GB = bytes/2^30. The
		// billed duration includes a SnapStart restore's billed part already; the restore
		// itself is charged per GB restored, for the runtimes AWS charges it for.
		gb := float64(memSize) / (1 << 30)
		e.cost += fn.perReq + gb*float64(a.billedMs)/1000*fn.perGBs
		if a.restored && fn.restoreCharged {
			e.cost += gb * fn.perGBRestored
		}
	}
	if a.maxUsed > 0 {
		e.mem.Record(float64(a.maxUsed))
	}
}

func (c *lambdaMetrics) init(fn *function, span ptrace.Span, a *spanAttrs, now pcommon.Timestamp) {
	e := pendingEntry(c, c.cur.ini, fn, nil, now, func(fn *function, _ []string, _ *eventSource, _ bool) *initEntry {
		return &initEntry{fn: fn, initType: strings.Clone(a.initType), first: now, dur: series.NewHistogram(&c.initCfg)}
	}, a.initType)
	e.dur.Record(spanSeconds(span))
	if a.late {
		e.late++
	}
}

func cloneDims(dims []string) []string {
	if len(dims) == 0 {
		return nil
	}
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

// str reads an attribute that should be a string but may come as a number (a version, an
// account id).
func str(v pcommon.Value) string {
	if v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return v.AsString()
}

// num reads a numeric attribute, whole or not; anything else reads as 0 (not set).
func num(v pcommon.Value) int64 {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return v.Int()
	case pcommon.ValueTypeDouble:
		return int64(v.Double())
	}
	return 0
}
