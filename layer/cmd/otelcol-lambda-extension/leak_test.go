// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// The tests run the emulator and the gateway stand-in around the built extension: neither may outlive a test.
func TestMain(m *testing.M) {
	if os.Getenv(envRunAsRuntime) != "" {
		// The test binary started as a function's runtime (wrapper_test.go).
		os.Exit(runAsRuntime())
	}
	goleak.VerifyTestMain(m)
}
