// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdacorrelationprocessor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
)

// FuzzConsumeTraces plays a sequence of requests that mixes, in any order and grouping,
// invocation, report, function root and child spans of a few request ids, two functions,
// several resources and scopes per request, with time passing and a small max_pending, and
// hostile request ids (empty, invalid UTF-8). The caller and the next consumer overwrite what
// they own as soon as they can. Whatever is held, paired, evicted or expired: every span
// comes out exactly once, under the resource and scope it came with, with its own span id
// and attributes, and never more than max_pending are held.
func FuzzConsumeTraces(f *testing.F) {
	f.Add([]byte{2, 1, 2, 2, 6, 1, 3, 1, 4, 0, 3, 2, 6, 0})                                     // invocations first, then their functions
	f.Add([]byte{3, 1, 4, 0, 0, 1, 1, 0, 2, 1, 5, 1, 6, 9, 2, 1, 6, 1})                         // function first, two resources
	f.Add([]byte{2, 1, 2, 2, 2, 3, 2, 4, 2, 5, 5, 1, 5, 1, 5, 1, 6, 1, 3, 3, 6, 14, 6, 9})      // eviction, followers, expiry
	f.Add([]byte{2, 0, 4, 0, 1, 0, 2, 1, 3, 0, 5, 0, 0, 3, 3, 1, 4, 0, 6, 1, 2, 0, 3, 1, 6, 0}) // mixed scopes and resources
	f.Fuzz(func(t *testing.T, ops []byte) {
		h := newHarness(t, func(c *Config) { c.MaxPending = 4 })
		r := newReceived()
		h.p.next = nextOf(r)
		sent := map[string]sentSpan{}
		var (
			td  ptrace.Traces
			rs  ptrace.ResourceSpans
			ss  ptrace.ScopeSpans
			tag string
		)
		newResource := func(fn byte) {
			if td == (ptrace.Traces{}) {
				td = ptrace.NewTraces()
			}
			rs = td.ResourceSpans().AppendEmpty()
			tag = fmt.Sprint("resource-", len(sent), "-", td.ResourceSpans().Len())
			rs.Resource().Attributes().PutStr(lambdaconv.AttrFaaSName, fmt.Sprint("fn", fn%2))
			rs.Resource().Attributes().PutStr(attrTestResource, tag)
			ss = ptrace.ScopeSpans{}
		}
		newScope := func() {
			if rs == (ptrace.ResourceSpans{}) {
				newResource(0)
			}
			ss = rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName(fmt.Sprint(tag, "/scope-", rs.ScopeSpans().Len())) // unique: a scope of another resource shows
		}
		addSpan := func(kind ptrace.SpanKind, trace pcommon.TraceID, id, parent pcommon.SpanID) ptrace.Span {
			if ss == (ptrace.ScopeSpans{}) {
				newScope()
			}
			s := ss.Spans().AppendEmpty()
			name := fmt.Sprint("span-", len(sent))
			s.SetName(name)
			s.Attributes().PutStr(attrTestSpan, name)
			s.SetKind(kind)
			s.SetTraceID(trace)
			s.SetSpanID(id)
			s.SetParentSpanID(parent)
			sent[name] = sentSpan{resource: tag, scope: ss.Scope().Name(), id: id}
			return s
		}
		n := func() byte { return byte(len(sent)) }
		for i := 0; i+1 < len(ops); i += 2 {
			op, arg := ops[i]%7, ops[i+1]
			req := fuzzRequestIDs[arg%6]
			invocationID := pcommon.SpanID{2, arg % 6}
			switch op {
			case 0:
				newResource(arg)
			case 1:
				newScope()
			case 2:
				s := addSpan(ptrace.SpanKindServer, pcommon.TraceID{1, arg % 6}, invocationID, pcommon.SpanID{9})
				s.Attributes().PutStr(lambdaconv.AttrSpanType, lambdaconv.SpanTypeInvocation)
				s.Attributes().PutStr(lambdaconv.AttrFaaSInvocationID, req)
			case 3:
				kind := ptrace.SpanKindServer
				if arg&8 != 0 {
					kind = ptrace.SpanKindConsumer
				}
				s := addSpan(kind, pcommon.TraceID{3, arg % 6}, pcommon.SpanID{4, n()}, pcommon.SpanID{5})
				s.Attributes().PutStr(lambdaconv.AttrFaaSInvocationID, req)
			case 4:
				addSpan(ptrace.SpanKindClient, pcommon.TraceID{3, arg % 6}, pcommon.SpanID{6, n()}, pcommon.SpanID{4})
			case 5:
				s := addSpan(ptrace.SpanKindInternal, pcommon.TraceID{1, arg % 6}, pcommon.SpanID{7, n()}, invocationID)
				s.Attributes().PutStr(lambdaconv.AttrSpanType, lambdaconv.SpanTypeReport)
			case 6:
				if td != (ptrace.Traces{}) {
					ctx := context.Background()
					if arg&1 != 0 {
						ctx = lambdaconv.WithReceiverSpans(ctx)
					}
					require.NoError(t, h.p.ConsumeTraces(ctx, td))
					scribble(td)
					td, rs, ss = ptrace.Traces{}, ptrace.ResourceSpans{}, ptrace.ScopeSpans{}
				}
				h.clock.Add(time.Duration(arg>>1%4) * 2 * time.Second)
				if arg&8 != 0 {
					h.expire(t)
				}
			}
			require.LessOrEqual(t, h.p.pending.len(), 4)
		}
		if td != (ptrace.Traces{}) {
			require.NoError(t, h.p.ConsumeTraces(lambdaconv.WithReceiverSpans(context.Background()), td))
		}
		require.NoError(t, h.p.Shutdown(context.Background()))

		r.check(t, sent)
		require.Equal(t, 0, h.p.pending.len())
	})
}

// fuzzRequestIDs are the request ids of FuzzConsumeTraces: the empty one is invalid, the
// last one is not UTF-8.
var fuzzRequestIDs = [6]string{"r0", "r1", "r2", "r3", "", "r\xff\xfe"}
