// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package wire

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSandboxLimits(t *testing.T) {
	valid := Sandbox{
		FunctionName: "checkout-v2_eu", FunctionVersion: "$LATEST",
		FunctionARN: "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:checkout-v2_eu:live",
		Region:      "us-gov-west-1", AccountID: "123456789012", MemorySizeMB: 10240,
		Architecture: "x86_64", Runtime: "python:3.12.v19", TimeoutMs: 900_000,
		ExtensionInstanceID: "6f1c1a7e1b1e4c4e9d5a0c1f2d3e4f50",
	}
	tests := []struct {
		name      string
		mutate    func(*Sandbox)
		wantField string // header; "" when valid
		wantKey   string // envelope key
	}{
		{name: "every field at home", mutate: func(*Sandbox) {}},
		{name: "a published version", mutate: func(s *Sandbox) { s.FunctionVersion = "42" }},
		{name: "an alias", mutate: func(s *Sandbox) { s.FunctionVersion = "live-2" }},
		{name: "a Managed Instances version", mutate: func(s *Sandbox) { s.FunctionVersion = "$LATEST.PUBLISHED" }},
		{name: "an ARN without qualifier", mutate: func(s *Sandbox) {
			s.FunctionARN = "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:checkout-v2_eu"
		}},
		{name: "an ARN without the region beside it", mutate: func(s *Sandbox) { s.Region = "" }},
		{name: "a name the ARN contradicts", mutate: func(s *Sandbox) { s.FunctionName = "other" },
			wantField: HeaderFunctionName, wantKey: "sandbox.functionName"},
		{name: "a region the ARN contradicts", mutate: func(s *Sandbox) { s.Region = "eu-west-1" },
			wantField: HeaderRegion, wantKey: "sandbox.region"},
		{name: "an account the ARN contradicts", mutate: func(s *Sandbox) { s.AccountID = "210987654321" },
			wantField: HeaderAccountID, wantKey: "sandbox.accountId"},
		{name: "the least memory", mutate: func(s *Sandbox) { s.MemorySizeMB = 128 }},
		{name: "function name too long", mutate: func(s *Sandbox) { s.FunctionName = strings.Repeat("f", 65) },
			wantField: HeaderFunctionName, wantKey: "sandbox.functionName"},
		{name: "huge function name", mutate: func(s *Sandbox) { s.FunctionName = strings.Repeat("f", 100_000) },
			wantField: HeaderFunctionName, wantKey: "sandbox.functionName"},
		{name: "function name with a dot", mutate: func(s *Sandbox) { s.FunctionName = "a.b" },
			wantField: HeaderFunctionName, wantKey: "sandbox.functionName"},
		{name: "function name not UTF-8", mutate: func(s *Sandbox) { s.FunctionName = "f\xff" },
			wantField: HeaderFunctionName, wantKey: "sandbox.functionName"},
		{name: "function name with a label breaker", mutate: func(s *Sandbox) { s.FunctionName = `f"} 1` },
			wantField: HeaderFunctionName, wantKey: "sandbox.functionName"},
		{name: "version too long", mutate: func(s *Sandbox) { s.FunctionVersion = strings.Repeat("1", 129) },
			wantField: HeaderFunctionVersion, wantKey: "sandbox.functionVersion"},
		{name: "version with a space", mutate: func(s *Sandbox) { s.FunctionVersion = "1 2" },
			wantField: HeaderFunctionVersion, wantKey: "sandbox.functionVersion"},
		{name: "version just a dollar", mutate: func(s *Sandbox) { s.FunctionVersion = "$" },
			wantField: HeaderFunctionVersion, wantKey: "sandbox.functionVersion"},
		{name: "ARN of another service", mutate: func(s *Sandbox) { s.FunctionARN = "arn:aws:sqs:eu-west-1:123456789012:queue" },
			wantField: HeaderFunctionARN, wantKey: "sandbox.functionArn"},
		{name: "ARN without account", mutate: func(s *Sandbox) { s.FunctionARN = "arn:aws:lambda:eu-west-1::function:f" },
			wantField: HeaderFunctionARN, wantKey: "sandbox.functionArn"},
		{name: "ARN too long", mutate: func(s *Sandbox) {
			s.FunctionARN = "arn:aws:lambda:eu-west-1:123456789012:function:f:" + strings.Repeat("q", 250)
		}, wantField: HeaderFunctionARN, wantKey: "sandbox.functionArn"},
		{name: "region shape", mutate: func(s *Sandbox) { s.Region = "Mars" }, wantField: HeaderRegion, wantKey: "sandbox.region"},
		{name: "region without number", mutate: func(s *Sandbox) { s.Region = "eu-west-x" }, wantField: HeaderRegion, wantKey: "sandbox.region"},
		{name: "account of 11 digits", mutate: func(s *Sandbox) { s.AccountID = "12345678901" }, wantField: HeaderAccountID, wantKey: "sandbox.accountId"},
		{name: "account not digits", mutate: func(s *Sandbox) { s.AccountID = "12345678901x" }, wantField: HeaderAccountID, wantKey: "sandbox.accountId"},
		{name: "architecture", mutate: func(s *Sandbox) { s.Architecture = "amd64" }, wantField: HeaderArchitecture, wantKey: "sandbox.architecture"},
		{name: "runtime too long", mutate: func(s *Sandbox) { s.Runtime = strings.Repeat("r", 65) }, wantField: HeaderRuntime, wantKey: "sandbox.runtime"},
		{name: "instance id with a slash", mutate: func(s *Sandbox) { s.ExtensionInstanceID = "a/b" },
			wantField: HeaderExtensionInstanceID, wantKey: "sandbox.extensionInstanceId"},
		{name: "memory below Lambda's least", mutate: func(s *Sandbox) { s.MemorySizeMB = 64 }, wantField: HeaderMemorySizeMB, wantKey: "sandbox.memorySizeMB"},
		{name: "memory above Lambda's most", mutate: func(s *Sandbox) { s.MemorySizeMB = 1e9 }, wantField: HeaderMemorySizeMB, wantKey: "sandbox.memorySizeMB"},
		{name: "timeout past 15 minutes and the margin", mutate: func(s *Sandbox) { s.TimeoutMs = 1e7 }, wantField: HeaderTimeoutMs, wantKey: "sandbox.timeoutMs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := valid
			tt.mutate(&s)

			h := http.Header{}
			s.SetHeaders(h)
			got, err := BatchFromHeaders(h)

			env, jerr := json.Marshal(Envelope{Sandbox: s, Events: json.RawMessage(`[]`)})
			require.NoError(t, jerr)
			fromEnvelope, _, envErr := DecodeEnvelope(env)

			if tt.wantField == "" {
				require.NoError(t, err)
				assert.Equal(t, s, got.Sandbox)
				require.NoError(t, envErr)
				assert.Equal(t, s, fromEnvelope.Sandbox)
				return
			}
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tt.wantField+" header", fe.Field)
			assert.LessOrEqual(t, len(err.Error()), 512, "the message quotes a bounded part of the value")
			assert.Contains(t, err.Error(), "want ")
			require.ErrorAs(t, envErr, &fe)
			assert.Equal(t, tt.wantKey, fe.Field)
		})
	}
}

func TestDroppedEventsLimit(t *testing.T) {
	h := http.Header{}
	h.Set(HeaderDroppedEvents, "18446744073709551615")
	_, err := BatchFromHeaders(h)
	assert.ErrorContains(t, err, "invalid Lambda-Dropped-Events header")
	_, _, err = DecodeEnvelope([]byte(`{"droppedEvents":18446744073709551615,"events":[]}`))
	assert.ErrorContains(t, err, "invalid droppedEvents")
}

// TestRepeatedHeadersAreRefused: a fact sent twice is refused, naming the header, whichever
// header it is, even when both values are valid (a reader takes the first, a proxy may
// have checked the last).
func TestRepeatedHeadersAreRefused(t *testing.T) {
	valid := Batch{
		Sandbox: Sandbox{
			FunctionName: "checkout", FunctionVersion: "$LATEST",
			FunctionARN: "arn:aws:lambda:eu-west-1:123456789012:function:checkout",
			Region:      "eu-west-1", AccountID: "123456789012", MemorySizeMB: 512,
			Architecture: "arm64", Runtime: "nodejs20.x", TimeoutMs: 30000,
			ExtensionInstanceID: "6f1c1a7e1b1e4c4e9d5a0c1f2d3e4f50",
		},
		Sequence: 7, ReportsWithoutRuntimeDone: []int{1}, DroppedEvents: 2,
	}
	second := map[string]string{
		HeaderFunctionName: "other", HeaderFunctionVersion: "2", HeaderFunctionARN: "arn:aws:lambda:eu-west-1:123456789012:function:other",
		HeaderRegion: "us-east-1", HeaderAccountID: "210987654321", HeaderMemorySizeMB: "128", HeaderArchitecture: "x86_64",
		HeaderRuntime: "python3.12", HeaderTimeoutMs: "3000", HeaderExtensionInstanceID: "other",
		HeaderBatchSequence: "8", HeaderReportsWithoutRuntimeDone: "2", HeaderDroppedEvents: "3",
	}
	require.Len(t, second, len(sandboxHeaders)+len(batchHeaders))
	for _, header := range append(slices.Clone(sandboxHeaders), batchHeaders...) {
		for _, again := range []string{second[header], ""} {
			t.Run(header+"="+again, func(t *testing.T) {
				h := http.Header{}
				valid.SetHeaders(h)
				if again == "" {
					again = h.Get(header) // the same value twice
				}
				h.Add(strings.ToLower(header), again) // any spelling is the same header
				_, err := BatchFromHeaders(h)
				var fe *FieldError
				require.ErrorAs(t, err, &fe)
				assert.Equal(t, header+" header", fe.Field)
				assert.Contains(t, err.Error(), "want the header once, not 2 times")
			})
		}
	}
	h := http.Header{}
	valid.SetHeaders(h)
	got, err := BatchFromHeaders(h)
	require.NoError(t, err, "each header once")
	assert.Equal(t, valid, got)
}

// TestNumberHeadersAreDecimal: a number header is read as SetHeaders writes it; other
// spellings strconv.ParseFloat accepts are refused, naming the header.
func TestNumberHeadersAreDecimal(t *testing.T) {
	tests := []struct {
		value string
		want  float64 // 0: refused
	}{
		{"128", 128},
		{"3008", 3008},
		{"10240", 10240},
		{"2048.5", 2048.5},
		{"+128", 0},
		{"0128", 0},
		{"00128", 0},
		{"-128", 0},
		{"1.28e2", 0},
		{"0x80", 0},
		{"0x1p7", 0},
		{"128.", 0},
		{".5", 0},
		{" 128", 0},
		{"128 ", 0},
		{"1_28", 0},
		{"Inf", 0},
		{"NaN", 0},
		{"１２８", 0}, // full-width digits
	}
	for _, header := range []string{HeaderMemorySizeMB, HeaderTimeoutMs} {
		for _, tt := range tests {
			t.Run(header+"="+tt.value, func(t *testing.T) {
				h := http.Header{}
				h.Set(HeaderFunctionName, "f")
				h.Set(header, tt.value)
				s, err := SandboxFromHeaders(h)
				if tt.want != 0 {
					require.NoError(t, err)
					assert.Equal(t, tt.want, map[string]float64{HeaderMemorySizeMB: s.MemorySizeMB, HeaderTimeoutMs: s.TimeoutMs}[header])
					return
				}
				var fe *FieldError
				require.ErrorAs(t, err, &fe)
				assert.Equal(t, header+" header", fe.Field)
				assert.Contains(t, err.Error(), "want a decimal number without sign or leading zero")
			})
		}
	}
}
