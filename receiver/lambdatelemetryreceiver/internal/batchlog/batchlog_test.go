// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package batchlog

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/goleak"

	"github.com/otelcol-lambda/otelcol-lambda/internal/filestoragetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// openClient returns a real file_storage client on dir: what the gateway uses.
func openClient(t *testing.T, dir string) storage.Client {
	t.Helper()
	client, err := filestoragetest.New(t, dir).GetClient(context.Background(), component.KindReceiver, component.MustNewID("lambda_telemetry"), "write_ahead_log")
	require.NoError(t, err)
	return client
}

// open opens the log in dir; without a clock in set, at a fixed time.
func open(t *testing.T, dir string, set Settings) (*Log, []Record) {
	t.Helper()
	set.Client = openClient(t, dir)
	if set.Now == nil {
		set.Now = func() time.Time { return time.Unix(1_700_000_000, 0) }
	}
	l, records, err := Open(context.Background(), set)
	require.NoError(t, err)
	t.Cleanup(l.Close)
	return l, records
}

func header(pairs ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(pairs); i += 2 {
		h.Set(pairs[i], pairs[i+1])
	}
	return h
}

func TestAppendAcknowledgeReopen(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// acks are acknowledged before the log is reopened, by batch index.
		acks       map[int][]string
		wantIDs    []int // indexes of the batches replayed
		wantAcked  map[int][]string
		earlyAcks  bool // the acknowledgement comes before Expect
		wantLength int
	}{
		{name: "nothing acknowledged", wantIDs: []int{0, 1}, wantAcked: map[int][]string{}, wantLength: 2},
		{name: "one batch whole", acks: map[int][]string{0: {"0 invocation", "2 report"}}, wantIDs: []int{1}, wantAcked: map[int][]string{}, wantLength: 1},
		{name: "part of one", acks: map[int][]string{1: {"0 invocation"}}, wantIDs: []int{0, 1}, wantAcked: map[int][]string{1: {"0 invocation"}}, wantLength: 2},
		{name: "unknown keys change nothing", acks: map[int][]string{0: {"9 init"}}, wantIDs: []int{0, 1}, wantAcked: map[int][]string{}, wantLength: 2},
		{name: "before Expect", acks: map[int][]string{0: {"0 invocation", "2 report"}}, earlyAcks: true, wantIDs: []int{1}, wantAcked: map[int][]string{}, wantLength: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l, records := open(t, dir, Settings{Headers: []string{"Lambda-Function-Name", "Lambda-Region"}})
			require.Empty(t, records)
			bodies := []string{`[{"a":1}]`, `[{"b":2}]`}
			ids := make([]uint64, len(bodies))
			for i, body := range bodies {
				id, err := l.Append(ctx, header("Lambda-Function-Name", "orders", "Authorization", "secret", "Lambda-Pad", "x"), []byte(body),
					[]string{"0 invocation", "2 report"})
				require.NoError(t, err)
				ids[i] = id
				if tt.earlyAcks {
					l.Acknowledge(map[uint64][]string{id: tt.acks[i]})
				}
				l.Expect(ctx, id, []string{"0 invocation", "2 report"})
			}
			if !tt.earlyAcks {
				for i, keys := range tt.acks {
					l.Acknowledge(map[uint64][]string{ids[i]: keys})
				}
			}
			n, _ := l.Len()
			assert.Equal(t, tt.wantLength, n)
			l.Close()

			_, records = open(t, dir, Settings{})
			require.Len(t, records, len(tt.wantIDs))
			for k, i := range tt.wantIDs {
				rec := records[k]
				assert.Equal(t, ids[i], rec.ID, "oldest first")
				assert.Equal(t, bodies[i], string(rec.Body))
				assert.Equal(t, "orders", rec.Header.Get("Lambda-Function-Name"))
				assert.Equal(t, http.Header{"Lambda-Function-Name": {"orders"}}, rec.Header, "only the batch's own headers are kept")
				assert.Equal(t, map[string]struct{}{"0 invocation": {}, "2 report": {}}, rec.Expected)
				var acked []string
				for k := range rec.Acked {
					acked = append(acked, k)
				}
				assert.ElementsMatch(t, tt.wantAcked[i], acked)
			}
		})
	}
}

func TestIDsContinueAfterReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, _ := open(t, dir, Settings{})
	first, err := l.Append(ctx, nil, []byte("[]"), nil)
	require.NoError(t, err)
	l.Close()
	l, records := open(t, dir, Settings{})
	require.Len(t, records, 1)
	next, err := l.Append(ctx, nil, []byte("[]"), nil)
	require.NoError(t, err)
	assert.Greater(t, next, first, "a new batch never takes a logged batch's id")
}

func TestFullAndDiscard(t *testing.T) {
	ctx := context.Background()
	l, _ := open(t, t.TempDir(), Settings{MaxBytes: 40})
	id, err := l.Append(ctx, nil, make([]byte, 20), nil)
	require.NoError(t, err)
	_, err = l.Append(ctx, nil, make([]byte, 20), nil)
	require.ErrorIs(t, err, ErrFull)
	l.Discard(ctx, id)
	_, err = l.Append(ctx, nil, make([]byte, 20), nil)
	require.NoError(t, err, "discarding made room")
	_, err = l.Append(ctx, nil, nil, []string{strings.Repeat("k", 40)})
	require.ErrorIs(t, err, ErrFull, "the limit counts the whole record, not only the body")
}

func TestExpire(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1000, 0)
	dir := t.TempDir()
	l, _ := open(t, dir, Settings{Now: func() time.Time { return now }})
	old, err := l.Append(ctx, nil, []byte("[1]"), nil)
	require.NoError(t, err)
	l.Expect(ctx, old, []string{"0 invocation"})
	now = now.Add(time.Minute)
	young, err := l.Append(ctx, nil, []byte("[2]"), nil)
	require.NoError(t, err)
	l.Expect(ctx, young, []string{"0 invocation"})
	assert.Equal(t, 1, l.Expire(ctx, now.Add(-30*time.Second)))
	l.Close()
	_, records := open(t, dir, Settings{})
	require.Len(t, records, 1)
	assert.Equal(t, young, records[0].ID)
}

func TestCorruptRecordsAreDropped(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	client := openClient(t, dir)
	require.NoError(t, client.Set(ctx, batchKey(3), []byte{99, 1, 2}))
	require.NoError(t, client.Set(ctx, "b/not-hex", []byte{encodingVersion}))
	require.NoError(t, client.Set(ctx, ackKey(5), []byte("0 invocation"))) // of no batch
	good := encodeBatch(time.Unix(1, 0), header("Lambda-Region", "eu-west-1"), []string{"Lambda-Region"}, []byte("[]"), []string{"0 report"})
	require.NoError(t, client.Set(ctx, batchKey(4), good))
	for cut := 1; cut < len(good)-2; cut++ {
		_, err := decodeBatch(4, good[:cut])
		assert.Error(t, err, "a record cut at %d bytes", cut)
	}
	l, records, err := Open(ctx, Settings{Client: client})
	require.NoError(t, err)
	require.Len(t, records, 1)
	assert.Equal(t, uint64(4), records[0].ID)
	for _, key := range []string{batchKey(3), "b/not-hex", ackKey(5)} {
		v, err := client.Get(ctx, key)
		require.NoError(t, err)
		assert.Nil(t, v, "%s is deleted", key)
	}
	l.Close()
}

// A storage that cannot be walked could not be read back: refused at start.
func TestOpenNeedsAWalker(t *testing.T) {
	_, _, err := Open(context.Background(), Settings{Client: storage.NewNopClient()})
	assert.ErrorContains(t, err, "cannot be walked")
}
