// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package runtimeproxy

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Error bodies as the runtimes write them (shapes from the Runtime API's ErrorRequest and
// the public runtime clients; values made up).
var errorBodies = []struct {
	name, body, want string
}{
	{"go", `{"errorMessage":"boom","errorType":"errorString"}`, "errorString"},
	{"node", `{"errorType":"TypeError","errorMessage":"x is not a function","trace":["TypeError: x is not a function","    at Runtime.handler (/var/task/index.js:3:9)"]}`, "TypeError"},
	{"python", `{"errorMessage": "division by zero", "errorType": "ZeroDivisionError", "requestId": "c6b7", "stackTrace": ["  File \"/var/task/app.py\", line 2, in handler\n"]}`, "ZeroDivisionError"},
	{"java", `{"errorMessage":"null","errorType":"java.lang.NullPointerException","stackTrace":["example.Handler.handleRequest(Handler.java:12)"],"cause":{"errorMessage":"inner","errorType":"java.io.IOException"}}`, "java.lang.NullPointerException"},
	{"nested errorType is not the one", `{"cause":{"errorType":"Inner"},"errorMessage":"m"}`, ""},
	{"cut after errorType", `{"errorType":"Runtime.OutOfMemory","errorMessage":"aaaaaaaaaa`, "Runtime.OutOfMemory"},
	{"cut inside errorType", `{"errorMessage":"m","errorType":"Runtime.Out`, ""},
	{"not a string", `{"errorType":42}`, ""},
	{"last one wins", `{"errorType":"A","errorType":"B"}`, "B"},
	{"key case matters", `{"ErrorType":"A"}`, ""},
	{"not JSON", `exit status 2`, ""},
	{"array", `[{"errorType":"A"}]`, ""},
	{"empty", ``, ""},
	{"escaped", `{"errorType":"Runtime.\u0045rror"}`, "Runtime.Error"},
}

func TestErrorType(t *testing.T) {
	for _, tt := range errorBodies {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, ErrorType([]byte(tt.body)))
		})
	}
}

// FuzzErrorType: ErrorType never panics, on a body or any cut of it, and on a body that
// is one valid JSON object it finds what encoding/json finds.
func FuzzErrorType(f *testing.F) {
	for _, tt := range errorBodies {
		f.Add([]byte(tt.body), uint16(len(tt.body)/2))
	}
	f.Fuzz(func(t *testing.T, body []byte, cut uint16) {
		got := ErrorType(body)
		_ = ErrorType(body[:int(cut)%(len(body)+1)])
		var members map[string]json.RawMessage
		if json.Unmarshal(body, &members) != nil || members == nil {
			return
		}
		want := ""
		if raw, ok := members["errorType"]; ok {
			_ = json.Unmarshal(raw, &want)
		}
		if got != want {
			t.Fatalf("ErrorType(%q) = %q, encoding/json says %q", body, got, want)
		}
	})
}
