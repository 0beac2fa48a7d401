// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package runtimeproxy

import (
	"testing"

	"go.uber.org/goleak"
)

// The proxy serves and dispatches on goroutines: Close must end them all.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
