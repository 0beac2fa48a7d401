// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver

import (
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/metadata"
)

// jsonRepeatTo repeats element, comma-separated, inside wrap until the whole is as close to
// size as it gets without passing it (or holds one element, if that passes it).
func jsonRepeatTo(size int, element string, wrap func(string) string) []byte {
	n := (size - len(wrap(""))) / (len(element) + 1)
	for {
		if n <= 1 {
			return []byte(wrap(element))
		}
		body := wrap(strings.Repeat(element+",", n-1) + element)
		if len(body) <= size {
			return []byte(body)
		}
		n--
	}
}

// jsonElement is an empty object, or one holding an unknown key that pdata skips, padded
// to pad bytes.
func jsonElement(pad int) string {
	if pad == 0 {
		return "{}"
	}
	return `{"x":"` + strings.Repeat("a", max(pad-8, 0)) + `"}`
}

// otlpJSONHostileBody is one of the worst OTLP/JSON bodies we know.
type otlpJSONHostileBody struct {
	name string
	path string
	// build makes the body of elements padded to pad bytes (0: empty).
	build func(pad int) []byte
	body  []byte
	// fixed: the shape's elements are not padded.
	fixed bool
	// withinBudget: the shape costs pdata what its size allows, and is decoded.
	withinBudget bool
	// wantReason is why the receiver refuses the body, when not too_many_items.
	wantReason string
}

// jsonSpanIDs are the hex ids of a span.
const jsonSpanIDs = `"traceId":"01010101010101010101010101010101","spanId":"0101010101010101"`

func otlpJSONHostileShapes(size int) []otlpJSONHostileBody {
	traces := func(spans string) string {
		return `{"resourceSpans":[{"scopeSpans":[{"spans":[` + spans + `]}]}]}`
	}
	metrics := func(ms string) string {
		return `{"resourceMetrics":[{"scopeMetrics":[{"metrics":[` + ms + `]}]}]}`
	}
	logs := func(records string) string {
		return `{"resourceLogs":[{"scopeLogs":[{"logRecords":[` + records + `]}]}]}`
	}
	resourceAttrs := func(kvs string) string {
		return `{"resourceSpans":[{"resource":{"attributes":[` + kvs + `]}}]}`
	}
	oneSpan := func(inner string) string { return traces(`{` + jsonSpanIDs + `,` + inner + `}`) }
	data := func(kind string) func(string) string {
		return func(dps string) string { return metrics(`{"` + kind + `":{"dataPoints":[` + dps + `]}}`) }
	}
	gauge, histogram, expHistogram, summary := data("gauge"), data("histogram"), data("exponentialHistogram"), data("summary")
	repeat := func(wrap func(string) string) func(int) []byte {
		return func(pad int) []byte { return jsonRepeatTo(size, jsonElement(pad), wrap) }
	}
	// nested is an attribute whose value is a kvlist of one attribute whose value is a
	// kvlist..., depth levels deep.
	nested := func(depth int) string {
		return strings.Repeat(`{"key":"k","value":{"kvlistValue":{"values":[`, depth) + `{"key":"k"}` + strings.Repeat(`]}}}`, depth)
	}
	return []otlpJSONHostileBody{
		{name: "empty spans", path: tracesPath, build: repeat(traces)},
		{name: "null spans", path: tracesPath, build: func(int) []byte { return jsonRepeatTo(size, "null", traces) }, fixed: true},
		{name: "empty scope spans", path: tracesPath, build: repeat(func(b string) string { return `{"resourceSpans":[{"scopeSpans":[` + b + `]}]}` })},
		{name: "empty resource spans", path: tracesPath, build: repeat(func(b string) string { return `{"resourceSpans":[` + b + `]}` })},
		{name: "empty resource attributes", path: tracesPath, build: repeat(resourceAttrs)},
		{name: "empty span attributes", path: tracesPath, build: repeat(func(b string) string { return oneSpan(`"attributes":[` + b + `]`) })},
		{name: "empty span events", path: tracesPath, build: repeat(func(b string) string { return oneSpan(`"events":[` + b + `]`) })},
		{name: "empty span links", path: tracesPath, build: repeat(func(b string) string { return oneSpan(`"links":[` + b + `]`) })},
		{name: "empty array elements", path: tracesPath, build: repeat(func(b string) string {
			return resourceAttrs(`{"key":"k","value":{"arrayValue":{"values":[` + b + `]}}}`)
		}), withinBudget: true},
		{name: "empty kvlist elements", path: tracesPath, build: repeat(func(b string) string {
			return resourceAttrs(`{"key":"k","value":{"kvlistValue":{"values":[` + b + `]}}}`)
		})},
		{name: "deep kvlists", path: tracesPath, build: func(int) []byte { return jsonRepeatTo(size, nested(30), resourceAttrs) }, fixed: true, withinBudget: true},
		{name: "empty entity ref keys", path: tracesPath, build: func(int) []byte {
			return jsonRepeatTo(size, `""`, func(b string) string {
				return `{"resourceSpans":[{"resource":{"entityRefs":[{"idKeys":[` + b + `]}]}}]}`
			})
		}, fixed: true, withinBudget: true},
		{name: "repeated keys", path: tracesPath, build: func(int) []byte {
			return jsonRepeatTo(size, `"name":""`, func(b string) string { return oneSpan(b) })
		}, fixed: true, withinBudget: true},
		// After a value of the wrong type, pdata's iterator reads the rest as structure:
		// here each comma of the string is a span.
		{name: "commas read as spans after a type error", path: tracesPath, build: func(int) []byte {
			return jsonRepeatTo(size, ",", func(b string) string { return traces(`{"name":{"a":"` + b + `"}}`) })
		}, fixed: true, wantReason: "malformed"},
		{name: "empty metrics", path: metricsPath, build: repeat(metrics)},
		{name: "repeated gauges", path: metricsPath, build: func(int) []byte {
			return jsonRepeatTo(size, `"gauge":{}`, func(b string) string { return metrics(`{` + b + `}`) })
		}, fixed: true, withinBudget: true},
		{name: "empty gauge points", path: metricsPath, build: repeat(gauge)},
		{name: "empty histogram points", path: metricsPath, build: repeat(histogram)},
		{name: "empty exponential histogram points", path: metricsPath, build: repeat(expHistogram)},
		{name: "empty summary points", path: metricsPath, build: repeat(summary)},
		{name: "empty quantiles", path: metricsPath, build: repeat(func(b string) string { return summary(`{"quantileValues":[` + b + `]}`) }), withinBudget: true},
		{name: "empty exemplars", path: metricsPath, build: repeat(func(b string) string { return gauge(`{"exemplars":[` + b + `]}`) })},
		{name: "bucket counts of one digit", path: metricsPath, build: func(int) []byte {
			return jsonRepeatTo(size, "0", func(b string) string { return histogram(`{"bucketCounts":[` + b + `]}`) })
		}, fixed: true, withinBudget: true},
		{name: "explicit bounds of one digit", path: metricsPath, build: func(int) []byte {
			return jsonRepeatTo(size, "0", func(b string) string { return histogram(`{"explicitBounds":[` + b + `]}`) })
		}, fixed: true, withinBudget: true},
		{name: "empty log records", path: logsPath, build: repeat(logs)},
		{name: "empty log attributes", path: logsPath, build: repeat(func(b string) string { return logs(`{"attributes":[` + b + `]}`) })},
	}
}

// otlpJSONHostileBodies is each shape of empty items.
func otlpJSONHostileBodies(size int) []otlpJSONHostileBody {
	shapes := otlpJSONHostileShapes(size)
	for i := range shapes {
		shapes[i].body = shapes[i].build(0)
	}
	return shapes
}

// otlpJSONAtTheBudget is each shape with its items padded just enough for the item budget
// to let it through: the costliest JSON bodies the receiver decodes.
func otlpJSONAtTheBudget(size int) []otlpJSONHostileBody {
	var bodies []otlpJSONHostileBody
	for _, hb := range otlpJSONHostileShapes(size) {
		if hb.fixed || hb.withinBudget {
			continue
		}
		for pad := 9; ; pad++ {
			hb.body = hb.build(pad)
			if checkOTLPJSONBudget(otlpRoots[hb.path], hb.body) == nil {
				hb.name += " at the budget"
				bodies = append(bodies, hb)
				break
			}
		}
	}
	return bodies
}

func (hb otlpJSONHostileBody) costCase() otlpCostCase {
	return otlpCostCase{name: hb.name, path: hb.path, contentType: jsonContentType, body: hb.body,
		withinBudget: hb.withinBudget, wantReason: hb.wantReason}
}

// TestOTLPJSONHostileBodiesCostMemoryInProportion is TestOTLPHostileBodiesCostMemoryInProportion
// for OTLP/JSON: either encoding costs at most the same per body byte.
func TestOTLPJSONHostileBodiesCostMemoryInProportion(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates some hundred MiB")
	}
	const limit = 4 << 20
	testOTLPCostInProportion(t, limit, costCases(otlpJSONHostileBodies(limit)), costCases(otlpJSONAtTheBudget(limit)))
}

// BenchmarkOTLPJSONHostileBodies reports what each hostile OTLP/JSON shape allocates per
// body byte at the default body size limit (20 MiB), refused and at the item budget:
//
//	go test -run '^$' -bench BenchmarkOTLPJSONHostileBodies -benchtime 3x ./receiver/lambdatelemetryreceiver/
func BenchmarkOTLPJSONHostileBodies(b *testing.B) {
	const limit = 20 << 20
	benchmarkOTLPCost(b, costCases(append(otlpJSONHostileBodies(limit), otlpJSONAtTheBudget(limit)...)))
}

// otlpJSONRequests are the OTLP requests of a path, to decode JSON with.
var otlpJSONRequests = map[string]func() otlpRequest{
	tracesPath:  func() otlpRequest { return ptraceotlp.NewExportRequest() },
	metricsPath: func() otlpRequest { return pmetricotlp.NewExportRequest() },
	logsPath:    func() otlpRequest { return plogotlp.NewExportRequest() },
}

// toJSON is an OTLP/protobuf body as pdata's JSON marshaler writes it.
func toJSON(tb testing.TB, path string, body []byte) []byte {
	req := otlpJSONRequests[path]()
	require.NoError(tb, req.UnmarshalProto(body))
	out, err := req.(interface{ MarshalJSON() ([]byte, error) }).MarshalJSON()
	require.NoError(tb, err)
	return out
}

// TestOTLPJSONLegitBodiesPass: requests as exporters write them, in pdata's JSON, are
// decoded whatever their shape, and weigh as their protobuf does (never less); the log
// shows what they weigh and cost per body byte.
func TestOTLPJSONLegitBodiesPass(t *testing.T) {
	h := otlpHostileServer(t, 20<<20, receivertest.NewNopSettings(metadata.Type))
	for _, lb := range otlpLegitBodies(t) {
		t.Run(lb.name, func(t *testing.T) {
			body := toJSON(t, lb.path, lb.body)
			budget := math.MaxInt
			require.NoError(t, weighOTLPJSON(otlpRoots[lb.path], body, &budget, true))
			weight := math.MaxInt - budget
			budget = math.MaxInt
			require.NoError(t, weighOTLP(otlpRoots[lb.path], lb.body, 0, &budget))
			protoWeight := math.MaxInt - budget
			rec := httptest.NewRecorder()
			allocated := allocatedBy(func() { h.ServeHTTP(rec, otlpRequestOf(lb.path, jsonContentType, body)) })
			t.Logf("%-34s %8d body bytes, weight %5.2f (protobuf %d, JSON %d), %5.2f allocated per body byte",
				lb.name, len(body), float64(weight)/float64(len(body)), protoWeight, weight, float64(allocated)/float64(len(body)))
			assert.Equal(t, http.StatusOK, rec.Code, "%.300s", rec.Body)
			assert.GreaterOrEqual(t, weight, protoWeight, "the same items weigh at least as much in JSON")
		})
	}
}
