// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package telemetryapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testInvocationRecord is an otelcol.invocation record as the extension writes it.
const testInvocationRecord = `{"requestId":"8f5e1b2c-3d4a-4b6c-9e8f-0a1b2c3d4e5f","eventSource":{"kind":"sqs","trigger":"pubsub",` +
	`"messagingSystem":"aws_sqs","destination":"orders","arn":"arn:aws:sqs:us-east-1:123456789012:orders",` +
	`"eventTimeUnixMs":1764583199000,"batchSize":10},"errorType":"ValueError"}`

var testInvocation = &Invocation{
	RequestID: "8f5e1b2c-3d4a-4b6c-9e8f-0a1b2c3d4e5f",
	Source: &EventSource{Kind: "sqs", Trigger: "pubsub", MessagingSystem: "aws_sqs", Destination: "orders",
		ARN: "arn:aws:sqs:us-east-1:123456789012:orders", EventTimeUnixMs: 1764583199000, BatchSize: 10},
	ErrorType: "ValueError",
}

// invocationRecordCases are otelcol.invocation records the fuzz targets start from.
func invocationRecordCases() []string {
	return []string{
		testInvocationRecord,
		`{"requestId":"r1","eventSource":{"kind":"apigateway-rest","trigger":"http","route":"/orders/{id}",` +
			`"arn":"arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/orders/{id}","eventTimeUnixMs":1764583199123}}`,
		`{"requestId":"r2","eventSource":{"kind":"s3","trigger":"datasource","collection":"bucket","batchSize":1}}`,
		`{"requestId":"r3","errorType":"Runtime.Unknown"}`,
		`{"requestId":"r4","eventSource":{"kind":"unknown"}}`,
		`{"requestId":"r5","eventSource":null,"eventsource":{"KIND":"x"},"future":[1,{"a":null}]}`,
		`{"requestId":"r6","eventSource":{"kind":"kafka","batchSize":1.0,"eventTimeUnixMs":1e3}}`,
	}
}

func TestInvocationRecordDecodes(t *testing.T) {
	ev := decodeOne(t, TypeInvocation, testInvocationRecord)
	assert.True(t, KnownEventType(TypeInvocation))
	require.True(t, decodeFast(ev.Record, newRecord(TypeInvocation)), "the fast path takes what the extension writes")
	rec, err := ev.DecodeRecord()
	require.NoError(t, err)
	assert.Equal(t, testInvocation, rec)
	assert.NoError(t, CheckLimits(ev.Type, rec))

	// A batch reads it as a known type, decoded in the walk, among Lambda's events.
	body := `[{"time":"2026-12-01T10:00:00.000Z","type":"otelcol.invocation","record":` + testInvocationRecord + `},` +
		`{"time":"2026-12-01T10:00:00.100Z","type":"platform.runtimeDone","record":{"requestId":"r","status":"success"}}]`
	var got []DecodedEvent
	require.NoError(t, ScanDecoded([]byte(body), func(_ int, ev DecodedEvent, err error) bool {
		require.NoError(t, err)
		got = append(got, ev)
		return true
	}))
	require.Len(t, got, 2)
	assert.Equal(t, TypeInvocation, got[0].Type)
	require.NoError(t, got[0].DecodeErr)
	assert.Equal(t, testInvocation, got[0].Decoded)
	checkScan(t, []byte(body))

	// NewEvent takes the typed record, and only for its own type.
	made, err := NewEvent(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), TypeInvocation, testInvocation)
	require.NoError(t, err)
	back, err := made.DecodeRecord()
	require.NoError(t, err)
	assert.Equal(t, testInvocation, back)
	_, err = NewEvent(time.Now(), TypePlatformStart, testInvocation)
	assert.Error(t, err)
}

// TestInvocationFastPathMatchesEncodingJSON holds the otelcol.invocation decoder to
// encoding/json, integers above all: encoding/json refuses a fraction or an exponent in
// an integer field, and the fast path must leave those to it.
func TestInvocationFastPathMatchesEncodingJSON(t *testing.T) {
	tests := []struct {
		name   string
		record string
		fast   bool
	}{
		{"as written", testInvocationRecord, true},
		{"no event source", `{"requestId":"r","errorType":"E"}`, true},
		{"empty event source", `{"requestId":"r","eventSource":{}}`, true},
		{"unknown kind and keys", `{"requestId":"r","eventSource":{"kind":"mq","queue":{"a":[1]}},"x":1}`, true},
		{"negative and zero integers", `{"eventSource":{"eventTimeUnixMs":-5,"batchSize":-0}}`, true},
		{"largest int64", `{"eventSource":{"eventTimeUnixMs":9223372036854775807}}`, true},

		{"int64 overflow", `{"eventSource":{"eventTimeUnixMs":9223372036854775808}}`, false},
		{"fraction in an integer", `{"eventSource":{"batchSize":1.5}}`, false},
		{"integral fraction", `{"eventSource":{"batchSize":10.0}}`, false},
		{"exponent in an integer", `{"eventSource":{"eventTimeUnixMs":1e12}}`, false},
		{"string for an integer", `{"eventSource":{"batchSize":"10"}}`, false},
		{"null event source", `{"requestId":"r","eventSource":null}`, false},
		{"event source not an object", `{"eventSource":[]}`, false},
		{"key in another case", `{"eventSource":{"Kind":"sqs"}}`, false},
		{"duplicate key", `{"eventSource":{"kind":"sqs","kind":"sns"}}`, false},
		{"duplicate event source", `{"eventSource":{"kind":"sqs"},"eventSource":{"batchSize":2}}`, false},
		{"null string", `{"errorType":null}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := Event{Type: TypeInvocation, Record: json.RawMessage(tc.record)}
			assert.Equal(t, tc.fast, decodeFast(ev.Record, newRecord(TypeInvocation)), "fast path taken")
			rec, err := ev.DecodeRecord()
			slow, slowErr := ev.decodeRecord(false)
			if (err == nil) != (slowErr == nil) || !reflect.DeepEqual(rec, slow) {
				t.Errorf("DecodeRecord = %#v, %v;\nencoding/json gives %#v, %v", rec, err, slow, slowErr)
			}
			checkScan(t, []byte(`[{"time":"2026-12-01T10:00:00.000Z","type":"otelcol.invocation","record":`+tc.record+`}]`))
		})
	}
}

func TestCheckLimitsInvocation(t *testing.T) {
	source := func(change func(*EventSource)) *Invocation {
		r := *testInvocation
		s := *r.Source
		change(&s)
		r.Source = &s
		return &r
	}
	at := func(tm time.Time) int64 { return tm.UnixMilli() }
	tests := []struct {
		name  string
		rec   *Invocation
		field string // "" for a record within the limits
	}{
		{"as written", testInvocation, ""},
		{"no event source", &Invocation{RequestID: "r"}, ""},
		{"unknown kind of a newer extension", source(func(s *EventSource) { s.Kind = "amazon-mq" }), ""},
		{"longest names", source(func(s *EventSource) {
			s.Destination, s.Collection = strings.Repeat("d", MaxEventSourceNameLen), strings.Repeat("c", MaxEventSourceNameLen)
			s.Route, s.ARN = strings.Repeat("/r", MaxRouteLen/2), strings.Repeat("a", MaxEventSourceARNLen)
		}), ""},
		{"non-ASCII name", source(func(s *EventSource) { s.Destination = "größe-€" }), ""},
		{"event time at the bounds", source(func(s *EventSource) { s.EventTimeUnixMs = at(EarliestEventTime) }), ""},
		{"largest batch", source(func(s *EventSource) { s.BatchSize = MaxBatchSize }), ""},

		{"no request id", &Invocation{Source: testInvocation.Source}, "requestId"},
		{"request id too long", &Invocation{RequestID: strings.Repeat("r", MaxRequestIDLen+1)}, "requestId"},
		{"request id not ASCII", &Invocation{RequestID: "r\u00e9"}, "requestId"},
		{"error type too long", &Invocation{RequestID: "r", ErrorType: strings.Repeat("E", MaxErrorTypeLen+1)}, "errorType"},
		{"error type with a newline", &Invocation{RequestID: "r", ErrorType: "Value\nError"}, "errorType"},
		{"no kind", source(func(s *EventSource) { s.Kind = "" }), "eventSource.kind"},
		{"kind in capitals", source(func(s *EventSource) { s.Kind = "SQS" }), "eventSource.kind"},
		{"kind too long", source(func(s *EventSource) { s.Kind = strings.Repeat("k", MaxEventSourceTokenLen+1) }), "eventSource.kind"},
		{"trigger with a space", source(func(s *EventSource) { s.Trigger = "pub sub" }), "eventSource.trigger"},
		{"system with a quote", source(func(s *EventSource) { s.MessagingSystem = `aws"sqs` }), "eventSource.messagingSystem"},
		{"destination too long", source(func(s *EventSource) { s.Destination = strings.Repeat("d", MaxEventSourceNameLen+1) }), "eventSource.destination"},
		{"destination with DEL", source(func(s *EventSource) { s.Destination = "q\x7f" }), "eventSource.destination"},
		{"collection with a C1 control", source(func(s *EventSource) { s.Collection = "b\u0085" }), "eventSource.collection"},
		{"route too long", source(func(s *EventSource) { s.Route = strings.Repeat("r", MaxRouteLen+1) }), "eventSource.route"},
		{"ARN too long", source(func(s *EventSource) { s.ARN = strings.Repeat("a", MaxEventSourceARNLen+1) }), "eventSource.arn"},
		{"event time before Lambda", source(func(s *EventSource) { s.EventTimeUnixMs = at(EarliestEventTime) - 1 }), "eventSource.eventTimeUnixMs"},
		{"event time past the bound", source(func(s *EventSource) { s.EventTimeUnixMs = at(LatestEventTime) }), "eventSource.eventTimeUnixMs"},
		{"event time in seconds, negative", source(func(s *EventSource) { s.EventTimeUnixMs = -1 }), "eventSource.eventTimeUnixMs"},
		{"negative batch", source(func(s *EventSource) { s.BatchSize = -1 }), "eventSource.batchSize"},
		{"batch past the bound", source(func(s *EventSource) { s.BatchSize = MaxBatchSize + 1 }), "eventSource.batchSize"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckLimits(TypeInvocation, tc.rec)
			if tc.field == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrOutOfRange), "%v wraps ErrOutOfRange", err)
			assert.Contains(t, err.Error(), tc.field)
			assert.Less(t, len(err.Error()), 300, "the error does not copy the value")
		})
	}
}

// TestInvocationErrorsNameTheValueShortly: a refused short value is quoted, a long one
// named by its length.
func TestInvocationErrorsNameTheValueShortly(t *testing.T) {
	err := CheckLimits(TypeInvocation, &Invocation{RequestID: "r", Source: &EventSource{Kind: "Bad Kind"}})
	assert.EqualError(t, err, `otelcol.invocation record: eventSource.kind "Bad Kind" is outside what Lambda produces`+
		` (at most 32 bytes of a-z, 0-9, '.', '-', '_')`)
	err = CheckLimits(TypeInvocation, &Invocation{RequestID: "r", ErrorType: strings.Repeat("E", 1000)})
	assert.Contains(t, err.Error(), "errorType of "+strconv.Itoa(1000)+" bytes")
}

// TestScanDecodedAllocatesLittlePerFinding: the extension adds an otelcol.invocation to
// every invocation it proxied; decoded in the walk, from the batch's slabs, its strings
// shared with the invocation's other records and the finding before, it costs about one
// allocation more per invocation (the request id of each finding is new to the batch only
// when no platform.start came before it).
func TestScanDecodedAllocatesLittlePerFinding(t *testing.T) {
	const invocations = 100
	var body []byte
	for i := range invocations {
		id := fmt.Sprintf("%08d-0000-4000-8000-000000000000", i)
		if i > 0 {
			body = append(body, ',')
		}
		body = fmt.Appendf(body, `{"time":"2026-12-01T10:00:%02d.000Z","type":"platform.start","record":{"requestId":%q,"version":"$LATEST"}},`, i%60, id)
		body = fmt.Appendf(body, `{"time":"2026-12-01T10:00:%02d.001Z","type":"otelcol.invocation","record":{"requestId":%q,"eventSource":{"kind":"sqs","trigger":"pubsub","messagingSystem":"aws_sqs","destination":"orders","arn":"arn:aws:sqs:us-east-1:123456789012:orders","eventTimeUnixMs":%d,"batchSize":10}}},`,
			i%60, id, 1764583199000+int64(i))
		body = fmt.Appendf(body, `{"time":"2026-12-01T10:00:%02d.090Z","type":"platform.runtimeDone","record":{"requestId":%q,"status":"success","metrics":{"durationMs":90}}}`, i%60, id)
	}
	body = append(append([]byte{'['}, body...), ']')
	count := func(withFindings bool) float64 {
		in := body
		if !withFindings {
			var kept []string
			for _, part := range strings.SplitAfter(string(body), "}},") {
				if !strings.Contains(part, `"otelcol.invocation"`) {
					kept = append(kept, part)
				}
			}
			in = []byte(strings.Join(kept, ""))
		}
		return testing.AllocsPerRun(20, func() {
			require.NoError(t, ScanDecoded(in, func(_ int, ev DecodedEvent, err error) bool {
				require.NoError(t, err)
				require.NoError(t, ev.DecodeErr)
				return true
			}))
		}) / invocations
	}
	without, with := count(false), count(true)
	t.Logf("%.2f allocations per invocation without findings, %.2f with", without, with)
	assert.LessOrEqual(t, with-without, 1.5)
}

// TestNonIntegerIsRefusedWithoutEncodingJSON: a fraction, an exponent or an out-of-range
// number in an integer field is refused by the fast path, on both paths, as encoding/json
// would refuse it, without its costly error.
func TestNonIntegerIsRefusedWithoutEncodingJSON(t *testing.T) {
	for _, n := range []string{"1.5", "10.0", "1e3", "-0.0", "9223372036854775808", "-9223372036854775809"} {
		record := `{"requestId":"r","eventSource":{"kind":"sqs","batchSize":` + n + `}}`
		_, slowErr := Event{Type: TypeInvocation, Record: json.RawMessage(record)}.decodeRecord(false)
		require.Error(t, slowErr, "encoding/json refuses %s", n)
		_, err := Event{Type: TypeInvocation, Record: json.RawMessage(record)}.DecodeRecord()
		var recErr *RecordError
		require.ErrorAs(t, err, &recErr, n)
		assert.ErrorIs(t, err, errNotInteger, n)
		body := `[{"time":"2026-12-01T10:00:00.000Z","type":"otelcol.invocation","record":` + record + `}]`
		require.NoError(t, ScanDecoded([]byte(body), func(_ int, ev DecodedEvent, err error) bool {
			assert.NoError(t, err)
			assert.ErrorIs(t, ev.DecodeErr, errNotInteger, n)
			assert.Nil(t, ev.Decoded)
			return true
		}))
	}
}
