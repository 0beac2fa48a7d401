// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package telemetryapi

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func validSubscribeRequest() SubscribeRequest {
	return SubscribeRequest{
		SchemaVersion: SchemaVersion20221213,
		Types:         []string{StreamPlatform, StreamFunction, StreamExtension},
		Buffering:     Buffering{MaxItems: 1000, MaxBytes: 262144, TimeoutMs: 25},
		Destination:   Destination{Protocol: ProtocolHTTP, URI: "http://sandbox.localdomain:8080"},
	}
}

func TestSubscribeRequestValidate(t *testing.T) {
	tests := []struct {
		name    string
		modify  func(*SubscribeRequest)
		wantErr []string // each must appear in the error; none means valid
	}{
		{name: "valid", modify: func(*SubscribeRequest) {}},
		{name: "buffering omitted", modify: func(r *SubscribeRequest) { r.Buffering = Buffering{} }},
		{name: "schema 2022-07-01", modify: func(r *SubscribeRequest) { r.SchemaVersion = SchemaVersion20220701 }},
		{name: "schema 2025-01-29", modify: func(r *SubscribeRequest) { r.SchemaVersion = SchemaVersion20250129 }},
		{name: "bad schema", modify: func(r *SubscribeRequest) { r.SchemaVersion = "2023-01-01" }, wantErr: []string{"schemaVersion"}},
		{name: "no schema", modify: func(r *SubscribeRequest) { r.SchemaVersion = "" }, wantErr: []string{"schemaVersion"}},
		{name: "one type", modify: func(r *SubscribeRequest) { r.Types = []string{StreamPlatform} }},
		{name: "no types", modify: func(r *SubscribeRequest) { r.Types = nil }, wantErr: []string{"types"}},
		{name: "bad type", modify: func(r *SubscribeRequest) { r.Types = []string{StreamPlatform, "platform.start"} }, wantErr: []string{"types[1]"}},

		{name: "maxItems below min", modify: func(r *SubscribeRequest) { r.Buffering.MaxItems = 999 }, wantErr: []string{"buffering.maxItems: 999"}},
		{name: "maxItems min", modify: func(r *SubscribeRequest) { r.Buffering.MaxItems = BufferingMaxItemsMin }},
		{name: "maxItems max", modify: func(r *SubscribeRequest) { r.Buffering.MaxItems = BufferingMaxItemsMax }},
		{name: "maxItems above max", modify: func(r *SubscribeRequest) { r.Buffering.MaxItems = 10001 }, wantErr: []string{"buffering.maxItems: 10001"}},
		{name: "maxItems negative", modify: func(r *SubscribeRequest) { r.Buffering.MaxItems = -1 }, wantErr: []string{"buffering.maxItems"}},
		{name: "maxBytes below min", modify: func(r *SubscribeRequest) { r.Buffering.MaxBytes = 262143 }, wantErr: []string{"buffering.maxBytes: 262143"}},
		{name: "maxBytes min", modify: func(r *SubscribeRequest) { r.Buffering.MaxBytes = BufferingMaxBytesMin }},
		{name: "maxBytes max", modify: func(r *SubscribeRequest) { r.Buffering.MaxBytes = BufferingMaxBytesMax }},
		{name: "maxBytes above max", modify: func(r *SubscribeRequest) { r.Buffering.MaxBytes = 1048577 }, wantErr: []string{"buffering.maxBytes: 1048577"}},
		{name: "timeoutMs below min", modify: func(r *SubscribeRequest) { r.Buffering.TimeoutMs = 24 }, wantErr: []string{"buffering.timeoutMs: 24"}},
		{name: "timeoutMs min", modify: func(r *SubscribeRequest) { r.Buffering.TimeoutMs = BufferingTimeoutMsMin }},
		{name: "timeoutMs max", modify: func(r *SubscribeRequest) { r.Buffering.TimeoutMs = BufferingTimeoutMsMax }},
		{name: "timeoutMs above max", modify: func(r *SubscribeRequest) { r.Buffering.TimeoutMs = 30001 }, wantErr: []string{"buffering.timeoutMs: 30001"}},

		{name: "tcp", modify: func(r *SubscribeRequest) {
			r.Destination = Destination{Protocol: ProtocolTCP, URI: "sandbox.localdomain:8080"}
		}},
		{name: "tcp without URI", modify: func(r *SubscribeRequest) { r.Destination = Destination{Protocol: ProtocolTCP} }, wantErr: []string{"destination.URI"}},
		{name: "bad protocol", modify: func(r *SubscribeRequest) { r.Destination.Protocol = "http" }, wantErr: []string{"destination.protocol"}},
		{name: "http without URI", modify: func(r *SubscribeRequest) { r.Destination.URI = "" }, wantErr: []string{"destination.URI"}},
		{name: "http URI without scheme", modify: func(r *SubscribeRequest) { r.Destination.URI = "sandbox.localdomain:8080" }, wantErr: []string{"destination.URI"}},
		{name: "http URI with path", modify: func(r *SubscribeRequest) { r.Destination.URI = "http://sandbox.localdomain:8080/telemetry" }},
		{
			name: "every problem reported",
			modify: func(r *SubscribeRequest) {
				*r = SubscribeRequest{Buffering: Buffering{MaxItems: 1, MaxBytes: 1, TimeoutMs: 1}}
			},
			wantErr: []string{"schemaVersion", "types", "buffering.maxItems", "buffering.maxBytes", "buffering.timeoutMs", "destination.protocol"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := validSubscribeRequest()
			tc.modify(&r)
			err := r.Validate()
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate: want an error")
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), "invalid "+want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
		})
	}
}

func TestSubscribeRequestJSON(t *testing.T) {
	r := validSubscribeRequest()
	r.Buffering.TimeoutMs = 100
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"schemaVersion":"2022-12-13","types":["platform","function","extension"],` +
		`"buffering":{"maxItems":1000,"maxBytes":262144,"timeoutMs":100},` +
		`"destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain:8080"}}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}

	r = SubscribeRequest{SchemaVersion: SchemaVersion20250129, Types: []string{StreamPlatform},
		Buffering:   Buffering{TimeoutMs: 25},
		Destination: Destination{Protocol: ProtocolHTTP, URI: "http://sandbox.localdomain:4243", Method: "POST", Encoding: "JSON"}}
	b, err = json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want = `{"schemaVersion":"2025-01-29","types":["platform"],"buffering":{"timeoutMs":25},` +
		`"destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain:4243","method":"POST","encoding":"JSON"}}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	var back SubscribeRequest
	if err := json.Unmarshal(b, &back); err != nil || back.Destination != r.Destination || back.Buffering != r.Buffering {
		t.Errorf("decoded %+v, %v; want %+v", back, err, r)
	}

	b, _ = json.Marshal(SubscribeRequest{SchemaVersion: SchemaVersion20221213})
	if strings.Contains(string(b), "buffering") {
		t.Errorf("zero buffering encoded: %s", b)
	}
}

func TestErrorResponse(t *testing.T) {
	var e ErrorResponse
	body := `{"errorType":"ValidationError","errorMessage":"URI port is not provided; types should not be empty"}`
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatal(err)
	}
	if e.ErrorType != ErrorTypeValidation || e.ErrorMessage != "URI port is not provided; types should not be empty" {
		t.Errorf("decoded %+v", e)
	}
	var err error = &e
	var target *ErrorResponse
	if !errors.As(err, &target) || !strings.Contains(err.Error(), "ValidationError: URI port") {
		t.Errorf("Error() = %q", err)
	}
}
