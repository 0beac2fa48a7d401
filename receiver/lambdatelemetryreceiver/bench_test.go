// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/metadata"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/translator"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/loadgen"
)

// invocationsPerBatch is a busy sandbox's batch: the extension flushes about this many
// invocations at once. Figures are reported per invocation and per span.
const invocationsPerBatch = 100

// benchBatch is invocationsPerBatch warm invocations, three platform events each, as
// Lambda writes them (X-Ray tracing on, sub-phase spans in runtimeDone).
func benchBatch() []byte { return benchBatchOf(false) }

// benchBatchOf is benchBatch, where withFindings puts the extension's otelcol.invocation
// (an SQS batch of 10, as its Runtime API proxy finds it) before each runtimeDone.
func benchBatchOf(withFindings bool) []byte {
	var sb strings.Builder
	sb.WriteString("[")
	t0 := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	for i := range invocationsPerBatch {
		if i > 0 {
			sb.WriteString(",")
		}
		start := t0.Add(time.Duration(i) * time.Second)
		ts := func(d time.Duration) string { return start.Add(d).Format(telemetryapi.TimeLayout) }
		id := fmt.Sprintf("8476a536-e9f4-11e8-9739-%012d", i)
		tracing := fmt.Sprintf(`"tracing":{"spanId":"%016x","type":"X-Amzn-Trace-Id","value":"Root=1-665b0e40-3f9a6c2b1d4e5f6a%08x;Parent=53995c3f42cd8ad8;Sampled=1"}`, i+1, i)
		fmt.Fprintf(&sb, `{"time":"%s","type":"platform.start","record":{"requestId":"%s","version":"$LATEST",%s}},`, ts(0), id, tracing)
		if withFindings {
			fmt.Fprintf(&sb, `{"time":"%s","type":"otelcol.invocation","record":{"requestId":"%s","eventSource":{"kind":"sqs","trigger":"pubsub","messagingSystem":"aws_sqs","destination":"orders","arn":"arn:aws:sqs:us-east-1:123456789012:orders","eventTimeUnixMs":%d,"batchSize":10}}},`,
				ts(0), id, start.Add(-2*time.Second).UnixMilli())
		}
		fmt.Fprintf(&sb, `{"time":"%s","type":"platform.runtimeDone","record":{"requestId":"%s","status":"success","metrics":{"durationMs":41.6,"producedBytes":512},%s,"spans":[{"name":"responseLatency","start":"%s","durationMs":40.1},{"name":"responseDuration","start":"%s","durationMs":1.5}]}},`,
			ts(42*time.Millisecond), id, tracing, ts(0), ts(40*time.Millisecond))
		fmt.Fprintf(&sb, `{"time":"%s","type":"platform.report","record":{"requestId":"%s","status":"success","metrics":{"durationMs":43.2,"billedDurationMs":44,"memorySizeMB":512,"maxMemoryUsedMB":87},%s}}`,
			ts(44*time.Millisecond), id, tracing)
	}
	sb.WriteString("]")
	return []byte(sb.String())
}

func benchHeader() http.Header {
	h := http.Header{}
	wire.Batch{Sandbox: testSandbox, Sequence: 1}.SetHeaders(h)
	return h
}

func perInvocation(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*invocationsPerBatch), "ns/invocation")
}

// BenchmarkTelemetryPath is the receiver's whole path for a batch, short of HTTP: decode
// the batch, derive invocation and report spans, hand them to the pipeline.
func BenchmarkTelemetryPath(b *testing.B) {
	body, header := benchBatch(), benchHeader()
	r := newBenchReceiver(b)
	b.ReportAllocs()
	for b.Loop() {
		wholePath(b, r, header, body)
	}
	perInvocation(b)
}

// BenchmarkTelemetryPathFindings is BenchmarkTelemetryPath with the extension's Runtime
// API proxy on: one otelcol.invocation more per invocation, whose event source goes on the
// invocation and report spans. Against BenchmarkTelemetryPath, what the proxy costs the
// gateway per invocation.
func BenchmarkTelemetryPathFindings(b *testing.B) {
	body, header := benchBatchOf(true), benchHeader()
	r := newBenchReceiver(b)
	b.ReportAllocs()
	for b.Loop() {
		wholePath(b, r, header, body)
	}
	perInvocation(b)
}

// BenchmarkTelemetryHandler is a batch through the HTTP handler: read the body, decode,
// derive spans, hand them on, answer. The batch names no extension instance, so that every
// one is translated from a fresh state, as in BenchmarkTelemetryPath.
func BenchmarkTelemetryHandler(b *testing.B) {
	body := benchBatch()
	sandbox := testSandbox
	sandbox.ExtensionInstanceID = ""
	header := http.Header{}
	wire.Batch{Sandbox: sandbox}.SetHeaders(header)
	header.Set("Content-Type", jsonContentType)
	h := newBenchReceiver(b).handler()
	b.ReportAllocs()
	for b.Loop() {
		serve(b, h, wire.TelemetryPath, header, body)
	}
	perInvocation(b)
}

// BenchmarkTelemetryHandlerNewSandboxes is BenchmarkTelemetryHandler for a fleet: every
// batch comes from a sandbox not seen before, and the oldest sandbox is forgotten.
func BenchmarkTelemetryHandlerNewSandboxes(b *testing.B) {
	body, header := benchBatch(), benchHeader()
	header.Set("Content-Type", jsonContentType)
	cfg := createDefaultConfig().(*Config)
	cfg.Sandboxes.MaxSandboxes = 1000
	r, err := newReceiver(cfg, receivertest.NewNopSettings(metadata.Type), time.Now)
	if err != nil {
		b.Fatal(err)
	}
	r.nextTraces = consumertest.NewNop()
	h := r.handler()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		header.Set(wire.HeaderExtensionInstanceID, "ext-"+strconv.Itoa(i))
		serve(b, h, wire.TelemetryPath, header, body)
	}
	perInvocation(b)
}

// BenchmarkTelemetryDecodeFloor decodes the same batch and every record and does nothing
// else, with the fastest decoder we have (internal/telemetryapi's own): the floor.
func BenchmarkTelemetryDecodeFloor(b *testing.B) {
	body := benchBatch()
	b.ReportAllocs()
	for b.Loop() {
		decodeOnly(b, body)
	}
	perInvocation(b)
}

// BenchmarkTelemetryDecodeEncodingJSON is the same decode with encoding/json alone, for
// scale.
func BenchmarkTelemetryDecodeEncodingJSON(b *testing.B) {
	body := benchBatch()
	type record struct {
		RequestID string             `json:"requestId"`
		Status    string             `json:"status"`
		Metrics   map[string]float64 `json:"metrics"`
		Tracing   *telemetryapi.TraceContext
		Spans     []telemetryapi.Span `json:"spans"`
	}
	type event struct {
		Time   time.Time `json:"time"`
		Type   string    `json:"type"`
		Record record    `json:"record"`
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		var events []event
		if err := json.Unmarshal(body, &events); err != nil {
			b.Fatal(err)
		}
	}
	perInvocation(b)
}

const spansPerRequest = 100

func benchOTLPRequest(b *testing.B) []byte {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "orders")
	rs.Resource().Attributes().PutStr("telemetry.sdk.language", "nodejs")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	t0 := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	for i := range spansPerRequest {
		s := spans.AppendEmpty()
		s.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, byte(i)})
		s.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, byte(i)})
		s.SetParentSpanID(pcommon.SpanID{9, 9, 9, 9, 9, 9, 9, byte(i)})
		s.SetName("GET /orders/{id}")
		s.SetKind(ptrace.SpanKindServer)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(25 * time.Millisecond)))
		s.Attributes().PutStr("http.route", "/orders/{id}")
		s.Attributes().PutInt("http.response.status_code", 200)
		s.Attributes().PutStr("faas.invocation_id", fmt.Sprintf("req-%d", i))
	}
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		b.Fatal(err)
	}
	return body
}

func perSpan(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spansPerRequest), "ns/span")
}

// BenchmarkOTLPPath is a forwarded OTLP/protobuf request: decode, add the sandbox
// resource, hand to the pipeline.
func BenchmarkOTLPPath(b *testing.B) {
	body := benchOTLPRequest(b)
	r := newBenchReceiver(b)
	b.ReportAllocs()
	for b.Loop() {
		otlpPath(b, r, body)
	}
	perSpan(b)
}

// BenchmarkOTLPHandler is a forwarded OTLP/protobuf request through the HTTP handler.
func BenchmarkOTLPHandler(b *testing.B) {
	body := benchOTLPRequest(b)
	header := http.Header{}
	testSandbox.SetHeaders(header)
	header.Set("Content-Type", protobufContentType)
	h := newBenchReceiver(b).handler()
	b.ReportAllocs()
	for b.Loop() {
		serve(b, h, tracesPath, header, body)
	}
	perSpan(b)
}

// BenchmarkOTLPDecodeFloor decodes the same request and nothing else.
func BenchmarkOTLPDecodeFloor(b *testing.B) {
	body := benchOTLPRequest(b)
	b.ReportAllocs()
	for b.Loop() {
		otlpDecodeOnly(b, body)
	}
	perSpan(b)
}

// BenchmarkTelemetryPathOverFloor runs the floor and the whole path alternately in one
// loop, so that both see the same machine load, and reports their ratio: the budget is
// the whole path within 2x of the floor.
func BenchmarkTelemetryPathOverFloor(b *testing.B) {
	body, header := benchBatch(), benchHeader()
	r := newBenchReceiver(b)
	floor, path := alternate(b, func() { decodeOnly(b, body) }, func() { wholePath(b, r, header, body) })
	reportRatio(b, floor, path, invocationsPerBatch, "invocation")
}

// BenchmarkTelemetryFleetOverFloor is BenchmarkTelemetryPathOverFloor on the Telemetry API
// load of make bench-gateway (testbed/loadgen, as gatewaybench generates it: 20 functions x
// 10 sandboxes, up to 100 invocations a batch, no tracing, 1% errors), through the HTTP
// handler: what the gateway's receiver does with the benchmark's batches, against the
// floor the benchmark reports.
func BenchmarkTelemetryFleetOverFloor(b *testing.B) {
	fleet, err := loadgen.Generate(loadgen.Config{Prefix: "bench", Functions: 20, Sandboxes: 10, Invocations: 30000,
		PerBatch: invocationsPerBatch, Mix: loadgen.Mix{ColdStart: 0.002, Error: 0.01}, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	headers := make([]http.Header, len(fleet.Batches))
	for i, batch := range fleet.Batches {
		// Each batch from a fresh sandbox state, so that repeating them is not a replay.
		headers[i] = batch.Header.Clone()
		headers[i].Del(wire.HeaderBatchSequence)
		headers[i].Del(wire.HeaderExtensionInstanceID)
		headers[i].Set("Content-Type", jsonContentType)
	}
	h := newBenchReceiver(b).handler()
	b.ReportAllocs()
	floor, path := alternate(b, func() {
		for _, batch := range fleet.Batches {
			decodeOnly(b, batch.Body)
		}
	}, func() {
		for i, batch := range fleet.Batches {
			serve(b, h, wire.TelemetryPath, headers[i], batch.Body)
		}
	})
	reportRatio(b, floor, path, fleet.Total().Invocations, "invocation")
}

// BenchmarkOTLPPathOverFloor does the same for a forwarded OTLP/protobuf request.
func BenchmarkOTLPPathOverFloor(b *testing.B) {
	body := benchOTLPRequest(b)
	r := newBenchReceiver(b)
	floor, path := alternate(b, func() { otlpDecodeOnly(b, body) }, func() { otlpPath(b, r, body) })
	reportRatio(b, floor, path, spansPerRequest, "span")
}

// newBenchReceiver is a receiver whose traces go nowhere, for measuring its own work.
func newBenchReceiver(b *testing.B) *lambdaTelemetryReceiver {
	r, err := newReceiver(createDefaultConfig().(*Config), receivertest.NewNopSettings(metadata.Type), time.Now)
	if err != nil {
		b.Fatal(err)
	}
	r.nextTraces = consumertest.NewNop()
	return r
}

// decodeOnly is the floor: decode the batch and every record in one walk, as the
// receiver does, and nothing else.
func decodeOnly(b *testing.B, body []byte) {
	err := telemetryapi.ScanDecoded(body, func(_ int, ev telemetryapi.DecodedEvent, err error) bool {
		if err != nil || ev.DecodeErr != nil {
			b.Fatal(err, ev.DecodeErr)
		}
		return true
	})
	if err != nil {
		b.Fatal(err)
	}
}

// wholePath is the receiver's path short of HTTP: decode, derive spans, hand them on. It
// reuses the events' slice as the handler does.
func wholePath(b *testing.B, r *lambdaTelemetryReceiver, header http.Header, body []byte) {
	buffers := telemetryBufferPool.Get().(*telemetryBuffers)
	defer buffers.release()
	batch, decoded, err := decodeBatch(header, body, buffers.events)
	buffers.events = decoded.events
	if err != nil {
		b.Fatal(err)
	}
	out := translator.Translate(translator.NewSandbox(""), batch, decoded.events, r.scope)
	if err := r.nextTraces.ConsumeTraces(context.Background(), out.Traces); err != nil {
		b.Fatal(err)
	}
}

// serve posts body to the handler as a client would, with its Content-Length.
func serve(tb testing.TB, h http.Handler, path string, header http.Header, body []byte) {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header = header
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		tb.Fatalf("status %d: %s", w.Code, w.Body)
	}
}

// otlpPath is a forwarded OTLP request: decode, add the sandbox resource, hand it on.
func otlpPath(b *testing.B, r *lambdaTelemetryReceiver, body []byte) {
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		b.Fatal(err)
	}
	if err := r.exportTraces(context.Background(), req, wire.Batch{Sandbox: testSandbox}); err != nil {
		b.Fatal(err)
	}
}

func otlpDecodeOnly(b *testing.B, body []byte) {
	if err := ptraceotlp.NewExportRequest().UnmarshalProto(body); err != nil {
		b.Fatal(err)
	}
}

// alternate runs floor and path one after the other in each iteration, so that both see
// the same machine load, and returns the time each took in all.
func alternate(b *testing.B, floor, path func()) (time.Duration, time.Duration) {
	var floorTime, pathTime time.Duration
	for b.Loop() {
		t0 := time.Now()
		floor()
		t1 := time.Now()
		path()
		floorTime += t1.Sub(t0)
		pathTime += time.Since(t1)
	}
	return floorTime, pathTime
}

func reportRatio(b *testing.B, floor, path time.Duration, perOp int, unit string) {
	n := float64(b.N * perOp)
	b.ReportMetric(float64(floor.Nanoseconds())/n, "floor-ns/"+unit)
	b.ReportMetric(float64(path.Nanoseconds())/n, "path-ns/"+unit)
	b.ReportMetric(float64(path)/float64(floor), "path/floor")
}
