// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdacorrelationprocessor

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv/lambdaconvtest"
	"github.com/otelcol-lambda/otelcol-lambda/processor/lambdacorrelationprocessor/internal/metadata"
)

const benchBatch = 100 // invocations per request

// benchRequests builds n requests of benchBatch invocations, their request ids named after
// prefix: the receiver's invocation spans, and (when partners) one request of the
// functions' spans each (a SQS root span + 3 children per invocation).
func benchRequests(n int, partners bool, prefix string) (invs, fns []ptrace.Traces) {
	for r := range n {
		inv := lambdaconvtest.NewBatch(checkoutSandbox, invocationStart)
		fn := ptrace.NewTraces()
		frs := fn.ResourceSpans().AppendEmpty()
		frs.Resource().Attributes().PutStr("faas.name", fnName)
		frs.Resource().Attributes().PutStr("service.name", fnName)
		fspans := frs.ScopeSpans().AppendEmpty().Spans()
		for i := range benchBatch {
			id := fmt.Sprintf("%s-%d-%d", prefix, r, i)
			inv.Invocation(lambdaconvtest.Invocation{RequestID: id, Duration: 250 * time.Millisecond})
			if !partners {
				continue
			}
			root := fspans.AppendEmpty()
			root.SetName(fnName)
			root.SetKind(ptrace.SpanKindServer)
			root.SetTraceID(pcommon.TraceID{3, byte(r >> 8), byte(r), byte(i)})
			root.SetSpanID(pcommon.SpanID{4, byte(r >> 8), byte(r), byte(i)})
			ra := root.Attributes()
			ra.PutStr("faas.invocation_id", id)
			ra.PutStr("faas.trigger", "pubsub")
			ra.PutStr("messaging.system", "aws_sqs")
			ra.PutStr("messaging.destination.name", "orders-queue")
			ra.PutStr("aws.lambda.event_source.arn", "arn:aws:sqs:eu-west-1:123456789012:orders-queue")
			ra.PutInt("aws.lambda.event_source.time_unix_ms", 1_717_243_199_000)
			for c := range 3 {
				child := fspans.AppendEmpty()
				child.SetName("child")
				child.SetKind(ptrace.SpanKindClient)
				child.SetTraceID(root.TraceID())
				child.SetSpanID(pcommon.SpanID{5, byte(r >> 8), byte(r), byte(i), byte(c)})
				child.SetParentSpanID(root.SpanID())
			}
		}
		invs = append(invs, inv.Traces)
		if partners {
			fns = append(fns, fn)
		}
	}
	return invs, fns
}

func newBenchProcessor(b *testing.B, cfg *Config) *correlationProcessor {
	p, err := newCorrelationProcessor(processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop(), time.Now)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// sent is what a benchmark operation sends: the request of benchBatch invocation spans,
// the request of their functions' spans (a root span and 3 children each), or both.
type sent struct{ invocations, functions bool }

// runRequests feeds b.N operations, one operation being what send says, the invocation
// spans handed on with invocationCtx; requests are built outside the timer, pool at a time.
func runRequests(b *testing.B, p *correlationProcessor, invocationCtx context.Context, send sent) {
	const pool = 64
	// The functions' spans come from OTLP: their provenance check is part of the cost.
	otlpCtx := context.Background()
	spansPerOp := 0
	if send.invocations {
		spansPerOp += benchBatch
	}
	if send.functions {
		spansPerOp += benchBatch * 4
	}
	b.ReportAllocs()
	var invs, fns []ptrace.Traces
	for i := 0; i < b.N; i++ {
		if i%pool == 0 {
			b.StopTimer()
			invs, fns = benchRequests(pool, send.functions, "req")
			b.StartTimer()
		}
		if send.invocations {
			_ = p.ConsumeTraces(invocationCtx, invs[i%pool])
		}
		if send.functions {
			_ = p.ConsumeTraces(otlpCtx, fns[i%pool])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spansPerOp), "ns/span")
}

// receiverCtx is how the receiver hands on its invocation spans (from the Telemetry API).
var receiverCtx = lambdaconv.WithReceiverSpans(context.Background())

// BenchmarkPaired: per op, 100 invocation spans and their functions' 500 spans (a SQS root
// span + 3 children each); every invocation is paired.
func BenchmarkPaired(b *testing.B) {
	runRequests(b, newBenchProcessor(b, createDefaultConfig().(*Config)), receiverCtx, sent{invocations: true, functions: true})
}

// BenchmarkUnpaired: per op, 100 invocation spans of an instrumented function whose own
// spans do not come: each is held, then released unchanged by the size bound (the same work
// as a closing window).
func BenchmarkUnpaired(b *testing.B) { benchHeld(b, roleInvocation) }

// BenchmarkUninstrumented: per op, 100 invocation spans of a function known to send no
// spans of its own: they are not held.
func BenchmarkUninstrumented(b *testing.B) { benchNotHeld(b, roleInvocation) }

// BenchmarkFunctionSpansHeld: per op, the spans of 100 invocations (a root span and 3
// children each) of a function whose invocation spans came lately but not these: each root
// span is held, then released unchanged by the size bound. Before the processor told
// functions without Telemetry API events apart, every function's spans took this path.
func BenchmarkFunctionSpansHeld(b *testing.B) { benchHeld(b, roleFunction) }

// BenchmarkFunctionSpansWithoutTelemetryAPI: the same spans, of a function known to send
// no Telemetry API events (no extension): they are not held.
func BenchmarkFunctionSpansWithoutTelemetryAPI(b *testing.B) { benchNotHeld(b, roleFunction) }

// benchHeld sends spans of role r of a function whose partner spans came lately, so that
// each is held.
func benchHeld(b *testing.B, r role) {
	cfg := createDefaultConfig().(*Config)
	cfg.MaxPending = 1000
	p := newBenchProcessor(b, cfg)
	p.function(fnName, time.Now()).last[side(partnerRole(r))] = time.Now()
	runRequests(b, p, receiverCtx, sentOf(r))
}

// benchNotHeld sends spans of role r of a function whose partner spans are not coming.
func benchNotHeld(b *testing.B, r role) {
	p := newBenchProcessor(b, createDefaultConfig().(*Config))
	p.function(fnName, time.Now()).unpairedInARow[side(r)] = uninstrumentedAfter
	runRequests(b, p, receiverCtx, sentOf(r))
}

// sentOf is the requests of spans of role r alone.
func sentOf(r role) sent { return sent{invocations: r == roleInvocation, functions: r == roleFunction} }

// BenchmarkPassThrough: spans that are neither kind (function children, from OTLP) pass,
// after the provenance check.
func BenchmarkPassThrough(b *testing.B) {
	p := newBenchProcessor(b, createDefaultConfig().(*Config))
	ctx := context.Background()
	_, fns := benchRequests(1, true, "req")
	td := fns[0]
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().RemoveIf(func(s ptrace.Span) bool { return s.Kind() == ptrace.SpanKindServer })
	n := td.SpanCount()
	b.ReportAllocs()
	for b.Loop() {
		_ = p.ConsumeTraces(ctx, td)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/span")
}

// TestMemoryUnderFlood measures the heap held under a flood of unpaired invocation spans
// with distinct request ids: it stays at what max_pending holds, however many arrive. The
// figures go to testbed/results/correlation.md (run with -v).
func TestMemoryUnderFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("measures memory")
	}
	cfg := createDefaultConfig().(*Config)
	p, err := newCorrelationProcessor(processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	p.function(fnName, time.Now()).last[side(roleFunction)] = time.Now() // instrumented: its spans are held, the worst case
	ctx := lambdaconv.WithReceiverSpans(context.Background())
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	base := heap()
	sent := 0
	for round := 1; round <= 4; round++ {
		for r := 0; r < 250; r++ {
			invs, _ := benchRequests(1, false, fmt.Sprintf("flood-%d-%d", round, r)) // distinct ids in every round
			if err := p.ConsumeTraces(ctx, invs[0]); err != nil {
				t.Fatal(err)
			}
			sent += benchBatch
		}
		h := heap()
		t.Logf("after %7d unpaired invocation spans: %5d held (max_pending %d), heap +%.1f MiB", sent, p.pending.len(), cfg.MaxPending, float64(h-base)/(1<<20))
		if p.pending.len() > cfg.MaxPending {
			t.Fatalf("%d held, more than max_pending", p.pending.len())
		}
	}
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkForgedInvocations: per op, 100 invocation spans sent over OTLP, the worst a
// forger can do: each loses its span type and platform attributes, and then, being a
// SERVER span with a request id, is held as a function's root span until the size bound
// lets it go.
func BenchmarkForgedInvocations(b *testing.B) {
	cfg := createDefaultConfig().(*Config)
	cfg.MaxPending = 1000
	runRequests(b, newBenchProcessor(b, cfg), context.Background(), sent{invocations: true})
}
