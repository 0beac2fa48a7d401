// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdaconv

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
)

// TestMergeSandboxResourceMarksWhatTheExtensionForwarded: the extension's instance id goes
// in aws.lambda.extension.instance_id whatever the data said, and faas.instance keeps what
// the function's SDK set.
func TestMergeSandboxResourceMarksWhatTheExtensionForwarded(t *testing.T) {
	const logStream = "2026/12/01/[$LATEST]5d1edb9e525d486696cf01a3503487bc"
	tests := []struct {
		name                   string
		sandbox                wire.Sandbox
		sdk                    map[string]string // what the data had
		wantInstance, wantMark string            // "" for absent
	}{
		{"forwarded, no SDK resource", wire.Sandbox{FunctionName: "f", ExtensionInstanceID: "ext-1"}, nil, "ext-1", "ext-1"},
		{"forwarded, the SDK's detector named the log stream", wire.Sandbox{FunctionName: "f", ExtensionInstanceID: "ext-1"},
			map[string]string{AttrFaaSInstance: logStream}, logStream, "ext-1"},
		{"a claimed mark is replaced", wire.Sandbox{FunctionName: "f", ExtensionInstanceID: "ext-1"},
			map[string]string{AttrExtensionInstanceID: "forged"}, "ext-1", "ext-1"},
		{"headers without an instance id", wire.Sandbox{FunctionName: "f"}, nil, "", ""},
		{"straight from an SDK with a detector", wire.Sandbox{}, map[string]string{AttrFaaSInstance: logStream}, logStream, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			attrs := pcommon.NewMap()
			for k, v := range tt.sdk {
				attrs.PutStr(k, v)
			}
			MergeSandboxResource(attrs, tt.sandbox)
			for key, want := range map[string]string{AttrFaaSInstance: tt.wantInstance, AttrExtensionInstanceID: tt.wantMark} {
				got, ok := attrs.Get(key)
				switch {
				case want == "" && ok:
					t.Errorf("%s = %q, want none", key, got.Str())
				case want != "" && got.Str() != want:
					t.Errorf("%s = %q, want %q", key, got.Str(), want)
				}
			}
		})
	}
}

// TestOutcomeAttributesCountsWhatSetOutcomePuts: spans are sized with the count, so it
// must follow SetOutcome.
func TestOutcomeAttributesCountsWhatSetOutcomePuts(t *testing.T) {
	for _, status := range []string{"", "success", "error", "failure", "timeout", "weird"} {
		for _, lambdaErrorType := range []string{"", "Handled", "Runtime.ExitError", "Runtime.OutOfMemory"} {
			for _, errClass := range []string{"", ErrorTypeTimeout} {
				span := ptrace.NewSpan()
				SetOutcome(span, span.Attributes(), status, lambdaErrorType, errClass)
				if got, want := OutcomeAttributes(status, lambdaErrorType), span.Attributes().Len(); got != want {
					t.Errorf("OutcomeAttributes(%q, %q) = %d, SetOutcome put %d", status, lambdaErrorType, got, want)
				}
			}
		}
	}
}
