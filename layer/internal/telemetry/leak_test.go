// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package telemetry

import (
	"testing"

	"go.uber.org/goleak"
)

// The listener serves in a goroutine: Close must end it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
