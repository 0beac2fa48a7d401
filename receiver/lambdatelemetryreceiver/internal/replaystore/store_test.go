// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package replaystore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/metadata"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/translator"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// memClient is a storage client over a map that can be told to fail, and walked.
type memClient struct {
	mu      sync.Mutex
	data    map[string][]byte
	batches int
	fail    error
	closed  bool
}

func newMemClient() *memClient { return &memClient{data: map[string][]byte{}} }

func (c *memClient) Get(ctx context.Context, key string) ([]byte, error) {
	op := storage.GetOperation(key)
	err := c.Batch(ctx, op)
	return op.Value, err
}

func (c *memClient) Set(ctx context.Context, key string, value []byte) error {
	return c.Batch(ctx, storage.SetOperation(key, value))
}

func (c *memClient) Delete(ctx context.Context, key string) error {
	return c.Batch(ctx, storage.DeleteOperation(key))
}

func (c *memClient) Batch(_ context.Context, ops ...*storage.Operation) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return c.fail
	}
	c.apply(ops)
	for _, op := range ops {
		if op.Type != storage.Get {
			c.batches++
			break
		}
	}
	return nil
}

func (c *memClient) apply(ops []*storage.Operation) {
	for _, op := range ops {
		switch op.Type {
		case storage.Get:
			op.Value = c.data[op.Key]
		case storage.Set:
			c.data[op.Key] = append([]byte(nil), op.Value...)
		case storage.Delete:
			delete(c.data, op.Key)
		}
	}
}

func (c *memClient) Walk(_ context.Context, fn storage.WalkFunc) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ops []*storage.Operation
	for k, v := range c.data {
		more, err := fn(k, v)
		if err != nil {
			return err
		}
		ops = append(ops, more...)
	}
	c.apply(ops)
	return nil
}

func (c *memClient) Close(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

// snapshot is what the storage holds now: what a killed process leaves behind.
func (c *memClient) snapshot() *memClient {
	c.mu.Lock()
	defer c.mu.Unlock()
	return &memClient{data: maps.Clone(c.data)}
}

func (c *memClient) keys() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return sortedKeys(c.data)
}

func sortedKeys(m map[string][]byte) []string { return slices.Sorted(maps.Keys(m)) }

type fixture struct {
	store  *Store
	client *memClient
	tel    *componenttest.Telemetry
	logs   *observer.ObservedLogs
	now    time.Time
	live   map[string]bool
}

func newFixture(t *testing.T, client *memClient) *fixture {
	t.Helper()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	tb, err := metadata.NewTelemetryBuilder(tel.NewTelemetrySettings())
	require.NoError(t, err)
	core, logs := observer.New(zap.WarnLevel)
	f := &fixture{client: client, tel: tel, logs: logs, now: time.Unix(1_700_000_000, 0), live: map[string]bool{}}
	f.store = New(Settings{
		Client:      client,
		Logger:      zap.New(core),
		Telemetry:   tb,
		IdleTimeout: time.Hour,
		Live:        func(id string) bool { return f.live[id] },
		Now:         func() time.Time { return f.now },
	})
	return f
}

// accept takes the batches into sb as the receiver does: lock, load, accept, note.
func (f *fixture) accept(sb *translator.Sandbox, sequences ...uint64) {
	sb.Lock()
	defer sb.Unlock()
	f.store.Load(context.Background(), sb)
	for _, s := range sequences {
		sb.Accepted(s)
		f.store.Accepted(sb, s)
	}
}

// loaded is a new sandbox with the instance id, as a restarted receiver first sees it.
func (f *fixture) loaded(id string) *translator.Sandbox {
	sb := translator.NewSandbox(id)
	sb.Lock()
	f.store.Load(context.Background(), sb)
	sb.Unlock()
	return sb
}

func (f *fixture) counter(t *testing.T, name string) int64 {
	t.Helper()
	m, err := f.tel.GetMetric("otelcol_" + name)
	if err != nil {
		return 0 // never recorded
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "%s is an int sum", name)
	var total int64
	for _, dp := range sum.DataPoints {
		total += dp.Value
	}
	return total
}

func TestCheckpointThenRestartRecognisesResends(t *testing.T) {
	f := newFixture(t, newMemClient())
	a, b := translator.NewSandbox("ext-a"), translator.NewSandbox("ext-b")
	f.accept(a, 1, 2, 3)
	f.accept(b, 7)
	require.NoError(t, f.store.Checkpoint(context.Background()))
	assert.Equal(t, []string{"r/ext-a", "r/ext-b"}, f.client.keys())
	assert.Equal(t, 1, f.client.batches, "one storage batch per checkpoint")
	assert.Equal(t, int64(1), f.counter(t, "receiver_lambda_telemetry_replay_checkpoints"))

	require.NoError(t, f.store.Checkpoint(context.Background()))
	assert.Equal(t, 1, f.client.batches, "nothing new, nothing written")

	// A new process on what the first one left (a kill: no Shutdown).
	g := newFixture(t, f.client.snapshot())
	ra, rb := g.loaded("ext-a"), g.loaded("ext-b")
	for _, s := range []uint64{1, 2, 3} {
		assert.True(t, ra.Replayed(s), "ext-a %d", s)
	}
	assert.False(t, ra.Replayed(4))
	assert.True(t, rb.Replayed(7))
	assert.False(t, rb.Replayed(6), "a number below the highest that was never accepted is new")
	assert.False(t, g.loaded("ext-c").Replayed(1), "a sandbox never stored starts empty")
	assert.Equal(t, int64(2), g.counter(t, "receiver_lambda_telemetry_replay_states_loaded"))
}

func TestLoadOncePerSandbox(t *testing.T) {
	f := newFixture(t, newMemClient())
	f.accept(translator.NewSandbox("ext-a"), 5)
	require.NoError(t, f.store.Checkpoint(context.Background()))

	sb := translator.NewSandbox("ext-a")
	f.accept(sb, 6)
	require.NoError(t, f.store.Checkpoint(context.Background()))
	f.accept(sb) // loads nothing again: storage now holds 6, the sandbox knows it already
	assert.True(t, sb.Replayed(5))
	assert.True(t, sb.Replayed(6))
	assert.Equal(t, int64(1), f.counter(t, "receiver_lambda_telemetry_replay_states_loaded"))
}

func TestFailedCheckpointIsRetried(t *testing.T) {
	client := newMemClient()
	f := newFixture(t, client)
	f.accept(translator.NewSandbox("ext-a"), 1)
	client.fail = errors.New("disk full")
	assert.Error(t, f.store.Checkpoint(context.Background()))
	assert.Empty(t, client.keys())
	assert.Equal(t, int64(1), f.counter(t, "receiver_lambda_telemetry_replay_storage_errors"))

	client.fail = nil
	require.NoError(t, f.store.Checkpoint(context.Background()))
	assert.Equal(t, []string{"r/ext-a"}, client.keys(), "the next checkpoint writes what the failed one could not")
}

func TestForgottenSandboxIsDeleted(t *testing.T) {
	client := newMemClient()
	f := newFixture(t, client)
	a, b, c := translator.NewSandbox("ext-a"), translator.NewSandbox("ext-b"), translator.NewSandbox("ext-c")
	f.accept(a, 1)
	f.accept(b, 1)
	f.accept(c, 1)
	require.NoError(t, f.store.Checkpoint(context.Background()))

	f.store.Forget("ext-a", a)
	// ext-b is evicted and comes straight back (a new sandbox object with its id): its
	// state is kept for it.
	f.store.Forget("ext-b", b)
	f.live["ext-b"] = true
	// ext-c is evicted after accepting more, and a new ext-c accepts before the checkpoint.
	f.accept(c, 2)
	f.store.Forget("ext-c", c)
	c2 := translator.NewSandbox("ext-c")
	f.accept(c2, 9)
	require.NoError(t, f.store.Checkpoint(context.Background()))
	assert.Equal(t, []string{"r/ext-b", "r/ext-c"}, client.keys())

	g := newFixture(t, client.snapshot())
	rc := g.loaded("ext-c")
	assert.True(t, rc.Replayed(9), "the new ext-c's state is what was written")
	assert.True(t, rc.Replayed(1), "the new ext-c loaded the old one's state first")
	assert.False(t, rc.Replayed(2), "the evicted ext-c's last batch went with it, as in memory")
}

func TestUnusableStoredStateIsIgnored(t *testing.T) {
	valid := appendRecord(nil, record{written: 1_700_000_000, state: translator.ReplayState{Highest: 3, Below: [2]uint64{3}}})
	tests := []struct {
		name  string
		value []byte
	}{
		{name: "empty", value: []byte{}},
		{name: "unknown version", value: append([]byte{2}, valid[1:]...)},
		{name: "truncated", value: valid[:len(valid)-1]},
		{name: "trailing bytes", value: append(append([]byte(nil), valid...), 0)},
		{name: "bad varint", value: []byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{name: "time out of range", value: append([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, valid[6:]...)},
		{name: "text", value: []byte(`{"highest":3}`)},
	}
	client := newMemClient()
	for _, tt := range tests {
		client.data[storageKey(tt.name)] = tt.value
	}
	f := newFixture(t, client)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decode(tt.value)
			require.Error(t, err)
			sb := f.loaded(tt.name)
			assert.False(t, sb.Replayed(1), "nothing is restored")
		})
	}
	assert.Equal(t, int64(len(tests)), f.counter(t, "receiver_lambda_telemetry_replay_states_ignored"))
	assert.Equal(t, 1, f.logs.FilterMessageSnippet("Ignoring a stored replay state").Len(), "logged once, then only counted")

	// The store keeps working: the sandbox takes batches, and they are checkpointed.
	sb := translator.NewSandbox("unknown version")
	f.accept(sb, 1)
	require.NoError(t, f.store.Checkpoint(context.Background()))
	_, err := decode(client.data[storageKey("unknown version")])
	assert.NoError(t, err, "the unusable value is replaced")
}

func TestStaleStateIsNotLoaded(t *testing.T) {
	client := newMemClient()
	f := newFixture(t, client)
	f.accept(translator.NewSandbox("ext-a"), 1)
	require.NoError(t, f.store.Checkpoint(context.Background()))

	g := newFixture(t, client.snapshot())
	g.now = f.now.Add(time.Hour + time.Second)
	assert.False(t, g.loaded("ext-a").Replayed(1), "a sandbox idle past idle_timeout is forgotten, as the cache forgets it")
	h := newFixture(t, client.snapshot())
	h.now = f.now.Add(time.Hour)
	assert.True(t, h.loaded("ext-a").Replayed(1))
}

func TestLongInstanceIDIsHashed(t *testing.T) {
	client := newMemClient()
	f := newFixture(t, client)
	long := strings.Repeat("x", 40_000)
	f.accept(translator.NewSandbox(long), 1)
	require.NoError(t, f.store.Checkpoint(context.Background()))
	keys := client.keys()
	require.Len(t, keys, 1)
	assert.True(t, strings.HasPrefix(keys[0], hashedKeyPrefix))
	assert.Len(t, keys[0], len(hashedKeyPrefix)+64)
	assert.True(t, newFixture(t, client.snapshot()).loaded(long).Replayed(1))
}

func TestSweepDeletesWhatNoSandboxWillLoad(t *testing.T) {
	client := newMemClient()
	f := newFixture(t, client)
	for _, id := range []string{"old-gone", "old-live", "fresh", strings.Repeat("h", 300)} {
		f.accept(translator.NewSandbox(id), 1)
	}
	require.NoError(t, f.store.Checkpoint(context.Background()))
	client.data[storageKey("corrupt")] = []byte{9}
	client.data["someone-elses"] = []byte{9}
	f.now = f.now.Add(50 * time.Minute)
	f.accept(translator.NewSandbox("fresh"), 2)
	require.NoError(t, f.store.Checkpoint(context.Background()))

	f.now = f.now.Add(20 * time.Minute) // 70 min after the first checkpoint, 20 after the second
	f.live["old-live"] = true
	require.NoError(t, f.store.Sweep(context.Background()))
	assert.Equal(t, []string{"r/fresh", "r/old-live", "someone-elses"}, client.keys())
}

func TestLoopCheckpointsWithoutShutdown(t *testing.T) {
	client := newMemClient()
	f := newFixture(t, client)
	f.store.Start(10 * time.Millisecond)
	f.accept(translator.NewSandbox("ext-a"), 1)
	// No Shutdown yet: the loop alone must write it.
	require.Eventually(t, func() bool { return len(client.keys()) == 1 }, 10*time.Second, 5*time.Millisecond)
	kill := client.snapshot()
	assert.True(t, newFixture(t, kill).loaded("ext-a").Replayed(1))

	f.accept(translator.NewSandbox("ext-b"), 1)
	require.NoError(t, f.store.Shutdown(context.Background()))
	assert.Contains(t, client.keys(), "r/ext-b", "the final checkpoint")
	assert.True(t, client.closed)
}

func TestShutdownWithoutStart(t *testing.T) {
	client := newMemClient()
	f := newFixture(t, client)
	f.accept(translator.NewSandbox("ext-a"), 1)
	require.NoError(t, f.store.Shutdown(context.Background()))
	assert.Equal(t, []string{"r/ext-a"}, client.keys())
	var nilStore *Store
	assert.NoError(t, nilStore.Shutdown(context.Background()))
	nilStore.Load(context.Background(), translator.NewSandbox("x"))
	nilStore.Accepted(translator.NewSandbox("x"), 1)
	nilStore.Forget("x", nil)
}

func TestRecordEncoding(t *testing.T) {
	for _, r := range []record{
		{},
		{written: 1_700_000_000, state: translator.ReplayState{Highest: 1}},
		{written: 1 << 62, state: translator.ReplayState{Highest: ^uint64(0), Below: [2]uint64{^uint64(0), 1 << 62}}},
	} {
		data := appendRecord(nil, r)
		assert.LessOrEqual(t, len(data), maxEncodedLen)
		got, err := decode(data)
		require.NoError(t, err)
		assert.Equal(t, r, got)
	}
	typical := appendRecord(nil, record{written: 1_700_000_000, state: translator.ReplayState{Highest: 5000, Below: [2]uint64{^uint64(0), ^uint64(0) >> 1}}})
	assert.Len(t, typical, 24, "compact: version, time, highest, window")
}

// BenchmarkAccepted is the per-batch cost storage adds to the receiver's hot path: a copy of
// the replay state into the dirty set, nothing written.
func BenchmarkAccepted(b *testing.B) {
	tel := componenttest.NewTelemetry()
	defer func() { _ = tel.Shutdown(context.Background()) }()
	tb, err := metadata.NewTelemetryBuilder(tel.NewTelemetrySettings())
	require.NoError(b, err)
	store := New(Settings{Client: newMemClient(), Logger: zap.NewNop(), Telemetry: tb, IdleTimeout: time.Hour, Now: time.Now})
	sandboxes := make([]*translator.Sandbox, 64)
	for i := range sandboxes {
		sandboxes[i] = translator.NewSandbox(fmt.Sprintf("ext-%d", i))
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sb := sandboxes[i%len(sandboxes)]
		seq := uint64(i/len(sandboxes) + 1)
		sb.Lock()
		sb.Accepted(seq)
		store.Accepted(sb, seq)
		sb.Unlock()
	}
}
