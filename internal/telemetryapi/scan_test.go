// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package telemetryapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const scanGood = `{"time":"2024-06-01T12:00:00.000Z","type":"platform.start","record":{"requestId":"r1"}}`

type scanned struct {
	accepted []int
	rejected map[int]error
}

func scanAll(data string) (scanned, error) {
	s := scanned{rejected: map[int]error{}}
	err := ScanEvents([]byte(data), func(i int, _ Event, err error) bool {
		if err != nil {
			s.rejected[i] = err
		} else {
			s.accepted = append(s.accepted, i)
		}
		return true
	})
	return s, err
}

func TestScanEventsRejectsElementsAlone(t *testing.T) {
	deep := strings.Repeat("[", 2*maxDepth) + strings.Repeat("]", 2*maxDepth)
	deepRecord := `{"time":"2024-06-01T12:00:00.000Z","type":"function","record":` + deep + `}`
	tests := []struct {
		name    string
		element string
		want    error // nil: accepted
	}{
		{name: "as Lambda writes it", element: scanGood},
		{name: "unknown keys are ignored", element: `{"x":[1,{"y":2}],"time":"2024-06-01T12:00:00Z","type":"platform.future","record":{}}`},
		{name: "a number", element: `0`, want: errElementNotObject},
		{name: "a string", element: `"platform.start"`, want: errElementNotObject},
		{name: "null", element: `null`, want: errElementNotObject},
		{name: "an array", element: `[1,2]`, want: errElementNotObject},
		{name: "empty object", element: `{}`, want: errEventNoTime},
		{name: "no type", element: `{"time":"2024-06-01T12:00:00Z","record":1}`, want: errEventNoType},
		{name: "no record", element: `{"time":"2024-06-01T12:00:00Z","type":"function"}`, want: errEventNoRecord},
		{name: "null record", element: `{"time":"2024-06-01T12:00:00Z","type":"function","record":null}`, want: errEventNoRecord},
		{name: "time not in UTC", element: `{"time":"2024-06-01T12:00:00+02:00","type":"function","record":"x"}`, want: errEventTime},
		{name: "time not RFC 3339", element: `{"time":"yesterday","type":"function","record":"x"}`, want: errEventTime},
		{name: "time a number", element: `{"time":1717243200,"type":"function","record":"x"}`, want: errEventTime},
		{name: "huge time", element: `{"time":"` + strings.Repeat("9", 1<<16) + `Z","type":"function","record":"x"}`, want: errEventTime},
		{name: "time before Lambda", element: `{"time":"1970-01-01T00:00:00Z","type":"function","record":"x"}`, want: errEventTimeRange},
		{name: "time past 2200", element: `{"time":"9999-01-01T00:00:00Z","type":"function","record":"x"}`, want: errEventTimeRange},
		{name: "type a number", element: `{"time":"2024-06-01T12:00:00Z","type":1,"record":"x"}`, want: errEventType},
		{name: "empty type", element: `{"time":"2024-06-01T12:00:00Z","type":"","record":"x"}`, want: errEventEmptyType},
		{name: "a runtime's log line", element: `{"time":"2024-06-01T12:00:00Z","type":"INFO","record":"x"}`,
			want: errors.New(`the event's "type" "INFO" is none of Lambda's (function, extension, platform.<name>)`)},
		{name: "a known type in another case", element: `{"time":"2024-06-01T12:00:00Z","type":"platform.Report","record":{}}`,
			want: errors.New(`the event's "type" "platform.Report" is none of Lambda's: Lambda writes "platform.report"`)},
		{name: "a known type with a space", element: `{"time":"2024-06-01T12:00:00Z","type":"platform.start ","record":{}}`,
			want: errors.New(`the event's "type" "platform.start " is none of Lambda's (function, extension, platform.<name>)`)},
		{name: "a platform name not spelled as Lambda's", element: `{"time":"2024-06-01T12:00:00Z","type":"platform.2x","record":{}}`,
			want: errors.New(`the event's "type" "platform.2x" is none of Lambda's (function, extension, platform.<name>)`)},
		{name: "a new platform type is skipped, not rejected", element: `{"time":"2024-06-01T12:00:00Z","type":"platform.restoreDone","record":{}}`},
		{name: "bare platform prefix", element: `{"time":"2024-06-01T12:00:00Z","type":"platform.","record":{}}`,
			want: errors.New(`the event's "type" "platform." is none of Lambda's (function, extension, platform.<name>)`)},
		{name: "escaped type", element: `{"time":"2024-06-01T12:00:00Z","type":"\u0066unction","record":"x"}`, want: errEventType},
		{name: "long type", element: `{"time":"2024-06-01T12:00:00Z","type":"` + strings.Repeat("t", 65) + `","record":"x"}`, want: errEventType},
		{name: "repeated key", element: `{"time":"2024-06-01T12:00:00Z","time":"2024-06-01T12:00:00Z","type":"function","record":"x"}`, want: errEventKeys},
		{name: "key in another case", element: `{"Time":"2024-06-01T12:00:00Z","type":"function","record":"x"}`, want: errEventKeys},
		{name: "escaped key", element: `{"\u0074ime":"2024-06-01T12:00:00Z","type":"function","record":"x"}`, want: errEventKeys},
		{name: "deeply nested element", element: deep, want: errElementNotObject},
		{name: "deeply nested record", element: deepRecord, want: errEventTooDeep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The element between two good events: the scan goes on past it.
			got, err := scanAll(`[` + scanGood + `,` + tt.element + `,` + scanGood + `]`)
			require.NoError(t, err)
			if tt.want == nil {
				assert.Equal(t, []int{0, 1, 2}, got.accepted)
				return
			}
			assert.Equal(t, []int{0, 2}, got.accepted)
			assert.Equal(t, map[int]error{1: tt.want}, got.rejected)
		})
	}
	assert.ErrorIs(t, errEventTimeRange, ErrOutOfRange)
}

func TestScanEventsRefusesWhatIsNotAJSONArray(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string
	}{
		{name: "object", body: `{"events":[]}`, want: "not a JSON array"},
		{name: "invalid element", body: `[` + scanGood + `,{"time":}]`, want: "not valid JSON (at event 1)"},
		{name: "trailing comma", body: `[` + scanGood + `,]`, want: "not valid JSON (at event 1)"},
		{name: "not closed", body: `[` + scanGood, want: "not closed"},
		{name: "data after", body: `[] []`, want: "unexpected data after"},
		{name: "too deep for encoding/json", body: `[` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `]`, want: "not valid JSON (at event 0)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := scanAll(tt.body)
			assert.ErrorContains(t, err, tt.want)
		})
	}
	got, err := scanAll(" [ ] ")
	require.NoError(t, err)
	assert.Empty(t, got.accepted)
}

func TestScanEventsStopsWhenAsked(t *testing.T) {
	// Past the second element the body is not even JSON: a scan that stopped never sees it.
	body := []byte(`[0,0,0,{"broken`)
	calls := 0
	err := ScanEvents(body, func(int, Event, error) bool {
		calls++
		return calls < 2
	})
	require.NoError(t, err)
	assert.Equal(t, 2, calls)
}

func TestScanEventsSharesTheBodyAndDecodesAsEncodingJSON(t *testing.T) {
	body := []byte(`[` + scanGood + `, {"time":"2024-06-01T12:00:00.123Z","type":"function","record":"hello"}]`)
	var events []Event
	require.NoError(t, ScanEvents(body, func(_ int, ev Event, err error) bool {
		require.NoError(t, err)
		events = append(events, ev)
		return true
	}))
	want, err := DecodeEvents(body)
	require.NoError(t, err)
	assert.Equal(t, want, events)
	assert.True(t, bytes.Contains(body, events[0].Record) && &body[bytes.Index(body, events[0].Record)] == &events[0].Record[0],
		"records point into the body")
}

// TestScanEventsAllocatesNothingPerElement: a body of millions of tiny elements must cost
// the receiver memory in proportion to what it keeps, not to what it rejects.
func TestScanEventsAllocatesNothingPerElement(t *testing.T) {
	var b strings.Builder
	b.WriteString("[")
	for i := range 1000 {
		if i > 0 {
			b.WriteString(",")
		}
		switch i % 5 {
		case 0:
			b.WriteString("0")
		case 4:
			b.WriteString(strings.Repeat("[", 2*maxDepth) + strings.Repeat("]", 2*maxDepth))
		case 1:
			b.WriteString(`{"a":1}`)
		case 2:
			b.WriteString(`{"time":"x","type":"function","record":"x"}`)
		default:
			b.WriteString(scanGood)
		}
	}
	b.WriteString("]")
	body := []byte(b.String())
	allocs := testing.AllocsPerRun(10, func() {
		_ = ScanEvents(body, func(int, Event, error) bool { return true })
	})
	assert.Zero(t, allocs)
}

// checkScan is FuzzDecodeEvents' check of ScanEvents: it fails exactly when data is not a
// JSON array, and every event it accepts is what encoding/json decodes from that element,
// with a time, a type and a record.
func checkScan(t *testing.T, data []byte) {
	var elements []json.RawMessage
	arrayErr := json.Unmarshal(data, &elements)
	var accepted []Event
	var acceptedAt []int
	err := ScanEvents(data, func(i int, ev Event, err error) bool {
		if err == nil {
			accepted = append(accepted, ev)
			acceptedAt = append(acceptedAt, i)
		} else if errors.Is(err, errInvalidElement) {
			t.Fatalf("ScanEvents(%q) passed a batch error to each: %v", data, err)
		}
		return true
	})
	if (err == nil) != (arrayErr == nil && elements != nil) {
		t.Fatalf("ScanEvents(%q) = %v; encoding/json reads an array: %v", data, err, arrayErr)
	}
	if err != nil {
		return
	}
	for k, i := range acceptedAt {
		var want Event
		if err := json.Unmarshal(elements[i], &want); err != nil {
			t.Fatalf("ScanEvents(%q) accepted element %d, encoding/json refuses it: %v", data, i, err)
		}
		got := accepted[k]
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("ScanEvents(%q) element %d = %#v;\nencoding/json gives %#v", data, i, got, want)
		}
		if got.Time.IsZero() || got.Type == "" || got.Record == nil || isNull(got.Record) {
			t.Fatalf("ScanEvents(%q) accepted element %d without a time, a type or a record: %#v", data, i, got)
		}
	}
	checkScanDecoded(t, data, err, accepted, acceptedAt)
}

// checkScanDecoded: ScanDecoded accepts and rejects what ScanEvents does, with the same
// events, and decodes each record as DecodeRecord does.
func checkScanDecoded(t *testing.T, data []byte, scanErr error, accepted []Event, acceptedAt []int) {
	var decoded []DecodedEvent
	var decodedAt []int
	// Decoded from a copy that is then overwritten, as a receiver reuses its body buffer:
	// only the extras of JSON logs may point into it, and those are copied first.
	own := bytes.Clone(data)
	err := ScanDecoded(own, func(i int, ev DecodedEvent, err error) bool {
		if err == nil {
			if r, ok := ev.Decoded.(*LogRecord); ok && r.Extras != nil {
				extras := make(map[string]json.RawMessage, len(r.Extras))
				for k, v := range r.Extras {
					extras[k] = bytes.Clone(v)
				}
				r.Extras = extras
			}
			decoded = append(decoded, ev)
			decodedAt = append(decodedAt, i)
		}
		return true
	})
	for i := range own {
		own[i] = '#'
	}
	if (err == nil) != (scanErr == nil) || !reflect.DeepEqual(decodedAt, acceptedAt) {
		t.Fatalf("ScanDecoded(%q) accepted %v, %v; ScanEvents %v, %v", data, decodedAt, err, acceptedAt, scanErr)
	}
	for k, got := range decoded {
		if !got.Time.Equal(accepted[k].Time) || got.Time.Location() != accepted[k].Time.Location() || got.Type != accepted[k].Type {
			t.Fatalf("ScanDecoded(%q) element %d = %#v;\nScanEvents gives %#v", data, acceptedAt[k], got, accepted[k])
		}
		want, wantErr := accepted[k].DecodeRecord()
		switch {
		case errors.Is(wantErr, ErrUnknownEventType):
			if got.DecodeErr != ErrUnknownEventType || got.Decoded != nil {
				t.Fatalf("ScanDecoded(%q) element %d of unknown type: %#v, %v", data, acceptedAt[k], got.Decoded, got.DecodeErr)
			}
		case (got.DecodeErr == nil) != (wantErr == nil) ||
			wantErr != nil && got.DecodeErr.Error() != wantErr.Error() || !reflect.DeepEqual(got.Decoded, want):
			t.Fatalf("ScanDecoded(%q) element %d record = %#v, %v;\nDecodeRecord gives %#v, %v",
				data, acceptedAt[k], got.Decoded, got.DecodeErr, want, wantErr)
		}
	}
}

// TestScanDecodedDecodesAsDecodeRecord covers the ways a record can leave the walk's fast
// decoder: keys in another order, a value it does not take, nesting at the limit, and the
// records encoding/json decodes after the walk.
func TestScanDecodedDecodesAsDecodeRecord(t *testing.T) {
	const at = `"time":"2024-06-01T12:00:00.000Z"`
	nested := func(levels int) string {
		return strings.Repeat(`[`, levels) + strings.Repeat(`]`, levels)
	}
	for name, element := range map[string]string{
		"record before type":     `{` + at + `,"record":{"requestId":"r1"},"type":"platform.start"}`,
		"number out of range":    `{` + at + `,"type":"platform.runtimeDone","record":{"requestId":"r1","metrics":{"durationMs":1e400}}}`,
		"not an object":          `{` + at + `,"type":"platform.report","record":[1]}`,
		"unknown key nested":     `{` + at + `,"type":"platform.start","record":{"requestId":"r1","x":` + nested(maxDepth-1) + `}}`,
		"unknown key too deep":   `{` + at + `,"type":"platform.start","record":{"requestId":"r1","x":` + nested(maxDepth) + `}}`,
		"span key too deep":      `{` + at + `,"type":"platform.report","record":{"spans":[{"name":"a","x":` + nested(maxDepth-2) + `}]}}`,
		"escaped request id":     `{` + at + `,"type":"platform.start","record":{"requestId":"r\u0031"}}`,
		"json log with extras":   `{` + at + `,"type":"function","record":{"message":"m","orderId":4711,"deep":{"a":[1]}}}`,
		"text log":               `{` + at + `,"type":"extension","record":"line\n"}`,
		"init start (slow path)": `{` + at + `,"type":"platform.initStart","record":{"initializationType":"on-demand","phase":"init"}}`,
		"unknown type":           `{` + at + `,"type":"platform.future","record":{}}`,
	} {
		t.Run(name, func(t *testing.T) {
			// Twice: the second sees the first's strings and trace context.
			checkScan(t, []byte(`[`+element+`,`+element+`]`))
		})
	}
}

// TestScanDecodedSharesRepeatedParts: the three records of an invocation repeat its request
// id and trace context, which decode once.
func TestScanDecodedSharesRepeatedParts(t *testing.T) {
	body := readTestdata(t, "invoke.json")
	var records []any
	require.NoError(t, ScanDecoded(body, func(_ int, ev DecodedEvent, err error) bool {
		require.NoError(t, err)
		require.NoError(t, ev.DecodeErr)
		records = append(records, ev.Decoded)
		return true
	}))
	require.Len(t, records, 3)
	start, done, report := records[0].(*PlatformStart), records[1].(*PlatformRuntimeDone), records[2].(*PlatformReport)
	assert.Same(t, start.Tracing, done.Tracing)
	assert.Same(t, start.Tracing, report.Tracing)
	assert.Same(t, unsafe.StringData(start.RequestID), unsafe.StringData(report.RequestID))
}

// TestScanDecodedAllocatesLittlePerInvocation: an invocation's three records cost their
// distinct strings (request id, span id, X-Ray header) and one trace context; the records
// themselves come from a few slabs per batch. Before ScanDecoded they cost 18 allocations.
func TestScanDecodedAllocatesLittlePerInvocation(t *testing.T) {
	var compact bytes.Buffer
	require.NoError(t, json.Compact(&compact, readTestdata(t, "invoke.json")))
	invocation := bytes.Trim(compact.Bytes(), "[]")
	const invocations = 100
	var body []byte
	for i := range invocations {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, bytes.ReplaceAll(invocation, []byte("459921b5-681c"), fmt.Appendf(nil, "%08d-0000", i))...)
		body = bytes.ReplaceAll(body, []byte("24cd7d670fa455f0"), fmt.Appendf(nil, "%016x", i+1))
	}
	body = append(append([]byte{'['}, body...), ']')
	events := 0
	allocs := testing.AllocsPerRun(20, func() {
		events = 0
		require.NoError(t, ScanDecoded(body, func(_ int, ev DecodedEvent, err error) bool {
			if err == nil && ev.DecodeErr == nil {
				events++
			}
			return true
		}))
	})
	require.Equal(t, 3*invocations, events)
	perInvocation := allocs / invocations
	t.Logf("%.2f allocations per invocation", perInvocation)
	assert.LessOrEqual(t, perInvocation, 4.5)
}
