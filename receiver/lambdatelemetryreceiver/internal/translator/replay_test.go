// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package translator

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func seqRange(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// TestReplayStateRoundTrip checks that a sandbox restored from another's ReplayState
// recognises exactly the same resends.
func TestReplayStateRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		accepted []uint64
	}{
		{name: "nothing"},
		{name: "first batch", accepted: []uint64{1}},
		{name: "a few in order", accepted: seqRange(1, 5)},
		{name: "gaps: refused batches the forwarder resends later", accepted: []uint64{1, 2, 4, 7, 8}},
		{name: "out of order", accepted: []uint64{3, 1, 5, 2}},
		{name: "more than the window", accepted: seqRange(1, 300)},
		{name: "window edges", accepted: []uint64{1, 130, 200, 327, 328}},
		{name: "far jump", accepted: []uint64{5, 1 << 40, 1<<40 - 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := NewSandbox("ext-1")
			for _, s := range tt.accepted {
				orig.Accepted(s)
			}
			rs := orig.ReplayState()

			restored := NewSandbox("ext-1")
			restored.RestoreReplayState(rs)
			assert.Equal(t, rs, restored.ReplayState(), "restoring is lossless")

			highest := orig.st.highest
			lo := uint64(0)
			if highest > 400 {
				lo = highest - 400
			}
			for s := lo; s <= highest+200; s++ {
				require.Equal(t, orig.Replayed(s), restored.Replayed(s), "sequence %d", s)
			}
		})
	}
}

func TestReplayStateKeepsTakingNewBatches(t *testing.T) {
	orig := NewSandbox("ext-1")
	for _, s := range seqRange(1, 10) {
		orig.Accepted(s)
	}
	restored := NewSandbox("ext-1")
	restored.RestoreReplayState(orig.ReplayState())
	assert.True(t, restored.Replayed(10))
	assert.False(t, restored.Replayed(11))
	restored.Accepted(11)
	assert.True(t, restored.Replayed(11))
	assert.Equal(t, uint64(11), restored.ReplayState().Highest)
}

func TestRestoreReplayStateMerges(t *testing.T) {
	sb := NewSandbox("ext-1")
	sb.Accepted(3)
	sb.RestoreReplayState(ReplayState{Highest: 2, Below: [2]uint64{1}}) // 1 and 2
	for _, s := range []uint64{1, 2, 3} {
		assert.True(t, sb.Replayed(s), "sequence %d", s)
	}
	assert.False(t, sb.Replayed(4))
}

func TestRestoreReplayStateIgnoresImpossibleBits(t *testing.T) {
	// Bits for sequence 0 or below cannot come from ReplayState; data read from storage
	// may carry them anyway.
	sb := NewSandbox("ext-1")
	sb.RestoreReplayState(ReplayState{Highest: 2, Below: [2]uint64{^uint64(0), ^uint64(0)}})
	assert.False(t, sb.Replayed(0))
	assert.True(t, sb.Replayed(1))
	assert.True(t, sb.Replayed(2))
	assert.False(t, sb.Replayed(3))
}

func TestClaimReplayLoadOnce(t *testing.T) {
	sb := NewSandbox("ext-1")
	assert.True(t, sb.ClaimReplayLoad())
	cp := sb.Checkpoint()
	assert.False(t, sb.ClaimReplayLoad())
	sb.Restore(cp)
	assert.False(t, sb.ClaimReplayLoad(), "a rollback does not make the sandbox load again")
	assert.Equal(t, "ext-1", sb.Key())
}
