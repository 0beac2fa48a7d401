// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdacorrelationprocessor

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv/lambdaconvtest"
	"github.com/otelcol-lambda/otelcol-lambda/processor/lambdacorrelationprocessor/internal/metadatatest"
)

// origin is where a span the next consumer received sits: its resource and scope.
type origin struct {
	resource       map[string]any
	resourceSchema string
	scope          string
	scopeSchema    string
}

// origins returns the origin of every span the next consumer received, named as by spans.
func (h *harness) origins() map[string]origin {
	out := map[string]origin{}
	for _, td := range h.sink.AllTraces() {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, s := range ss.Spans().All() {
					out[spanName(ss, s)] = origin{rs.Resource().Attributes().AsRaw(), rs.SchemaUrl(), ss.Scope().Name(), ss.SchemaUrl()}
				}
			}
		}
	}
	return out
}

// invocationBatch is one request of the receiver's invocation spans, one per request id,
// each in a trace of its own; with schema URLs, which must survive holding as well.
func invocationBatch(reqIDs ...string) ptrace.Traces {
	b := lambdaconvtest.NewBatch(checkoutSandbox, invocationStart)
	for _, id := range reqIDs {
		b.Invocation(lambdaconvtest.Invocation{RequestID: id, Duration: 250 * time.Millisecond})
	}
	rs := b.Traces.ResourceSpans().At(0)
	rs.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
	rs.ScopeSpans().At(0).SetSchemaUrl("https://opentelemetry.io/schemas/1.25.0")
	return b.Traces
}

func receiverOrigin(t *testing.T) origin {
	t.Helper()
	rs := invocationBatch().ResourceSpans().At(0)
	return origin{rs.Resource().Attributes().AsRaw(), rs.SchemaUrl(), lambdaconvtest.ScopeName, rs.ScopeSpans().At(0).SchemaUrl()}
}

func rootSpan(reqID string) ptrace.Traces {
	return functionSpan(ptrace.SpanKindServer, fnResource, goOtellambda(reqID, nil), false)
}

// TestHeldSpansShareTheirResource: the spans held from one request share one resource and
// scope; each keeps them whether it leaves alone (paired early), with others (paired in one
// request), or last (at the end of the window), before and after the spans left are
// compacted (when 4 of 6 have gone).
func TestHeldSpansShareTheirResource(t *testing.T) {
	h := newHarness(t, nil)
	want := receiverOrigin(t)
	h.consume(t, invocationBatch("r1", "r2", "r3", "r4", "r5", "r6"))
	assert.Equal(t, 0, h.sink.SpanCount())

	h.clock.Add(time.Second)
	h.consumeOTLP(t, rootSpan("r2"))
	h.consumeOTLP(t, rootSpan("r5"))
	h.consumeOTLP(t, func() ptrace.Traces { // two in one request: they leave under one resource
		td := rootSpan("r1")
		rootSpan("r6").ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
		return td
	}())
	require.Len(t, h.sink.AllTraces(), 3)
	last := h.sink.AllTraces()[2]
	assert.Equal(t, 3, last.ResourceSpans().Len(), "two function spans and one resource for both invocation spans")
	assert.Equal(t, 2, last.ResourceSpans().At(2).ScopeSpans().At(0).Spans().Len())
	assert.Equal(t, 2, h.p.pending.len())
	h.consumeOTLP(t, rootSpan("r4"))

	h.clock.Add(4 * time.Second)
	h.expire(t)
	assert.Equal(t, 0, h.p.pending.len())
	require.Len(t, h.sink.AllTraces(), 5)
	assert.Equal(t, 1, h.sink.AllTraces()[4].SpanCount(), "the last leaves alone")

	got, where := h.spans(), h.origins()
	for _, id := range []string{"r1", "r2", "r3", "r4", "r5", "r6"} {
		name := "invocation " + id
		require.Contains(t, got, name)
		assert.Equal(t, want, where[name], name)
		assert.Equal(t, id, attrs(got[name])["faas.invocation_id"], "the span is its own, not another's")
	}
	for _, id := range []string{"r1", "r2", "r4", "r5", "r6"} {
		assert.Equal(t, sdkTrace, got["invocation "+id].TraceID(), "%s joined its function's trace", id)
	}
	assert.NotEqual(t, sdkTrace, got["invocation r3"].TraceID(), "went unpaired, unchanged")
	assert.Equal(t, 11, h.sink.SpanCount())
}

// TestMixedRequest: in one request, the spans held and the spans passed on at once each keep
// their resource and scope, and what went on at once shares nothing with what is held: a
// processor after this one may change it.
func TestMixedRequest(t *testing.T) {
	h := newHarness(t, nil)
	want := receiverOrigin(t)
	td := invocationBatch("r1")
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	rep := report("gone").ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0) // of an invocation not held: passes
	rep.CopyTo(spans.AppendEmpty())
	invocationBatch("r2").ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).CopyTo(spans.AppendEmpty())
	// A second resource: a function's root span (held, its invocation has not come) and child.
	fn := functionSpan(ptrace.SpanKindServer, fnResource, goOtellambda("r3", nil), true)
	fn.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetName("function r3")
	fn.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	h.consume(t, td)

	require.Len(t, h.sink.AllTraces(), 1)
	passed := h.sink.AllTraces()[0]
	assert.Equal(t, 2, passed.SpanCount(), "the report and the child go on at once")
	where := h.origins()
	assert.Equal(t, want, where["report gone"])
	assert.Equal(t, origin{resource: fnResource, scope: "instrumentation"}, where["child"])
	assert.Equal(t, 3, h.p.pending.len())

	// What went on is the next consumer's: changing it changes nothing held.
	for _, rs := range passed.ResourceSpans().All() {
		rs.Resource().Attributes().Clear()
		rs.ScopeSpans().At(0).Scope().SetName("changed downstream")
	}

	h.consume(t, invocationBatch("r3"))
	h.consumeOTLP(t, rootSpan("r1"))
	h.clock.Add(5 * time.Second)
	h.expire(t)
	got, where := h.spans(), h.origins()
	for _, id := range []string{"r1", "r2", "r3"} {
		assert.Equal(t, want, where["invocation "+id], id)
	}
	assert.Equal(t, sdkTrace, got["invocation r1"].TraceID())
	assert.Equal(t, sdkTrace, got["invocation r3"].TraceID())
	assert.Equal(t, got["invocation r3"].SpanID(), got["function r3"].ParentSpanID())
	assert.Equal(t, origin{resource: fnResource, scope: "instrumentation"}, where["function r3"], "the held root span kept its resource")
	assert.Equal(t, 0, h.p.pending.len())
}

// TestHeldReportsKeepTheirResource: report spans held with their invocation span, from
// another request, leave with it under their own resource.
func TestHeldReportsKeepTheirResource(t *testing.T) {
	h := newHarness(t, nil)
	want := receiverOrigin(t)
	want.resourceSchema, want.scopeSchema = "", ""
	h.consume(t, invocation("r1", false, nil), report("r1"), report("r1"))
	h.consume(t, report("r1")) // a third: beyond maxFollowers, goes on at once
	assert.Equal(t, 1, h.sink.SpanCount())
	h.consumeOTLP(t, rootSpan("r1"))
	assert.Equal(t, 5, h.sink.SpanCount())
	last := h.sink.AllTraces()[1]
	assert.Equal(t, 4, last.ResourceSpans().Len(), "the function span's, the invocation span's, one per report's request")
	for _, rs := range last.ResourceSpans().All() {
		for _, s := range rs.ScopeSpans().At(0).Spans().All() {
			assert.Equal(t, sdkTrace, s.TraceID())
			if rs.ScopeSpans().At(0).Scope().Name() == lambdaconvtest.ScopeName {
				assert.Equal(t, want.resource, rs.Resource().Attributes().AsRaw())
			}
		}
	}
}

// TestBurstRoomGivenBack: a burst of held spans (a new function's first window) leaves, and
// with it the room it took: once an eighth or less of it is held, the maps are made anew
// with the spans still held, which pair as before, and the entries kept for reuse are cut
// to keptAfterBurst. A store that held few keeps its maps.
func TestBurstRoomGivenBack(t *testing.T) {
	h := newHarness(t, nil)
	burst := make([]string, 3*keptAfterBurst)
	for i := range burst {
		burst[i] = fmt.Sprintf("r%d", i)
	}
	h.consume(t, invocationBatch(burst...))
	h.clock.Add(time.Second)
	h.consume(t, invocationBatch("late")) // held past the burst's window
	require.Equal(t, len(burst)+1, h.p.pending.len())
	byKey := h.p.pending.byKey

	h.clock.Add(h.p.cfg.Window - time.Second/2)
	h.expire(t)
	assert.Equal(t, len(burst), h.sink.SpanCount(), "the burst's spans all leave")
	require.Equal(t, 1, h.p.pending.len(), "the late span stays")
	assert.Equal(t, 1, h.p.pending.peak, "the maps are made anew with what is held")
	byKey[joinKey{fn: "probe"}] = nil
	assert.NotContains(t, h.p.pending.byKey, joinKey{fn: "probe"}, "the burst's map is gone")
	assert.Len(t, h.p.free, keptAfterBurst)
	assert.Equal(t, keptAfterBurst, cap(h.p.free), "the longer list's memory is let go")

	// The span held across the shrink pairs as before.
	h.consumeOTLP(t, rootSpan("late"))
	assert.Zero(t, h.p.pending.len())
	assert.Equal(t, len(burst)+2, h.sink.SpanCount())
	metadatatest.AssertEqualProcessorLambdaCorrelationPaired(t, h.tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())

	// A few held: nothing is remade.
	h.consume(t, invocationBatch("s1", "s2"))
	byKey = h.p.pending.byKey
	h.clock.Add(h.p.cfg.Window + time.Second)
	h.expire(t)
	assert.Equal(t, 2, h.p.pending.peak)
	byKey[joinKey{fn: "probe"}] = nil
	assert.Contains(t, h.p.pending.byKey, joinKey{fn: "probe"}, "the store's map is still the same one")
}
