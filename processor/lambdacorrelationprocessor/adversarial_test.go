// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdacorrelationprocessor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/processor/lambdacorrelationprocessor/internal/metadata"
)

// Attributes by which a test recognizes a span and where it came from, whatever the
// processor or anyone else did to the rest.
const (
	attrTestSpan     = "test.span"
	attrTestResource = "test.resource"
)

// sentSpan is where a span was sent, its resource and scope, and its span id.
type sentSpan struct {
	resource, scope string
	id              pcommon.SpanID
}

// workload makes requests of random shape: several resources and scopes each, invocation,
// report, function root and child spans of a few functions and request ids, hostile values
// among them (empty, huge and invalid UTF-8 request ids, zero and repeated trace and span
// ids, resources without a function name), and records where each span was sent.
type workload struct {
	rnd  *rand.Rand
	name string // unique per workload: names its spans, resources and scopes
	n    int
	sent map[string]sentSpan
}

func newWorkload(name string, seed uint64) *workload {
	return &workload{rnd: rand.New(rand.NewPCG(seed, 0)), name: name, sent: map[string]sentSpan{}}
}

var hostileRequestIDs = []string{"", strings.Repeat("r", 1<<16), "\xff\xfe\x80", "r\x00r"}

func (w *workload) requestID() string {
	if w.rnd.IntN(10) == 0 {
		return hostileRequestIDs[w.rnd.IntN(len(hostileRequestIDs))]
	}
	return fmt.Sprint("r", w.rnd.IntN(8))
}

// request returns one request, and whether it is the receiver's (its platform spans keep
// their span type) or any other receiver's.
func (w *workload) request() (ptrace.Traces, bool) {
	td := ptrace.NewTraces()
	fromReceiver := w.rnd.IntN(2) == 0
	for range 1 + w.rnd.IntN(3) {
		rs := td.ResourceSpans().AppendEmpty()
		w.n++
		resource := fmt.Sprint(w.name, "/resource-", w.n)
		rs.Resource().Attributes().PutStr(attrTestResource, resource)
		if fn := w.rnd.IntN(3); fn > 0 {
			rs.Resource().Attributes().PutStr(lambdaconv.AttrFaaSName, fmt.Sprint("fn", fn))
		}
		for range 1 + w.rnd.IntN(4) {
			ss := rs.ScopeSpans().AppendEmpty()
			w.n++
			scope := fmt.Sprint(w.name, "/scope-", w.n)
			ss.Scope().SetName(scope)
			for range 1 + w.rnd.IntN(6) {
				s := ss.Spans().AppendEmpty()
				w.span(s)
				w.sent[s.Name()] = sentSpan{resource, scope, s.SpanID()}
			}
		}
	}
	return td, fromReceiver
}

func (w *workload) span(s ptrace.Span) {
	w.n++
	s.SetName(fmt.Sprint(w.name, "/span-", w.n))
	s.Attributes().PutStr(attrTestSpan, s.Name())
	req := w.requestID()
	trace := pcommon.TraceID{1, byte(w.rnd.IntN(4))}
	if w.rnd.IntN(10) == 0 {
		trace = pcommon.TraceID{}
	}
	invocationID := pcommon.SpanID{2, byte(w.rnd.IntN(4))}
	switch w.rnd.IntN(4) {
	case 0:
		s.SetKind(ptrace.SpanKindServer)
		s.SetTraceID(trace)
		s.SetSpanID(invocationID)
		s.Attributes().PutStr(lambdaconv.AttrSpanType, lambdaconv.SpanTypeInvocation)
		s.Attributes().PutStr(lambdaconv.AttrFaaSInvocationID, req)
	case 1:
		s.SetTraceID(trace)
		s.SetSpanID(pcommon.SpanID{3, byte(w.n)})
		s.SetParentSpanID(invocationID)
		s.Attributes().PutStr(lambdaconv.AttrSpanType, lambdaconv.SpanTypeReport)
	case 2:
		s.SetKind(ptrace.SpanKindServer)
		s.SetTraceID(pcommon.TraceID{4, byte(w.rnd.IntN(4))})
		s.SetSpanID(pcommon.SpanID{4, byte(w.rnd.IntN(4))}) // repeated on purpose
		s.Attributes().PutStr(lambdaconv.AttrFaaSInvocationID, req)
	default:
		s.SetKind(ptrace.SpanKindClient)
		s.SetTraceID(pcommon.TraceID{4, byte(w.rnd.IntN(4))})
		s.SetSpanID(pcommon.SpanID{5, byte(w.n)})
	}
}

// scribble overwrites and then drops everything in td, as a consumer that owns it may: what
// the processor still holds must not change.
func scribble(td ptrace.Traces) {
	for _, rs := range td.ResourceSpans().All() {
		rs.Resource().Attributes().PutStr(attrTestResource, "scribbled")
		rs.Resource().Attributes().PutStr(lambdaconv.AttrFaaSName, "scribbled")
		for _, ss := range rs.ScopeSpans().All() {
			ss.Scope().SetName("scribbled")
			for _, s := range ss.Spans().All() {
				s.SetName("scribbled")
				s.Attributes().Clear()
				s.SetSpanID(pcommon.SpanID{0xff})
			}
		}
	}
	td.ResourceSpans().RemoveIf(func(ptrace.ResourceSpans) bool { return true })
}

// received records, by test.span, where each span came out, and counts repeats; then it
// scribbles on what it got (it owns it: the processor mutates data).
type received struct {
	mu      sync.Mutex
	at      map[string]sentSpan
	repeats []string
	wrong   []string
}

func (r *received) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range td.ResourceSpans().All() {
		resource, _ := rs.Resource().Attributes().Get(attrTestResource)
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				id, _ := s.Attributes().Get(attrTestSpan)
				if id.Str() != s.Name() {
					r.wrong = append(r.wrong, fmt.Sprintf("span %q carries the attributes of %q", s.Name(), id.Str()))
				}
				if _, ok := r.at[s.Name()]; ok {
					r.repeats = append(r.repeats, s.Name())
				}
				r.at[s.Name()] = sentSpan{resource.Str(), ss.Scope().Name(), s.SpanID()}
			}
		}
	}
	scribble(td)
	return nil
}

// check tells that every span sent came out exactly once, under the resource and scope it
// was sent with, with its own attributes.
func (r *received) check(t *testing.T, sent map[string]sentSpan) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	require.Empty(t, r.repeats, "spans that came out twice")
	require.Empty(t, r.wrong)
	for name, want := range sent {
		got, ok := r.at[name]
		require.True(t, ok, "%s never came out", name)
		require.Equal(t, want, got, "%s came out elsewhere", name)
	}
	require.Len(t, r.at, len(sent), "spans that were never sent")
}

func newReceived() *received { return &received{at: map[string]sentSpan{}} }

// startProcessor makes the processor through its factory with next after it, and starts it.
func startProcessor(t *testing.T, cfg *Config, next consumer.Traces) processor.Traces {
	t.Helper()
	p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, next)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	return p
}

func nextOf(r *received) consumer.Traces {
	next, _ := consumer.NewTraces(r.ConsumeTraces, consumer.WithCapabilities(consumer.Capabilities{MutatesData: true}))
	return next
}

// play sends a workload's requests, and scribbles on each once the processor is done with it.
func play(t *testing.T, p processor.Traces, w *workload, requests int) {
	for range requests {
		td, fromReceiver := w.request()
		ctx := context.Background()
		if fromReceiver {
			ctx = lambdaconv.WithReceiverSpans(ctx)
		}
		if err := p.ConsumeTraces(ctx, td); err != nil {
			t.Error(err)
			return
		}
		scribble(td)
	}
}

// TestEverySpanOnceWhateverTheOwnersDo: requests of every shape, several at once from
// several goroutines, while the ticker releases expired spans and max_pending evicts; the
// caller and the next consumer both overwrite what they own as soon as they can. Every span
// comes out once, under its own resource and scope, with its own attributes.
func TestEverySpanOnceWhateverTheOwnersDo(t *testing.T) {
	for _, window := range []time.Duration{time.Millisecond, time.Hour} {
		t.Run(window.String(), func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.Window, cfg.MaxPending = window, 16
			r := newReceived()
			p := startProcessor(t, cfg, nextOf(r))
			workloads := make([]*workload, 4)
			var wg sync.WaitGroup
			for i := range workloads {
				workloads[i] = newWorkload(fmt.Sprint("w", i), uint64(i))
				wg.Go(func() { play(t, p, workloads[i], 300) })
			}
			wg.Wait()
			require.NoError(t, p.Shutdown(context.Background()))
			sent := map[string]sentSpan{}
			for _, w := range workloads {
				for k, v := range w.sent {
					sent[k] = v
				}
			}
			r.check(t, sent)
		})
	}
}

// rootSpansOf is one request with a root span, carrying a request id, of each function.
func rootSpansOf(fns ...string) ptrace.Traces {
	td := ptrace.NewTraces()
	for _, fn := range fns {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr(lambdaconv.AttrFaaSName, fn)
		s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		s.SetKind(ptrace.SpanKindServer)
		s.Attributes().PutStr(lambdaconv.AttrFaaSInvocationID, "r1")
	}
	return td
}

// TestFullFunctionTableIsSweptAtMostOnceAMinute: once maxFunctionsTracked functions were
// seen within the hour, a span of yet another function must not scan the whole table (under
// the lock that every request takes): a flood of distinct function names would otherwise
// cost every span a scan of all of them. The table is looked through for stale functions at
// most once a minute; a function that comes in between is not tracked (its spans are held,
// as before it was known).
func TestFullFunctionTableIsSweptAtMostOnceAMinute(t *testing.T) {
	h := newHarness(t, nil)
	fns := make([]string, maxFunctionsTracked)
	for i := range fns {
		fns[i] = fmt.Sprint("fn-", i)
	}
	h.consumeOTLP(t, rootSpansOf(fns...))
	require.Len(t, h.p.functions, maxFunctionsTracked)

	h.clock.Add(instrumentedMemory - 30*time.Second)
	h.consumeOTLP(t, rootSpansOf("a")) // the sweep finds none stale
	require.Nil(t, h.p.functions["a"])

	h.clock.Add(31 * time.Second) // all the others are stale now, but it is too early to look again
	h.consumeOTLP(t, rootSpansOf("b"))
	require.Nil(t, h.p.functions["b"], "swept again within a minute")

	h.clock.Add(30 * time.Second)
	h.consumeOTLP(t, rootSpansOf("c"))
	require.NotNil(t, h.p.functions["c"], "a minute after the last sweep, the next one forgets the stale functions")
	require.Len(t, h.p.functions, 1)
}

// TestLongFunctionNamesAreNotTracked: the function table outlives the spans (an hour), so it
// must not keep names of any length: a client could make it hold maxFunctionsTracked
// megabyte-long names. Such a function's spans are joined, only not tracked.
func TestLongFunctionNamesAreNotTracked(t *testing.T) {
	h := newHarness(t, nil)
	long := strings.Repeat("f", 1<<20)
	h.consumeOTLP(t, rootSpansOf(long))
	require.Zero(t, len(h.p.functions), "the name is kept")
	require.Equal(t, 1, h.p.pending.len(), "its root span waits for its invocation span")
}

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestScopesOfOneResourceShareItsCopy: a request whose one resource has many scopes, each
// with a span to hold, must not cost a copy of the resource per scope, neither while they
// are held nor when they leave together (they were held at the same time, so they expire
// together): a 1 MiB resource with 20000 scopes of one small span each (a 4 MB request)
// would be 20 GB.
func TestScopesOfOneResourceShareItsCopy(t *testing.T) {
	const scopes, resourceSize = 64, 1 << 20
	h := newHarness(t, nil)
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr(lambdaconv.AttrFaaSName, "fn")
	rs.Resource().Attributes().PutEmptyBytes("large").FromRaw(make([]byte, resourceSize))
	for i := range scopes {
		s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		s.SetKind(ptrace.SpanKindServer)
		s.Attributes().PutStr(lambdaconv.AttrFaaSInvocationID, fmt.Sprint("r", i))
	}
	before := heapInUse()
	h.consumeOTLP(t, td)
	td, rs = ptrace.Traces{}, ptrace.ResourceSpans{}
	after := heapInUse()
	held := after - min(before, after)
	require.Equal(t, scopes, h.p.pending.len())
	require.Less(t, held, uint64(8*resourceSize), "%d copies of the resource held", held/resourceSize)

	h.clock.Add(h.p.cfg.Window)
	h.expire(t)
	require.Equal(t, scopes, h.sink.SpanCount())
	require.Len(t, h.sink.AllTraces(), 1)
	out := h.sink.AllTraces()[0].ResourceSpans()
	// The first scope's spans have their own copy, the others share one.
	require.LessOrEqual(t, out.Len(), 2, "a copy of the resource per scope")
	for _, rs := range out.All() {
		v, _ := rs.Resource().Attributes().Get("large")
		require.Equal(t, resourceSize, v.Bytes().Len())
	}
}
