// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver

import (
	"bytes"
	"cmp"
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/pdata/testdata"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/metadata"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/metadatatest"
)

// field is a length-delimited protobuf field of the concatenated children.
func field(n protowire.Number, children ...[]byte) []byte {
	var inner []byte
	for _, c := range children {
		inner = append(inner, c...)
	}
	return protowire.AppendBytes(protowire.AppendTag(nil, n, protowire.BytesType), inner)
}

// repeatTo repeats element inside wrap (a function of the repeated bytes) until the whole
// is as close to size as it gets without passing it.
func repeatTo(size int, element []byte, wrap func([]byte) []byte) []byte {
	overhead := len(wrap(nil)) + 8 // the lengths of the wrappers grow with their content
	n := (size - overhead) / len(element)
	for {
		body := wrap(bytes.Repeat(element, n))
		if len(body) <= size {
			return body
		}
		n--
	}
}

// otlpHostileBody is one of the worst OTLP/protobuf bodies we know.
type otlpHostileBody struct {
	name string
	path string
	// build makes the body with each item holding pad (nil: empty items).
	build func(pad []byte) []byte
	body  []byte
	// fixed: the shape's items are not padded (see otlpPad).
	fixed bool
	// withinBudget: the shape costs pdata what its size allows, and is decoded.
	withinBudget bool
}

// traceID is 16 bytes of a trace id.
var traceID = bytes.Repeat([]byte{1}, 16)

func otlpHostileShapes(size int) []otlpHostileBody {
	traces := func(spans []byte) []byte { return field(1, field(2, spans)) }             // ResourceSpans{ScopeSpans{...}}
	metrics := func(ms []byte) []byte { return field(1, field(2, ms)) }                  // ResourceMetrics{ScopeMetrics{...}}
	logs := func(records []byte) []byte { return field(1, field(2, records)) }           // ResourceLogs{ScopeLogs{...}}
	resourceAttrs := func(kvs []byte) []byte { return field(1, field(1, kvs)) }          // ResourceSpans{Resource{...}}
	gauge := func(dps []byte) []byte { return metrics(field(2, field(5, dps))) }         // Metric{Gauge{...}}
	histogram := func(dps []byte) []byte { return metrics(field(2, field(9, dps))) }     // Metric{Histogram{...}}
	expHistogram := func(dps []byte) []byte { return metrics(field(2, field(10, dps))) } // Metric{ExponentialHistogram{...}}
	summary := func(dps []byte) []byte { return metrics(field(2, field(11, dps))) }      // Metric{Summary{...}}
	oneSpan := func(inner []byte) []byte {                                               // Span{trace_id, span_id, ...}
		return traces(field(2, protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), traceID),
			protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), traceID[:8]), inner))
	}
	// nested is an attribute whose value is a kvlist of one attribute whose value is a
	// kvlist..., depth levels deep.
	nested := func(depth int) []byte {
		kv := field(1, field(1, []byte("k"))) // KeyValue{key: "k"}
		for range depth {
			kv = field(1, field(1, []byte("k")), field(2, field(6, kv))) // KeyValue{k, AnyValue{kvlist{kv}}}
		}
		return kv
	}
	return []otlpHostileBody{
		{name: "empty spans", path: tracesPath, build: func(empty []byte) []byte { return repeatTo(size, field(2, empty), traces) }},
		{name: "empty scope spans", path: tracesPath, build: func(empty []byte) []byte {
			return repeatTo(size, field(2, empty), func(b []byte) []byte { return field(1, b) })
		}},
		{name: "empty resource spans", path: tracesPath, build: func(empty []byte) []byte { return repeatTo(size, field(1, empty), func(b []byte) []byte { return b }) }},
		{name: "empty resource attributes", path: tracesPath, build: func(empty []byte) []byte { return repeatTo(size, field(1, empty), resourceAttrs) }},
		{name: "empty span attributes", path: tracesPath, build: func(empty []byte) []byte { return repeatTo(size, field(9, empty), oneSpan) }},
		{name: "empty span events", path: tracesPath, build: func(empty []byte) []byte { return repeatTo(size, field(11, empty), oneSpan) }},
		{name: "empty span links", path: tracesPath, build: func(empty []byte) []byte { return repeatTo(size, field(13, empty), oneSpan) }},
		{name: "empty array elements", path: tracesPath, build: func(empty []byte) []byte {
			return repeatTo(size, field(1, empty), func(b []byte) []byte {
				return resourceAttrs(field(1, field(1, []byte("k")), field(2, field(5, b))))
			})
		}},
		{name: "empty kvlist elements", path: tracesPath, build: func(empty []byte) []byte {
			return repeatTo(size, field(1, empty), func(b []byte) []byte {
				return resourceAttrs(field(1, field(1, []byte("k")), field(2, field(6, b))))
			})
		}},
		{name: "deep kvlists", path: tracesPath, build: func([]byte) []byte { return repeatTo(size, nested(30), resourceAttrs) }, fixed: true, withinBudget: true},
		{name: "empty entity ref keys", path: tracesPath, build: func(empty []byte) []byte {
			return repeatTo(size, protowire.AppendString(protowire.AppendTag(nil, 3, protowire.BytesType), string(empty)), func(b []byte) []byte {
				return field(1, field(1, field(3, b)))
			})
		}},
		{name: "empty metrics", path: metricsPath, build: func(empty []byte) []byte { return repeatTo(size, field(2, empty), metrics) }},
		{name: "empty gauge points", path: metricsPath, build: func(empty []byte) []byte { return repeatTo(size, field(1, empty), gauge) }},
		{name: "empty histogram points", path: metricsPath, build: func(empty []byte) []byte { return repeatTo(size, field(1, empty), histogram) }},
		{name: "empty exponential histogram points", path: metricsPath, build: func(empty []byte) []byte { return repeatTo(size, field(1, empty), expHistogram) }},
		{name: "empty summary points", path: metricsPath, build: func(empty []byte) []byte { return repeatTo(size, field(1, empty), summary) }},
		{name: "empty quantiles", path: metricsPath, build: func(empty []byte) []byte {
			return repeatTo(size, field(6, empty), func(b []byte) []byte { return summary(field(1, b)) })
		}, withinBudget: true},
		{name: "empty exemplars", path: metricsPath, build: func(empty []byte) []byte {
			return repeatTo(size, field(5, empty), func(b []byte) []byte { return gauge(field(1, b)) })
		}},
		{name: "packed exponential buckets", path: metricsPath, build: func([]byte) []byte {
			return repeatTo(size, []byte{0}, func(b []byte) []byte {
				return expHistogram(field(1, field(8, field(2, b))))
			})
		}, fixed: true},
		{name: "empty log records", path: logsPath, build: func(empty []byte) []byte { return repeatTo(size, field(2, empty), logs) }},
		{name: "empty log attributes", path: logsPath, build: func(empty []byte) []byte {
			return repeatTo(size, field(6, empty), func(b []byte) []byte { return logs(field(2, b)) })
		}},
	}
}

// maxOTLPAllocPerBodyByte is what an OTLP/protobuf request the item budget lets through
// may cost, per body byte: the budget (maxItemWeightPerBodyByte) and the body itself, with
// room for slices that grew by more than the weights assume (measured: up to 35.3).
const maxOTLPAllocPerBodyByte = 40

// otlpPad makes a shape's items weigh less: an unknown field of n bytes in each (pdata
// skips it, allocating nothing).
func otlpPad(n int) []byte {
	if n == 0 {
		return nil
	}
	const unknown = 2047 // a 2-byte tag
	return protowire.AppendBytes(protowire.AppendTag(nil, unknown, protowire.BytesType), make([]byte, max(n-3, 0)))
}

// otlpHostileBodies is each shape of empty items.
func otlpHostileBodies(size int) []otlpHostileBody {
	shapes := otlpHostileShapes(size)
	for i := range shapes {
		shapes[i].body = shapes[i].build(nil)
	}
	return shapes
}

// otlpAtTheBudget is each shape with its items padded just enough for the item budget to
// let it through: the costliest bodies the receiver decodes.
func otlpAtTheBudget(size int) []otlpHostileBody {
	var bodies []otlpHostileBody
	for _, hb := range otlpHostileShapes(size) {
		if hb.fixed {
			continue
		}
		for n := 3; ; n++ {
			hb.body = hb.build(otlpPad(n))
			if checkOTLPBudget(otlpRoots[hb.path], hb.body) == nil {
				hb.name += " at the budget"
				bodies = append(bodies, hb)
				break
			}
		}
	}
	return bodies
}

var otlpRoots = map[string]otlpMessage{tracesPath: msgTracesRequest, metricsPath: msgMetricsRequest, logsPath: msgLogsRequest}

// otlpHostileServer is the OTLP paths behind confighttp's layers, with consumers that keep
// nothing.
func otlpHostileServer(tb testing.TB, limit int64, set receiver.Settings) http.Handler {
	cfg := createDefaultConfig().(*Config)
	cfg.HTTP.MaxRequestBodySize = limit
	r, err := newReceiver(cfg, set, time.Now)
	require.NoError(tb, err)
	r.nextTraces, r.nextMetrics, r.nextLogs = consumertest.NewNop(), consumertest.NewNop(), consumertest.NewNop()
	server, err := cfg.HTTP.ToServer(context.Background(), nil, componenttest.NewNopTelemetrySettings(), r.handler())
	require.NoError(tb, err)
	return server.Handler
}

func otlpRequestOf(path, contentType string, body []byte) *http.Request {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	return req
}

// otlpCostCase is an OTLP body sent to learn what the receiver allocates for it.
type otlpCostCase struct {
	name, path, contentType string
	body                    []byte
	// withinBudget: decoded (200), not refused (400).
	withinBudget bool
	// wantReason is why the receiver refuses the body, when not too_many_items.
	wantReason string
}

// costCases are the cases of hostile bodies of either encoding.
func costCases[B interface{ costCase() otlpCostCase }](bodies []B) []otlpCostCase {
	cases := make([]otlpCostCase, len(bodies))
	for i, b := range bodies {
		cases[i] = b.costCase()
	}
	return cases
}

// checkOTLPCost sends c to h in a subtest and asserts its answer, and that it allocated at
// most ratio per body byte (and allocSlack).
func checkOTLPCost(t *testing.T, h http.Handler, limit int, c otlpCostCase, wantCode int, ratio float64) {
	t.Run(c.name, func(t *testing.T) {
		req := otlpRequestOf(c.path, c.contentType, c.body)
		rec := httptest.NewRecorder()
		allocated := allocatedBy(func() { h.ServeHTTP(rec, req) })
		t.Logf("%-50s %8d body bytes, %10d allocated: %6.2f per body byte; %d",
			c.name, len(c.body), allocated, float64(allocated)/float64(len(c.body)), rec.Code)
		require.LessOrEqual(t, len(c.body), limit)
		require.Equal(t, wantCode, rec.Code, "%.300s", rec.Body)
		if wantCode == http.StatusBadRequest && c.wantReason == "" {
			assert.Contains(t, rec.Body.String(), errOTLPOverBudget.Error())
		}
		bound := uint64(ratio*float64(len(c.body))) + allocSlack
		assert.LessOrEqual(t, allocated, bound, "%.2f bytes allocated per body byte", float64(allocated)/float64(len(c.body)))
	})
}

// testOTLPCostInProportion sends hostile bodies at the body size limit (4 MiB, the 20 MiB
// default scaled down): those of items that carry nothing are refused before pdata decodes
// them, at the cost of reading them; those within the item budget (and atTheBudget, the same
// items padded just enough to pass it) are decoded, at most maxOTLPAllocPerBodyByte per body
// byte. Every refusal is counted with its reason.
func testOTLPCostInProportion(t *testing.T, limit int, bodies, atTheBudget []otlpCostCase) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	h := otlpHostileServer(t, int64(limit), metadatatest.NewSettings(tt))
	refused := map[string]int64{}
	for _, c := range bodies {
		if c.withinBudget {
			checkOTLPCost(t, h, limit, c, http.StatusOK, maxOTLPAllocPerBodyByte)
			continue
		}
		checkOTLPCost(t, h, limit, c, http.StatusBadRequest, maxAllocPerBodyByte)
		refused[cmp.Or(c.wantReason, "too_many_items")]++
	}
	for _, c := range atTheBudget {
		checkOTLPCost(t, h, limit, c, http.StatusOK, maxOTLPAllocPerBodyByte)
	}
	metadatatest.AssertEqualReceiverLambdaTelemetryRequestsRefused(t, tt, refusedPoints(refused),
		metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
}

// benchmarkOTLPCost reports what each case allocates per body byte at the default body size
// limit (20 MiB).
func benchmarkOTLPCost(b *testing.B, cases []otlpCostCase) {
	h := otlpHostileServer(b, 20<<20, receivertest.NewNopSettings(metadata.Type))
	for _, c := range cases {
		b.Run(strings.ReplaceAll(c.name, " ", "_"), func(b *testing.B) {
			var allocated uint64
			for b.Loop() {
				rec := httptest.NewRecorder()
				allocated += allocatedBy(func() { h.ServeHTTP(rec, otlpRequestOf(c.path, c.contentType, c.body)) })
			}
			b.ReportMetric(float64(allocated)/float64(b.N)/float64(len(c.body)), "alloc-B/body-B")
		})
	}
}

func (hb otlpHostileBody) costCase() otlpCostCase {
	return otlpCostCase{name: hb.name, path: hb.path, contentType: protobufContentType, body: hb.body, withinBudget: hb.withinBudget}
}

// TestOTLPHostileBodiesCostMemoryInProportion: see testOTLPCostInProportion.
func TestOTLPHostileBodiesCostMemoryInProportion(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates some hundred MiB")
	}
	const limit = 4 << 20
	testOTLPCostInProportion(t, limit, costCases(otlpHostileBodies(limit)), costCases(otlpAtTheBudget(limit)))
}

// BenchmarkOTLPHostileBodies reports what each hostile OTLP/protobuf shape allocates per
// body byte at the default body size limit (20 MiB), refused and at the item budget:
//
//	go test -run '^$' -bench BenchmarkOTLPHostileBodies -benchtime 3x ./receiver/lambdatelemetryreceiver/
func BenchmarkOTLPHostileBodies(b *testing.B) {
	const limit = 20 << 20
	benchmarkOTLPCost(b, costCases(append(otlpHostileBodies(limit), otlpAtTheBudget(limit)...)))
}

// otlpLegitBody is a request as real exporters write them.
type otlpLegitBody struct {
	name string
	path string
	body []byte
}

func otlpLegitBodies(tb testing.TB) []otlpLegitBody {
	marshal := func(m interface{ MarshalProto() ([]byte, error) }) []byte {
		b, err := m.MarshalProto()
		require.NoError(tb, err)
		return b
	}
	traces := func(td ptrace.Traces) []byte { return marshal(ptraceotlp.NewExportRequestFromTraces(td)) }
	metrics := func(md pmetric.Metrics) []byte { return marshal(pmetricotlp.NewExportRequestFromMetrics(md)) }
	logs := func(ld plog.Logs) []byte { return marshal(plogotlp.NewExportRequestFromLogs(ld)) }

	t0 := pcommon.NewTimestampFromTime(time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC))
	sdkResource := func(r pcommon.Resource) {
		r.Attributes().PutStr("service.name", "orders")
		r.Attributes().PutStr("telemetry.sdk.language", "go")
		r.Attributes().PutStr("telemetry.sdk.name", "opentelemetry")
		r.Attributes().PutStr("telemetry.sdk.version", "1.38.0")
	}
	// The smallest spans valid OTLP allows: ids, nothing else.
	bareSpans := ptrace.NewTraces()
	spans := bareSpans.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for i := range 100_000 {
		s := spans.AppendEmpty()
		s.SetTraceID(pcommon.TraceID{15: byte(i), 14: byte(i >> 8), 13: byte(i >> 16)})
		s.SetSpanID(pcommon.SpanID{7: byte(i), 6: byte(i >> 8)})
	}
	// Spans as an SDK's auto-instrumentation writes them, one short attribute each.
	sdkSpans := ptrace.NewTraces()
	rs := sdkSpans.ResourceSpans().AppendEmpty()
	sdkResource(rs.Resource())
	spans = rs.ScopeSpans().AppendEmpty().Spans()
	for i := range 10_000 {
		s := spans.AppendEmpty()
		s.SetTraceID(pcommon.TraceID{15: byte(i), 14: byte(i >> 8)})
		s.SetSpanID(pcommon.SpanID{7: byte(i), 6: byte(i >> 8)})
		s.SetName("x")
		s.SetStartTimestamp(t0)
		s.SetEndTimestamp(t0 + 1)
		s.Attributes().PutBool("e", true)
	}
	// An attribute of many small integers, the densest array an SDK writes.
	intArray := ptrace.NewTraces()
	s := intArray.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetTraceID(pcommon.TraceID{1})
	s.SetSpanID(pcommon.SpanID{1})
	arr := s.Attributes().PutEmptySlice("ids")
	for i := range 100_000 {
		arr.AppendEmpty().SetInt(int64(i % 100))
	}
	// A structured log whose body is a map of one-letter keys and small values.
	denseLog := plog.NewLogs()
	lr := denseLog.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetTimestamp(t0)
	body := lr.Body().SetEmptyMap()
	for i := range 50_000 {
		body.PutInt(strconv.Itoa(i), int64(i%100))
	}
	// Log records as SDKs write them.
	sdkLogs := plog.NewLogs()
	rl := sdkLogs.ResourceLogs().AppendEmpty()
	sdkResource(rl.Resource())
	records := rl.ScopeLogs().AppendEmpty().LogRecords()
	for range 10_000 {
		lr := records.AppendEmpty()
		lr.SetTimestamp(t0)
		lr.SetObservedTimestamp(t0)
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.Body().SetStr("ok")
	}
	// Gauges of one point each, as an SDK's periodic reader writes them.
	sdkMetrics := pmetric.NewMetrics()
	rm := sdkMetrics.ResourceMetrics().AppendEmpty()
	sdkResource(rm.Resource())
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	for i := range 10_000 {
		m := ms.AppendEmpty()
		m.SetName("m" + strconv.Itoa(i))
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(t0)
		dp.SetIntValue(1)
	}
	// Exponential histograms of 160 small buckets.
	expHistograms := pmetric.NewMetrics()
	ms = expHistograms.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	for range 1000 {
		m := ms.AppendEmpty()
		m.SetName("duration")
		dp := m.SetEmptyExponentialHistogram().DataPoints().AppendEmpty()
		dp.SetTimestamp(t0)
		dp.SetCount(160)
		for i := range 160 {
			dp.Positive().BucketCounts().Append(uint64(i % 3))
		}
	}
	return []otlpLegitBody{
		{name: "testdata traces 1", path: tracesPath, body: traces(testdata.GenerateTraces(1))},
		{name: "testdata traces 10000", path: tracesPath, body: traces(testdata.GenerateTraces(10_000))},
		{name: "testdata metrics all types", path: metricsPath, body: metrics(testdata.GenerateMetricsAllTypes())},
		{name: "testdata metrics all types empty", path: metricsPath, body: metrics(testdata.GenerateMetricsAllTypesEmpty())},
		{name: "testdata metrics 10000", path: metricsPath, body: metrics(testdata.GenerateMetrics(10_000))},
		{name: "testdata logs 1", path: logsPath, body: logs(testdata.GenerateLogs(1))},
		{name: "testdata logs 10000", path: logsPath, body: logs(testdata.GenerateLogs(10_000))},
		{name: "bare spans", path: tracesPath, body: traces(bareSpans)},
		{name: "sdk spans", path: tracesPath, body: traces(sdkSpans)},
		{name: "int array attribute", path: tracesPath, body: traces(intArray)},
		{name: "dense log body", path: logsPath, body: logs(denseLog)},
		{name: "sdk logs", path: logsPath, body: logs(sdkLogs)},
		{name: "sdk gauges", path: metricsPath, body: metrics(sdkMetrics)},
		{name: "exponential histograms", path: metricsPath, body: metrics(expHistograms)},
	}
}

// TestOTLPLegitBodiesPass: requests as exporters write them are decoded, whatever their
// shape; the log shows what they weigh and cost per body byte.
func TestOTLPLegitBodiesPass(t *testing.T) {
	h := otlpHostileServer(t, 20<<20, receivertest.NewNopSettings(metadata.Type))
	for _, lb := range otlpLegitBodies(t) {
		t.Run(lb.name, func(t *testing.T) {
			budget := math.MaxInt
			require.NoError(t, weighOTLP(otlpRoots[lb.path], lb.body, 0, &budget))
			weight := math.MaxInt - budget
			rec := httptest.NewRecorder()
			allocated := allocatedBy(func() { h.ServeHTTP(rec, otlpRequestOf(lb.path, protobufContentType, lb.body)) })
			t.Logf("%-34s %8d body bytes, weight %5.2f, %5.2f allocated per body byte",
				lb.name, len(lb.body), float64(weight)/float64(len(lb.body)), float64(allocated)/float64(len(lb.body)))
			assert.Equal(t, http.StatusOK, rec.Code, "%.300s", rec.Body)
		})
	}
}
