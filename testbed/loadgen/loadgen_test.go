// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package loadgen

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
)

var testMix = Mix{ColdStart: 0.05, Error: 0.1, Timeout: 0.05, OOM: 0.03, Retry: 0.5}

var testStart = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func generate(t *testing.T) *Fleet {
	t.Helper()
	f, err := Generate(Config{Prefix: "t", Functions: 4, Sandboxes: 3, Invocations: 2000, PerBatch: 20, Mix: testMix, Seed: 7,
		Start: testStart})
	require.NoError(t, err)
	return f
}

// fullConfig has every trigger (9 functions), function spans and reports at the next thaw.
func fullConfig() Config {
	return Config{Prefix: "s", Functions: 9, Sandboxes: 3, Invocations: 4000, PerBatch: 15, Mix: testMix, Seed: 11,
		Start: testStart, FunctionSpans: true, ReportLag: true}
}

func generateFull(t *testing.T) *Fleet {
	t.Helper()
	f, err := Generate(fullConfig())
	require.NoError(t, err)
	return f
}

// invocation is what recount learned of one invocation from the platform events.
type invocation struct {
	fn, requestID, instance string
	start, end              time.Time
	wantSpan                bool
	spans                   int
}

// recount decodes the batches as the gateway would count them: telemetry batches as the
// receiver's translator joins them (per sandbox, across batches), OTLP batches as the
// correlation processor and the connector read the function spans.
func recount(t *testing.T, f *Fleet) map[string]*Truth {
	t.Helper()
	out := map[string]*Truth{}
	truth := func(fn string) *Truth {
		tr := out[fn]
		if tr == nil {
			tr = &Truth{Errors: map[string]int{}}
			out[fn] = tr
		}
		return tr
	}
	lastSeq := map[string]uint64{}
	// Per sandbox (extension instance id), as the receiver keeps them between batches.
	started := map[string]map[string]time.Time{} // platform.start seen, not yet counted
	finished := map[string]map[string]uint64{}   // counted, report not yet seen: batch sequence
	byTrace := map[[16]byte]*invocation{}
	// lastAttempt of a request id: the slot and batch index of its latest attempt.
	type attempt struct{ slot, batch int }
	lastAttempt := map[string]attempt{}
	for bi, b := range f.Batches {
		tr := truth(b.Function)
		inst := b.Header.Get(wire.HeaderExtensionInstanceID)
		require.NotEmpty(t, inst)
		assert.Equal(t, b.Function, b.Header.Get(wire.HeaderFunctionName))
		if b.IsTraces() {
			recountSpans(t, f, b, tr, inst, byTrace)
			continue
		}
		require.Equal(t, wire.TelemetryPath, b.Path)
		require.Equal(t, ContentTypeJSON, b.ContentType)
		require.Equal(t, ContentTypeJSON, b.Header.Get("Content-Type"))
		require.Zero(t, b.Spans)
		seq, err := strconv.ParseUint(b.Header.Get(wire.HeaderBatchSequence), 10, 64)
		require.NoError(t, err)
		require.Equal(t, lastSeq[inst]+1, seq, "sequence of %s", inst)
		lastSeq[inst] = seq
		if started[inst] == nil {
			started[inst], finished[inst] = map[string]time.Time{}, map[string]uint64{}
		}
		marked := map[int]bool{}
		if m := b.Header.Get(wire.HeaderReportsWithoutRuntimeDone); m != "" {
			for _, s := range strings.Split(m, ",") {
				i, err := strconv.Atoi(s)
				require.NoError(t, err)
				marked[i] = true
			}
		}
		events, err := telemetryapi.DecodeEvents(b.Body)
		require.NoError(t, err)
		invocations, cold := 0, false
		for i, e := range events {
			rec, err := e.DecodeRecord()
			require.NoError(t, err)
			count := func(id, status, errorType string, durationMs float64, tracing *telemetryapi.TraceContext, oom bool) {
				invocations++
				tr.Invocations++
				if prev, ok := lastAttempt[id]; ok {
					tr.Retries++
					if f.Config.FunctionSpans {
						// Two attempts of a request id must not meet at the gateway.
						assert.Equal(t, prev.slot, b.Slot, "retry of %s in the slot of its first attempt", id)
						assert.Less(t, prev.batch, bi, "retry of %s in a later batch", id)
					}
				}
				lastAttempt[id] = attempt{slot: b.Slot, batch: bi}
				if cold {
					tr.ColdStarts++
					cold = false
				}
				if et := lambdaconv.ErrorType(status, errorType); et != "" {
					tr.Errors[et]++
				}
				if status == telemetryapi.StatusTimeout {
					tr.Timeouts++
				}
				start, ok := started[inst][id]
				require.True(t, ok, "platform.start of %s", id)
				delete(started[inst], id)
				d := telemetryapi.MillisToDuration(durationMs)
				tr.DurationCount++
				tr.DurationSum += float64(d.Nanoseconds()) / 1e9
				finished[inst][id] = seq
				if tracing == nil {
					require.False(t, f.Config.FunctionSpans, "tracing of %s", id)
					return
				}
				x, err := tracing.XRay()
				require.NoError(t, err)
				_, dup := byTrace[x.TraceID]
				require.False(t, dup, "one trace per invocation")
				// The function's span exists when its handler returned.
				want := !oom && (status == telemetryapi.StatusSuccess || errorType == "Handled" || errorType == "Extension.Crash")
				byTrace[x.TraceID] = &invocation{fn: b.Function, requestID: id, instance: inst, start: start, end: start.Add(d), wantSpan: want}
			}
			switch r := rec.(type) {
			case *telemetryapi.PlatformInitStart:
				cold = true
			case *telemetryapi.PlatformStart:
				require.Equal(t, f.Config.FunctionSpans, r.Tracing != nil)
				started[inst][r.RequestID] = e.Time
			case *telemetryapi.PlatformRuntimeDone:
				require.False(t, marked[i])
				require.NotNil(t, r.Metrics)
				count(r.RequestID, r.Status, r.ErrorType, r.Metrics.DurationMs, r.Tracing, false)
			case *telemetryapi.PlatformReport:
				tr.BilledDurationMs += int64(r.Metrics.BilledDurationMs)
				if marked[i] {
					assert.Equal(t, "Runtime.OutOfMemory", r.ErrorType)
					tr.OOMs++
					count(r.RequestID, r.Status, r.ErrorType, r.Metrics.DurationMs, r.Tracing, true)
				}
				counted, ok := finished[inst][r.RequestID]
				require.True(t, ok, "report of %s after its invocation, in its sandbox", r.RequestID)
				delete(finished[inst], r.RequestID)
				if counted != seq {
					// A report at the next thaw: first in the sandbox's very next batch.
					require.True(t, f.Config.ReportLag, "report of %s in a later batch", r.RequestID)
					assert.Equal(t, counted+1, seq, "report of %s in the next batch", r.RequestID)
					assert.Equal(t, 0, i, "the lagged report of %s comes first", r.RequestID)
					tr.LaggedReports++
				}
			}
		}
		require.Equal(t, b.Invocations, invocations)
	}
	for inst, m := range finished {
		assert.Empty(t, m, "reports never delivered by %s", inst)
	}
	for tid, inv := range byTrace {
		if inv.wantSpan {
			assert.Equal(t, 1, inv.spans, "function span of %s (%x)", inv.requestID, tid)
		} else {
			assert.Zero(t, inv.spans, "no function span for %s", inv.requestID)
		}
	}
	return out
}

// recountSpans reads an OTLP batch as the correlation processor joins its spans and the
// connector labels the invocations.
func recountSpans(t *testing.T, f *Fleet, b Batch, tr *Truth, inst string, byTrace map[[16]byte]*invocation) {
	t.Helper()
	require.True(t, f.Config.FunctionSpans)
	require.Equal(t, TracesPath, b.Path)
	require.Equal(t, ContentTypeProtobuf, b.ContentType)
	require.Equal(t, ContentTypeProtobuf, b.Header.Get("Content-Type"))
	require.Empty(t, b.Header.Get(wire.HeaderBatchSequence), "OTLP requests are not numbered")
	require.Zero(t, b.Invocations)
	req := ptraceotlp.NewExportRequest()
	require.NoError(t, req.UnmarshalProto(b.Body))
	td := req.Traces()
	require.Equal(t, 1, td.ResourceSpans().Len(), "one resource per sandbox")
	require.Equal(t, b.Spans, td.SpanCount())
	rs := td.ResourceSpans().At(0)
	res := rs.Resource().Attributes().AsRaw()
	assert.Equal(t, b.Function, res[lambdaconv.AttrServiceName])
	assert.Equal(t, b.Function, res[lambdaconv.AttrFaaSName], "the join's function name")
	assert.Equal(t, "aws", res[lambdaconv.AttrCloudProvider])
	assert.Equal(t, "eu-west-1", res[lambdaconv.AttrCloudRegion])
	assert.NotEmpty(t, res[lambdaconv.AttrFaaSInstance], "faas.instance: never counted as SDK invocations")
	spans := rs.ScopeSpans().At(0).Spans()
	for i := range spans.Len() {
		span := spans.At(i)
		a := span.Attributes().AsRaw()
		inv := byTrace[span.TraceID()]
		require.NotNil(t, inv, "the platform's invocation in the same trace, sent before")
		inv.spans++
		// What lambda_correlation needs to join it with the invocation span.
		assert.Equal(t, ptrace.SpanKindServer, span.Kind())
		assert.Equal(t, inv.requestID, a[lambdaconv.AttrFaaSInvocationID])
		assert.Equal(t, inv.fn, b.Function)
		assert.Equal(t, inv.instance, inst, "sent by the sandbox that ran it")
		assert.False(t, span.SpanID().IsEmpty())
		assert.False(t, span.ParentSpanID().IsEmpty())
		assert.False(t, span.StartTimestamp().AsTime().Before(inv.start))
		assert.False(t, span.EndTimestamp().AsTime().After(inv.end))
		// What lambda_metrics labels by (its default dimensions).
		str := func(k string) string { v, _ := a[k].(string); return v }
		labels := Labels{FaaSTrigger: str(lambdaconv.AttrFaaSTrigger), MessagingSystem: str(lambdaconv.AttrMessagingSystem),
			MessagingDestinationName: str(lambdaconv.AttrMessagingDestinationName), HTTPRoute: str(lambdaconv.AttrHTTPRoute)}
		require.NotEmpty(t, labels.FaaSTrigger)
		got := Trigger{Labels: labels, Collection: str(lambdaconv.AttrFaaSDocumentCollection), ARN: str(lambdaconv.AttrEventSourceARN)}
		if tr.Spans > 0 {
			require.Equal(t, tr.Trigger, got, "one event source per function")
		}
		tr.Trigger = got
		tr.Spans++
		eventMs, ok := a[lambdaconv.AttrEventTimeUnixMs].(int64)
		require.True(t, ok, "source time as an int")
		// The connector's age: the invocation span's start (platform.start) minus the source time.
		tr.EventAgeCount++
		tr.EventAgeSum += max(float64(inv.start.UnixNano()-eventMs*1e6)/1e9, 0)
	}
}

// assertTruth compares a recount with the generated truth: counts exactly, sums of seconds
// with a relative tolerance.
func assertTruth(t *testing.T, want, got *Truth, fn string) {
	t.Helper()
	require.NotNil(t, got, fn)
	assert.InEpsilon(t, want.DurationSum, got.DurationSum, 1e-9, "%s duration sum", fn)
	if want.EventAgeSum != 0 || got.EventAgeSum != 0 {
		assert.InEpsilon(t, want.EventAgeSum, got.EventAgeSum, 1e-9, "%s event age sum", fn)
	}
	w, g := *want, *got
	w.DurationSum, g.DurationSum, w.EventAgeSum, g.EventAgeSum = 0, 0, 0, 0
	// The kind is not on the wire; the labels, collection and ARN are.
	g.Trigger.Kind = w.Trigger.Kind
	if g.Spans == 0 {
		g.Trigger = w.Trigger // no function spans: nothing names the source
	}
	assert.Equal(t, w, g, fn)
}

func TestGenerateGroundTruth(t *testing.T) {
	f := generate(t)
	total := f.Total()
	require.Equal(t, 2000, total.Invocations)
	assert.Positive(t, total.OOMs, "marked OOM reports")
	assert.Positive(t, total.Retries, "retries reusing request ids")
	assert.Positive(t, total.Timeouts)
	assert.GreaterOrEqual(t, total.ColdStarts, 12, "every slot starts cold")
	for _, et := range []string{lambdaconv.ErrorTypeFunction, lambdaconv.ErrorTypeRuntimeExit, lambdaconv.ErrorTypeUnhandled,
		lambdaconv.ErrorTypeExtension, lambdaconv.ErrorTypeTimeout, lambdaconv.ErrorTypeOutOfMemory} {
		assert.Positive(t, total.Errors[et], et)
	}
	assert.Equal(t, total.Timeouts, total.Errors[lambdaconv.ErrorTypeTimeout])
	assert.Equal(t, total.OOMs, total.Errors[lambdaconv.ErrorTypeOutOfMemory])
	assert.Equal(t, total.Invocations, total.DurationCount, "every invocation has a duration")
	assert.Zero(t, total.Spans)
	assert.Zero(t, total.LaggedReports)
	for _, b := range f.Batches {
		assert.False(t, b.IsTraces())
	}

	got := recount(t, f)
	require.Len(t, got, 4)
	for fn, want := range f.Truth {
		assertTruth(t, want, got[fn], fn)
		assert.Equal(t, map[Labels]int{{}: want.Invocations}, want.InvocationsByLabels(), "no function spans, no event source")
	}
}

// TestGenerateSlots: with Slots, the fleet has that many sandbox slots in all, spread over
// the functions in turn, and every one of them brings up its sandbox (one extension
// instance each when nothing recycles them), whatever the functions' count divides into.
func TestGenerateSlots(t *testing.T) {
	f, err := Generate(Config{Prefix: "c", Functions: 4, Slots: 10, Invocations: 25, PerBatch: 5,
		Mix: Mix{Error: 0.1, Timeout: 0.05}, FunctionSpans: true, Seed: 3, Start: testStart})
	require.NoError(t, err)
	instances := map[string]string{}
	slotsOf := map[string]map[int]bool{}
	for _, b := range f.Batches {
		inst := b.Header.Get(wire.HeaderExtensionInstanceID)
		instances[inst] = b.Function
		if slotsOf[b.Function] == nil {
			slotsOf[b.Function] = map[int]bool{}
		}
		slotsOf[b.Function][b.Slot] = true
	}
	assert.Len(t, instances, 10, "one sandbox per slot: no cold start mix, no OOM")
	require.Len(t, slotsOf, 4)
	for fn, slots := range slotsOf {
		for s := range slots {
			assert.Equal(t, fmt.Sprintf("c-fn%d", s%4), fn, "slot %d runs function slot %% Functions", s)
		}
	}
	assert.Len(t, slotsOf["c-fn0"], 3) // slots 0, 4, 8
	assert.Len(t, slotsOf["c-fn3"], 2) // slots 3, 7
	assert.Equal(t, 25, f.Total().Invocations)
	assert.Equal(t, 10, f.Total().ColdStarts, "every slot's first invocation, nothing else")
	got := recount(t, f)
	for fn, want := range f.Truth {
		assertTruth(t, want, got[fn], fn)
	}
}

func TestGenerateFunctionSpansAndReportLag(t *testing.T) {
	f := generateFull(t)
	total := f.Total()
	require.Equal(t, 4000, total.Invocations)
	assert.Positive(t, total.OOMs)
	assert.Positive(t, total.Timeouts)
	assert.Positive(t, total.Retries)
	assert.Positive(t, total.LaggedReports)
	assert.Positive(t, total.Spans)
	assert.Less(t, total.Spans, total.Invocations-total.OOMs-total.Timeouts, "runtime failures have no span either")
	assert.Equal(t, total.Spans, total.EventAgeCount)
	assert.Positive(t, total.EventAgeSum)
	assert.Equal(t, total.Invocations, total.DurationCount)
	assert.Greater(t, total.BilledDurationMs, int64(total.DurationSum*1000), "billed is rounded up")

	got := recount(t, f)
	require.Len(t, got, 9)
	for fn, want := range f.Truth {
		assertTruth(t, want, got[fn], fn)
		byLabels := want.InvocationsByLabels()
		assert.Equal(t, want.Spans, byLabels[want.Trigger.Labels], fn)
		assert.Equal(t, want.Invocations-want.Spans, byLabels[Labels{}], fn)
	}
}

func TestGenerateTriggers(t *testing.T) {
	f := generateFull(t)
	want := map[TriggerKind]Labels{
		TriggerSQS:            {FaaSTrigger: "pubsub", MessagingSystem: "aws_sqs", MessagingDestinationName: "s-fn0-queue"},
		TriggerSNS:            {FaaSTrigger: "pubsub", MessagingSystem: "aws.sns", MessagingDestinationName: "s-fn1-topic"},
		TriggerAPIGatewayREST: {FaaSTrigger: "http", HTTPRoute: "/s-fn2/orders/{id}"},
		TriggerAPIGatewayHTTP: {FaaSTrigger: "http", HTTPRoute: "/s-fn3/items/{id}"},
		TriggerKafka:          {FaaSTrigger: "pubsub", MessagingSystem: "kafka", MessagingDestinationName: "s-fn4-events"},
		TriggerKinesis:        {FaaSTrigger: "pubsub", MessagingSystem: "aws_kinesis", MessagingDestinationName: "s-fn5-stream"},
		TriggerEventBridge:    {FaaSTrigger: "pubsub", MessagingSystem: "aws_eventbridge", MessagingDestinationName: "com.s-fn6"},
		TriggerS3:             {FaaSTrigger: "datasource"},
		TriggerDynamoDB:       {FaaSTrigger: "datasource"},
	}
	require.Len(t, Triggers, len(want))
	for i, kind := range Triggers {
		tr := f.Truth[fmt.Sprintf("s-fn%d", i)].Trigger
		assert.Equal(t, kind, tr.Kind, i)
		assert.Equal(t, want[kind], tr.Labels, kind)
	}
	assert.Equal(t, "s-fn7-bucket", f.Truth["s-fn7"].Trigger.Collection)
	assert.Equal(t, "arn:aws:s3:::s-fn7-bucket", f.Truth["s-fn7"].Trigger.ARN)
	assert.Equal(t, "s-fn8-table", f.Truth["s-fn8"].Trigger.Collection)
	assert.Equal(t, "arn:aws:sqs:eu-west-1:123456789012:s-fn0-queue", f.Truth["s-fn0"].Trigger.ARN)
	assert.Empty(t, f.Truth["s-fn6"].Trigger.ARN, "EventBridge: no source ARN")
	assert.Equal(t, map[string]string{"faas_trigger": "http", "messaging_system": "", "messaging_destination_name": "",
		"http_route": "/s-fn2/orders/{id}"}, f.Truth["s-fn2"].Trigger.Labels.Match())

	// Without function spans the functions have the same triggers (nothing on the wire says so).
	cfg := fullConfig()
	cfg.Functions, cfg.FunctionSpans = 10, false
	plain, err := Generate(cfg)
	require.NoError(t, err)
	assert.Equal(t, TriggerSQS, plain.Truth["s-fn9"].Trigger.Kind, "the cycle starts over")
}

// TestGenerateReportLagMovesOnlyReports: the lag changes where reports travel, never what is
// counted.
func TestGenerateReportLagMovesOnlyReports(t *testing.T) {
	for _, spans := range []bool{false, true} {
		cfg := fullConfig()
		cfg.FunctionSpans = spans
		lagged, err := Generate(cfg)
		require.NoError(t, err)
		cfg.ReportLag = false
		prompt, err := Generate(cfg)
		require.NoError(t, err)
		for fn, want := range prompt.Truth {
			got := *lagged.Truth[fn]
			assert.Positive(t, got.LaggedReports, fn)
			assert.Zero(t, want.LaggedReports, fn)
			got.LaggedReports = 0
			assert.Equal(t, *want, got, fn)
		}
		assertRecounts(t, lagged)
		assertRecounts(t, prompt)
	}
}

func assertRecounts(t *testing.T, f *Fleet) {
	t.Helper()
	got := recount(t, f)
	for fn, want := range f.Truth {
		assertTruth(t, want, got[fn], fn)
	}
}

func TestGenerateRetriesAreLater(t *testing.T) {
	f := generate(t)
	starts := map[string][]time.Time{}
	for _, b := range f.Batches {
		events, err := telemetryapi.DecodeEvents(b.Body)
		require.NoError(t, err)
		for _, e := range events {
			if e.Type == telemetryapi.TypePlatformStart {
				rec, err := e.DecodeRecord()
				require.NoError(t, err)
				id := rec.(*telemetryapi.PlatformStart).RequestID
				starts[id] = append(starts[id], e.Time)
			}
		}
	}
	retried := 0
	for id, ts := range starts {
		if len(ts) < 2 {
			continue
		}
		retried++
		for i := 1; i < len(ts); i++ {
			// Batches are not in time order across sandboxes, so compare as a set.
			assert.NotEqual(t, ts[0], ts[i], id)
		}
	}
	assert.Positive(t, retried)
}

func TestGenerateDeterministic(t *testing.T) {
	for name, gen := range map[string]func(*testing.T) *Fleet{"plain": generate, "full": generateFull} {
		a, b := gen(t), gen(t)
		require.Equal(t, len(a.Batches), len(b.Batches), name)
		for i := range a.Batches {
			require.Equal(t, a.Batches[i], b.Batches[i], "%s batch %d", name, i)
		}
		require.Equal(t, a.Truth, b.Truth, name)
	}
}

// flaky answers 503 or 429 to every other first attempt and 200 otherwise, and records
// what it acknowledged: refusals on a script, which the real gateway does not give on demand.
type flaky struct {
	mu       sync.Mutex
	attempts map[string]int
	acked    map[string]int
	order    map[string][]uint64
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get(wire.HeaderExtensionInstanceID) + "/" + r.Header.Get(wire.HeaderBatchSequence)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts[key]++
	if n := f.attempts[key]; n <= 2 && len(f.attempts)%2 == 0 {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		} else {
			w.WriteHeader(http.StatusTooManyRequests)
		}
		return
	}
	f.acked[key]++
	inst := r.Header.Get(wire.HeaderExtensionInstanceID)
	seq, _ := strconv.ParseUint(r.Header.Get(wire.HeaderBatchSequence), 10, 64)
	f.order[inst] = append(f.order[inst], seq)
	_, _ = w.Write([]byte(`{"accepted":1}`))
}

func TestSendRetriesAndNeverDrops(t *testing.T) {
	f := generate(t)
	h := &flaky{attempts: map[string]int{}, acked: map[string]int{}, order: map[string][]uint64{}}
	srv := httptest.NewServer(h)
	defer srv.Close()

	st, err := Send(context.Background(), SendConfig{URL: srv.URL, Workers: 4, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}, f.Batches)
	require.NoError(t, err)
	n := int64(len(f.Batches))
	assert.Equal(t, n, st.Generated)
	assert.Equal(t, n, st.Sent)
	assert.Equal(t, n, st.Acknowledged)
	assert.Positive(t, st.Retried)
	assert.Equal(t, st.Sent+st.Retried, st.Attempts)
	assert.Equal(t, int64(2000), st.AcknowledgedInvocations)
	h.mu.Lock()
	defer h.mu.Unlock()
	assert.Len(t, h.acked, len(f.Batches))
	for k, c := range h.acked {
		assert.Equal(t, 1, c, k)
	}
	for inst, seqs := range h.order {
		for i, s := range seqs {
			assert.Equal(t, uint64(i+1), s, "a sandbox's batches arrive in order: %s", inst)
		}
	}
}

func TestSendReportsWhatItCouldNotDeliver(t *testing.T) {
	f := generate(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	st, err := Send(context.Background(), SendConfig{URL: srv.URL, Workers: 2, Timeout: 300 * time.Millisecond,
		MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}, f.Batches)
	require.Error(t, err)
	assert.Equal(t, int64(len(f.Batches)), st.Unacknowledged())
	assert.Positive(t, st.Retried)
}

func TestSendRate(t *testing.T) {
	f, err := Generate(Config{Prefix: "r", Functions: 2, Sandboxes: 2, Invocations: 200, PerBatch: 10, Seed: 1})
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"accepted":1}`))
	}))
	defer srv.Close()
	st, err := Send(context.Background(), SendConfig{URL: srv.URL, Workers: 4, Rate: 1000}, f.Batches)
	require.NoError(t, err)
	// 200 invocations at 1000/s: the last batch leaves after about 190 ms.
	assert.GreaterOrEqual(t, st.Duration, 150*time.Millisecond)
	assert.Equal(t, int64(200), st.AcknowledgedInvocations)
}

// recorder acknowledges every request and records what reached which path, in arrival
// order per sandbox.
type recorder struct {
	mu    sync.Mutex
	paths map[string]int               // path -> requests
	spans int                          // spans decoded from /v1/traces
	bad   []string                     // what a gateway would have refused
	order map[string][]recordedRequest // instance -> its requests in arrival order
	// refused: OTLP bodies answered 503 once already (every one is, at first).
	refused map[string]bool
}

type recordedRequest struct {
	path string
	body []byte
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.bad = append(r.bad, err.Error())
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if req.URL.Path == TracesPath && !r.refused[string(body)] {
		r.refused[string(body)] = true
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	r.paths[req.URL.Path]++
	inst := req.Header.Get(wire.HeaderExtensionInstanceID)
	r.order[inst] = append(r.order[inst], recordedRequest{path: req.URL.Path, body: body})
	switch req.URL.Path {
	case TracesPath:
		if ct := req.Header.Get("Content-Type"); ct != ContentTypeProtobuf {
			r.bad = append(r.bad, "traces content type "+ct)
			w.WriteHeader(http.StatusUnsupportedMediaType)
			return
		}
		er := ptraceotlp.NewExportRequest()
		if err := er.UnmarshalProto(body); err != nil {
			r.bad = append(r.bad, err.Error())
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.spans += er.Traces().SpanCount()
		w.Header().Set("Content-Type", ContentTypeProtobuf)
	case wire.TelemetryPath:
		if ct := req.Header.Get("Content-Type"); ct != ContentTypeJSON {
			r.bad = append(r.bad, "telemetry content type "+ct)
			w.WriteHeader(http.StatusUnsupportedMediaType)
			return
		}
		_, _ = w.Write([]byte(`{"accepted":1}`))
	default:
		r.bad = append(r.bad, "path "+req.URL.Path)
		w.WriteHeader(http.StatusNotFound)
	}
}

func TestSendPostsFunctionSpansToTheTracesPath(t *testing.T) {
	f := generateFull(t)
	h := &recorder{paths: map[string]int{}, order: map[string][]recordedRequest{}, refused: map[string]bool{}}
	srv := httptest.NewServer(h)
	defer srv.Close()

	st, err := Send(context.Background(), SendConfig{URL: srv.URL, Workers: 4, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond}, f.Batches)
	require.NoError(t, err)
	total := f.Total()
	traces := 0
	for _, b := range f.Batches {
		if b.IsTraces() {
			traces++
		}
	}
	require.Positive(t, traces)
	h.mu.Lock()
	defer h.mu.Unlock()
	assert.Empty(t, h.bad)
	assert.Equal(t, traces, h.paths[TracesPath])
	assert.Equal(t, len(f.Batches)-traces, h.paths[wire.TelemetryPath])
	assert.Equal(t, total.Spans, h.spans)
	assert.Equal(t, int64(total.Spans), st.GeneratedSpans)
	assert.Equal(t, int64(total.Spans), st.AcknowledgedSpans)
	assert.Equal(t, int64(total.Invocations), st.GeneratedInvocations)
	assert.Equal(t, int64(total.Invocations), st.AcknowledgedInvocations, "OTLP batches count no invocations")
	assert.Equal(t, int64(len(f.Batches)), st.Acknowledged)
	assert.Equal(t, int64(traces), st.Retried, "every OTLP batch was retried once")

	// Each sandbox's requests, telemetry and OTLP, arrive in the order they were generated.
	want := map[string][]recordedRequest{}
	for _, b := range f.Batches {
		inst := b.Header.Get(wire.HeaderExtensionInstanceID)
		want[inst] = append(want[inst], recordedRequest{path: b.Path, body: b.Body})
	}
	assert.Equal(t, want, h.order)
}

func TestStatsAddSumsEveryCount(t *testing.T) {
	one := Stats{Generated: 1, Sent: 2, Acknowledged: 3, Attempts: 4, Retried: 5, Replayed: 6,
		GeneratedInvocations: 7, AcknowledgedInvocations: 8, GeneratedSpans: 9, AcknowledgedSpans: 10, Duration: time.Second}
	sum := one
	sum.Add(one)
	assert.Equal(t, Stats{Generated: 2, Sent: 4, Acknowledged: 6, Attempts: 8, Retried: 10, Replayed: 12,
		GeneratedInvocations: 14, AcknowledgedInvocations: 16, GeneratedSpans: 18, AcknowledgedSpans: 20, Duration: time.Second}, sum)
}
