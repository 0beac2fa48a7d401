// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdacorrelationprocessor // import "github.com/otelcol-lambda/otelcol-lambda/processor/lambdacorrelationprocessor"

import (
	"context"
	"path"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/warnlog"
	"github.com/otelcol-lambda/otelcol-lambda/processor/lambdacorrelationprocessor/internal/eventsource"
	"github.com/otelcol-lambda/otelcol-lambda/processor/lambdacorrelationprocessor/internal/metadata"
)

// maxFollowers bounds the report spans held with one pending invocation span.
const maxFollowers = 2

// role is what a span is to the join.
type role uint8

const (
	roleOther      role = iota
	roleInvocation      // the receiver's invocation span
	roleFunction        // the function's root SERVER/CONSUMER span carrying a request id
	roleReport          // the receiver's report span
)

// The counters' attributes, as option slices made once: passing one on allocates nothing.
var (
	attrsRoleInvocation = addOptions(attribute.String("role", "invocation"))
	attrsRoleFunction   = addOptions(attribute.String("role", "function"))
	attrsEventSource    = addOptions(attribute.String("reason", "event_source"))
	attrsTrace          = addOptions(attribute.String("reason", "trace"))
	attrsDuplicate      = addOptions(attribute.String("reason", "duplicate"))
	attrsColdstart      = addOptions(attribute.String("reason", "coldstart"))
)

func addOptions(kv attribute.KeyValue) []metric.AddOption {
	return []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(kv))}
}

// claimed is the span type a stripped span claimed, the span_type of the stripped count.
type claimed uint8

const (
	claimedNone claimed = iota // internal attributes without a span type
	claimedInvocation
	claimedReport
	claimedInit
	claimedOther // a span type the receiver never writes
	numClaimed
)

var claimedNames = [numClaimed]string{"none", "invocation", "report", "init", "other"}

var attrsClaimed = func() (out [numClaimed][]metric.AddOption) {
	for i, name := range claimedNames {
		out[i] = addOptions(attribute.String("span_type", name))
	}
	return out
}()

// counts are the telemetry increments of one call, added once the lock is released.
type counts struct {
	pending                         int64
	paired, invalid, rewritten      int64
	unpairedInv, unpairedFn         int64
	evictedInv, evictedFn           int64
	conflictSource, conflictTrace   int64
	conflictDuplicate, conflictCold int64
	notHeld                         int64
	held                            int64 // spans taken out of this request; not telemetry
}

// A span is held for its partner unless the partner's side looks absent: uninstrumentedAfter
// spans of its role of the same function in a row went on unpaired, and no span of the other
// role came within instrumentedMemory. That is an invocation span of a function that sends
// no root spans of its own (uninstrumented), or a function's own span when its Telemetry API
// events do not reach the gateway (no extension: an SDK or the opentelemetry-lambda layer
// exporting straight to it). Either would otherwise pay the window (delay, memory)
// on every invocation for nothing; the first span of the other role makes it wait again.
const (
	uninstrumentedAfter = 3
	instrumentedMemory  = time.Hour
	maxFunctionsTracked = 100_000
	// A full table is looked through for stale functions at most this often: looking on
	// every span of an untracked function would cost each one a scan of the whole table,
	// under the lock every request takes.
	functionsSweepEvery = time.Minute
	// Longer names are not tracked: the table outlives the spans, and AWS names a function in
	// at most 64 characters.
	maxFunctionNameTracked = 256
)

// functionState is what the processor knows of a function's spans of either role.
type functionState struct {
	lastSeen time.Time
	// By side(role): its last span of that role, and how many of its spans of that role
	// went on unpaired in a row since its last pair.
	last           [2]time.Time
	unpairedInARow [2]int
}

// side indexes functionState's per-role fields: invocation spans, the function's own.
func side(r role) int { return int(r - roleInvocation) }

// partnerRole is the role a span of role r is joined with.
func partnerRole(r role) role { return roleInvocation + roleFunction - r }

type correlationProcessor struct {
	cfg       *Config
	next      consumer.Traces
	logger    *zap.Logger
	warnings  *warnlog.Logger
	telemetry *metadata.TelemetryBuilder
	now       func() time.Time
	// trustForwarded keeps the receiver's span type and platform attributes on spans that
	// did not come from its Telemetry API conversion (forwarded_platform_spans: trust).
	trustForwarded bool

	mu        sync.Mutex
	pending   *pendingStore
	rewrites  *rewriteCache
	functions map[string]*functionState
	// functionsSwept is when the full function table was last looked through.
	functionsSwept time.Time
	// Scratch, under mu: the entries released and not yet handed on, the spans of the scope
	// being read that are to be held, the heldScopes of a drain, and released entries to reuse.
	released  []*entry
	placing   []placement
	releasing []*heldScope
	free      []*entry

	stop     chan struct{}
	done     chan struct{}
	shutdown sync.Once
	started  bool
}

var _ processor.Traces = (*correlationProcessor)(nil)

func newCorrelationProcessor(set processor.Settings, cfg *Config, next consumer.Traces, now func() time.Time) (*correlationProcessor, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &correlationProcessor{
		cfg:            cfg,
		next:           next,
		logger:         set.Logger,
		warnings:       warnlog.New(set.Logger),
		telemetry:      tb,
		now:            now,
		trustForwarded: cfg.ForwardedPlatformSpans == forwardedTrust,
		pending:        newPendingStore(),
		functions:      map[string]*functionState{},
		rewrites:       newRewriteCache(cfg.TraceRewrites.MaxEntries, cfg.TraceRewrites.TTL),
		stop:           make(chan struct{}),
		done:           make(chan struct{}),
	}, nil
}

// Capabilities tells the pipeline that spans are changed in place.
func (*correlationProcessor) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

// Start runs the goroutine that releases the spans whose window has ended.
func (p *correlationProcessor) Start(context.Context, component.Host) error {
	p.started = true
	tick := min(max(p.cfg.Window/4, 10*time.Millisecond), time.Second)
	go func() {
		defer close(p.done)
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.releaseExpired(context.Background(), false)
			}
		}
	}()
	p.logger.Info("Starting lambda_correlation", zap.Duration("window", p.cfg.Window), zap.Int("max_pending", p.cfg.MaxPending),
		zap.String("forwarded_platform_spans", p.cfg.ForwardedPlatformSpans))
	if p.trustForwarded {
		// Said once and loudly: it is an open door unless the network closes it.
		p.logger.Warn("Spans from any source keep the lambda_telemetry receiver's span types and platform attributes " +
			"(forwarded_platform_spans: trust): every client that can reach this gateway's OTLP endpoints can count invocations")
	}
	return nil
}

// Shutdown stops the ticker and passes every held span on.
func (p *correlationProcessor) Shutdown(ctx context.Context) error {
	var err error
	p.shutdown.Do(func() {
		if p.started {
			close(p.stop)
			<-p.done
		}
		err = p.releaseExpired(ctx, true)
		p.telemetry.Shutdown()
	})
	return err
}

// releaseExpired passes on the held spans whose window ended, or all of them.
func (p *correlationProcessor) releaseExpired(ctx context.Context, all bool) error {
	var c counts
	p.mu.Lock()
	deadline := p.now().Add(-p.cfg.Window)
	for e := p.pending.oldest(); e != nil && (all || !e.at.After(deadline)); e = p.pending.oldest() {
		p.releaseUnpaired(e, &c, false)
	}
	td := p.drainReleased(ptrace.Traces{})
	if p.pending.shrink() && len(p.free) > keptAfterBurst {
		p.free = append(make([]*entry, 0, keptAfterBurst), p.free[:keptAfterBurst]...)
	}
	p.mu.Unlock()
	p.record(&c)
	if td.ResourceSpans().Len() == 0 {
		return nil
	}
	if err := p.next.ConsumeTraces(ctx, td); err != nil {
		p.logger.Error("Failed ConsumeTraces of released spans", zap.Error(err))
		return err
	}
	return nil
}

// ConsumeTraces joins what it can, holds the joinable spans whose partner has not come yet,
// and passes everything else on at once. Spans that lambda_telemetry did not make from
// Telemetry API events lose its span type and platform attributes first, so that what the
// join and the lambda_metrics connector after it believe was made by the receiver alone.
func (p *correlationProcessor) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	if !p.trustForwarded && !lambdaconv.FromReceiver(ctx) {
		p.stripForwarded(td)
	}
	var c counts
	p.mu.Lock()
	now := p.now()
	deadline := now.Add(-p.cfg.Window)
	for e := p.pending.oldest(); e != nil && !e.at.After(deadline); e = p.pending.oldest() {
		p.releaseUnpaired(e, &c, false)
	}
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		fnName := functionName(rs.Resource().Attributes())
		sss := rs.ScopeSpans()
		// The spans held from the first scope of rs that has any get a copy of its resource
		// (or the resource itself); those of further scopes share one more.
		var firstHeld bool
		var shared *heldResource
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				if h := p.span(spans.At(k), fnName, now, &c); h != nil {
					p.placing = append(p.placing, placement{slot: k, to: h})
				}
			}
			if len(p.placing) > 0 {
				if firstHeld && shared == nil {
					shared = newHeldResource(rs)
				}
				p.hold(rs, ss, sss.Len() == 1, shared)
				firstHeld = true
			}
		}
	}
	if c.held > 0 {
		// Resources and scopes emptied by holding their spans are dropped.
		td.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
			rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool { return ss.Spans().Len() == 0 })
			return rs.ScopeSpans().Len() == 0
		})
	}
	td = p.drainReleased(td)
	p.mu.Unlock()
	p.record(&c)
	if td.ResourceSpans().Len() == 0 {
		return nil
	}
	return p.next.ConsumeTraces(ctx, td)
}

// stripForwarded removes the receiver's span type and platform attributes from spans that
// did not come from its Telemetry API conversion, counts those spans by the span type they
// claimed and warns (rate-limited). The spans themselves go on: a function that sets such
// an attribute by mistake keeps its trace, it only cannot count as what it claimed.
func (p *correlationProcessor) stripForwarded(td ptrace.Traces) {
	var stripped [numClaimed]int64
	var total int64
	var firstFn string
	firstType := claimedNone
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				attrs := spans.At(k).Attributes()
				if !hasInternal(attrs) {
					continue
				}
				typ := claimedType(attrs)
				attrs.RemoveIf(isInternal)
				if total == 0 {
					firstFn, firstType = functionName(rs.Resource().Attributes()), typ
				}
				stripped[typ]++
				total++
			}
		}
	}
	if total == 0 {
		return
	}
	ctx := context.Background()
	for typ, n := range stripped {
		if n > 0 {
			p.telemetry.ProcessorLambdaCorrelationStripped.Add(ctx, n, attrsClaimed[typ]...)
		}
	}
	p.warnings.Warn("Removed the lambda_telemetry receiver's span type and platform attributes from spans it did not make; they count nothing",
		zap.Int64("spans", total), zap.String("function", firstFn), zap.String("span_type", claimedNames[firstType]))
}

func isInternal(k string, _ pcommon.Value) bool { return lambdaconv.IsInternalAttribute(k) }

// hasInternal tells whether any attribute is internal; most spans have none, and the
// check allocates nothing.
func hasInternal(attrs pcommon.Map) bool {
	for k := range attrs.All() {
		if lambdaconv.IsInternalAttribute(k) {
			return true
		}
	}
	return false
}

// claimedType is the span type a span claims.
func claimedType(attrs pcommon.Map) claimed {
	v, ok := attrs.Get(lambdaconv.AttrSpanType)
	if !ok {
		return claimedNone
	}
	switch v.Str() {
	case lambdaconv.SpanTypeInvocation:
		return claimedInvocation
	case lambdaconv.SpanTypeReport:
		return claimedReport
	case lambdaconv.SpanTypeInit:
		return claimedInit
	}
	return claimedOther
}

// span handles one span. When the span is to be held, it returns the heldSpan it goes in,
// which the caller places (see hold); until then it is the request's span.
func (p *correlationProcessor) span(span ptrace.Span, fnName string, now time.Time, c *counts) *heldSpan {
	attrs := span.Attributes()
	r := classify(span, attrs)
	switch r {
	case roleOther:
		return nil
	case roleReport:
		key := spanKey{trace: span.TraceID(), span: span.ParentSpanID()}
		if e := p.pending.byInvocation[key]; e != nil && e.n < len(e.held) {
			h := &e.held[e.n]
			e.n++
			h.span = span
			c.held++
			return h
		}
		if tid, ok := p.rewrites.get(key, now); ok {
			span.SetTraceID(tid)
			c.rewritten++
		}
		return nil
	}
	reqID := eventsource.RequestID(attrs)
	if fnName == "" {
		if v, ok := attrs.Get(lambdaconv.AttrFaaSName); ok { // old Python set it on the span
			fnName = v.Str()
		}
	}
	if fnName == "" || reqID == "" {
		c.invalid++
		return nil
	}
	st := p.function(fnName, now)
	if st != nil {
		st.last[side(r)] = now
	}
	// The key's strings are the span's and its resource's own, which live as long as it is held.
	key := joinKey{fn: fnName, req: reqID}
	if e := p.pending.byKey[key]; e != nil {
		if e.role != r {
			p.pending.remove(e)
			c.pending--
			inv, fn := e.span(), span
			if r == roleInvocation {
				inv, fn = span, e.span()
			}
			p.correlate(inv, fn, fnName, now, c)
			if r == roleFunction {
				p.applyToFollowers(e, inv, c)
			}
			p.released = append(p.released, e)
			if st != nil {
				st.unpairedInARow = [2]int{}
			}
			c.paired++
			return nil
		}
		// A second span of the same role and request id: pass the first on as it is.
		c.conflictDuplicate++
		p.pending.remove(e)
		c.pending--
		p.released = append(p.released, e)
	}
	if partnerAbsent(st, r, now) {
		if r == roleInvocation {
			p.applyStatic(span.Attributes(), fnName)
		}
		c.notHeld++
		return nil
	}
	if p.pending.len() >= p.cfg.MaxPending {
		old := p.pending.oldest()
		p.releaseUnpaired(old, c, true)
	}
	e := p.newEntry(key, r, span, now)
	p.pending.add(e)
	c.pending++
	c.held++
	return &e.held[0]
}

// newEntry takes a released entry to reuse, or makes one.
func (p *correlationProcessor) newEntry(key joinKey, r role, span ptrace.Span, now time.Time) *entry {
	var e *entry
	if n := len(p.free); n > 0 {
		e, p.free = p.free[n-1], p.free[:n-1]
	} else {
		e = &entry{}
	}
	e.key, e.role, e.at, e.n = key, r, now, 1
	e.held[0].span = span
	if r == roleInvocation {
		e.invocation = spanKey{trace: span.TraceID(), span: span.SpanID()}
	}
	return e
}

// applyToFollowers moves the report spans held with an invocation entry into the trace the
// invocation span now has.
func (p *correlationProcessor) applyToFollowers(e *entry, inv ptrace.Span, c *counts) {
	for _, f := range e.followers() {
		if f.span.TraceID() != inv.TraceID() {
			f.span.SetTraceID(inv.TraceID())
			c.rewritten++
		}
	}
}

// releaseUnpaired passes a held span on unchanged, but for the static event source of an
// uninstrumented function.
func (p *correlationProcessor) releaseUnpaired(e *entry, c *counts, evicted bool) {
	p.pending.remove(e)
	c.pending--
	switch {
	case evicted && e.role == roleInvocation:
		c.evictedInv++
	case evicted:
		c.evictedFn++
	case e.role == roleInvocation:
		c.unpairedInv++
	default:
		c.unpairedFn++
	}
	if e.role == roleInvocation {
		p.applyStatic(e.span().Attributes(), e.key.fn)
	}
	if st := p.functions[e.key.fn]; st != nil {
		st.unpairedInARow[side(e.role)]++
	}
	p.released = append(p.released, e)
}

// applyStatic names the configured event source on an invocation span that has none.
func (p *correlationProcessor) applyStatic(attrs pcommon.Map, fn string) {
	if len(p.cfg.StaticSources) == 0 {
		return
	}
	if src, err := eventsource.Read(attrs); err == nil && src.IsZero() {
		if st, ok := p.static(fn); ok {
			st.Write(attrs)
		}
	}
}

// function returns the state of a function, nil when too many are tracked to add it or its
// name is too long to keep.
func (p *correlationProcessor) function(fn string, now time.Time) *functionState {
	st := p.functions[fn]
	if st == nil {
		if len(fn) > maxFunctionNameTracked {
			return nil
		}
		if len(p.functions) >= maxFunctionsTracked {
			if now.Sub(p.functionsSwept) < functionsSweepEvery {
				return nil
			}
			p.functionsSwept = now
			for name, old := range p.functions {
				if now.Sub(old.lastSeen) > instrumentedMemory {
					delete(p.functions, name)
				}
			}
			if len(p.functions) >= maxFunctionsTracked {
				return nil
			}
		}
		st = &functionState{}
		p.functions[fn] = st
	}
	st.lastSeen = now
	return st
}

// partnerAbsent tells whether a span of role r of the function of state st should go on at
// once, its partner not being expected (see uninstrumentedAfter).
func partnerAbsent(st *functionState, r role, now time.Time) bool {
	if st == nil || st.unpairedInARow[side(r)] < uninstrumentedAfter {
		return false
	}
	last := st.last[side(partnerRole(r))]
	return last.IsZero() || now.Sub(last) > instrumentedMemory
}

// static returns the configured event source of a function.
func (p *correlationProcessor) static(fn string) (eventsource.Source, bool) {
	for _, s := range p.cfg.StaticSources {
		if ok, _ := path.Match(s.Function, fn); ok {
			src := eventsource.Source{Trigger: s.Trigger, System: eventsource.NormalizeSystem(s.MessagingSystem),
				Destination: s.Destination, Route: s.HTTPRoute, ARN: s.ARN}
			if src.Trigger == "" {
				switch {
				case src.System != "":
					src.Trigger = lambdaconv.TriggerPubSub
				case src.Route != "":
					src.Trigger = lambdaconv.TriggerHTTP
				}
			}
			return src, true
		}
	}
	return eventsource.Source{}, false
}

// correlate joins an invocation span with the function's root span: the function's trace
// is canonical, the invocation span becomes the function span's parent, and both carry the
// one normalized event source. Where the two spans name a field of the source differently
// (the invocation span's comes from the extension's Runtime API proxy), the function span's
// value wins: its instrumentation knows the function (a route template, say) better than a
// reading of the raw event does. A span that names two sources itself is a conflict.
func (p *correlationProcessor) correlate(inv, fn ptrace.Span, fnName string, now time.Time, c *counts) {
	src, errInv := eventsource.Read(inv.Attributes())
	fnSrc, errFn := eventsource.Read(fn.Attributes())
	if errInv != nil || errFn != nil {
		c.conflictSource++
		return
	}
	src.Overlay(fnSrc)
	if fn.TraceID().IsEmpty() || inv.TraceID().IsEmpty() || inv.SpanID().IsEmpty() {
		c.conflictTrace++
		return
	}
	if src.IsZero() {
		if st, ok := p.static(fnName); ok {
			src = st
		}
	}

	oldTrace, invSpanID := inv.TraceID(), inv.SpanID()
	if oldTrace != fn.TraceID() {
		p.rewrites.put(spanKey{trace: oldTrace, span: invSpanID}, fn.TraceID(), now)
		if oldParent := inv.ParentSpanID(); !oldParent.IsEmpty() && oldParent != fn.ParentSpanID() {
			// Keep the way back to the X-Ray trace Lambda propagated.
			l := inv.Links().AppendEmpty()
			l.SetTraceID(oldTrace)
			l.SetSpanID(oldParent)
			l.Attributes().PutStr(attrLinkRole, linkRoleXRayParent)
		}
		inv.SetTraceID(fn.TraceID())
		if fn.ParentSpanID() != invSpanID {
			inv.SetParentSpanID(fn.ParentSpanID())
		}
	}
	fn.SetParentSpanID(invSpanID)

	src.Write(inv.Attributes())
	src.Write(fn.Attributes())
	if reqID := eventsource.RequestID(fn.Attributes()); reqID != "" {
		if _, ok := fn.Attributes().Get(lambdaconv.AttrFaaSInvocationID); !ok {
			fn.Attributes().PutStr(lambdaconv.AttrFaaSInvocationID, reqID)
		}
	}

	if cold, ok := inv.Attributes().Get(lambdaconv.AttrFaaSColdstart); ok && cold.Type() == pcommon.ValueTypeBool {
		if sdk, ok := fn.Attributes().Get(lambdaconv.AttrFaaSColdstart); !ok || sdk.Type() != pcommon.ValueTypeBool {
			if cold.Bool() {
				fn.Attributes().PutBool(lambdaconv.AttrFaaSColdstart, true)
			}
		} else if sdk.Bool() != cold.Bool() {
			c.conflictCold++
		}
	}

	// Producer links: what the function span links to (SQS AWSTraceHeader, traceparent in
	// message attributes), the invocation span links to as well.
	fnLinks := fn.Links()
	for i := 0; i < fnLinks.Len(); i++ {
		l := fnLinks.At(i)
		if l.TraceID() == inv.TraceID() || hasLink(inv.Links(), l.TraceID(), l.SpanID()) {
			continue
		}
		l.CopyTo(inv.Links().AppendEmpty())
	}
}

// Link attributes of the link back to the X-Ray parent.
const (
	attrLinkRole       = "aws.lambda.link.role"
	linkRoleXRayParent = "xray_parent"
)

func hasLink(links ptrace.SpanLinkSlice, tid pcommon.TraceID, sid pcommon.SpanID) bool {
	for i := 0; i < links.Len(); i++ {
		if links.At(i).TraceID() == tid && links.At(i).SpanID() == sid {
			return true
		}
	}
	return false
}

func (p *correlationProcessor) record(c *counts) {
	c.held = 0
	if *c == (counts{}) {
		return
	}
	t := p.telemetry
	if c.pending != 0 {
		t.ProcessorLambdaCorrelationPending.Add(context.Background(), c.pending)
	}
	add(t.ProcessorLambdaCorrelationPaired, c.paired, nil)
	add(t.ProcessorLambdaCorrelationNotHeld, c.notHeld, nil)
	add(t.ProcessorLambdaCorrelationInvalid, c.invalid, nil)
	add(t.ProcessorLambdaCorrelationReportsRewritten, c.rewritten, nil)
	add(t.ProcessorLambdaCorrelationReleasedUnpaired, c.unpairedInv, attrsRoleInvocation)
	add(t.ProcessorLambdaCorrelationReleasedUnpaired, c.unpairedFn, attrsRoleFunction)
	add(t.ProcessorLambdaCorrelationEvicted, c.evictedInv, attrsRoleInvocation)
	add(t.ProcessorLambdaCorrelationEvicted, c.evictedFn, attrsRoleFunction)
	add(t.ProcessorLambdaCorrelationConflicts, c.conflictSource, attrsEventSource)
	add(t.ProcessorLambdaCorrelationConflicts, c.conflictTrace, attrsTrace)
	add(t.ProcessorLambdaCorrelationConflicts, c.conflictDuplicate, attrsDuplicate)
	add(t.ProcessorLambdaCorrelationConflicts, c.conflictCold, attrsColdstart)
}

func add(ctr metric.Int64Counter, n int64, opts []metric.AddOption) {
	if n != 0 {
		ctr.Add(context.Background(), n, opts...)
	}
}

// classify tells what a span is to the join.
func classify(span ptrace.Span, attrs pcommon.Map) role {
	if v, ok := attrs.Get(lambdaconv.AttrSpanType); ok {
		switch v.Str() {
		case lambdaconv.SpanTypeInvocation:
			return roleInvocation
		case lambdaconv.SpanTypeReport:
			return roleReport
		}
		return roleOther
	}
	if k := span.Kind(); k != ptrace.SpanKindServer && k != ptrace.SpanKindConsumer {
		return roleOther
	}
	if _, ok := attrs.Get(lambdaconv.AttrFaaSInvocationID); ok {
		return roleFunction
	}
	if _, ok := attrs.Get(lambdaconv.AttrFaaSExecution); ok {
		return roleFunction
	}
	return roleOther
}

// functionName is the join's function: faas.name, else service.name.
func functionName(res pcommon.Map) string {
	if v, ok := res.Get(lambdaconv.AttrFaaSName); ok && v.Str() != "" {
		return v.Str()
	}
	if v, ok := res.Get(lambdaconv.AttrServiceName); ok && !strings.HasPrefix(v.Str(), "unknown_service") {
		return v.Str()
	}
	return ""
}
