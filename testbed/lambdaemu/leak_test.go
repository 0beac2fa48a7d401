// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdaemu

import (
	"testing"

	"go.uber.org/goleak"
)

// The emulator serves its APIs and runs runtimes and extensions in goroutines: Close must end them all.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
