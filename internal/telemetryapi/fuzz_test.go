// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package telemetryapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// FuzzDecodeEvents checks that no input makes decoding panic, that the fast
// paths decode exactly as encoding/json does, that what decodes survives
// re-encoding (events byte for byte, typed records losslessly), and that
// ScanEvents accepts only what encoding/json decodes the same way.
func FuzzDecodeEvents(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, tc := range recordCases(f) {
		f.Add([]byte(`[{"time":"2022-10-12T00:00:15.064Z","type":"` + tc.typ + `","record":` + tc.record + `}]`))
	}
	for _, record := range invocationRecordCases() {
		f.Add([]byte(`[{"time":"2022-10-12T00:00:15.064Z","type":"otelcol.invocation","record":` + record + `}]`))
	}
	f.Add([]byte(`[]`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[{"type":"platform.report","record":null}]`))
	f.Add([]byte(`[{"Time":"2022-10-12T00:00:15.064+02:00","type":"function","record":"x","TYPE":"extension"}]`))
	f.Add([]byte(`[0,{},{"time":"2022-10-12T00:00:15Z","type":"x","record":null},[[[]]],"s"]`))

	f.Fuzz(func(t *testing.T, data []byte) {
		events, err := DecodeEvents(data)
		slow, slowErr := decodeEventsSlow(data)
		if (err == nil) != (slowErr == nil) || !reflect.DeepEqual(events, slow) {
			t.Fatalf("DecodeEvents(%q) = %#v, %v;\nencoding/json gives %#v, %v", data, events, err, slow, slowErr)
		}
		if shared, err := DecodeEventsNoCopy(data); (err == nil) != (slowErr == nil) || !reflect.DeepEqual(shared, slow) {
			t.Fatalf("DecodeEventsNoCopy(%q) = %#v, %v;\nencoding/json gives %#v, %v", data, shared, err, slow, slowErr)
		}
		for _, ev := range events {
			checkRecord(t, ev)
		}
		checkScan(t, data)
	})
}

// FuzzDecodeRecord explores the record decoders more directly than
// FuzzDecodeEvents can.
func FuzzDecodeRecord(f *testing.F) {
	for _, tc := range recordCases(f) {
		f.Add(tc.typ, []byte(tc.record))
	}
	for _, record := range invocationRecordCases() {
		f.Add(TypeInvocation, []byte(record))
	}
	// A JSON log past MaxLogExtras, with kept and dropped keys repeated.
	many := []byte(`{"message":"m"`)
	for i := range MaxLogExtras + 3 {
		many = fmt.Appendf(many, `,"k%d":%d`, i, i)
	}
	f.Add(TypeFunction, append(many, `,"k0":"again","k130":1,"k1":2}`...))
	f.Fuzz(func(t *testing.T, typ string, record []byte) {
		checkRecord(t, Event{Time: time.Unix(1665533015, 64e6), Type: typ, Record: record})
	})
}

func checkRecord(t *testing.T, ev Event) {
	rec, err := ev.DecodeRecord()
	slow, slowErr := ev.decodeRecord(false)
	if (err == nil) != (slowErr == nil) || !reflect.DeepEqual(rec, slow) {
		t.Fatalf("DecodeRecord(%s %q) = %#v, %v;\nencoding/json gives %#v, %v", ev.Type, ev.Record, rec, err, slow, slowErr)
	}
	if tc := tracingOf(rec); tc != nil {
		_, _ = tc.XRay()
		_, _ = tc.ParseSpanID()
	}
	if err != nil || len(ev.Record) == 0 {
		return
	}
	checkEventRoundTrip(t, ev)
	checkRecordRoundTrip(t, ev, rec)
}

func tracingOf(rec any) *TraceContext {
	switch r := rec.(type) {
	case *PlatformStart:
		return r.Tracing
	case *PlatformRuntimeDone:
		return r.Tracing
	case *PlatformReport:
		return r.Tracing
	}
	return nil
}

func checkEventRoundTrip(t *testing.T, ev Event) {
	out, err := AppendEvents(nil, []Event{ev})
	if err != nil {
		t.Fatalf("AppendEvents(%#v): %v", ev, err)
	}
	back, err := DecodeEvents(out)
	if err != nil {
		t.Fatalf("DecodeEvents(%s): %v", out, err)
	}
	if len(back) != 1 || back[0].Type != ev.Type || !bytes.Equal(back[0].Record, trimSpace(ev.Record)) ||
		!back[0].Time.Equal(ev.Time.Truncate(time.Millisecond)) {
		t.Fatalf("event round trip: %#v -> %s -> %#v", ev, out, back)
	}
}

// checkRecordRoundTrip encodes a decoded record, decodes it again and wants
// the same record. Records are compared by their encoding, which is
// canonical (UTC millisecond times, compact extras).
func checkRecordRoundTrip(t *testing.T, ev Event, rec any) {
	first, err := json.Marshal(rec)
	if err != nil {
		t.Fatalf("json.Marshal(%#v): %v", rec, err)
	}
	ev2, err := NewEvent(ev.Time, ev.Type, rec)
	if err != nil {
		t.Fatalf("NewEvent(%#v): %v", rec, err)
	}
	rec2, err := ev2.DecodeRecord()
	if err != nil {
		t.Fatalf("DecodeRecord(%s): %v", ev2.Record, err)
	}
	second, err := json.Marshal(rec2)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Fatalf("record round trip changed it:\n%s\n%s", first, second)
	}
}
