// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package telemetryapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLogRecordUnmarshal(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		want    LogRecord
		wantErr bool
	}{
		{name: "text", data: `"START RequestId: r Version: $LATEST"`, want: LogRecord{Message: "START RequestId: r Version: $LATEST"}},
		{name: "text with space around", data: " \n\"line\" ", want: LogRecord{Message: "line"}},
		{name: "empty text", data: `""`, want: LogRecord{}},
		{
			name: "json",
			data: ` {"message":"m","level":"INFO","extra":true} `,
			want: LogRecord{Format: LogFormatJSON, Level: "INFO", Message: "m", Extras: map[string]json.RawMessage{"extra": json.RawMessage(`true`)}},
		},
		{name: "empty object", data: `{}`, want: LogRecord{Format: LogFormatJSON}},
		{
			name: "array message kept as text",
			data: `{"message":[1, "two"],"timestamp":1700000000.5}`,
			want: LogRecord{Format: LogFormatJSON, Message: `[1, "two"]`, Timestamp: "1700000000.5"},
		},
		{name: "keys are case sensitive", data: `{"Message":"m"}`, want: LogRecord{Format: LogFormatJSON, Extras: map[string]json.RawMessage{"Message": json.RawMessage(`"m"`)}}},
		{name: "array", data: `["m"]`, wantErr: true},
		{name: "true", data: `true`, wantErr: true},
		{name: "empty", data: ``, wantErr: true},
		{name: "bad escape in message", data: `{"message":"\q"}`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := LogRecord{Level: "stale", Extras: map[string]json.RawMessage{"stale": nil}}
			err := r.UnmarshalJSON([]byte(tc.data))
			if (err != nil) != tc.wantErr {
				t.Fatalf("UnmarshalJSON error = %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && !reflect.DeepEqual(r, tc.want) {
				t.Errorf("got %#v, want %#v", r, tc.want)
			}
		})
	}
}

func TestLogRecordMarshal(t *testing.T) {
	tests := []struct {
		name string
		rec  LogRecord
		want string
	}{
		{name: "text", rec: LogRecord{Message: "a <b>\n", Level: "ignored"}, want: `"a \u003cb\u003e\n"`},
		{
			name: "json",
			rec: LogRecord{
				Format: LogFormatJSON, Timestamp: "2022-10-12T00:03:50.000Z", Level: "INFO", RequestID: "r", Message: "m",
				Extras: map[string]json.RawMessage{"z": json.RawMessage(`[1]`), "a": json.RawMessage(`{"b":null}`)},
			},
			want: `{"a":{"b":null},"level":"INFO","message":"m","requestId":"r","timestamp":"2022-10-12T00:03:50.000Z","z":[1]}`,
		},
		{name: "json minimal", rec: LogRecord{Format: LogFormatJSON}, want: `{"message":""}`},
		{
			name: "extras cannot override fields",
			rec:  LogRecord{Format: LogFormatJSON, Message: "m", Extras: map[string]json.RawMessage{"message": json.RawMessage(`"x"`), "level": json.RawMessage(`"x"`)}},
			want: `{"message":"m"}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.rec)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("got %s, want %s", b, tc.want)
			}
		})
	}
	if LogFormatText.String() != "Text" || LogFormatJSON.String() != "JSON" {
		t.Errorf("LogFormat strings = %s, %s", LogFormatText, LogFormatJSON)
	}
}

// TestLogRecordExtrasAreBounded: past MaxLogExtras extra keys, the record keeps the first
// ones and counts the rest, in both decoders.
func TestLogRecordExtrasAreBounded(t *testing.T) {
	var b []byte
	b = append(b, `{"message":"m"`...)
	for i := range MaxLogExtras + 72 {
		b = fmt.Appendf(b, `,"k%03d":%d`, i, i)
	}
	// A kept key repeated after the record is full still takes its last value; a dropped
	// one repeated is dropped again. An escaped key goes through the same rule.
	b = append(b, `,"k000":"last","k200":0,"\u006b001":"escaped"}`...)

	for _, decoder := range []struct {
		name   string
		decode func(*LogRecord, []byte) error
	}{
		{"fast", func(r *LogRecord, data []byte) error {
			if !decodeFast(data, r) {
				return errors.New("the fast path gave up")
			}
			return nil
		}},
		{"encoding/json", func(r *LogRecord, data []byte) error { return r.decodeSlow(data) }},
	} {
		t.Run(decoder.name, func(t *testing.T) {
			var r LogRecord
			require.NoError(t, decoder.decode(&r, b))
			assert.Equal(t, "m", r.Message)
			assert.Len(t, r.Extras, MaxLogExtras)
			assert.Equal(t, 73, r.DroppedExtras)
			assert.Equal(t, `"last"`, string(r.Extras["k000"]))
			assert.Equal(t, `"escaped"`, string(r.Extras["k001"]))
			assert.Contains(t, r.Extras, fmt.Sprintf("k%03d", MaxLogExtras-1))
			assert.NotContains(t, r.Extras, fmt.Sprintf("k%03d", MaxLogExtras))
		})
	}
}
