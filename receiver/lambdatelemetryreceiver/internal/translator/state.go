// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package translator // import "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/translator"

import (
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
)

// maxPendingPerSandbox bounds the invocations a sandbox may have in flight between
// batches. One sandbox runs one invocation at a time (Managed Instances a few), so
// reaching it means lost events; the oldest entry goes and the eviction is counted.
const maxPendingPerSandbox = 256

// Sandbox is what the receiver remembers about one execution environment between batches:
// which batches it accepted, the invocations that started but did not finish, those that
// finished and await their report, and whether the next invocation is a cold start.
//
// Callers hold Lock across translating a batch and handing it to the pipeline, and roll
// the state back with Restore when the pipeline refuses the batch, so that the retry is
// translated exactly as the first attempt was.
type Sandbox struct {
	mu sync.Mutex
	st state
	// replayLoaded is set once the replay state kept in storage was looked up (see
	// ClaimReplayLoad); it is not part of st, so Restore never undoes it.
	replayLoaded bool
}

type state struct {
	key string // the forwarder's instance id; "" for a batch without one

	sequences recentSet // accepted batch sequence numbers
	// highest is the highest sequence number accepted. A forwarder numbers everything it
	// sends from one counter and resends what is not acknowledged before it numbers
	// anything new, so a number older than the recent ones is a resend.
	highest  uint64
	counted  recentSet // invocations counted: request id + end time
	reported recentSet // reports turned into spans: request id + report time

	// started: platform.start seen, platform.runtimeDone not yet.
	started map[string]startedInvocation
	// finished: invocation span emitted, platform.report not yet seen.
	finished map[string]finishedInvocation
	// findings: otelcol.invocation records whose invocation span is not made yet.
	findings findings

	init    pendingInit // platform.initStart seen, initReport not yet
	restore pendingInit // platform.restoreStart seen, restoreReport not yet
	// cold is set by an init or restore phase: the next invocation is that cold start.
	cold coldStart
	// served is set by the sandbox's first invocation span: an init or restore phase
	// learnt after it came late (its events were delayed or lost), and cannot mark it.
	served bool
	// coldCounted is set once the sandbox's cold start was counted: on its invocation
	// span, or on a late init span. A sandbox has one; whatever tells of it again (late
	// init events, the report's init duration) counts nothing more.
	coldCounted bool
	// initFromReport is set once the report's init or restore duration stood in for the
	// phase's events: those events, should they come after all, count nothing more.
	initFromReport bool
	// provisioned is set by an init phase that is no cold start (provisioned concurrency,
	// Managed Instances, a SnapStart snapshot's init): the first report's Init Duration,
	// which Lambda writes after such an init too, tells of no cold start.
	provisioned bool
	// current is the request id between platform.start and platform.runtimeDone, for
	// text-format function logs, which carry none.
	current string
}

type startedInvocation struct {
	start   time.Time
	tracing *telemetryapi.TraceContext
}

// spanRef identifies an emitted span, for children and links.
type spanRef struct {
	traceID [16]byte
	spanID  [8]byte
	start   time.Time
}

// finishedInvocation is an invocation span whose report has not come: the report span is
// its child and, for the billed duration, memory and cost per event source, carries the
// event source the extension's proxy found (nil without one; never changed once set).
type finishedInvocation struct {
	spanRef
	source *telemetryapi.EventSource
}

type pendingInit struct {
	seen bool
	// late: the phase began after the sandbox's first invocation was counted; its span
	// carries the cold start (lambdaconv.AttrColdstartLate) unless one was counted.
	late               bool
	start              time.Time
	initializationType string
	phase              string
	runtimeVersion     string
	// From the runtime-done event, when it came.
	runtimeDoneSpans []telemetryapi.Span
}

type coldStart struct {
	pending            bool
	initializationType string
	link               spanRef // the init or restore span
}

// NewSandbox returns an empty state for the sandbox whose forwarder has the given
// instance id ("" for a forwarder without one: such state is used for one batch only).
func NewSandbox(key string) *Sandbox {
	return &Sandbox{st: state{
		key:      key,
		started:  make(map[string]startedInvocation),
		finished: make(map[string]finishedInvocation),
	}}
}

// Lock serialises the batches of one sandbox.
func (s *Sandbox) Lock() { s.mu.Lock() }

// Unlock releases the sandbox.
func (s *Sandbox) Unlock() { s.mu.Unlock() }

// Replayed reports whether the batch with this sequence number was accepted already; 0
// means "not numbered" and is never a replay.
func (s *Sandbox) Replayed(sequence uint64) bool {
	if sequence == 0 {
		return false
	}
	return s.st.sequences.contains(sequence) || sequence+uint64(len(s.st.sequences.keys)) <= s.st.highest
}

// MaxSequenceJump is how far past the highest accepted number a forwarder's next number may
// be. A forwarder numbers its requests one by one and resends what was not acknowledged
// before it numbers anything new, so a real gap is a few requests. A far jump would make
// every later number look older than the replay window, and every later batch a replay.
const MaxSequenceJump = 1 << 16

// CheckSequence refuses a sequence number that jumps more than [MaxSequenceJump] past the
// highest one accepted: once accepted, it would make the sandbox's next batches look like
// replays and drop them without an error.
func (s *Sandbox) CheckSequence(sequence uint64) error {
	if s.st.highest == 0 || sequence <= s.st.highest || sequence-s.st.highest <= MaxSequenceJump {
		return nil
	}
	return fmt.Errorf("Lambda-Batch-Sequence %d is %d past the highest accepted from this extension instance (%d), more than %d: "+
		"a forwarder numbers its requests one by one", sequence, sequence-s.st.highest, s.st.highest, MaxSequenceJump)
}

// Accepted remembers that the batch with this sequence number went into the pipeline.
func (s *Sandbox) Accepted(sequence uint64) {
	if sequence != 0 {
		s.st.sequences.add(sequence)
		s.st.highest = max(s.st.highest, sequence)
	}
}

// Checkpoint is a copy of a sandbox's state to roll back to.
type Checkpoint struct{ st state }

// Checkpoint copies the state.
func (s *Sandbox) Checkpoint() Checkpoint {
	cp := s.st
	cp.started = maps.Clone(s.st.started)
	cp.finished = maps.Clone(s.st.finished)
	return Checkpoint{st: cp}
}

// Restore rolls the state back to cp.
func (s *Sandbox) Restore(cp Checkpoint) { s.st = cp.st }

// recentSet remembers the last len(keys) keys added: enough to recognise a retried batch
// or a repeated event, bounded whatever arrives.
type recentSet struct {
	keys [128]uint64
	next int
	size int
}

func (r *recentSet) contains(k uint64) bool {
	for i := range r.size {
		if r.keys[i] == k {
			return true
		}
	}
	return false
}

func (r *recentSet) add(k uint64) {
	r.keys[r.next] = k
	r.next = (r.next + 1) % len(r.keys)
	if r.size < len(r.keys) {
		r.size++
	}
}

// evictOldest makes room in a pending map, dropping the entry that started first. It
// returns how many entries it dropped.
func evictOldest[V any](m map[string]V, startOf func(V) time.Time) int {
	if len(m) < maxPendingPerSandbox {
		return 0
	}
	var oldestKey string
	var oldest time.Time
	first := true
	for k, v := range m {
		if t := startOf(v); first || t.Before(oldest) {
			oldestKey, oldest, first = k, t, false
		}
	}
	delete(m, oldestKey)
	return 1
}
