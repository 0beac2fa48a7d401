// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdacorrelationprocessor // import "github.com/otelcol-lambda/otelcol-lambda/processor/lambdacorrelationprocessor"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Holding a span moves it out of its request instead of copying it, and the spans held from
// one scope of one request share one resource and scope (a heldScope): the cost of holding
// is then a pointer move per span, and that of releasing a whole request's spans together
// (they were held at the same time, so they pair or expire together) one more.

// heldResource is the one copy of a resource that the heldScopes made from the further scopes
// of one ResourceSpans share, and those of them that leave together leave under one copy of it:
// a copy per scope would let a request of one large resource and many small scopes be held,
// or leave, as many times its size.
type heldResource struct {
	resource pcommon.Resource
	out      ptrace.ResourceSpans // of the drain under way, once one of them leaves
}

func newHeldResource(rs ptrace.ResourceSpans) *heldResource {
	r := &heldResource{resource: pcommon.NewResource()}
	rs.Resource().CopyTo(r.resource)
	return r
}

// output is where the spans of r that leave in this drain go: a ResourceSpans of out with a
// copy of the resource, made the first time.
func (r *heldResource) output(out ptrace.ResourceSpansSlice, schemaURL string) ptrace.ResourceSpans {
	if r.out == (ptrace.ResourceSpans{}) {
		r.out = out.AppendEmpty()
		r.resource.CopyTo(r.out.Resource())
		r.out.SetSchemaUrl(schemaURL)
	}
	return r.out
}

// placement is a span of the scope being read that is to be held: its index in the scope,
// and the heldSpan it goes in.
type placement struct {
	slot int
	to   *heldSpan
}

// hold moves the spans of ss listed in p.placing out of the request into a new heldScope.
// When every span of ss is held, the whole slice and the scope move; otherwise the scope is
// copied once for all of them. The resource is shared when not nil (the one copy that the
// heldScopes made from further scopes of rs share); else it moves when every span is held
// and ss is the only scope of rs (the request keeps an empty scope, dropped afterwards), or
// is copied.
func (p *correlationProcessor) hold(rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, onlyScope bool, shared *heldResource) {
	spans := ss.Spans()
	g := newHeldScope(len(p.placing))
	g.resource = shared
	grs := g.resourceSpans()
	gss := grs.ScopeSpans().At(0)
	grs.SetSchemaUrl(rs.SchemaUrl())
	gss.SetSchemaUrl(ss.SchemaUrl())
	switch {
	case shared != nil:
	case onlyScope && len(p.placing) == spans.Len():
		rs.Resource().MoveTo(grs.Resource())
	default:
		rs.Resource().CopyTo(grs.Resource())
	}
	if len(p.placing) == spans.Len() {
		ss.Scope().MoveTo(gss.Scope())
		spans.MoveAndAppendTo(g.spans)
		for _, pl := range p.placing {
			g.place(pl.to, g.spans.At(pl.slot))
		}
	} else {
		ss.Scope().CopyTo(gss.Scope())
		g.spans.EnsureCapacity(len(p.placing))
		k, next := 0, 0
		spans.RemoveIf(func(span ptrace.Span) bool {
			taken := next < len(p.placing) && p.placing[next].slot == k
			k++
			if !taken {
				return false
			}
			dst := g.spans.AppendEmpty()
			span.MoveTo(dst)
			g.place(p.placing[next].to, dst)
			next++
			return true
		})
	}
	clear(p.placing)
	p.placing = p.placing[:0]
}

// drainReleased appends the released entries' spans to td (a new Traces when td is empty):
// one ResourceSpans per heldScope, the heldScope's own when all its spans go, or one per
// shared resource, and the entries to be reused.
func (p *correlationProcessor) drainReleased(td ptrace.Traces) ptrace.Traces {
	if td == (ptrace.Traces{}) {
		td = ptrace.NewTraces()
	}
	if len(p.released) == 0 {
		return td
	}
	for _, e := range p.released {
		for _, h := range e.held[:e.n] {
			if h.scope.releasing == 0 {
				p.releasing = append(p.releasing, h.scope)
			}
			h.scope.releasing++
		}
	}
	out := td.ResourceSpans()
	for _, g := range p.releasing {
		whole := g.releasing == g.live
		if whole && g.holes > 0 {
			g.compact()
		}
		src := g.resourceSpans()
		var rs ptrace.ResourceSpans
		switch {
		case g.resource != nil:
			rs = g.resource.output(out, src.SchemaUrl())
			if whole {
				src.ScopeSpans().MoveAndAppendTo(rs.ScopeSpans())
				continue
			}
		case whole:
			g.td.ResourceSpans().MoveAndAppendTo(out)
			continue
		default:
			rs = out.AppendEmpty()
			src.Resource().CopyTo(rs.Resource())
			rs.SetSchemaUrl(src.SchemaUrl())
		}
		// Some of its spans stay: those that go get a copy of the scope.
		ss := rs.ScopeSpans().AppendEmpty()
		srcSS := src.ScopeSpans().At(0)
		srcSS.Scope().CopyTo(ss.Scope())
		ss.SetSchemaUrl(srcSS.SchemaUrl())
		g.out, g.partial = ss.Spans(), true
		g.out.EnsureCapacity(g.releasing)
	}
	for i, e := range p.released {
		for j := range e.held[:e.n] {
			h := &e.held[j]
			if g := h.scope; g.partial {
				h.span.MoveTo(g.out.AppendEmpty())
				g.owners[h.slot] = nil
				g.holes++
			}
		}
		*e = entry{}
		if len(p.free) < p.cfg.MaxPending {
			p.free = append(p.free, e)
		}
		p.released[i] = nil
	}
	for i, g := range p.releasing {
		if g.partial {
			g.live -= g.releasing
			if g.holes > g.live {
				g.compact()
			}
		}
		if g.resource != nil {
			g.resource.out = ptrace.ResourceSpans{}
		}
		g.releasing, g.out, g.partial = 0, ptrace.SpanSlice{}, false
		p.releasing[i] = nil
	}
	p.released = p.released[:0]
	p.releasing = p.releasing[:0]
	return td
}
