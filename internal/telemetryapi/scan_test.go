// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package telemetryapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

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
		{name: "empty type", element: `{"time":"2024-06-01T12:00:00Z","type":"","record":"x"}`, want: errEventType},
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
}
