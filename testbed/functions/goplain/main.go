// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Command goplain is a Go Lambda function with no instrumentation at all: aws-lambda-go's
// runtime client and a handler, as most functions of a fleet are. The testbed runs it
// behind the layer's wrapper script, where the extension's Runtime API proxy alone tells
// the event source of each invocation (issue #19).
//
// Its event steers it, as the other testbed functions' do: {"fail": "message"} returns a
// CardDeclinedError (aws-lambda-go reports the error's type name as errorType),
// {"sleepMs": n} works for n ms first, and any other event (SQS, API Gateway, ...) succeeds.
package main

import (
	"context"
	"encoding/json"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

// CardDeclinedError is the function's own error type.
type CardDeclinedError struct{ Reason string }

func (e *CardDeclinedError) Error() string { return "card declined: " + e.Reason }

type steering struct {
	Fail    string `json:"fail"`
	SleepMs int    `json:"sleepMs"`
}

func handle(_ context.Context, event json.RawMessage) (map[string]any, error) {
	var s steering
	_ = json.Unmarshal(event, &s) // most events are not steering ones
	if s.SleepMs > 0 {
		// Not cut short at the deadline: a function that overruns it is what a timeout is.
		time.Sleep(time.Duration(s.SleepMs) * time.Millisecond)
	}
	if s.Fail != "" {
		return nil, &CardDeclinedError{Reason: s.Fail}
	}
	return map[string]any{"ok": true}, nil
}

func main() {
	lambda.Start(handle)
}
