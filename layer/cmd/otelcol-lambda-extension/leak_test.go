// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"testing"

	"go.uber.org/goleak"
)

// The tests run the emulator and the gateway stand-in around the built extension: neither may outlive a test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
