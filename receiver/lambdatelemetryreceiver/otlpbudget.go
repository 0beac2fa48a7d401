// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver // import "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver"

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	jsoniter "github.com/json-iterator/go"
	"google.golang.org/protobuf/encoding/protowire"
)

// The OTLP/protobuf item budget.
//
// pdata allocates for every message it decodes, however short the message is on the wire: a
// Span is a struct of some 200 bytes and a slot in a growing slice, and costs about 250
// bytes whether it came from 100 bytes or from the 2 bytes of an empty Span. A body of empty
// spans cost 126 bytes per body byte, 2.6 GB at a 20 MiB body limit. Before pdata sees a
// body, checkOTLPBudget walks its wire format (no allocation) and weighs every message pdata
// would allocate for, by what pdata allocates for it (measured, rounded up; see the table).
// A body whose items weigh more than maxItemWeightPerBodyByte times the body, plus
// itemWeightSlack, is refused before it is decoded. Real exporters' requests weigh far less:
// their items carry ids, timestamps, names and values (see otlp_hostile_test.go).

const (
	// maxItemWeightPerBodyByte bounds what a request's items may weigh per body byte.
	// Exporters' requests weigh 5 to 8 (pdata's test data, SDK spans, logs and metrics); a
	// valid span carries a 16-byte trace id and an 8-byte span id, so it is at least 28
	// bytes with its framing and weighs at most 9 per byte. The densest valid shapes weigh
	// 18 to 26: an attribute of many small integers (4 bytes each), a log body of short
	// keys, exponential histograms of small bucket counts (1 byte each). 32 takes them all.
	maxItemWeightPerBodyByte = 32
	// itemWeightSlack lets small requests through whatever their shape: a request of one
	// span in a resource and a scope weighs some 600 bytes in a body of 40.
	itemWeightSlack = 64 << 10
	// maxOTLPDepth is how deep messages may nest: deeper than pdata decodes (it stops at
	// 100 levels of attribute values), and it bounds the walk's recursion.
	maxOTLPDepth = 128
)

var (
	errOTLPOverBudget = errors.New("the request declares more items than an OTLP request of its size carries")
	errOTLPTooDeep    = fmt.Errorf("the request nests messages deeper than %d levels", maxOTLPDepth)
)

// otlpMessage is a message type of the OTLP schema, by the fields that allocate.
type otlpMessage uint8

const (
	msgNone otlpMessage = iota
	msgTracesRequest
	msgResourceSpans
	msgScopeSpans
	msgSpan
	msgSpanEvent
	msgSpanLink
	msgStatus
	msgMetricsRequest
	msgResourceMetrics
	msgScopeMetrics
	msgMetric
	msgGauge
	msgSum
	msgHistogram
	msgExponentialHistogram
	msgSummary
	msgNumberDataPoint
	msgHistogramDataPoint
	msgExponentialHistogramDataPoint
	msgBuckets
	msgSummaryDataPoint
	msgQuantile
	msgExemplar
	msgLogsRequest
	msgResourceLogs
	msgScopeLogs
	msgLogRecord
	msgResource
	msgEntityRef
	msgScope
	msgKeyValue
	msgValue        // an AnyValue held by a KeyValue or a LogRecord's body
	msgArrayElement // an AnyValue in an ArrayValue
	msgArray
	msgKeyValueList
	msgCount
)

// fieldKind is what a field of an otlpMessage decodes to.
type fieldKind uint8

const (
	fieldMessage fieldKind = iota + 1
	fieldVarints           // repeated uint64, packed or not: 8 bytes and a slot per varint
	fieldStrings           // repeated string: a 16-byte header and a slot per string
)

type otlpField struct {
	num  protowire.Number
	kind fieldKind
	msg  otlpMessage
}

// otlpSchema gives each message type its weight (bytes pdata allocates to decode one, with
// its share of the slice that holds it, measured with pdata 1.71 and rounded up) and its
// fields that allocate. Field numbers are those of opentelemetry-proto; strings, bytes and
// scalars are left out, as pdata allocates at most their length for them.
var otlpSchema = [msgCount]struct {
	weight int
	fields []otlpField
}{
	msgTracesRequest: {fields: []otlpField{{1, fieldMessage, msgResourceSpans}}},
	msgResourceSpans: {weight: 176, fields: []otlpField{
		{1, fieldMessage, msgResource}, {2, fieldMessage, msgScopeSpans}, {1000, fieldMessage, msgScopeSpans}}},
	msgScopeSpans: {weight: 160, fields: []otlpField{{1, fieldMessage, msgScope}, {2, fieldMessage, msgSpan}}},
	msgSpan: {weight: 256, fields: []otlpField{
		{9, fieldMessage, msgKeyValue}, {11, fieldMessage, msgSpanEvent}, {13, fieldMessage, msgSpanLink}}},
	msgSpanEvent: {weight: 112, fields: []otlpField{{3, fieldMessage, msgKeyValue}}},
	msgSpanLink:  {weight: 128, fields: []otlpField{{4, fieldMessage, msgKeyValue}}},

	msgMetricsRequest: {fields: []otlpField{{1, fieldMessage, msgResourceMetrics}}},
	msgResourceMetrics: {weight: 176, fields: []otlpField{
		{1, fieldMessage, msgResource}, {2, fieldMessage, msgScopeMetrics}, {1000, fieldMessage, msgScopeMetrics}}},
	msgScopeMetrics: {weight: 160, fields: []otlpField{{1, fieldMessage, msgScope}, {2, fieldMessage, msgMetric}}},
	msgMetric: {weight: 144, fields: []otlpField{
		{5, fieldMessage, msgGauge}, {7, fieldMessage, msgSum}, {9, fieldMessage, msgHistogram},
		{10, fieldMessage, msgExponentialHistogram}, {11, fieldMessage, msgSummary}, {12, fieldMessage, msgKeyValue}}},
	msgGauge:                {weight: 64, fields: []otlpField{{1, fieldMessage, msgNumberDataPoint}}},
	msgSum:                  {weight: 64, fields: []otlpField{{1, fieldMessage, msgNumberDataPoint}}},
	msgHistogram:            {weight: 64, fields: []otlpField{{1, fieldMessage, msgHistogramDataPoint}}},
	msgExponentialHistogram: {weight: 64, fields: []otlpField{{1, fieldMessage, msgExponentialHistogramDataPoint}}},
	msgSummary:              {weight: 64, fields: []otlpField{{1, fieldMessage, msgSummaryDataPoint}}},
	msgNumberDataPoint: {weight: 144, fields: []otlpField{
		{7, fieldMessage, msgKeyValue}, {5, fieldMessage, msgExemplar}}},
	msgHistogramDataPoint: {weight: 208, fields: []otlpField{
		{9, fieldMessage, msgKeyValue}, {8, fieldMessage, msgExemplar}}},
	msgExponentialHistogramDataPoint: {weight: 240, fields: []otlpField{
		{1, fieldMessage, msgKeyValue}, {8, fieldMessage, msgBuckets}, {9, fieldMessage, msgBuckets}, {11, fieldMessage, msgExemplar}}},
	msgBuckets: {fields: []otlpField{{2, fieldVarints, msgNone}}},
	msgSummaryDataPoint: {weight: 144, fields: []otlpField{
		{7, fieldMessage, msgKeyValue}, {6, fieldMessage, msgQuantile}}},
	msgQuantile: {weight: 64},
	msgExemplar: {weight: 368, fields: []otlpField{{7, fieldMessage, msgKeyValue}}},

	msgLogsRequest: {fields: []otlpField{{1, fieldMessage, msgResourceLogs}}},
	msgResourceLogs: {weight: 176, fields: []otlpField{
		{1, fieldMessage, msgResource}, {2, fieldMessage, msgScopeLogs}, {1000, fieldMessage, msgScopeLogs}}},
	msgScopeLogs: {weight: 160, fields: []otlpField{{1, fieldMessage, msgScope}, {2, fieldMessage, msgLogRecord}}},
	msgLogRecord: {weight: 176, fields: []otlpField{{5, fieldMessage, msgValue}, {6, fieldMessage, msgKeyValue}}},

	msgResource:     {fields: []otlpField{{1, fieldMessage, msgKeyValue}, {3, fieldMessage, msgEntityRef}}},
	msgEntityRef:    {weight: 96, fields: []otlpField{{3, fieldStrings, msgNone}, {4, fieldStrings, msgNone}}},
	msgScope:        {fields: []otlpField{{3, fieldMessage, msgKeyValue}}},
	msgKeyValue:     {weight: 208, fields: []otlpField{{2, fieldMessage, msgValue}}},
	msgValue:        {weight: 24, fields: []otlpField{{5, fieldMessage, msgArray}, {6, fieldMessage, msgKeyValueList}}},
	msgArrayElement: {weight: 88, fields: []otlpField{{5, fieldMessage, msgArray}, {6, fieldMessage, msgKeyValueList}}},
	msgArray:        {weight: 64, fields: []otlpField{{1, fieldMessage, msgArrayElement}}},
	msgKeyValueList: {weight: 64, fields: []otlpField{{1, fieldMessage, msgKeyValue}}},
}

// Weights of the elements of repeated scalar fields: a varint decodes to 8 bytes in a slice
// that grows as it is appended to (48 with its share of the growth, at millions of them);
// a string to a 16-byte header likewise.
const (
	varintWeight = 48
	stringWeight = 88
)

// packedWeight is what a packed run of k varints costs: their slice grows by doubling to
// 256 elements (the slices it grows through add up to twice its capacity, under four times
// its length), then by a quarter (some six times its length).
func packedWeight(k int) int {
	if k > 256 {
		return varintWeight * k
	}
	return 8 * 4 * k
}

// checkOTLPBudget refuses an OTLP/protobuf request (of type root) whose items would cost
// pdata more than the budget to decode, or that is not protobuf at all. It allocates
// nothing and reads each byte once per level of nesting above it.
func checkOTLPBudget(root otlpMessage, body []byte) error {
	budget := maxItemWeightPerBodyByte*len(body) + itemWeightSlack
	if err := weighOTLP(root, body, 0, &budget); err != nil {
		return err
	}
	return nil
}

// weighOTLP takes the weight of msg's items, encoded in b, from budget.
func weighOTLP(msg otlpMessage, b []byte, depth int, budget *int) error {
	if depth > maxOTLPDepth {
		return errOTLPTooDeep
	}
	fields := otlpSchema[msg].fields
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var f *otlpField
		for i := range fields {
			if fields[i].num == num {
				f = &fields[i]
				break
			}
		}
		if f == nil || (typ != protowire.BytesType && !(f.kind == fieldVarints && typ == protowire.VarintType)) {
			// Not a field that allocates (or of a wire type pdata refuses): skipped.
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
			continue
		}
		if typ == protowire.VarintType { // one unpacked varint
			_, n = protowire.ConsumeVarint(b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
			*budget -= varintWeight
			if *budget < 0 {
				return errOTLPOverBudget
			}
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		switch f.kind {
		case fieldMessage:
			*budget -= otlpSchema[f.msg].weight
			if *budget < 0 {
				return errOTLPOverBudget
			}
			if err := weighOTLP(f.msg, v, depth+1, budget); err != nil {
				return err
			}
		case fieldVarints:
			k := 0
			for _, c := range v {
				if c < 0x80 { // the last byte of a varint
					k++
				}
			}
			*budget -= packedWeight(k)
		case fieldStrings:
			*budget -= stringWeight
		}
		if *budget < 0 {
			return errOTLPOverBudget
		}
	}
	return nil
}

// reasonOfBudgetError is why a request checkOTLPBudget refused was refused.
func reasonOfBudgetError(err error) refusalReason {
	if errors.Is(err, errOTLPOverBudget) {
		return reasonTooManyItems
	}
	return reasonMalformed
}

// The OTLP/JSON item budget.
//
// pdata allocates for a JSON item what it allocates for the same item in protobuf, and a JSON
// item can be as short: a 4 MiB body of "{}" spans cost 84 bytes per body byte. JSON bodies
// are weighed with the same weights and held to the same budget, by checkOTLPJSONBudget.
//
// The walk must see the items pdata will decode, and pdata's JSON iterator (jsoniter) does not
// stop at an error: a value of the wrong type (an object where a string belongs) leaves it
// inside the value, and it goes on reading what follows, string contents included, as
// structure, appending an item at each comma of an array it believes it is in (a string of
// commas after such a value cost 64 bytes per body byte before pdata answered 400). A
// scanner of its own would not see those items, nor read `{"resource":,"attributes":[]}`
// as pdata does. So the walk reads the body with the same iterator, making the calls
// pdata's generated UnmarshalJSON methods make, in the same order; where pdata would
// allocate an item, the walk takes its weight from the budget instead. It stops at the
// iterator's first error, and the body is refused with it: pdata never reads past one. It
// allocates what the iterator returns as strings: the keys of objects, and numbers written
// as strings (0.2 to 0.9 bytes per body byte for exporters' requests).

// jsonKind is how pdata reads a field of an OTLP/JSON message.
type jsonKind uint8

const (
	jsonMessage  jsonKind = iota + 1 // an object, decoded as msg
	jsonMessages                     // an array of objects, each appended as a msg
	jsonUint64s                      // an array of uint64 (bucket counts)
	jsonFloat64s                     // an array of float64 (explicit bounds)
	jsonStrings                      // an array of strings (entity ref keys)
	jsonString
	jsonBytes // base64
	jsonTraceID
	jsonSpanID
	jsonBool
	jsonInt32
	jsonUint32
	jsonInt64
	jsonUint64
	jsonFloat64
	jsonEnum // a name of enum, or a number
)

// jsonField is a field of an OTLP/JSON message: pdata accepts its name in lowerCamelCase
// and in snake_case.
type jsonField struct {
	name  string
	kind  jsonKind
	msg   otlpMessage // jsonMessage, jsonMessages
	enum  []string    // jsonEnum: the names pdata knows
	snake string      // set by init
}

// The names of the enums pdata reads. pdata 1.71 spells SEVERITY_NUMBER_TRACE with a
// trailing space, and refuses it without: the walk must refuse what pdata refuses.
var (
	spanKinds = []string{"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
		"SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"}
	statusCodes   = []string{"STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"}
	temporalities = []string{"AGGREGATION_TEMPORALITY_UNSPECIFIED", "AGGREGATION_TEMPORALITY_DELTA",
		"AGGREGATION_TEMPORALITY_CUMULATIVE"}
	severityNumbers = []string{"SEVERITY_NUMBER_UNSPECIFIED",
		"SEVERITY_NUMBER_TRACE ", "SEVERITY_NUMBER_TRACE2", "SEVERITY_NUMBER_TRACE3", "SEVERITY_NUMBER_TRACE4",
		"SEVERITY_NUMBER_DEBUG", "SEVERITY_NUMBER_DEBUG2", "SEVERITY_NUMBER_DEBUG3", "SEVERITY_NUMBER_DEBUG4",
		"SEVERITY_NUMBER_INFO", "SEVERITY_NUMBER_INFO2", "SEVERITY_NUMBER_INFO3", "SEVERITY_NUMBER_INFO4",
		"SEVERITY_NUMBER_WARN", "SEVERITY_NUMBER_WARN2", "SEVERITY_NUMBER_WARN3", "SEVERITY_NUMBER_WARN4",
		"SEVERITY_NUMBER_ERROR", "SEVERITY_NUMBER_ERROR2", "SEVERITY_NUMBER_ERROR3", "SEVERITY_NUMBER_ERROR4",
		"SEVERITY_NUMBER_FATAL", "SEVERITY_NUMBER_FATAL2", "SEVERITY_NUMBER_FATAL3", "SEVERITY_NUMBER_FATAL4"}
)

// Fields several messages have.
var (
	anyValueFields = []jsonField{{name: "stringValue", kind: jsonString}, {name: "boolValue", kind: jsonBool},
		{name: "intValue", kind: jsonInt64}, {name: "doubleValue", kind: jsonFloat64},
		{name: "arrayValue", kind: jsonMessage, msg: msgArray}, {name: "kvlistValue", kind: jsonMessage, msg: msgKeyValueList},
		{name: "bytesValue", kind: jsonBytes}, {name: "stringValueStrindex", kind: jsonInt32}}
	dataPointFields = []jsonField{attributes, {name: "startTimeUnixNano", kind: jsonUint64},
		{name: "timeUnixNano", kind: jsonUint64}, {name: "flags", kind: jsonUint32},
		{name: "exemplars", kind: jsonMessages, msg: msgExemplar}} // not in a SummaryDataPoint
	histogramFields = []jsonField{{name: "count", kind: jsonUint64}, {name: "sum", kind: jsonFloat64},
		{name: "min", kind: jsonFloat64}, {name: "max", kind: jsonFloat64}}
	attributes   = jsonField{name: "attributes", kind: jsonMessages, msg: msgKeyValue}
	droppedAttrs = jsonField{name: "droppedAttributesCount", kind: jsonUint32}
	schemaURL    = jsonField{name: "schemaUrl", kind: jsonString}
	temporality  = jsonField{name: "aggregationTemporality", kind: jsonEnum, enum: temporalities}
)

// otlpJSONSchema gives each message type the fields pdata 1.71 decodes from OTLP/JSON (its
// generated UnmarshalJSON methods). Keys it does not know are skipped.
var otlpJSONSchema = [msgCount][]jsonField{
	msgTracesRequest: {{name: "resourceSpans", kind: jsonMessages, msg: msgResourceSpans}},
	msgResourceSpans: {{name: "resource", kind: jsonMessage, msg: msgResource}, {name: "scopeSpans", kind: jsonMessages, msg: msgScopeSpans},
		schemaURL, {name: "deprecatedScopeSpans", kind: jsonMessages, msg: msgScopeSpans}},
	msgScopeSpans: {{name: "scope", kind: jsonMessage, msg: msgScope}, {name: "spans", kind: jsonMessages, msg: msgSpan}, schemaURL},
	msgSpan: {{name: "traceId", kind: jsonTraceID}, {name: "spanId", kind: jsonSpanID}, {name: "traceState", kind: jsonString},
		{name: "parentSpanId", kind: jsonSpanID}, {name: "flags", kind: jsonUint32}, {name: "name", kind: jsonString},
		{name: "kind", kind: jsonEnum, enum: spanKinds}, {name: "startTimeUnixNano", kind: jsonUint64}, {name: "endTimeUnixNano", kind: jsonUint64},
		attributes, droppedAttrs, {name: "events", kind: jsonMessages, msg: msgSpanEvent}, {name: "droppedEventsCount", kind: jsonUint32},
		{name: "links", kind: jsonMessages, msg: msgSpanLink}, {name: "droppedLinksCount", kind: jsonUint32}, {name: "status", kind: jsonMessage, msg: msgStatus}},
	msgSpanEvent: {{name: "timeUnixNano", kind: jsonUint64}, {name: "name", kind: jsonString}, attributes, droppedAttrs},
	msgSpanLink: {{name: "traceId", kind: jsonTraceID}, {name: "spanId", kind: jsonSpanID}, {name: "traceState", kind: jsonString},
		attributes, droppedAttrs, {name: "flags", kind: jsonUint32}},
	msgStatus: {{name: "message", kind: jsonString}, {name: "code", kind: jsonEnum, enum: statusCodes}},

	msgMetricsRequest: {{name: "resourceMetrics", kind: jsonMessages, msg: msgResourceMetrics}},
	msgResourceMetrics: {{name: "resource", kind: jsonMessage, msg: msgResource}, {name: "scopeMetrics", kind: jsonMessages, msg: msgScopeMetrics},
		schemaURL, {name: "deprecatedScopeMetrics", kind: jsonMessages, msg: msgScopeMetrics}},
	msgScopeMetrics: {{name: "scope", kind: jsonMessage, msg: msgScope}, {name: "metrics", kind: jsonMessages, msg: msgMetric}, schemaURL},
	msgMetric: {{name: "name", kind: jsonString}, {name: "description", kind: jsonString}, {name: "unit", kind: jsonString},
		{name: "gauge", kind: jsonMessage, msg: msgGauge}, {name: "sum", kind: jsonMessage, msg: msgSum},
		{name: "histogram", kind: jsonMessage, msg: msgHistogram}, {name: "exponentialHistogram", kind: jsonMessage, msg: msgExponentialHistogram},
		{name: "summary", kind: jsonMessage, msg: msgSummary}, {name: "metadata", kind: jsonMessages, msg: msgKeyValue}},
	msgGauge: {{name: "dataPoints", kind: jsonMessages, msg: msgNumberDataPoint}},
	msgSum: {{name: "dataPoints", kind: jsonMessages, msg: msgNumberDataPoint}, temporality,
		{name: "isMonotonic", kind: jsonBool}},
	msgHistogram:            {{name: "dataPoints", kind: jsonMessages, msg: msgHistogramDataPoint}, temporality},
	msgExponentialHistogram: {{name: "dataPoints", kind: jsonMessages, msg: msgExponentialHistogramDataPoint}, temporality},
	msgSummary:              {{name: "dataPoints", kind: jsonMessages, msg: msgSummaryDataPoint}},
	msgNumberDataPoint: append(slices.Clone(dataPointFields),
		jsonField{name: "asDouble", kind: jsonFloat64}, jsonField{name: "asInt", kind: jsonInt64}),
	msgHistogramDataPoint: slices.Concat(dataPointFields, histogramFields, []jsonField{
		{name: "bucketCounts", kind: jsonUint64s}, {name: "explicitBounds", kind: jsonFloat64s}}),
	msgExponentialHistogramDataPoint: slices.Concat(dataPointFields, histogramFields, []jsonField{
		{name: "scale", kind: jsonInt32}, {name: "zeroCount", kind: jsonUint64}, {name: "positive", kind: jsonMessage, msg: msgBuckets},
		{name: "negative", kind: jsonMessage, msg: msgBuckets}, {name: "zeroThreshold", kind: jsonFloat64}}),
	msgBuckets: {{name: "offset", kind: jsonInt32}, {name: "bucketCounts", kind: jsonUint64s}},
	msgSummaryDataPoint: slices.Concat(dataPointFields[:4], []jsonField{{name: "count", kind: jsonUint64}, {name: "sum", kind: jsonFloat64},
		{name: "quantileValues", kind: jsonMessages, msg: msgQuantile}}),
	msgQuantile: {{name: "quantile", kind: jsonFloat64}, {name: "value", kind: jsonFloat64}},
	msgExemplar: {{name: "filteredAttributes", kind: jsonMessages, msg: msgKeyValue}, {name: "timeUnixNano", kind: jsonUint64},
		{name: "asDouble", kind: jsonFloat64}, {name: "asInt", kind: jsonInt64}, {name: "traceId", kind: jsonTraceID}, {name: "spanId", kind: jsonSpanID}},

	msgLogsRequest: {{name: "resourceLogs", kind: jsonMessages, msg: msgResourceLogs}},
	msgResourceLogs: {{name: "resource", kind: jsonMessage, msg: msgResource}, {name: "scopeLogs", kind: jsonMessages, msg: msgScopeLogs},
		schemaURL, {name: "deprecatedScopeLogs", kind: jsonMessages, msg: msgScopeLogs}},
	msgScopeLogs: {{name: "scope", kind: jsonMessage, msg: msgScope}, {name: "logRecords", kind: jsonMessages, msg: msgLogRecord}, schemaURL},
	msgLogRecord: {{name: "timeUnixNano", kind: jsonUint64}, {name: "observedTimeUnixNano", kind: jsonUint64},
		{name: "severityNumber", kind: jsonEnum, enum: severityNumbers}, {name: "severityText", kind: jsonString},
		{name: "body", kind: jsonMessage, msg: msgValue}, attributes, droppedAttrs, {name: "flags", kind: jsonUint32},
		{name: "traceId", kind: jsonTraceID}, {name: "spanId", kind: jsonSpanID}, {name: "eventName", kind: jsonString}},

	msgResource: {attributes, droppedAttrs, {name: "entityRefs", kind: jsonMessages, msg: msgEntityRef}},
	msgEntityRef: {schemaURL, {name: "type", kind: jsonString}, {name: "idKeys", kind: jsonStrings},
		{name: "descriptionKeys", kind: jsonStrings}},
	msgScope: {{name: "name", kind: jsonString}, {name: "version", kind: jsonString}, attributes, droppedAttrs},
	msgKeyValue: {{name: "key", kind: jsonString}, {name: "value", kind: jsonMessage, msg: msgValue},
		{name: "keyStrindex", kind: jsonInt32}},
	msgValue:        anyValueFields,
	msgArrayElement: anyValueFields,
	msgArray:        {{name: "values", kind: jsonMessages, msg: msgArrayElement}},
	msgKeyValueList: {{name: "values", kind: jsonMessages, msg: msgKeyValue}},
}

func init() {
	for msg := range otlpJSONSchema {
		for i := range otlpJSONSchema[msg] {
			f := &otlpJSONSchema[msg][i]
			f.snake = snakeCase(f.name)
		}
	}
}

// snakeCase is the snake_case spelling of a lowerCamelCase name.
func snakeCase(name string) string {
	var b strings.Builder
	for _, c := range name {
		if 'A' <= c && c <= 'Z' {
			b.WriteByte('_')
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return b.String()
}

// checkOTLPJSONBudget refuses an OTLP/JSON request (of type root) whose items would cost
// pdata more than the budget to decode, that nests messages deeper than maxOTLPDepth, or
// that pdata cannot decode (with the error pdata's iterator reports first).
func checkOTLPJSONBudget(root otlpMessage, body []byte) error {
	budget := maxItemWeightPerBodyByte*len(body) + itemWeightSlack
	return weighOTLPJSON(root, body, &budget, true)
}

// weighOTLPJSON takes the weight of the items of body, an OTLP/JSON message of type root,
// from budget. With stopAtError it stops at the first error of the iterator: pdata would
// fail on the body, and reading on costs an error message per read (the iterator builds
// it before it drops it). Without, it reads on as pdata does (for tests: it then fails
// when pdata fails, with the same error).
func weighOTLPJSON(root otlpMessage, body []byte, budget *int, stopAtError bool) error {
	it := jsoniter.ConfigFastest.BorrowIterator(body)
	defer jsoniter.ConfigFastest.ReturnIterator(it)
	w := jsonWalk{it: it, budget: *budget, stopAtError: stopAtError}
	w.message(root, 0)
	*budget = w.budget
	if w.err != nil {
		return w.err
	}
	return it.Error
}

// jsonWalk reads an OTLP/JSON body as pdata's UnmarshalJSON methods read it (pdata 1.71,
// internal/json and the generated_proto_*.go files); each method mirrors the one named.
type jsonWalk struct {
	it          *jsoniter.Iterator
	budget      int
	err         error // why the walk stopped: over budget, too deep
	stopAtError bool
	erred       bool   // the iterator reported an error (which a later read may clear)
	buf         []byte // base64 decoding
}

// charge takes weight from the budget, reporting whether some is left.
func (w *jsonWalk) charge(weight int) bool {
	w.budget -= weight
	if w.budget < 0 {
		w.err = errOTLPOverBudget
		return false
	}
	return true
}

// stopped reports whether the walk is over: refused, or (stopAtError) the body is wrong.
func (w *jsonWalk) stopped() bool {
	if w.it.Error != nil {
		w.erred = true
	}
	return w.err != nil || w.stopAtError && w.erred
}

// message mirrors a message's UnmarshalJSON.
func (w *jsonWalk) message(msg otlpMessage, depth int) {
	if depth > maxOTLPDepth {
		w.err = errOTLPTooDeep
		return
	}
	for key := w.it.ReadObject(); key != ""; key = w.it.ReadObject() {
		if f := jsonFieldOf(msg, key); f != nil {
			w.field(f, depth)
		} else {
			w.it.Skip() // Iterator.HandleUnknownField
		}
		if w.stopped() {
			return
		}
	}
}

// jsonFieldOf is the field of msg that key names, or nil.
func jsonFieldOf(msg otlpMessage, key string) *jsonField {
	fields := otlpJSONSchema[msg]
	for i := range fields {
		if key == fields[i].name || key == fields[i].snake {
			return &fields[i]
		}
	}
	return nil
}

// field reads the value of f.
func (w *jsonWalk) field(f *jsonField, depth int) {
	switch f.kind {
	case jsonMessage:
		if w.charge(otlpSchema[f.msg].weight) {
			w.message(f.msg, depth+1)
		}
	case jsonMessages:
		for w.it.ReadArray() {
			if !w.charge(otlpSchema[f.msg].weight) {
				return
			}
			if w.message(f.msg, depth+1); w.stopped() {
				return
			}
		}
	case jsonUint64s, jsonFloat64s, jsonStrings:
		weight := varintWeight
		if f.kind == jsonStrings {
			weight = stringWeight
		}
		for w.it.ReadArray() {
			if !w.charge(weight) {
				return
			}
			switch f.kind {
			case jsonUint64s:
				w.readNumber(&jsonUint64Number)
			case jsonFloat64s:
				w.readNumber(&jsonFloat64Number)
			default:
				w.readString()
			}
			if w.stopped() {
				return
			}
		}
	case jsonString:
		w.readString()
	case jsonBytes:
		w.readBytes()
	case jsonTraceID:
		w.readID(16)
	case jsonSpanID:
		w.readID(8)
	case jsonBool:
		w.it.ReadBool()
	case jsonInt32:
		w.readNumber(&jsonInt32Number)
	case jsonUint32:
		w.readNumber(&jsonUint32Number)
	case jsonInt64:
		w.readNumber(&jsonInt64Number)
	case jsonUint64:
		w.readNumber(&jsonUint64Number)
	case jsonFloat64:
		w.readNumber(&jsonFloat64Number)
	case jsonEnum:
		w.readEnumValue(f.enum)
	}
}

// readString mirrors Iterator.ReadString without keeping the string: until the body has
// gone wrong, Skip reads a string or null exactly as ReadString does (the same scan, the
// same errors) without copying it.
func (w *jsonWalk) readString() {
	if w.it.Error == nil {
		switch w.it.WhatIsNext() {
		case jsoniter.StringValue, jsoniter.NilValue:
			w.it.Skip()
			return
		}
	}
	w.it.ReadString()
}

// readBytes mirrors Iterator.ReadBytes.
func (w *jsonWalk) readBytes() {
	src := w.it.ReadStringAsSlice()
	if len(src) == 0 {
		return
	}
	if n := base64.StdEncoding.DecodedLen(len(src)); cap(w.buf) < n {
		w.buf = make([]byte, n)
	}
	if _, err := base64.StdEncoding.Decode(w.buf[:cap(w.buf)], src); err != nil {
		w.it.ReportError("base64.Decode", err.Error())
	}
}

// readID mirrors TraceID.UnmarshalJSON and SpanID.UnmarshalJSON (bytesid.go).
func (w *jsonWalk) readID(size int) {
	src := w.it.ReadStringAsSlice()
	if len(src) == 0 {
		return
	}
	if size != hex.DecodedLen(len(src)) {
		w.it.ReportError("ID.UnmarshalJSONIter", "length mismatch")
		return
	}
	var dst [16]byte
	if _, err := hex.Decode(dst[:size], src); err != nil {
		w.it.ReportError("ID.UnmarshalJSONIter", err.Error())
	}
}

// jsonNumber is how pdata's Iterator reads one kind of number: a JSON number, or a string
// of a decimal number.
type jsonNumber struct {
	op    string // the reader's name in its errors
	read  func(*jsoniter.Iterator)
	parse func(string) error
}

func parseErr[T any](_ T, err error) error { return err }

// The number readers, as pdata's (whose ReadFloat64 names itself ReadUint64 in errors).
var (
	jsonInt32Number = jsonNumber{op: "ReadInt32", read: func(it *jsoniter.Iterator) { it.ReadInt32() },
		parse: func(s string) error { return parseErr(strconv.ParseInt(s, 10, 32)) }}
	jsonUint32Number = jsonNumber{op: "ReadUint32", read: func(it *jsoniter.Iterator) { it.ReadUint32() },
		parse: func(s string) error { return parseErr(strconv.ParseUint(s, 10, 32)) }}
	jsonInt64Number = jsonNumber{op: "ReadInt64", read: func(it *jsoniter.Iterator) { it.ReadInt64() },
		parse: func(s string) error { return parseErr(strconv.ParseInt(s, 10, 64)) }}
	jsonUint64Number = jsonNumber{op: "ReadUint64", read: func(it *jsoniter.Iterator) { it.ReadUint64() },
		parse: func(s string) error { return parseErr(strconv.ParseUint(s, 10, 64)) }}
	jsonFloat64Number = jsonNumber{op: "ReadUint64", read: func(it *jsoniter.Iterator) { it.ReadFloat64() },
		parse: func(s string) error { return parseErr(strconv.ParseFloat(s, 64)) }}
)

// readNumber mirrors Iterator.ReadInt32 and the other number readers.
func (w *jsonWalk) readNumber(n *jsonNumber) {
	switch w.it.WhatIsNext() {
	case jsoniter.NumberValue:
		n.read(w.it)
	case jsoniter.StringValue:
		if err := n.parse(w.it.ReadString()); err != nil {
			w.it.ReportError(n.op, err.Error())
		}
	default:
		w.it.ReportError(n.op, "unsupported value type")
	}
}

// readEnumValue mirrors Iterator.ReadEnumValue.
func (w *jsonWalk) readEnumValue(names []string) {
	switch w.it.WhatIsNext() {
	case jsoniter.NumberValue:
		w.readNumber(&jsonInt32Number)
	case jsoniter.StringValue:
		if !slices.Contains(names, w.it.ReadString()) {
			w.it.ReportError("ReadEnumValue", "unknown string value")
		}
	default:
		w.it.ReportError("ReadEnumValue", "unsupported value type")
	}
}
