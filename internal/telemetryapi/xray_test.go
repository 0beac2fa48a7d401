// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package telemetryapi

import (
	"errors"
	"testing"
)

func TestParseXRayTraceHeader(t *testing.T) {
	traceID := [16]byte{0x57, 0x59, 0xe9, 0x88, 0xbd, 0x86, 0x2e, 0x3f, 0xe1, 0xbe, 0x46, 0xa9, 0x94, 0x27, 0x27, 0x93}
	parent := [8]byte{0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0xd8}
	const root = "Root=1-5759e988-bd862e3fe1be46a994272793"
	tests := []struct {
		name    string
		value   string
		want    XRayTraceHeader
		wantErr bool
	}{
		{name: "documented", value: root + ";Parent=53995c3f42cd8ad8;Sampled=1", want: XRayTraceHeader{traceID, parent, true}},
		{name: "reordered", value: "Sampled=1;Parent=53995c3f42cd8ad8;" + root, want: XRayTraceHeader{traceID, parent, true}},
		{name: "parent first", value: "Parent=53995c3f42cd8ad8;" + root + ";Sampled=0", want: XRayTraceHeader{traceID, parent, false}},
		{name: "sampled missing", value: root + ";Parent=53995c3f42cd8ad8", want: XRayTraceHeader{traceID, parent, false}},
		{name: "sampled deferred", value: root + ";Parent=53995c3f42cd8ad8;Sampled=?", want: XRayTraceHeader{traceID, parent, false}},
		{name: "root only", value: root, want: XRayTraceHeader{TraceID: traceID}},
		{name: "lineage and unknown keys", value: root + ";Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1|68fd508a:5;Self=1-5759e988-aaa", want: XRayTraceHeader{traceID, parent, true}},
		{name: "spaces and trailing semicolon", value: " " + root + "; Parent=53995c3f42cd8ad8 ;Sampled=1;", want: XRayTraceHeader{traceID, parent, true}},
		{name: "upper-case hex", value: "Root=1-5759E988-BD862E3FE1BE46A994272793;Parent=53995C3F42CD8AD8", want: XRayTraceHeader{TraceID: traceID, ParentID: parent}},

		{name: "empty", value: "", wantErr: true},
		{name: "no root", value: "Parent=53995c3f42cd8ad8;Sampled=1", wantErr: true},
		{name: "wrong version", value: "Root=2-5759e988-bd862e3fe1be46a994272793", wantErr: true},
		{name: "missing version", value: "Root=5759e988-bd862e3fe1be46a994272793", wantErr: true},
		{name: "short epoch", value: "Root=1-5759e98-bd862e3fe1be46a9942727933", wantErr: true},
		{name: "long random part", value: "Root=1-5759e988-bd862e3fe1be46a9942727930", wantErr: true},
		{name: "short random part", value: "Root=1-5759e988-bd862e3fe1be46a99427279", wantErr: true},
		{name: "wrong separator", value: "Root=1-5759e988_bd862e3fe1be46a994272793", wantErr: true},
		{name: "non-hex epoch", value: "Root=1-5759e98g-bd862e3fe1be46a994272793", wantErr: true},
		{name: "non-hex random part", value: "Root=1-5759e988-bd862e3fe1be46a99427279z", wantErr: true},
		{name: "short parent", value: root + ";Parent=53995c3f42cd8ad", wantErr: true},
		{name: "non-hex parent", value: root + ";Parent=53995c3f42cd8adx", wantErr: true},
		{name: "bad sampled", value: root + ";Sampled=yes", wantErr: true},
		{name: "not key=value", value: root + ";garbage", wantErr: true},
		{name: "empty root", value: "Root=", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseXRayTraceHeader(tc.value)
			if tc.wantErr {
				if !errors.Is(err, ErrMalformedTracing) {
					t.Fatalf("ParseXRayTraceHeader(%q) = %v, %v; want ErrMalformedTracing", tc.value, got, err)
				}
				if got != (XRayTraceHeader{}) {
					t.Errorf("on error got %v, want the zero value", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestTraceContext(t *testing.T) {
	tc := TraceContext{SpanID: "54565fb41ac79632", Type: TracingTypeXRay, Value: "Root=1-62e900b2-710d76f009d6e7785905449a;Parent=0efbd19962d95b05;Sampled=1"}
	h, err := tc.XRay()
	if err != nil {
		t.Fatal(err)
	}
	want := XRayTraceHeader{
		TraceID:  [16]byte{0x62, 0xe9, 0x00, 0xb2, 0x71, 0x0d, 0x76, 0xf0, 0x09, 0xd6, 0xe7, 0x78, 0x59, 0x05, 0x44, 0x9a},
		ParentID: [8]byte{0x0e, 0xfb, 0xd1, 0x99, 0x62, 0xd9, 0x5b, 0x05},
		Sampled:  true,
	}
	if h != want {
		t.Errorf("XRay = %+v, want %+v", h, want)
	}
	id, err := tc.ParseSpanID()
	if err != nil || id != [8]byte{0x54, 0x56, 0x5f, 0xb4, 0x1a, 0xc7, 0x96, 0x32} {
		t.Errorf("ParseSpanID = %x, %v", id, err)
	}

	if id, err := (TraceContext{}).ParseSpanID(); err != nil || id != [8]byte{} {
		t.Errorf("absent span id: ParseSpanID = %x, %v; want zero, nil", id, err)
	}
	for _, bad := range []string{"54565fb41ac7963", "54565fb41ac79632a", "54565fb41ac7963g"} {
		if _, err := (TraceContext{SpanID: bad}).ParseSpanID(); !errors.Is(err, ErrMalformedTracing) {
			t.Errorf("ParseSpanID(%q) error = %v, want ErrMalformedTracing", bad, err)
		}
	}
	if _, err := (TraceContext{Type: "traceparent", Value: tc.Value}).XRay(); err == nil {
		t.Error("XRay of a non-X-Ray tracing type: want an error")
	}
	if _, err := (TraceContext{Value: tc.Value}).XRay(); err != nil {
		t.Errorf("XRay without type: %v", err)
	}
}

func TestParseXRayTraceHeaderAllocs(t *testing.T) {
	v := "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1"
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseXRayTraceHeader(v) }); n != 0 {
		t.Errorf("ParseXRayTraceHeader allocates %v times, want 0", n)
	}
}
