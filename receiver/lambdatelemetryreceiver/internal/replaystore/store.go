// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package replaystore keeps the receiver's replay state (which numbered batches it accepted
// from each sandbox's forwarder) in a storage extension, so that a batch resent to a
// restarted receiver is recognised and not counted twice.
//
// The state is written in checkpoints, not on every batch: one storage batch per interval
// carries every sandbox that accepted something since the last one, so the cost does not
// grow with the request rate, and a kill -9 forgets at most what was accepted since the
// last checkpoint. Shutdown writes a final checkpoint. A sandbox's state is read once, the
// first time the receiver sees the sandbox after it started: storage need not be iterable,
// and a start costs the same whatever is stored.
package replaystore // import "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/replaystore"

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/otelcol-lambda/otelcol-lambda/internal/warnlog"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/metadata"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/translator"
)

// minSweepInterval keeps a short idle timeout (tests, small setups) from walking the whole
// storage every few seconds.
const minSweepInterval = time.Minute

// Settings configure a Store.
type Settings struct {
	// Client is the storage; the Store closes it in Shutdown.
	Client    storage.Client
	Logger    *zap.Logger
	Telemetry *metadata.TelemetryBuilder
	// IdleTimeout is the receiver's sandboxes::idle_timeout: a stored state older than
	// this is of a sandbox the receiver would have forgotten by now, and is not used.
	IdleTimeout time.Duration
	// Live reports whether the receiver holds the sandbox with this instance id in memory:
	// its state there is the current one, whatever storage has.
	Live func(instanceID string) bool
	// Now is the receiver's clock; a stored state's age is measured with it.
	Now func() time.Time
}

// Store is the replay state in storage. Its methods are safe for concurrent use, and
// those taking a sandbox are no-ops on a nil Store (no storage configured).
type Store struct {
	set      Settings
	warnings *warnlog.Logger
	// warnedInvalid makes an unusable stored value logged once per process; the others
	// are only counted.
	warnedInvalid atomic.Bool

	mu sync.Mutex
	// dirty holds, by instance id, the state of each sandbox that accepted a batch since
	// the last checkpoint, copied when it did.
	dirty map[string]dirtyState
	// deletes holds the instance ids of sandboxes the receiver forgot.
	deletes map[string]struct{}

	// checkpointMu makes checkpoints one at a time (the loop, then Shutdown).
	checkpointMu sync.Mutex

	stop     chan struct{}
	loopDone sync.WaitGroup
	stopOnce sync.Once
}

type dirtyState struct {
	sandbox *translator.Sandbox // to tell the forgotten sandbox from a new one with its id
	state   translator.ReplayState
}

// New returns a Store on set.Client. Call Start to checkpoint periodically.
func New(set Settings) *Store {
	if set.Live == nil {
		set.Live = func(string) bool { return false }
	}
	return &Store{
		set:      set,
		warnings: warnlog.New(set.Logger),
		dirty:    map[string]dirtyState{},
		deletes:  map[string]struct{}{},
		stop:     make(chan struct{}),
	}
}

// Start checkpoints every interval and sweeps stale states from storage, until Shutdown.
func (s *Store) Start(interval time.Duration) {
	s.loopDone.Go(func() {
		checkpoints := time.NewTicker(interval)
		defer checkpoints.Stop()
		// The first sweep runs at once: what a previous process left behind.
		sweeps := time.NewTimer(0)
		defer sweeps.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-checkpoints.C:
				_ = s.Checkpoint(context.Background())
			case <-sweeps.C:
				_ = s.Sweep(context.Background())
				sweeps.Reset(max(s.set.IdleTimeout, minSweepInterval))
			}
		}
	})
}

// Shutdown stops the loop, writes a final checkpoint and closes the client.
func (s *Store) Shutdown(ctx context.Context) error {
	if s == nil {
		return nil
	}
	s.stopOnce.Do(func() { close(s.stop) })
	s.loopDone.Wait()
	err := s.Checkpoint(ctx)
	if err != nil {
		s.set.Logger.Error("Failed to write the final checkpoint of the replay state: batches accepted since the last checkpoint may count again if resent", zap.Error(err))
	}
	return errors.Join(err, s.set.Client.Close(ctx))
}

// Load restores the sandbox's replay state from storage the first time it is called for
// that sandbox; callers hold the sandbox's lock. A failure leaves the sandbox as it is: the
// receiver keeps taking data, it only cannot recognise what was accepted before.
func (s *Store) Load(ctx context.Context, sb *translator.Sandbox) {
	if s == nil || sb.Key() == "" || !sb.ClaimReplayLoad() {
		return
	}
	key := storageKey(sb.Key())
	value, err := s.set.Client.Get(ctx, key)
	if err != nil {
		s.set.Telemetry.ReceiverLambdaTelemetryReplayStorageErrors.Add(ctx, 1)
		s.warnings.Warn("Failed to load a sandbox's replay state from storage", zap.Error(err))
		return
	}
	if value == nil {
		return
	}
	rec, err := decode(value)
	if err != nil {
		s.unusable(ctx, key, err)
		return
	}
	if s.stale(rec) {
		return
	}
	sb.RestoreReplayState(rec.state)
	s.set.Telemetry.ReceiverLambdaTelemetryReplayStatesLoaded.Add(ctx, 1)
}

// Accepted notes that the sandbox accepted the batch with this sequence number, for the
// next checkpoint; callers hold the sandbox's lock, so the copy is consistent.
func (s *Store) Accepted(sb *translator.Sandbox, sequence uint64) {
	if s == nil || sequence == 0 || sb.Key() == "" {
		return
	}
	st := sb.ReplayState()
	s.mu.Lock()
	s.dirty[sb.Key()] = dirtyState{sandbox: sb, state: st}
	s.mu.Unlock()
}

// Forget deletes the state of a sandbox the receiver evicted, at the next checkpoint, so
// that storage holds no more than the receiver's memory does.
func (s *Store) Forget(instanceID string, sb *translator.Sandbox) {
	if s == nil || instanceID == "" {
		return
	}
	s.mu.Lock()
	if d, ok := s.dirty[instanceID]; ok && d.sandbox == sb {
		delete(s.dirty, instanceID)
	}
	s.deletes[instanceID] = struct{}{}
	s.mu.Unlock()
}

// Checkpoint writes the state of every sandbox that accepted a batch since the last
// checkpoint, and deletes that of the sandboxes forgotten since, in one storage batch. On
// failure the states are kept for the next checkpoint, bounded by the sandboxes the
// receiver holds. The deletes are not: during a long storage outage they would grow with
// every sandbox that comes and goes, and the sweep removes those states once stale.
func (s *Store) Checkpoint(ctx context.Context) error {
	s.checkpointMu.Lock()
	defer s.checkpointMu.Unlock()
	s.mu.Lock()
	dirty, deletes := s.dirty, s.deletes
	if len(dirty) == 0 && len(deletes) == 0 {
		s.mu.Unlock()
		return nil
	}
	s.dirty, s.deletes = make(map[string]dirtyState, len(dirty)), map[string]struct{}{}
	s.mu.Unlock()

	ops := make([]*storage.Operation, 0, len(dirty)+len(deletes))
	for id := range deletes {
		// A sandbox with the same id came back after it was forgotten: keep what it
		// loaded, or write what it accepted.
		if _, rewritten := dirty[id]; rewritten || s.set.Live(id) {
			continue
		}
		ops = append(ops, storage.DeleteOperation(storageKey(id)))
	}
	written := uint64(s.set.Now().Unix())
	// One buffer for all values: one allocation per checkpoint, not per sandbox.
	buf := make([]byte, 0, len(dirty)*maxEncodedLen)
	for id, d := range dirty {
		start := len(buf)
		buf = appendRecord(buf, record{written: written, state: d.state})
		ops = append(ops, storage.SetOperation(storageKey(id), buf[start:len(buf):len(buf)]))
	}
	if err := s.set.Client.Batch(ctx, ops...); err != nil {
		s.mu.Lock()
		for id, d := range dirty {
			_, newer := s.dirty[id]
			_, forgotten := s.deletes[id] // evicted while this checkpoint was written
			if !newer && !forgotten {
				s.dirty[id] = d
			}
		}
		s.mu.Unlock()
		s.set.Telemetry.ReceiverLambdaTelemetryReplayStorageErrors.Add(ctx, 1)
		s.warnings.Warn("Failed to checkpoint the replay state; retrying at the next checkpoint",
			zap.Int("sandboxes", len(dirty)), zap.Error(err))
		return err
	}
	s.set.Telemetry.ReceiverLambdaTelemetryReplayCheckpoints.Add(ctx, 1)
	return nil
}

// Sweep deletes stored states that no sandbox will load: those older than the idle
// timeout of sandboxes the receiver does not hold, and unusable ones (counted as ignored). Without it, the
// state of every sandbox that ended while the receiver was down would stay forever, since
// only a sandbox seen again is loaded and later evicted. It needs a storage that can be
// walked (file_storage can); with another, nothing is swept.
func (s *Store) Sweep(ctx context.Context) error {
	walker, ok := s.set.Client.(storage.Walker)
	if !ok {
		return nil
	}
	err := walker.Walk(ctx, func(key string, value []byte) ([]*storage.Operation, error) {
		id, plain := strings.CutPrefix(key, plainKeyPrefix)
		if !plain && !strings.HasPrefix(key, hashedKeyPrefix) {
			return nil, nil // not ours
		}
		rec, err := decode(value)
		if err != nil {
			s.unusable(ctx, key, err)
		} else if !s.stale(rec) || (plain && s.set.Live(id)) {
			return nil, nil
		}
		return []*storage.Operation{storage.DeleteOperation(key)}, nil
	})
	if err != nil {
		s.set.Telemetry.ReceiverLambdaTelemetryReplayStorageErrors.Add(ctx, 1)
		s.warnings.Warn("Failed to sweep stale replay states from storage", zap.Error(err))
	}
	return err
}

// unusable counts a stored value that cannot be used, and logs the first one.
func (s *Store) unusable(ctx context.Context, key string, err error) {
	s.set.Telemetry.ReceiverLambdaTelemetryReplayStatesIgnored.Add(ctx, 1)
	if s.warnedInvalid.CompareAndSwap(false, true) {
		s.set.Logger.Warn("Ignoring a stored replay state that cannot be used (corrupt, or of an unknown version); further ones are only counted",
			zap.String("key", key), zap.Error(err))
	}
}

// stale reports whether rec is of a sandbox idle for longer than the idle timeout, which
// the receiver would have forgotten had it kept running.
func (s *Store) stale(rec record) bool {
	return s.set.Now().Sub(time.Unix(int64(rec.written), 0)) > s.set.IdleTimeout
}
