// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package wire

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBatchHeadersRoundTrip(t *testing.T) {
	want := Batch{
		Sandbox: Sandbox{
			FunctionName: "checkout", FunctionVersion: "$LATEST",
			FunctionARN: "arn:aws:lambda:eu-west-1:123456789012:function:checkout",
			Region:      "eu-west-1", AccountID: "123456789012", MemorySizeMB: 512,
			Architecture: "arm64", Runtime: "nodejs20.x", TimeoutMs: 30000,
			ExtensionInstanceID: "6f1c1a7e-1b1e-4c4e-9d5a-0c1f2d3e4f50",
		},
		Sequence:                  42,
		ReportsWithoutRuntimeDone: []int{0, 5},
		DroppedEvents:             3,
	}
	h := http.Header{}
	want.SetHeaders(h)
	got, err := BatchFromHeaders(h)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
}

func TestEmptyBatchSetsNoHeaders(t *testing.T) {
	h := http.Header{}
	Batch{}.SetHeaders(h)
	if len(h) != 0 {
		t.Fatalf("headers for an empty batch: %v", h)
	}
	got, err := BatchFromHeaders(h)
	if err != nil || !reflect.DeepEqual(got, Batch{}) {
		t.Fatalf("got %+v, %v", got, err)
	}
}

func TestBatchFromHeadersErrors(t *testing.T) {
	tests := []struct {
		header, value, wantErr string
	}{
		{HeaderBatchSequence, "-1", "invalid Lambda-Batch-Sequence header"},
		{HeaderBatchSequence, "x", "invalid Lambda-Batch-Sequence header"},
		{HeaderMemorySizeMB, "lots", "invalid Lambda-Memory-Size-Mb header"},
		{HeaderTimeoutMs, "-5", "invalid Lambda-Timeout-Ms header"},
		{HeaderTimeoutMs, "Inf", "invalid Lambda-Timeout-Ms header"},
		{HeaderMemorySizeMB, "NaN", "invalid Lambda-Memory-Size-Mb header"},
		{HeaderDroppedEvents, "1.5", "invalid Lambda-Dropped-Events header"},
		{HeaderReportsWithoutRuntimeDone, "1,,2", "invalid Lambda-Reports-Without-Runtime-Done header"},
		{HeaderReportsWithoutRuntimeDone, "-1", "invalid Lambda-Reports-Without-Runtime-Done header"},
	}
	for _, tt := range tests {
		t.Run(tt.header+"="+tt.value, func(t *testing.T) {
			h := http.Header{}
			h.Set(tt.header, tt.value)
			_, err := BatchFromHeaders(h)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestDecodeEnvelope(t *testing.T) {
	batch, events, err := DecodeEnvelope([]byte(`{"sandbox":{"functionName":"f","extensionInstanceId":"x"},"sequence":7,
		"reportsWithoutRuntimeDone":[1],"events":[{"time":"2022-10-12T00:00:00.000Z","type":"platform.start","record":{"requestId":"r"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Batch{Sandbox: Sandbox{FunctionName: "f", ExtensionInstanceID: "x"}, Sequence: 7, ReportsWithoutRuntimeDone: []int{1}}
	if !reflect.DeepEqual(batch, want) {
		t.Fatalf("got %+v, want %+v", batch, want)
	}
	if !strings.HasPrefix(string(events), `[{"time"`) {
		t.Fatalf("events not kept verbatim: %s", events)
	}

	for _, bad := range []string{`{"sandbox":{}}`, `{"events":null}`, `{"events":[],"reportsWithoutRuntimeDone":[-1]}`, `[`, `{"sequence":-1,"events":[]}`} {
		if _, _, err := DecodeEnvelope([]byte(bad)); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
}

// An ARN that is not a Lambda function's is refused (see TestSandboxLimits).
func TestAccountComesFromTheARNWhenNotSaid(t *testing.T) {
	tests := []struct{ name, arn, account, want string }{
		{"from the ARN", "arn:aws:lambda:eu-west-1:123456789012:function:checkout", "", "123456789012"},
		{"with a qualifier", "arn:aws:lambda:eu-west-1:123456789012:function:checkout:live", "", "123456789012"},
		{"said and the same", "arn:aws:lambda:eu-west-1:123456789012:function:checkout", "123456789012", "123456789012"},
		{"no ARN", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			Sandbox{FunctionName: "checkout", FunctionARN: tt.arn, AccountID: tt.account}.SetHeaders(h)
			s, err := SandboxFromHeaders(h)
			require.NoError(t, err)
			assert.Equal(t, tt.want, s.AccountID)
			b, _, err := DecodeEnvelope(fmt.Appendf(nil, `{"sandbox":{"functionName":"checkout","functionArn":%q,"accountId":%q},"events":[]}`, tt.arn, tt.account))
			require.NoError(t, err)
			assert.Equal(t, tt.want, b.Sandbox.AccountID)
		})
	}
}
