// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package scenario

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/loadgen"
)

func TestWithResendsCopiesTelemetryBatchesRightAfterThemselves(t *testing.T) {
	fleet, err := loadgen.Generate(loadgen.Config{Prefix: "resend", Functions: 3, Sandboxes: 2, Invocations: 2000, PerBatch: 5,
		FunctionSpans: true, Seed: 1})
	require.NoError(t, err)
	out, copies := withResends(fleet.Batches, 0.2, 7)
	require.Len(t, out, len(fleet.Batches)+copies)
	telemetry := 0
	for _, b := range fleet.Batches {
		if !b.IsTraces() {
			telemetry++
		}
	}
	assert.InDelta(t, 0.2*float64(telemetry), copies, 0.05*float64(telemetry))

	invocations, seen := 0, 0
	for i, b := range out {
		invocations += b.Invocations
		if i == 0 || b.Invocations != 0 || b.IsTraces() {
			continue
		}
		prev := out[i-1]
		seen++
		assert.Equal(t, prev.Body, b.Body, "the copy follows its batch")
		assert.Equal(t, prev.Slot, b.Slot)
		assert.Equal(t, prev.Header.Get(wire.HeaderBatchSequence), b.Header.Get(wire.HeaderBatchSequence), "with its number")
	}
	assert.Equal(t, copies, seen, "only telemetry batches are copied, each once")
	assert.Equal(t, fleet.Total().Invocations, invocations, "copies count no invocation")

	again, n := withResends(fleet.Batches, 0.2, 7)
	assert.Equal(t, copies, n, "the same seed copies the same batches")
	assert.Len(t, again, len(out))
	none, n := withResends(fleet.Batches, 0, 7)
	assert.Zero(t, n)
	assert.Len(t, none, len(fleet.Batches))
}
