// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdacorrelationprocessor // import "github.com/otelcol-lambda/otelcol-lambda/processor/lambdacorrelationprocessor"

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// joinKey is what pairs an invocation span with its function's root span.
type joinKey struct {
	fn, req string
}

// spanKey identifies a span.
type spanKey struct {
	trace pcommon.TraceID
	span  pcommon.SpanID
}

// entry is one held span, plus for an invocation span the report spans that came while it
// was held.
type entry struct {
	key  joinKey
	role role
	// held[0] is the entry's span, held[1:n] its followers (report spans).
	held       [1 + maxFollowers]heldSpan
	n          int
	at         time.Time
	invocation spanKey // of an invocation entry, for its report spans

	prev, next *entry
}

// span is the held span.
func (e *entry) span() ptrace.Span { return e.held[0].span }

// followers are the report spans held with the entry.
func (e *entry) followers() []heldSpan { return e.held[1:e.n] }

// heldSpan is one held span: where it is, in the heldScope it moved into. Until the request
// it came in is done with, span is still the request's (see correlationProcessor.hold).
type heldSpan struct {
	span  ptrace.Span
	scope *heldScope
	slot  int // index in scope.spans
}

// heldScope holds the spans taken from one scope of one request, moved (not copied) into a
// Traces of its own under the one copy of their resource and scope that they all share.
// Spans released together leave together: all of them at once by moving the whole
// ResourceSpans, some of them under a copy of the resource and scope.
type heldScope struct {
	td    ptrace.Traces // one ResourceSpans with one ScopeSpans
	spans ptrace.SpanSlice
	// resource, when not nil, is the resource the heldScopes of one request's ResourceSpans
	// share (all but the first of its scopes with spans held); td's own then stays empty.
	resource *heldResource
	// owners[slot] is the heldSpan in that slot, nil for a hole: a span moved out by a
	// partial release. Holes are compacted away once they outnumber the spans still held.
	owners []*heldSpan
	live   int // spans still held
	holes  int

	// Of the drain under way: how many of its spans go, and where when not all of them.
	releasing int
	out       ptrace.SpanSlice
	partial   bool
}

func newHeldScope(spans int) *heldScope {
	g := &heldScope{td: ptrace.NewTraces(), owners: make([]*heldSpan, 0, spans)}
	g.spans = g.td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	return g
}

func (g *heldScope) resourceSpans() ptrace.ResourceSpans { return g.td.ResourceSpans().At(0) }

// place records that h occupies the next slot.
func (g *heldScope) place(h *heldSpan, span ptrace.Span) {
	h.span, h.scope, h.slot = span, g, len(g.owners)
	g.owners = append(g.owners, h)
	g.live++
}

// compact removes the holes, renumbering the slots of the spans still held.
func (g *heldScope) compact() {
	k, n := 0, 0
	g.spans.RemoveIf(func(ptrace.Span) bool {
		h := g.owners[k]
		k++
		if h == nil {
			return true
		}
		h.slot = n
		g.owners[n] = h
		n++
		return false
	})
	clear(g.owners[n:])
	g.owners = g.owners[:n]
	g.holes = 0
}

// pendingStore holds entries by join key, invocation entries also by span, oldest first.
type pendingStore struct {
	byKey        map[joinKey]*entry
	byInvocation map[spanKey]*entry
	head, tail   *entry // head is the oldest
	n            int
	peak         int // the most entries held since the maps were made
}

// keptAfterBurst is how many entries' worth of room the store, and the processor's list of
// entries to reuse, keep once a burst is over (see shrink).
const keptAfterBurst = 1024

func newPendingStore() *pendingStore {
	return &pendingStore{byKey: map[joinKey]*entry{}, byInvocation: map[spanKey]*entry{}}
}

func (s *pendingStore) len() int { return s.n }

func (s *pendingStore) oldest() *entry { return s.head }

func (s *pendingStore) add(e *entry) {
	s.byKey[e.key] = e
	if e.role == roleInvocation {
		s.byInvocation[e.invocation] = e
	}
	e.prev, e.next = s.tail, nil
	if s.tail != nil {
		s.tail.next = e
	} else {
		s.head = e
	}
	s.tail = e
	s.n++
	s.peak = max(s.peak, s.n)
}

// shrink gives the room of a burst back to the heap once most of it has left: Go's maps keep
// the room of the most entries they ever held, so when the store holds an eighth or less of
// its peak, and that peak was over keptAfterBurst entries, its maps are made anew with the
// entries left. After a start every function is new and its first window is held: such a
// burst. The copy costs at most an eighth of the inserts since the last one. It tells
// whether it shrank.
func (s *pendingStore) shrink() bool {
	if s.peak <= keptAfterBurst || s.n > s.peak/8 {
		return false
	}
	s.byKey, s.byInvocation = make(map[joinKey]*entry, s.n), map[spanKey]*entry{}
	for e := s.head; e != nil; e = e.next {
		s.byKey[e.key] = e
		if e.role == roleInvocation {
			s.byInvocation[e.invocation] = e
		}
	}
	s.peak = s.n
	return true
}

func (s *pendingStore) remove(e *entry) {
	if s.byKey[e.key] == e {
		delete(s.byKey, e.key)
	}
	if e.role == roleInvocation && s.byInvocation[e.invocation] == e {
		delete(s.byInvocation, e.invocation)
	}
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		s.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		s.tail = e.prev
	}
	e.prev, e.next = nil, nil
	s.n--
}

// rewriteCache remembers, for a bounded number of invocation spans and a bounded time, the
// trace id each was moved to, keyed by the span's original trace id and span id: exactly
// what a report span carries as its trace id and parent span id.
type rewriteCache struct {
	max     int
	ttl     time.Duration
	entries map[spanKey]rewrite
	ring    []spanKey // insertion order; the oldest at start
	start   int
}

type rewrite struct {
	trace pcommon.TraceID
	at    time.Time
}

func newRewriteCache(maxEntries int, ttl time.Duration) *rewriteCache {
	return &rewriteCache{max: maxEntries, ttl: ttl, entries: map[spanKey]rewrite{}}
}

func (c *rewriteCache) put(k spanKey, tid pcommon.TraceID, now time.Time) {
	if _, ok := c.entries[k]; ok {
		c.entries[k] = rewrite{trace: tid, at: now}
		return
	}
	c.expire(now)
	if len(c.entries) >= c.max {
		c.evictOldest()
	}
	c.entries[k] = rewrite{trace: tid, at: now}
	c.ring = append(c.ring, k)
}

func (c *rewriteCache) get(k spanKey, now time.Time) (pcommon.TraceID, bool) {
	r, ok := c.entries[k]
	if !ok || now.Sub(r.at) > c.ttl {
		return pcommon.TraceID{}, false
	}
	return r.trace, true
}

func (c *rewriteCache) len() int { return len(c.entries) }

// expire forgets the entries older than the TTL.
func (c *rewriteCache) expire(now time.Time) {
	for c.start < len(c.ring) {
		k := c.ring[c.start]
		if r, ok := c.entries[k]; ok && now.Sub(r.at) <= c.ttl {
			break
		}
		delete(c.entries, k)
		c.start++
	}
	c.compact()
}

func (c *rewriteCache) evictOldest() {
	for c.start < len(c.ring) {
		k := c.ring[c.start]
		c.start++
		if _, ok := c.entries[k]; ok {
			delete(c.entries, k)
			break
		}
	}
	c.compact()
}

// compact reuses the ring's consumed front once it is half of it.
func (c *rewriteCache) compact() {
	if c.start > 0 && c.start >= len(c.ring)/2 {
		n := copy(c.ring, c.ring[c.start:])
		c.ring = c.ring[:n]
		c.start = 0
	}
}
