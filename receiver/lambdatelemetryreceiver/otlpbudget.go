// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver // import "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver"

import (
	"errors"
	"fmt"

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
	msgMetricsRequest
	msgResourceMetrics
	msgScopeMetrics
	msgMetric
	msgGauge // also Sum
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
		{5, fieldMessage, msgGauge}, {7, fieldMessage, msgGauge}, {9, fieldMessage, msgHistogram},
		{10, fieldMessage, msgExponentialHistogram}, {11, fieldMessage, msgSummary}, {12, fieldMessage, msgKeyValue}}},
	msgGauge:                {weight: 64, fields: []otlpField{{1, fieldMessage, msgNumberDataPoint}}},
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
