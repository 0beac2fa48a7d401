// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"testing"

	"go.uber.org/goleak"
)

// The agent serves HTTP and talks to Lambda from goroutines: all must end when Run returns.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
