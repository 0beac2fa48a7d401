// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package forward

import (
	"testing"

	"go.uber.org/goleak"
)

// The sender's HTTP transport keeps connections in goroutines: Close must end them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
