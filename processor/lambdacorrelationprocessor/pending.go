// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdacorrelationprocessor // import "github.com/otelcol-lambda/otelcol-lambda/processor/lambdacorrelationprocessor"

import (
	"strings"
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

// entry is one held span, in a Traces of its own (its resource, its scope, the span), plus
// for an invocation span the report spans that came while it was held.
type entry struct {
	key        joinKey
	role       role
	td         ptrace.Traces
	at         time.Time
	invocation spanKey // of an invocation entry, for its report spans
	followers  int

	prev, next *entry
}

func newEntry(key joinKey, r role, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, span ptrace.Span, now time.Time) *entry {
	e := &entry{key: joinKey{fn: strings.Clone(key.fn), req: strings.Clone(key.req)}, role: r, td: ptrace.NewTraces(), at: now}
	e.copySpan(rs, ss, span)
	if r == roleInvocation {
		e.invocation = spanKey{trace: span.TraceID(), span: span.SpanID()}
	}
	return e
}

func (e *entry) copySpan(rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, span ptrace.Span) {
	out := e.td.ResourceSpans().AppendEmpty()
	rs.Resource().CopyTo(out.Resource())
	out.SetSchemaUrl(rs.SchemaUrl())
	outSS := out.ScopeSpans().AppendEmpty()
	ss.Scope().CopyTo(outSS.Scope())
	outSS.SetSchemaUrl(ss.SchemaUrl())
	span.CopyTo(outSS.Spans().AppendEmpty())
}

// span is the held span.
func (e *entry) span() ptrace.Span {
	return e.td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
}

// follow holds a report span with its invocation span.
func (e *entry) follow(rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, span ptrace.Span) {
	e.copySpan(rs, ss, span)
	e.followers++
}

// pendingStore holds entries by join key, invocation entries also by span, oldest first.
type pendingStore struct {
	byKey        map[joinKey]*entry
	byInvocation map[spanKey]*entry
	head, tail   *entry // head is the oldest
	n            int
}

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
	entries map[spanKey]*rewrite
	ring    []spanKey // insertion order; the oldest at start
	start   int
}

type rewrite struct {
	trace pcommon.TraceID
	at    time.Time
}

func newRewriteCache(maxEntries int, ttl time.Duration) *rewriteCache {
	return &rewriteCache{max: maxEntries, ttl: ttl, entries: map[spanKey]*rewrite{}}
}

func (c *rewriteCache) put(k spanKey, tid pcommon.TraceID, now time.Time) {
	if r := c.entries[k]; r != nil {
		r.trace, r.at = tid, now
		return
	}
	c.expire(now)
	if len(c.entries) >= c.max {
		c.evictOldest()
	}
	c.entries[k] = &rewrite{trace: tid, at: now}
	c.ring = append(c.ring, k)
}

func (c *rewriteCache) get(k spanKey, now time.Time) (pcommon.TraceID, bool) {
	r := c.entries[k]
	if r == nil || now.Sub(r.at) > c.ttl {
		return pcommon.TraceID{}, false
	}
	return r.trace, true
}

func (c *rewriteCache) len() int { return len(c.entries) }

// expire forgets the entries older than the TTL.
func (c *rewriteCache) expire(now time.Time) {
	for c.start < len(c.ring) {
		k := c.ring[c.start]
		r := c.entries[k]
		if r != nil && now.Sub(r.at) <= c.ttl {
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
