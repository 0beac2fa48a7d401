// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package translator // import "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/translator"

// replayWindow is how far below the highest accepted sequence number a number can still be
// new: anything further down is a replay whatever it was (see Replayed).
const replayWindow = uint64(len(recentSet{}.keys))

// ReplayState is the part of a sandbox's state that recognises resent batches, and all
// that a restarted receiver needs for it: the highest sequence number accepted and which
// of the numbers just below it were. It is a plain value, so that it can be copied under
// the sandbox's lock and written to storage later without it.
type ReplayState struct {
	// Highest is the highest sequence number accepted; 0 when none was.
	Highest uint64
	// Below has bit i (of Below[i/64]) set when sequence Highest-1-i was accepted, for i
	// below replayWindow-1. Older numbers need no bit: they are replays in any case.
	Below [2]uint64
}

// Key is the forwarder's instance id the sandbox was created for.
func (s *Sandbox) Key() string { return s.st.key }

// ClaimReplayLoad reports whether this is the first call since the sandbox was created:
// the caller then looks its replay state up in storage, once, whatever it finds. Callers
// hold Lock.
func (s *Sandbox) ClaimReplayLoad() bool {
	if s.replayLoaded {
		return false
	}
	s.replayLoaded = true
	return true
}

// ReplayState copies what the sandbox remembers of accepted batches. Callers hold Lock.
func (s *Sandbox) ReplayState() ReplayState {
	rs := ReplayState{Highest: s.st.highest}
	for _, k := range s.st.sequences.keys[:s.st.sequences.size] {
		if k < rs.Highest && rs.Highest-k < replayWindow {
			i := rs.Highest - 1 - k
			rs.Below[i/64] |= 1 << (i % 64)
		}
	}
	return rs
}

// RestoreReplayState adds rs to what the sandbox remembers, as if it had accepted those
// batches itself, oldest first. Callers hold Lock.
func (s *Sandbox) RestoreReplayState(rs ReplayState) {
	// The receiver restores a sandbox before it takes anything from it, so the set is
	// empty and the membership test is skipped; it is kept for any other order.
	merge := s.st.sequences.size > 0
	add := func(seq uint64) {
		if !merge || !s.st.sequences.contains(seq) {
			s.st.sequences.add(seq)
		}
	}
	for i := replayWindow - 2; ; i-- {
		if rs.Below[i/64]&(1<<(i%64)) != 0 && rs.Highest > i+1 {
			add(rs.Highest - 1 - i)
		}
		if i == 0 {
			break
		}
	}
	if rs.Highest != 0 {
		add(rs.Highest)
	}
	s.st.highest = max(s.st.highest, rs.Highest)
}
