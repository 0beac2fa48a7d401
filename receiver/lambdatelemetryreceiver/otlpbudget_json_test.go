// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver

import (
	"errors"
	"math"
	"strings"
	"testing"

	jsoniter "github.com/json-iterator/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/pdata/testdata"
)

// exactJSONWalk walks body as pdata reads it, errors included, without a budget.
func exactJSONWalk(root otlpMessage, body []byte) (weight int, erred bool, err error) {
	it := jsoniter.ConfigFastest.BorrowIterator(body)
	defer jsoniter.ConfigFastest.ReturnIterator(it)
	w := jsonWalk{it: it, budget: math.MaxInt}
	w.message(root, 0)
	err = w.err
	if err == nil {
		err = it.Error
	}
	return math.MaxInt - w.budget, w.erred || it.Error != nil, err
}

// decodedItemWeight is what the items pdata decoded from an OTLP request weigh (the items
// it appends to slices, and the arrays, kvlists and metric data it allocates): the walk
// must have taken at least this much from the budget.
func decodedItemWeight(req otlpRequest) int {
	var value func(v pcommon.Value) int
	attrs := func(m pcommon.Map) int {
		w := 0
		for _, v := range m.All() {
			w += otlpSchema[msgKeyValue].weight + value(v)
		}
		return w
	}
	value = func(v pcommon.Value) int {
		switch v.Type() {
		case pcommon.ValueTypeSlice:
			w := otlpSchema[msgArray].weight
			for _, e := range v.Slice().All() {
				w += otlpSchema[msgArrayElement].weight + value(e)
			}
			return w
		case pcommon.ValueTypeMap:
			return otlpSchema[msgKeyValueList].weight + attrs(v.Map())
		}
		return 0
	}
	exemplars := func(es pmetric.ExemplarSlice) int {
		w := 0
		for _, e := range es.All() {
			w += otlpSchema[msgExemplar].weight + attrs(e.FilteredAttributes())
		}
		return w
	}
	numbers := func(dps pmetric.NumberDataPointSlice) int {
		w := otlpSchema[msgGauge].weight
		for _, dp := range dps.All() {
			w += otlpSchema[msgNumberDataPoint].weight + attrs(dp.Attributes()) + exemplars(dp.Exemplars())
		}
		return w
	}
	w := 0
	switch r := req.(type) {
	case ptraceotlp.ExportRequest:
		for _, rs := range r.Traces().ResourceSpans().All() {
			w += otlpSchema[msgResourceSpans].weight + attrs(rs.Resource().Attributes())
			for _, ss := range rs.ScopeSpans().All() {
				w += otlpSchema[msgScopeSpans].weight + attrs(ss.Scope().Attributes())
				for _, s := range ss.Spans().All() {
					w += otlpSchema[msgSpan].weight + attrs(s.Attributes())
					for _, e := range s.Events().All() {
						w += otlpSchema[msgSpanEvent].weight + attrs(e.Attributes())
					}
					for _, l := range s.Links().All() {
						w += otlpSchema[msgSpanLink].weight + attrs(l.Attributes())
					}
				}
			}
		}
	case pmetricotlp.ExportRequest:
		for _, rm := range r.Metrics().ResourceMetrics().All() {
			w += otlpSchema[msgResourceMetrics].weight + attrs(rm.Resource().Attributes())
			for _, sm := range rm.ScopeMetrics().All() {
				w += otlpSchema[msgScopeMetrics].weight + attrs(sm.Scope().Attributes())
				for _, m := range sm.Metrics().All() {
					w += otlpSchema[msgMetric].weight + attrs(m.Metadata())
					switch m.Type() {
					case pmetric.MetricTypeGauge:
						w += numbers(m.Gauge().DataPoints())
					case pmetric.MetricTypeSum:
						w += numbers(m.Sum().DataPoints())
					case pmetric.MetricTypeHistogram:
						w += otlpSchema[msgHistogram].weight
						for _, dp := range m.Histogram().DataPoints().All() {
							w += otlpSchema[msgHistogramDataPoint].weight + attrs(dp.Attributes()) + exemplars(dp.Exemplars()) +
								varintWeight*(dp.BucketCounts().Len()+dp.ExplicitBounds().Len())
						}
					case pmetric.MetricTypeExponentialHistogram:
						w += otlpSchema[msgExponentialHistogram].weight
						for _, dp := range m.ExponentialHistogram().DataPoints().All() {
							w += otlpSchema[msgExponentialHistogramDataPoint].weight + attrs(dp.Attributes()) + exemplars(dp.Exemplars()) +
								varintWeight*(dp.Positive().BucketCounts().Len()+dp.Negative().BucketCounts().Len())
						}
					case pmetric.MetricTypeSummary:
						w += otlpSchema[msgSummary].weight
						for _, dp := range m.Summary().DataPoints().All() {
							w += otlpSchema[msgSummaryDataPoint].weight + attrs(dp.Attributes()) +
								otlpSchema[msgQuantile].weight*dp.QuantileValues().Len()
						}
					}
				}
			}
		}
	case plogotlp.ExportRequest:
		for _, rl := range r.Logs().ResourceLogs().All() {
			w += otlpSchema[msgResourceLogs].weight + attrs(rl.Resource().Attributes())
			for _, sl := range rl.ScopeLogs().All() {
				w += otlpSchema[msgScopeLogs].weight + attrs(sl.Scope().Attributes())
				for _, lr := range sl.LogRecords().All() {
					w += otlpSchema[msgLogRecord].weight + attrs(lr.Attributes()) + value(lr.Body())
				}
			}
		}
	}
	return w
}

// checkWalkReadsAsPdata checks the JSON walk against pdata on one body: the exact walk
// fails exactly when pdata fails, with pdata's error; the budget check refuses what pdata
// cannot decode, and, for a body pdata decodes, only for its items; the walk weighs at
// least the items pdata decoded; and pdata's own JSON of what it decoded passes.
func checkWalkReadsAsPdata(t *testing.T, path string, body []byte) {
	root := otlpRoots[path]
	weight, erred, exactErr := exactJSONWalk(root, body)
	req := otlpJSONRequests[path]()
	pdataErr := req.UnmarshalJSON(body)
	checkErr := checkOTLPJSONBudget(root, body)
	if errors.Is(exactErr, errOTLPTooDeep) {
		// pdata decodes any depth (and recurses as deep); the walk refuses past
		// maxOTLPDepth messages, as for protobuf.
		require.ErrorIs(t, checkErr, errOTLPTooDeep)
		return
	}
	if pdataErr != nil {
		// The same error, at the same place; for a string the walk skips rather than
		// reads, the iterator names the other operation.
		require.Error(t, exactErr, "the walk fails where pdata fails (%v)", pdataErr)
		_, want, _ := strings.Cut(pdataErr.Error(), ": ")
		_, got, _ := strings.Cut(exactErr.Error(), ": ")
		require.Equal(t, want, got, "the walk fails where pdata fails")
		require.Error(t, checkErr, "a body pdata cannot decode is refused")
		return
	}
	require.NoError(t, exactErr, "the walk decodes what pdata decodes")
	budget := maxItemWeightPerBodyByte*len(body) + itemWeightSlack
	switch {
	case errors.Is(checkErr, errOTLPOverBudget):
		require.Greater(t, weight, budget)
	case checkErr != nil:
		// pdata's iterator cleared an error it had reported (a number it skips
		// fails as float64, then passes as a big float): the check stopped at it.
		require.True(t, erred, "refused with %v a body pdata decodes", checkErr)
	default:
		require.LessOrEqual(t, weight, budget)
	}
	assert.GreaterOrEqual(t, weight, decodedItemWeight(req), "the walk weighs at least the items pdata decoded")
	out, err := req.(interface{ MarshalJSON() ([]byte, error) }).MarshalJSON()
	require.NoError(t, err)
	assert.NoError(t, checkOTLPJSONBudget(root, out), "pdata's JSON passes, whatever its items")
}

// TestOTLPJSONWalkReadsAsPdata: the walk reads a JSON body as pdata does, where pdata's
// iterator is lenient (it reads structure that is not JSON, and goes on after errors) as
// where it is strict.
func TestOTLPJSONWalkReadsAsPdata(t *testing.T) {
	const spans = `{"resourceSpans":[{"scopeSpans":[{"spans":[%s]}]}]}`
	span := func(inner string) string { return strings.Replace(spans, "%s", inner, 1) }
	tests := []struct {
		name string
		path string
		body string
		// refused: the budget check refuses the body (pdata fails on it, or it is over
		// budget or too deep).
		refused bool
	}{
		{name: "empty", path: tracesPath, body: ``, refused: true},
		{name: "null", path: tracesPath, body: `null`},
		{name: "empty object", path: tracesPath, body: `{}`},
		{name: "an array", path: tracesPath, body: `[]`, refused: true},
		{name: "trailing bytes pdata ignores", path: tracesPath, body: `{} ]]] not JSON`},
		{name: "a span", path: tracesPath, body: span(`{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"a\"b\u00e9","kind":"SPAN_KIND_SERVER","startTimeUnixNano":"1","endTimeUnixNano":2,"status":{"code":2}}`)},
		{name: "snake case keys", path: tracesPath, body: `{"resource_spans":[{"scope_spans":[{"spans":[{"trace_id":"","start_time_unix_nano":"5"}]}]}]}`},
		{name: "escaped key", path: tracesPath, body: `{"resource\u0053pans":[{}]}`},
		{name: "unknown keys of every kind", path: tracesPath, body: span(`{"x":{"a":[1,-2.5e3,"s",true,false,null,{}]},"y":0.5}`)},
		{name: "trace id of the wrong length", path: tracesPath, body: span(`{"traceId":"0102"}`), refused: true},
		{name: "trace id not hex", path: tracesPath, body: span(`{"traceId":"zz02030405060708090a0b0c0d0e0f10"}`), refused: true},
		{name: "unknown span kind", path: tracesPath, body: span(`{"kind":"SERVER"}`), refused: true},
		{name: "span kind as a number", path: tracesPath, body: span(`{"kind":99}`)},
		{name: "time not a number", path: tracesPath, body: span(`{"startTimeUnixNano":"soon"}`), refused: true},
		{name: "time negative", path: tracesPath, body: span(`{"startTimeUnixNano":-1}`), refused: true},
		{name: "time a fraction", path: tracesPath, body: span(`{"startTimeUnixNano":1.5}`), refused: true},
		{name: "flags past uint32", path: tracesPath, body: span(`{"flags":"4294967296"}`), refused: true},
		{name: "null time", path: tracesPath, body: span(`{"startTimeUnixNano":null}`), refused: true},
		{name: "an object for a name", path: tracesPath, body: span(`{"name":{"a":",,,,,,"}}`), refused: true},
		{name: "a control character in a name", path: tracesPath, body: span("{\"name\":\"a\x01\"}"), refused: true},
		{name: "a control character in a skipped string", path: tracesPath, body: span("{\"x\":\"a\x01\"}"), refused: true},
		{name: "an object without its brace, as pdata reads it", path: tracesPath,
			body: `{"resourceSpans":[{"resource":,"attributes":[{"key":"k"}]},"schemaUrl":""}]}`},
		{name: "an empty key ends the object for pdata", path: tracesPath, body: `{"":{"resourceSpans":[{}]}}`},
		{name: "null spans", path: tracesPath, body: span(`null,null`)},
		{name: "spans of the wrong type", path: tracesPath, body: span(`1`), refused: true},
		{name: "a skipped number pdata's iterator reads twice", path: tracesPath,
			body: span(`{"startTimeUnixNano":"x","y":-.5e1}`), refused: true},
		{name: "deep kvlists", path: tracesPath, refused: true, body: `{"resourceSpans":[{"resource":{"attributes":[` +
			strings.Repeat(`{"key":"k","value":{"kvlistValue":{"values":[`, 100) + strings.Repeat(`]}}}`, 100) + `]}}]}`},
		{name: "nested without brackets, as pdata reads it", path: tracesPath, refused: true, body: `{"resourceSpans":[{"resource":{"attributes":[{"key":"k","value":` +
			strings.Repeat(`,"kvlistValue":,"values":,,"key":"k","value":`, 100) + `{}}]}}]}`},
		{name: "bytes", path: logsPath, body: `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"bytesValue":"aGk="}}]}]}]}`},
		{name: "bytes not base64", path: logsPath, body: `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"bytesValue":"aGk"}}]}]}]}`, refused: true},
		{name: "bytes null", path: logsPath, body: `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"bytesValue":null}}]}]}]}`, refused: true},
		{name: "severity as pdata spells it", path: logsPath, body: `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":"SEVERITY_NUMBER_TRACE "}]}]}]}`},
		{name: "severity as OTLP spells it, which pdata refuses", path: logsPath, body: `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":"SEVERITY_NUMBER_TRACE"}]}]}]}`, refused: true},
		{name: "bucket counts as strings and numbers", path: metricsPath, body: `{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"histogram":{"dataPoints":[{"bucketCounts":["1",2],"explicitBounds":[1.5,"2"]}]}}]}]}]}`},
		{name: "a bucket count negative", path: metricsPath, body: `{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"histogram":{"dataPoints":[{"bucketCounts":[-1]}]}}]}]}]}`, refused: true},
		{name: "a sum's temporality", path: metricsPath, body: `{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"sum":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_DELTA","isMonotonic":true,"dataPoints":[{"asInt":"3"}]}}]}]}]}`},
		{name: "a bool that is not", path: metricsPath, body: `{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"sum":{"isMonotonic":"true"}}]}]}]}`, refused: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkWalkReadsAsPdata(t, tt.path, []byte(tt.body))
			err := checkOTLPJSONBudget(otlpRoots[tt.path], []byte(tt.body))
			if tt.refused {
				assert.Error(t, err)
			} else {
				assert.NoError(t, err)
			}
		})
	}
}

// FuzzOTLPJSONBudget: whatever the body, the JSON walk does not panic and reads it as pdata
// does (checkWalkReadsAsPdata). The corpus starts from pdata's JSON of its test data and of
// requests with every field set, our hostile shapes at a small size, and tricky bodies.
//
//	go test -run '^$' -fuzz FuzzOTLPJSONBudget -fuzztime 60s ./receiver/lambdatelemetryreceiver/
func FuzzOTLPJSONBudget(f *testing.F) {
	paths := []string{tracesPath, metricsPath, logsPath}
	add := func(path string, body []byte) {
		for i, p := range paths {
			if p == path {
				f.Add(uint8(i), body)
			}
		}
	}
	marshal := func(m interface{ MarshalJSON() ([]byte, error) }) []byte {
		b, err := m.MarshalJSON()
		require.NoError(f, err)
		return b
	}
	add(tracesPath, marshal(ptraceotlp.NewExportRequestFromTraces(testdata.GenerateTraces(2))))
	add(metricsPath, marshal(pmetricotlp.NewExportRequestFromMetrics(testdata.GenerateMetricsAllTypes())))
	add(metricsPath, marshal(pmetricotlp.NewExportRequestFromMetrics(testdata.GenerateMetricsAllTypesEmpty())))
	add(logsPath, marshal(plogotlp.NewExportRequestFromLogs(testdata.GenerateLogs(2))))
	for path, body := range fullOTLPJSON(f) {
		add(path, body)
	}
	for _, hb := range otlpJSONHostileBodies(512) {
		add(hb.path, hb.body)
	}
	add(tracesPath, []byte(`{"resourceSpans":[{"resource":,"attributes":[{"key":"k"}]},"schemaUrl":""}]}`))
	add(tracesPath, []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"x","y":-.5e1}]}]}]}`))
	add(logsPath, []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"bytesValue":"aGk="},"severityNumber":"SEVERITY_NUMBER_TRACE "}]}]}]}`))
	f.Fuzz(func(t *testing.T, signal uint8, body []byte) {
		checkWalkReadsAsPdata(t, paths[int(signal)%len(paths)], body)
	})
}

// jsonValueSpans returns where each value of a valid JSON document is, but the root: each
// member's value and each element, as [start, end).
func jsonValueSpans(b []byte) [][2]int {
	var spans [][2]int
	i := 0
	ws := func() {
		for i < len(b) && strings.IndexByte(" \t\r\n", b[i]) >= 0 {
			i++
		}
	}
	str := func() {
		for i++; b[i] != '"'; i++ {
			if b[i] == '\\' {
				i++
			}
		}
		i++
	}
	var value func(depth int)
	value = func(depth int) {
		ws()
		start := i
		switch b[i] {
		case '{':
			i++
			for ws(); b[i] != '}'; ws() {
				str()
				ws()
				i++ // :
				value(depth + 1)
				if ws(); b[i] == ',' {
					i++
				}
			}
			i++
		case '[':
			i++
			for ws(); b[i] != ']'; ws() {
				value(depth + 1)
				if ws(); b[i] == ',' {
					i++
				}
			}
			i++
		case '"':
			str()
		default:
			for i < len(b) && strings.IndexByte(",]} \t\r\n", b[i]) < 0 {
				i++
			}
		}
		if depth > 0 {
			spans = append(spans, [2]int{start, i})
		}
	}
	value(0)
	return spans
}

// fullOTLPJSON is a request of each signal with every field pdata writes set, in pdata's
// JSON, with the fields its public API does not reach (entity refs, the profiles'
// string indexes, deprecated scopes) written in.
func fullOTLPJSON(tb testing.TB) map[string][]byte {
	t0 := pcommon.Timestamp(1_700_000_000_000_000_000)
	traceID := pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	spanID := pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8}
	// Every type of value in the resource's attributes; one elsewhere (each value is
	// mutated below, and each has a cost).
	allValues := func(m pcommon.Map) {
		m.PutStr("s", "v")
		m.PutBool("b", true)
		m.PutInt("i", -3)
		m.PutDouble("d", 1.5)
		m.PutEmptyBytes("y").FromRaw([]byte("hi"))
		m.PutEmptySlice("a").AppendEmpty().SetStr("x")
		m.PutEmptyMap("m").PutInt("k", 1)
	}
	attrs := func(m pcommon.Map) { m.PutStr("s", "v") }
	resource := func(r pcommon.Resource) {
		allValues(r.Attributes())
		r.SetDroppedAttributesCount(1)
	}
	scope := func(s pcommon.InstrumentationScope) {
		s.SetName("n")
		s.SetVersion("v")
		attrs(s.Attributes())
		s.SetDroppedAttributesCount(1)
	}

	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.SetSchemaUrl("u")
	resource(rs.Resource())
	ss := rs.ScopeSpans().AppendEmpty()
	ss.SetSchemaUrl("u")
	scope(ss.Scope())
	s := ss.Spans().AppendEmpty()
	s.SetTraceID(traceID)
	s.SetSpanID(spanID)
	s.TraceState().FromRaw("a=b")
	s.SetParentSpanID(spanID)
	s.SetFlags(1)
	s.SetName("n")
	s.SetKind(ptrace.SpanKindServer)
	s.SetStartTimestamp(t0)
	s.SetEndTimestamp(t0 + 1)
	attrs(s.Attributes())
	s.SetDroppedAttributesCount(1)
	s.SetDroppedEventsCount(1)
	s.SetDroppedLinksCount(1)
	e := s.Events().AppendEmpty()
	e.SetTimestamp(t0)
	e.SetName("e")
	attrs(e.Attributes())
	e.SetDroppedAttributesCount(1)
	l := s.Links().AppendEmpty()
	l.SetTraceID(traceID)
	l.SetSpanID(spanID)
	l.TraceState().FromRaw("a=b")
	attrs(l.Attributes())
	l.SetDroppedAttributesCount(1)
	l.SetFlags(1)
	s.Status().SetMessage("m")
	s.Status().SetCode(ptrace.StatusCodeError)

	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.SetSchemaUrl("u")
	resource(rm.Resource())
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.SetSchemaUrl("u")
	scope(sm.Scope())
	exemplar := func(es pmetric.ExemplarSlice) {
		for _, asInt := range []bool{false, true} {
			e := es.AppendEmpty()
			attrs(e.FilteredAttributes())
			e.SetTimestamp(t0)
			e.SetTraceID(traceID)
			e.SetSpanID(spanID)
			if asInt {
				e.SetIntValue(2)
			} else {
				e.SetDoubleValue(2.5)
			}
		}
	}
	number := func(dps pmetric.NumberDataPointSlice) {
		for _, asInt := range []bool{false, true} {
			dp := dps.AppendEmpty()
			attrs(dp.Attributes())
			dp.SetStartTimestamp(t0)
			dp.SetTimestamp(t0 + 1)
			dp.SetFlags(1)
			exemplar(dp.Exemplars())
			if asInt {
				dp.SetIntValue(2)
			} else {
				dp.SetDoubleValue(2.5)
			}
		}
	}
	metric := func(name string) pmetric.Metric {
		m := sm.Metrics().AppendEmpty()
		m.SetName(name)
		m.SetDescription("d")
		m.SetUnit("1")
		attrs(m.Metadata())
		return m
	}
	number(metric("g").SetEmptyGauge().DataPoints())
	sum := metric("s").SetEmptySum()
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	sum.SetIsMonotonic(true)
	number(sum.DataPoints())
	h := metric("h").SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hp := h.DataPoints().AppendEmpty()
	attrs(hp.Attributes())
	hp.SetStartTimestamp(t0)
	hp.SetTimestamp(t0 + 1)
	hp.SetCount(3)
	hp.SetSum(4.5)
	hp.BucketCounts().FromRaw([]uint64{1, 2})
	hp.ExplicitBounds().FromRaw([]float64{1.5})
	exemplar(hp.Exemplars())
	hp.SetFlags(1)
	hp.SetMin(0.5)
	hp.SetMax(9.5)
	eh := metric("e").SetEmptyExponentialHistogram()
	eh.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	ep := eh.DataPoints().AppendEmpty()
	attrs(ep.Attributes())
	ep.SetStartTimestamp(t0)
	ep.SetTimestamp(t0 + 1)
	ep.SetCount(3)
	ep.SetSum(4.5)
	ep.SetScale(-2)
	ep.SetZeroCount(1)
	ep.Positive().SetOffset(-1)
	ep.Positive().BucketCounts().FromRaw([]uint64{1, 2})
	ep.Negative().SetOffset(2)
	ep.Negative().BucketCounts().FromRaw([]uint64{3})
	ep.SetFlags(1)
	exemplar(ep.Exemplars())
	ep.SetMin(0.5)
	ep.SetMax(9.5)
	ep.SetZeroThreshold(0.25)
	sp := metric("q").SetEmptySummary().DataPoints().AppendEmpty()
	attrs(sp.Attributes())
	sp.SetStartTimestamp(t0)
	sp.SetTimestamp(t0 + 1)
	sp.SetCount(3)
	sp.SetSum(4.5)
	q := sp.QuantileValues().AppendEmpty()
	q.SetQuantile(0.5)
	q.SetValue(2)
	sp.SetFlags(1)

	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.SetSchemaUrl("u")
	resource(rl.Resource())
	sl := rl.ScopeLogs().AppendEmpty()
	sl.SetSchemaUrl("u")
	scope(sl.Scope())
	lr := sl.LogRecords().AppendEmpty()
	lr.SetTimestamp(t0)
	lr.SetObservedTimestamp(t0 + 1)
	lr.SetSeverityNumber(plog.SeverityNumberWarn)
	lr.SetSeverityText("WARN")
	attrs(lr.Body().SetEmptyMap())
	attrs(lr.Attributes())
	lr.SetDroppedAttributesCount(1)
	lr.SetFlags(1)
	lr.SetTraceID(traceID)
	lr.SetSpanID(spanID)
	lr.SetEventName("ev")

	marshal := func(m interface{ MarshalJSON() ([]byte, error) }) string {
		b, err := m.MarshalJSON()
		require.NoError(tb, err)
		return string(b)
	}
	// Fields the public API does not reach, written in.
	extra := strings.NewReplacer(
		`"resource":{`, `"resource":{"entityRefs":[{"schemaUrl":"u","type":"t","idKeys":["a"],"descriptionKeys":["b"]}],`,
		`{"key":"s",`, `{"keyStrindex":1,"key":"s",`,
		`{"stringValue":"v"}`, `{"stringValueStrindex":1,"stringValue":"v"}`,
	)
	deprecated := func(body, scopes string) []byte {
		return []byte(strings.Replace(extra.Replace(body), `"schemaUrl":"u"`, `"schemaUrl":"u","`+scopes+`":[{}]`, 1))
	}
	return map[string][]byte{
		tracesPath:  deprecated(marshal(ptraceotlp.NewExportRequestFromTraces(td)), "deprecatedScopeSpans"),
		metricsPath: deprecated(marshal(pmetricotlp.NewExportRequestFromMetrics(md)), "deprecatedScopeMetrics"),
		logsPath:    deprecated(marshal(plogotlp.NewExportRequestFromLogs(ld)), "deprecatedScopeLogs"),
	}
}

// TestOTLPJSONWalkReadsEveryFieldAsPdata puts, in place of each value of a request that
// sets every field (pdata's JSON, so pdata names the fields), values of every JSON type,
// right and wrong, and checks the walk against pdata on each body: a field the walk read
// otherwise than pdata would fail here.
func TestOTLPJSONWalkReadsEveryFieldAsPdata(t *testing.T) {
	replacements := []string{`{}`, `[{}]`, `[1]`, `["x"]`, `"x"`, `""`, `"\u0031"`, `-1`, `1.5`,
		`1e400`, `4294967296`, `null`, `true`, `"SPAN_KIND_SERVER"`, `"aGk="`, `"0102030405060708"`}
	for path, body := range fullOTLPJSON(t) {
		require.NoError(t, otlpJSONRequests[path]().UnmarshalJSON(body), "%s", body)
		checkWalkReadsAsPdata(t, path, body)
		for _, span := range jsonValueSpans(body) {
			t.Run(path+"/"+string(body[max(span[0]-32, 0):span[0]]), func(t *testing.T) {
				for _, r := range replacements {
					mutated := make([]byte, 0, len(body)+len(r))
					mutated = append(append(append(mutated, body[:span[0]]...), r...), body[span[1]:]...)
					checkWalkReadsAsPdata(t, path, mutated)
				}
			})
		}
	}
}
