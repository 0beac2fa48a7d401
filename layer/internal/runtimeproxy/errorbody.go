// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package runtimeproxy // import "github.com/otelcol-lambda/otelcol-lambda/layer/internal/runtimeproxy"

import (
	"bytes"
	"encoding/json"
)

// ErrorType returns the errorType of a Runtime API error body
// ({"errorMessage": ..., "errorType": ..., "stackTrace": [...]}), or "" when there is none.
//
// body may be only the first bytes of a longer body: the members are read one by one and
// reading stops at the first thing that does not parse, so an errorType before the cut (it
// comes first or second in every runtime's body) is still found. The key must match
// exactly, the value must be a string; when the key repeats, the last one wins, as it
// does for encoding/json.
func ErrorType(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return ""
	}
	errorType := ""
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return errorType
		}
		value, err := dec.Token()
		if err != nil {
			return errorType
		}
		if key == "errorType" {
			errorType, _ = value.(string)
		}
		if d, ok := value.(json.Delim); ok && !skipNested(dec, d) {
			return errorType
		}
	}
	return errorType
}

// skipNested reads past the array or object opened by d; false if the input ends first.
func skipNested(dec *json.Decoder, d json.Delim) bool {
	if d != '[' && d != '{' {
		return true
	}
	for depth := 1; depth > 0; {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch tok {
		case json.Delim('['), json.Delim('{'):
			depth++
		case json.Delim(']'), json.Delim('}'):
			depth--
		}
	}
	return true
}
