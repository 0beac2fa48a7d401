// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package telemetryapi

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFastPathMatchesEncodingJSON checks the fast record decoders against
// encoding/json on inputs chosen to hit their edges, and that they take (or
// leave to encoding/json) the inputs they should.
func TestFastPathMatchesEncodingJSON(t *testing.T) {
	const ok = `"requestId":"r","status":"success"`
	tests := []struct {
		name   string
		typ    string
		record string
		fast   bool // the fast path decodes it
	}{
		{"compact", TypePlatformReport, `{` + ok + `,"metrics":{"durationMs":1,"billedDurationMs":1,"memorySizeMB":128,"maxMemoryUsedMB":1}}`, true},
		{"whitespace everywhere", TypePlatformRuntimeDone, " \t\r\n{ \"requestId\" : \"r\" ,\n\"spans\" : [ { \"name\" : \"x\" } ] } \n", true},
		{"unknown keys with nested values", TypePlatformRuntimeDone, `{` + ok + `,"future":{"a":[1,{"b":null}],"c":"\u00e9","d":true,"e":false},"x":-1.5e-3}`, true},
		{"escapes", TypePlatformStart, `{"requestId":"a\"b\\c\/d\n\t\b\f\r","version":"$LATEST"}`, true},
		{"unicode escapes", TypePlatformStart, `{"requestId":"\u00e9\ud83d\ude00 \\u"}`, true},
		{"lone surrogate", TypePlatformStart, `{"requestId":"\ud83d x"}`, true},
		{"invalid UTF-8", TypePlatformStart, "{\"requestId\":\"a\xffb\"}", true},
		{"non-ASCII", TypePlatformStart, `{"requestId":"größe €"}`, true},
		{"empty spans", TypePlatformReport, `{` + ok + `,"spans":[]}`, true},
		{"empty tracing and metrics", TypePlatformRuntimeDone, `{` + ok + `,"tracing":{},"metrics":{}}`, true},
		{"number forms", TypePlatformReport, `{"metrics":{"durationMs":1.5E+2,"billedDurationMs":-0,"memorySizeMB":0.5e1,"maxMemoryUsedMB":1e-2,"initDurationMs":0}}`, true},
		{"span with time offset", TypePlatformRuntimeDone, `{"spans":[{"name":"responseLatency","start":"2022-08-02T14:01:23.521+02:00","durationMs":1}]}`, true},
		{"unknown status kept", TypePlatformRuntimeDone, `{"status":"throttled"}`, true},
		{"empty object", TypePlatformReport, `{}`, true},

		{"key differing in case", TypePlatformStart, `{"RequestId":"r"}`, false},
		{"escaped key", TypePlatformStart, `{"request\u0049d":"r"}`, false},
		{"non-ASCII key", TypePlatformStart, `{"requestİd":"r"}`, false},
		{"duplicate key", TypePlatformStart, `{"requestId":"a","requestId":"b"}`, false},
		{"duplicate objects merge", TypePlatformRuntimeDone, `{"metrics":{"durationMs":1},"metrics":{"producedBytes":2}}`, false},
		{"null field", TypePlatformStart, `{"requestId":null,"version":"1"}`, false},
		{"null tracing", TypePlatformStart, `{"requestId":"r","tracing":null}`, false},
		{"number out of range", TypePlatformReport, `{"metrics":{"durationMs":1e400}}`, false},
		{"string for number", TypePlatformReport, `{"metrics":{"durationMs":"1"}}`, false},
		{"number for string", TypePlatformReport, `{"requestId":1}`, false},
		{"leading zero", TypePlatformReport, `{"metrics":{"durationMs":01}}`, false},
		{"bare minus", TypePlatformReport, `{"metrics":{"durationMs":-}}`, false},
		{"bad exponent", TypePlatformReport, `{"metrics":{"durationMs":1e}}`, false},
		{"bad escape", TypePlatformStart, `{"requestId":"\x"}`, false},
		{"short unicode escape", TypePlatformStart, `{"requestId":"\u12"}`, false},
		{"control character", TypePlatformStart, "{\"requestId\":\"a\tb\"}", false},
		{"trailing garbage", TypePlatformStart, `{"requestId":"r"} x`, false},
		{"trailing comma", TypePlatformStart, `{"requestId":"r",}`, false},
		{"bad time", TypePlatformRuntimeDone, `{"spans":[{"start":"2022-08-02T12:01:23:521Z"}]}`, false},
		{"bad literal", TypePlatformRuntimeDone, `{"x":nul}`, false},
		{"too deep", TypePlatformStart, `{"x":` + strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1) + `}`, false},
		{"array record", TypePlatformStart, `[]`, false},

		{"text log", TypeFunction, `"a\tb\n"`, true},
		{"text log with unicode escape", TypeFunction, `"\u001b[31mred"`, true},
		{"json log duplicate keys", TypeFunction, `{"message":"a","message":"b","x":1,"x":2}`, true},
		{"json log escaped keys", TypeFunction, `{"mess\u0061ge":"m","\"q\"":1}`, true},
		{"json log non-ASCII and invalid keys", TypeExtension, "{\"größe\":1,\"\xff\":2}", true},
		{"json log null and raw known keys", TypeFunction, "{\"message\":null,\"level\":30,\"timestamp\":[1, 2],\"requestId\":{\"a\":\"\xff\"}}", true},
		{"json log invalid UTF-8 raw value", TypeFunction, "{\"message\":[\"\xff\"]}", true},
		{"json log string extras", TypeFunction, `{"a":"x","b":{"c":[]}}`, true},
		{"log number", TypeFunction, `42`, false},
		{"log unterminated", TypeFunction, `"abc`, false},
		{"log object with trailing garbage", TypeFunction, `{"message":"m"}}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := Event{Type: tc.typ, Record: json.RawMessage(tc.record)}
			if got := decodeFast(ev.Record, newRecord(tc.typ)); got != tc.fast {
				t.Errorf("fast path taken = %v, want %v", got, tc.fast)
			}
			rec, err := ev.DecodeRecord()
			slow, slowErr := ev.decodeRecord(false)
			if (err == nil) != (slowErr == nil) || !reflect.DeepEqual(rec, slow) {
				t.Errorf("DecodeRecord = %#v, %v;\nencoding/json gives %#v, %v", rec, err, slow, slowErr)
			}
		})
	}
}

func TestEnvelopeFastPathMatchesEncodingJSON(t *testing.T) {
	const ev = `{"time":"2022-10-12T00:00:15.064Z","type":"function","record":"x"}`
	tests := []struct {
		name string
		data string
		fast bool
	}{
		{"one event", `[` + ev + `]`, true},
		{"empty", `[]`, true},
		{"whitespace", " [ \n" + ev + " , " + ev + " ] \n", true},
		{"time with offset", `[{"time":"2022-10-12T02:00:15.064+02:00","type":"function","record":"x"}]`, true},
		{"time with nanoseconds", `[{"time":"2022-10-12T00:00:15.064123456Z","type":"function","record":"x"}]`, true},
		{"missing keys", `[{}]`, true},
		{"unknown type", `[{"type":"platform.fault","record":{"a":1}}]`, true},
		{"escaped type", `[{"type":"platform\u002estart","record":{}}]`, true},
		{"unknown key", `[{"id":1,"record":1}]`, true},

		{"null", `null`, false},
		{"null element", `[null]`, false},
		{"null record", `[{"record":null}]`, false},
		{"null time", `[{"time":null}]`, false},
		{"key in other case", `[{"Type":"function"}]`, false},
		{"duplicate record", `[{"record":1,"record":2}]`, false},
		{"bad time", `[{"time":"2022-10-12"}]`, false},
		{"bad record", `[{"record":{"a":}}]`, false},
		{"not an array", `{}`, false},
		{"trailing garbage", `[] []`, false},
		{"empty input", ``, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			events, ok := decodeEventsFast([]byte(tc.data))
			if ok != tc.fast {
				t.Errorf("fast path taken = %v, want %v", ok, tc.fast)
			}
			slow, slowErr := decodeEventsSlow([]byte(tc.data))
			if ok && (slowErr != nil || !reflect.DeepEqual(events, slow)) {
				t.Errorf("fast path = %#v;\nencoding/json gives %#v, %v", events, slow, slowErr)
			}
			got, err := DecodeEvents([]byte(tc.data))
			if (err == nil) != (slowErr == nil) || !reflect.DeepEqual(got, slow) {
				t.Errorf("DecodeEvents = %#v, %v;\nencoding/json gives %#v, %v", got, err, slow, slowErr)
			}
			got, err = DecodeEventsNoCopy([]byte(tc.data))
			if (err == nil) != (slowErr == nil) || !reflect.DeepEqual(got, slow) {
				t.Errorf("DecodeEventsNoCopy = %#v, %v;\nencoding/json gives %#v, %v", got, err, slow, slowErr)
			}
		})
	}
}

func TestFastPathTakenOnFixtures(t *testing.T) {
	for _, name := range []string{"invoke.json", "cold_start.json", "snapstart.json", "failures.json"} {
		data := readTestdata(t, name)
		var compact bytes.Buffer
		if err := json.Compact(&compact, data); err != nil {
			t.Fatal(err)
		}
		for _, in := range [][]byte{data, compact.Bytes()} {
			events, ok := decodeEventsFast(in)
			if !ok {
				t.Fatalf("%s: the envelope fast path refused it", name)
			}
			for i, ev := range events {
				if rec := newRecord(ev.Type); isFast(rec) && !decodeFast(ev.Record, rec) {
					t.Errorf("%s: event %d (%s): the fast path refused it", name, i, ev.Type)
				}
			}
		}
	}
}

func isFast(rec any) bool {
	switch rec.(type) {
	case *PlatformStart, *PlatformRuntimeDone, *PlatformReport, *LogRecord:
		return true
	}
	return false
}

// TestDecodeEventsMemory checks who owns the records: DecodeEvents copies them
// out of the input, which the caller may then reuse; DecodeEventsNoCopy shares
// the input, but an append to a record does not write into it.
func TestDecodeEventsMemory(t *testing.T) {
	const data = `[{"type":"function","record":"a"},{"type":"function","record":"b"}]`

	in := []byte(data)
	events, err := DecodeEvents(in)
	if err != nil {
		t.Fatal(err)
	}
	clear(in)
	if got := string(events[0].Record) + string(events[1].Record); got != `"a""b"` {
		t.Errorf("DecodeEvents records after the input was reused: %s", got)
	}

	in = []byte(data)
	events, err = DecodeEventsNoCopy(in)
	if err != nil {
		t.Fatal(err)
	}
	if &events[0].Record[0] != &in[strings.Index(data, `"a"`)] {
		t.Error("DecodeEventsNoCopy copied a record")
	}
	_ = append(events[0].Record, 'x')
	if string(in) != data {
		t.Errorf("an append to a record changed the input: %s", in)
	}
}

func TestDecodeAllocs(t *testing.T) {
	var compact bytes.Buffer
	if err := json.Compact(&compact, readTestdata(t, "invoke.json")); err != nil {
		t.Fatal(err)
	}
	data := compact.Bytes()
	// The events slice and one copy of all records.
	if n := testing.AllocsPerRun(100, func() { _, _ = DecodeEvents(data) }); n != 2 {
		t.Errorf("DecodeEvents allocates %v times, want 2", n)
	}
	// The events slice only.
	if n := testing.AllocsPerRun(100, func() { _, _ = DecodeEventsNoCopy(data) }); n != 1 {
		t.Errorf("DecodeEventsNoCopy allocates %v times, want 1", n)
	}
	events, err := DecodeEvents(data)
	if err != nil {
		t.Fatal(err)
	}
	// record, requestId, tracing (object, spanId, value), spans, metrics,
	// producedBytes: no allocation for status, span names or tracing type.
	if n := testing.AllocsPerRun(100, func() { _, _ = events[1].DecodeRecord() }); n != 8 {
		t.Errorf("DecodeRecord(runtimeDone) allocates %v times, want 8", n)
	}
}

// TestAnySpecialFindsEveryByteQuotedStops: the 8-byte step of quoted must never step over
// a byte the byte loop stops at, wherever it is in the word and whatever surrounds it.
func TestAnySpecialFindsEveryByteQuotedStops(t *testing.T) {
	for _, fill := range []byte{'a', 0x7f, 0x80, 0xff, ' ' + 1} {
		for c := range 256 {
			for pos := range 8 {
				word := bytes.Repeat([]byte{fill}, 8)
				word[pos] = byte(c)
				if got, want := anySpecial(binary.LittleEndian.Uint64(word)), !plainByte[c]; got != want {
					t.Fatalf("anySpecial(%q) = %v, want %v", word, got, want)
				}
			}
		}
	}
}

// TestLambdaTimeReadsAsTimeDoes: the direct reading of Lambda's layout gives what time's
// parser gives, and leaves to it every time it would refuse or read otherwise.
func TestLambdaTimeReadsAsTimeDoes(t *testing.T) {
	for _, s := range []string{
		"2022-10-12T00:03:50.000Z", "2024-02-29T23:59:59.999Z", "2023-02-29T00:00:00.000Z",
		"2100-02-29T00:00:00.000Z", "2000-02-29T12:00:00.001Z", "0001-01-01T00:00:00.000Z",
		"0000-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z", "1969-12-31T23:59:59.999Z",
		"2022-13-01T00:00:00.000Z", "2022-00-01T00:00:00.000Z", "2022-04-31T00:00:00.000Z",
		"2022-01-00T00:00:00.000Z", "2022-01-01T24:00:00.000Z", "2022-01-01T00:60:00.000Z",
		"2022-01-01T00:00:60.000Z", "2022-01-01T00:00:00.0a0Z", "2022-01-01T00:00:00,000Z",
		"2022-01-01 00:00:00.000Z", "2022-01-01T00:00:00.000z", "+022-01-01T00:00:00.000Z",
		"2022-01-01T00:00:00.00Z", "2022-01-01T00:00:00.0000Z", "2022-01-01T00:00:00Z",
		"2022-01-01T00:00:00.000+00:00",
	} {
		q := []byte(`"` + s + `"`)
		var want time.Time
		wantErr := want.UnmarshalJSON(q)
		got, ok := lambdaTime(q)
		// Every time in Lambda's layout is read directly, but year 0 (left to time, as are
		// the other separators time takes).
		assert.Equal(t, wantErr == nil && len(s) == len(TimeLayout) && s[19] == '.' && !strings.HasPrefix(s, "0000"), ok, s)
		if ok {
			require.NoError(t, wantErr, s)
			assert.Equal(t, want, got, s)
			assert.Equal(t, time.UTC, got.Location(), s)
		}
		var viaDecoder time.Time
		assert.Equal(t, wantErr == nil, unmarshalTime(&viaDecoder, q), s)
		assert.Equal(t, want, viaDecoder, s)
	}
}
