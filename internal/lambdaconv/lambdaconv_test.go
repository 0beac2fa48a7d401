// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdaconv

import "testing"

func TestErrorType(t *testing.T) {
	tests := []struct {
		status, errorType, want string
	}{
		{"success", "", ""},
		{"", "", ""},
		{"timeout", "", ErrorTypeTimeout},
		{"error", "Sandbox.Timedout", ErrorTypeTimeout},
		{"error", "Runtime.OutOfMemory", ErrorTypeOutOfMemory},
		{"failure", "Runtime.OutOfMemory", ErrorTypeOutOfMemory},
		{"failure", "Runtime.ExitError", ErrorTypeRuntimeExit},
		{"failure", "Extension.Crash", ErrorTypeExtension},
		{"error", "ValueError", ErrorTypeFunction},
		{"error", "", ErrorTypeFunction},
		{"failure", "Runtime.Unknown", ErrorTypeUnhandled},
		{"error", "Runtime.HandlerNotFound", ErrorTypeUnhandled},
		{"failure", "", ErrorTypeUnhandled},
		{"weird", "", ErrorTypeOtherFallback},
	}
	for _, tt := range tests {
		if got := ErrorType(tt.status, tt.errorType); got != tt.want {
			t.Errorf("ErrorType(%q, %q) = %q, want %q", tt.status, tt.errorType, got, tt.want)
		}
	}
}

func TestHostArch(t *testing.T) {
	for in, want := range map[string]string{"x86_64": "amd64", "arm64": "arm64", "": "", "riscv": "riscv"} {
		if got := HostArch(in); got != want {
			t.Errorf("HostArch(%q) = %q, want %q", in, got, want)
		}
	}
}
