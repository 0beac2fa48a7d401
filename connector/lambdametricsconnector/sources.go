// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdametricsconnector // import "github.com/otelcol-lambda/otelcol-lambda/connector/lambdametricsconnector"

import "go.opentelemetry.io/collector/pdata/pcommon"

// The configured dimensions (queue, topic, stream, route) are read from the event, which
// whoever may invoke a function chooses: a direct invoker can send any number of fake
// queue names. Each function version may therefore have series for at most
// max_event_sources_per_function distinct combinations of dimension values, each held for
// metrics_expiration after it was last seen, as its series are. A new combination past
// the bound is counted under the function's own labels with otel.metric.overflow=true
// instead of the dimensions, so the function's totals stay exact and other functions keep
// their room in cardinality_limit.

// eventSource is one combination of dimension values of a function.
type eventSource struct {
	seen pcommon.Timestamp
}

// eventSource returns the event source of fn that spans with the dimension values dims,
// arriving at now, are counted under, adding it while fn has fewer than
// max_event_sources_per_function; other is set when fn has no room for it, and the spans go
// to fn's overflowed event sources instead. Dimension values that are all empty add no
// series beyond the function's own: they always fit, and are no event source. pendingEntry
// asks only for a delta new in this interval; the deltas keep their source's last-seen
// time up. Caller holds mu.
func (c *lambdaMetrics) eventSource(fn *function, dims []string, now pcommon.Timestamp) (src *eventSource, other bool) {
	if fn.overflow || !anySet(dims) {
		return nil, false
	}
	c.buf = appendKey(c.buf[:0], dims)
	if src = fn.sources[string(c.buf)]; src != nil {
		src.see(now)
		return src, false
	}
	if len(fn.sources) >= c.cfg.MaxEventSourcesPerFunction && !c.expireSources(fn, now) {
		c.sourcesOverflowed++
		return nil, true
	}
	if fn.sources == nil {
		fn.sources = map[string]*eventSource{}
	}
	if len(fn.sources) == 0 || now < fn.oldestSource {
		fn.oldestSource = now
	}
	src = &eventSource{seen: now}
	fn.sources[string(c.buf)] = src
	return src, false
}

// see records that a span of the source arrived at now (ConsumeTraces calls may take mu
// out of the order of their clock readings).
func (s *eventSource) see(now pcommon.Timestamp) {
	if s != nil {
		s.seen = max(s.seen, now)
	}
}

// expireSources forgets fn's event sources not seen for metrics_expiration and reports
// whether any was. It runs only for a function at its bound, and looks at the sources only
// once the oldest may have expired, so a function kept at its bound costs a sweep at most
// once per batch. Caller holds mu.
func (c *lambdaMetrics) expireSources(fn *function, now pcommon.Timestamp) bool {
	cutoff := now - pcommon.Timestamp(c.cfg.MetricsExpiration)
	if fn.oldestSource >= cutoff {
		return false
	}
	n := len(fn.sources)
	oldest := now
	for k, s := range fn.sources {
		if s.seen < cutoff {
			delete(fn.sources, k)
			continue
		}
		oldest = min(oldest, s.seen)
	}
	fn.oldestSource = oldest
	return len(fn.sources) < n
}

func anySet(dims []string) bool {
	for _, d := range dims {
		if d != "" {
			return true
		}
	}
	return false
}
