// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdaemu

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// The emulator serves its APIs and runs runtimes and extensions in goroutines: Close must end them all.
// The test binary is also the runtime and the extension process of the process tests
// (process_test.go), chosen by its environment.
func TestMain(m *testing.M) {
	switch {
	case os.Getenv(envTestRuntime) != "":
		os.Exit(runTestRuntime())
	case os.Getenv(envTestExtension) != "":
		os.Exit(runTestExtension())
	}
	goleak.VerifyTestMain(m)
}
