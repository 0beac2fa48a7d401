// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package telemetryapi

import (
	"encoding/json"
	"reflect"
	"testing"
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
