// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-lambda/otelcol-lambda/internal/filestoragetest"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/metadata"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/metadatatest"
)

var storageID = filestoragetest.ID

// fileStorage is a real file_storage extension on dir that remembers the clients it hands
// out, so that a test can read what the receiver wrote while it runs.
type fileStorage struct {
	storage.Extension
	mu      sync.Mutex
	clients []storage.Client
}

func newFileStorage(t testing.TB, dir string) *fileStorage {
	return &fileStorage{Extension: filestoragetest.New(t, dir)}
}

func (f *fileStorage) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	c, err := f.Extension.GetClient(ctx, kind, id, name)
	if err == nil {
		f.mu.Lock()
		f.clients = append(f.clients, c)
		f.mu.Unlock()
	}
	return c, err
}

// stored reads key through the client the receiver got last.
func (f *fileStorage) stored(t *testing.T, key string) []byte {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	require.NotEmpty(t, f.clients)
	v, err := f.clients[len(f.clients)-1].Get(context.Background(), key)
	require.NoError(t, err)
	return v
}

type storageHost = filestoragetest.Host

// durableReceiver is one receiver process's worth: a traces receiver on its own config
// (so the shared-component map gives a new instance), started on host.
type durableReceiver struct {
	t        *testing.T
	r        receiver.Traces
	url      string
	traces   *consumertest.TracesSink
	stopped  bool
	settings receiver.Settings
}

func startDurable(t *testing.T, host component.Host, set receiver.Settings, mutate func(*Config)) *durableReceiver {
	t.Helper()
	// The storage file is named after the receiver's id, which the test settings make
	// random: a restarted Collector has the same id.
	set.ID = component.NewID(metadata.Type)
	factory := NewFactory()
	cfg := factory.CreateDefaultConfig().(*Config)
	cfg.HTTP.NetAddr.Endpoint = "127.0.0.1:0"
	id := storageID
	cfg.Storage = &id
	if mutate != nil {
		mutate(cfg)
	}
	d := &durableReceiver{t: t, traces: new(consumertest.TracesSink), settings: set}
	r, err := factory.CreateTraces(context.Background(), set, cfg, d.traces)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), host))
	d.r = r
	d.url = "http://" + sharedReceiver(t, cfg).addr.String()
	t.Cleanup(func() { d.stop() })
	return d
}

func (d *durableReceiver) stop() {
	if !d.stopped {
		d.stopped = true
		require.NoError(d.t, d.r.Shutdown(context.Background()))
	}
}

func (d *durableReceiver) post(b wire.Batch, body string) telemetryResponse {
	d.t.Helper()
	code, answer, _ := telemetryClient{t: d.t, url: d.url}.post(b, body)
	require.Equal(d.t, http.StatusOK, code, answer.Error)
	return answer
}

func batch(instanceID string, sequence uint64) wire.Batch {
	sb := testSandbox
	sb.ExtensionInstanceID = instanceID
	return wire.Batch{Sandbox: sb, Sequence: sequence}
}

func TestReplayStateSurvivesGracefulRestart(t *testing.T) {
	fs := newFileStorage(t, t.TempDir())
	host := storageHost{storageID: fs}
	first := startDurable(t, host, receivertest.NewNopSettings(metadata.Type), nil)
	one, two := `[`+oneInvocation("r1", "01")+`]`, `[`+oneInvocation("r2", "02")+`]`
	assert.Equal(t, 3, first.post(batch("ext-1", 1), one).Accepted)
	assert.Equal(t, 3, first.post(batch("ext-1", 2), two).Accepted)
	first.stop()

	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	second := startDurable(t, host, metadatatest.NewSettings(tt), nil)
	for seq, body := range map[uint64]string{1: one, 2: two} {
		answer := second.post(batch("ext-1", seq), body)
		assert.True(t, answer.Replayed, "batch %d, resent after the restart", seq)
		assert.Zero(t, answer.Accepted)
	}
	assert.Empty(t, second.traces.AllTraces(), "nothing counted twice")
	assert.Equal(t, 3, second.post(batch("ext-1", 3), `[`+oneInvocation("r3", "03")+`]`).Accepted, "new batches are taken")
	assert.False(t, second.post(batch("ext-2", 1), one).Replayed, "another sandbox's numbers are its own")

	metadatatest.AssertEqualReceiverLambdaTelemetryReplayStatesLoaded(t, tt,
		[]metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
	metadatatest.AssertEqualReceiverLambdaTelemetryBatchesReplayed(t, tt,
		[]metricdata.DataPoint[int64]{{Value: 2}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
	second.stop()
	metadatatest.AssertEqualReceiverLambdaTelemetryReplayCheckpoints(t, tt,
		[]metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
}

func TestNumberedOTLPSurvivesGracefulRestart(t *testing.T) {
	fs := newFileStorage(t, t.TempDir())
	host := storageHost{storageID: fs}
	body, err := ptraceotlp.NewExportRequestFromTraces(testTraces()).MarshalProto()
	require.NoError(t, err)
	send := func(d *durableReceiver) {
		req, err := http.NewRequest(http.MethodPost, d.url+tracesPath, bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", protobufContentType)
		batch("ext-1", 4).SetHeaders(req.Header)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	first := startDurable(t, host, receivertest.NewNopSettings(metadata.Type), nil)
	send(first)
	require.Len(t, first.traces.AllTraces(), 1)
	first.stop()

	second := startDurable(t, host, receivertest.NewNopSettings(metadata.Type), nil)
	send(second)
	assert.Empty(t, second.traces.AllTraces(), "the resent request is acknowledged, not consumed")
}

// copyStorage copies the files of a storage directory as they are now: what a killed
// process leaves on disk (file_storage commits each write to the file before it returns).
func copyStorage(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	entries, err := os.ReadDir(from)
	require.NoError(t, err)
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(to, e.Name()), data, 0o600))
	}
	return to
}

func TestReplayStateIsCheckpointedWhileRunning(t *testing.T) {
	dir := t.TempDir()
	fs := newFileStorage(t, dir)
	running := startDurable(t, storageHost{storageID: fs}, receivertest.NewNopSettings(metadata.Type),
		func(cfg *Config) { cfg.CheckpointInterval = 20 * time.Millisecond })
	body := `[` + oneInvocation("r1", "01") + `]`
	require.Equal(t, 3, running.post(batch("ext-1", 1), body).Accepted)

	// No Shutdown: the checkpoint loop alone writes the state, within an interval (the
	// deadline only bounds a broken run).
	require.Eventually(t, func() bool { return fs.stored(t, "r/ext-1") != nil }, 10*time.Second, 10*time.Millisecond)
	killed := copyStorage(t, dir)

	restarted := startDurable(t, storageHost{storageID: newFileStorage(t, killed)}, receivertest.NewNopSettings(metadata.Type), nil)
	assert.True(t, restarted.post(batch("ext-1", 1), body).Replayed)
	assert.Empty(t, restarted.traces.AllTraces())
}

// TestKillForgetsWhatTheIntervalHadNotWritten is the other side of the bound: a batch
// accepted since the last checkpoint is not in storage when the process dies, and its
// resend counts again.
func TestKillForgetsWhatTheIntervalHadNotWritten(t *testing.T) {
	dir := t.TempDir()
	running := startDurable(t, storageHost{storageID: newFileStorage(t, dir)}, receivertest.NewNopSettings(metadata.Type),
		func(cfg *Config) { cfg.CheckpointInterval = time.Hour })
	body := `[` + oneInvocation("r1", "01") + `]`
	require.Equal(t, 3, running.post(batch("ext-1", 1), body).Accepted)
	killed := copyStorage(t, dir)

	restarted := startDurable(t, storageHost{storageID: newFileStorage(t, killed)}, receivertest.NewNopSettings(metadata.Type), nil)
	assert.Equal(t, 3, restarted.post(batch("ext-1", 1), body).Accepted)
}

func TestCorruptStoredStateIsIgnored(t *testing.T) {
	fs := newFileStorage(t, t.TempDir())
	// What an older or broken writer left under the receiver's key.
	client, err := fs.GetClient(context.Background(), component.KindReceiver, component.NewID(metadata.Type), "")
	require.NoError(t, err)
	require.NoError(t, client.Set(context.Background(), "r/ext-1", []byte("not a replay state")))
	require.NoError(t, client.Set(context.Background(), "r/ext-2", []byte{0x7f, 1, 2}))
	require.NoError(t, client.Close(context.Background()))

	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	core, logs := observer.New(zap.WarnLevel)
	set := metadatatest.NewSettings(tt)
	set.Logger = zap.New(core)
	d := startDurable(t, storageHost{storageID: fs}, set, nil)
	// The sweep at start finds them first (a sandbox's first batch would otherwise): the
	// start does not fail, and they are counted, logged once and deleted.
	require.Eventually(t, func() bool { return fs.stored(t, "r/ext-1") == nil && fs.stored(t, "r/ext-2") == nil },
		10*time.Second, 10*time.Millisecond)
	assert.Equal(t, 1, logs.FilterMessageSnippet("Ignoring a stored replay state").Len(), "logged once")
	metadatatest.AssertEqualReceiverLambdaTelemetryReplayStatesIgnored(t, tt,
		[]metricdata.DataPoint[int64]{{Value: 2}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
	assert.Equal(t, 3, d.post(batch("ext-1", 1), `[`+oneInvocation("r1", "01")+`]`).Accepted)

	d.stop()
	again := startDurable(t, storageHost{storageID: fs}, receivertest.NewNopSettings(metadata.Type), nil)
	assert.True(t, again.post(batch("ext-1", 1), `[`+oneInvocation("r1", "01")+`]`).Replayed)
}

func TestEvictedSandboxStateIsDeleted(t *testing.T) {
	fs := newFileStorage(t, t.TempDir())
	host := storageHost{storageID: fs}
	oneSandbox := func(cfg *Config) { cfg.Sandboxes.MaxSandboxes = 1 }
	d := startDurable(t, host, receivertest.NewNopSettings(metadata.Type), oneSandbox)
	d.post(batch("ext-1", 1), `[`+oneInvocation("r1", "01")+`]`)
	d.post(batch("ext-2", 1), `[`+oneInvocation("r2", "02")+`]`) // evicts ext-1
	d.stop()

	again := startDurable(t, host, receivertest.NewNopSettings(metadata.Type), nil)
	assert.Nil(t, fs.stored(t, "r/ext-1"), "the evicted sandbox's state is gone from storage")
	assert.NotNil(t, fs.stored(t, "r/ext-2"))
	assert.True(t, again.post(batch("ext-2", 1), `[`+oneInvocation("r2", "02")+`]`).Replayed)
	assert.False(t, again.post(batch("ext-1", 1), `[`+oneInvocation("r1", "01")+`]`).Replayed,
		"forgotten as the running receiver had forgotten it")
}

type notStorage struct{ extension.Extension }

func TestStartFailsWithoutTheStorageExtension(t *testing.T) {
	tests := []struct {
		name    string
		host    component.Host
		wantErr string
	}{
		{name: "missing", host: storageHost{}, wantErr: `storage: extension "file_storage" not found`},
		{name: "not storage", host: storageHost{storageID: notStorage{}}, wantErr: `storage: extension "file_storage" is not a storage extension`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			factory := NewFactory()
			cfg := factory.CreateDefaultConfig().(*Config)
			cfg.HTTP.NetAddr.Endpoint = "127.0.0.1:0"
			id := storageID
			cfg.Storage = &id
			r, err := factory.CreateTraces(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, new(consumertest.TracesSink))
			require.NoError(t, err)
			assert.ErrorContains(t, r.Start(context.Background(), tt.host), tt.wantErr)
			require.NoError(t, r.Shutdown(context.Background()))
		})
	}
}
