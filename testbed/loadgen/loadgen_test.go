// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
)

var testMix = Mix{ColdStart: 0.05, Error: 0.1, Timeout: 0.05, OOM: 0.03, Retry: 0.5}

func generate(t *testing.T) *Fleet {
	t.Helper()
	f, err := Generate(Config{Prefix: "t", Functions: 4, Sandboxes: 3, Invocations: 2000, PerBatch: 20, Mix: testMix, Seed: 7,
		Start: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
	require.NoError(t, err)
	return f
}

// recount decodes the batches as the gateway would count them.
func recount(t *testing.T, f *Fleet) map[string]*Truth {
	t.Helper()
	out := map[string]*Truth{}
	seen := map[string]bool{}
	lastSeq := map[string]uint64{}
	for _, b := range f.Batches {
		tr := out[b.Function]
		if tr == nil {
			tr = &Truth{Errors: map[string]int{}}
			out[b.Function] = tr
		}
		inst := b.Header.Get(wire.HeaderExtensionInstanceID)
		seq, err := strconv.ParseUint(b.Header.Get(wire.HeaderBatchSequence), 10, 64)
		require.NoError(t, err)
		require.Equal(t, lastSeq[inst]+1, seq, "sequence of %s", inst)
		lastSeq[inst] = seq
		marked := map[int]bool{}
		if m := b.Header.Get(wire.HeaderReportsWithoutRuntimeDone); m != "" {
			for _, s := range strings.Split(m, ",") {
				i, err := strconv.Atoi(s)
				require.NoError(t, err)
				marked[i] = true
			}
		}
		events, err := telemetryapi.DecodeEvents(b.Body)
		require.NoError(t, err)
		invocations, cold := 0, false
		for i, e := range events {
			rec, err := e.DecodeRecord()
			require.NoError(t, err)
			count := func(id, status, errorType string) {
				invocations++
				tr.Invocations++
				if seen[id] {
					tr.Retries++
				}
				seen[id] = true
				if cold {
					tr.ColdStarts++
					cold = false
				}
				if et := lambdaconv.ErrorType(status, errorType); et != "" {
					tr.Errors[et]++
				}
				if status == telemetryapi.StatusTimeout {
					tr.Timeouts++
				}
			}
			switch r := rec.(type) {
			case *telemetryapi.PlatformInitStart:
				cold = true
			case *telemetryapi.PlatformRuntimeDone:
				require.False(t, marked[i])
				count(r.RequestID, r.Status, r.ErrorType)
			case *telemetryapi.PlatformReport:
				if marked[i] {
					assert.Equal(t, "Runtime.OutOfMemory", r.ErrorType)
					tr.OOMs++
					count(r.RequestID, r.Status, r.ErrorType)
				}
			}
		}
		require.Equal(t, b.Invocations, invocations)
	}
	return out
}

func TestGenerateGroundTruth(t *testing.T) {
	f := generate(t)
	total := f.Total()
	require.Equal(t, 2000, total.Invocations)
	assert.Positive(t, total.OOMs, "marked OOM reports")
	assert.Positive(t, total.Retries, "retries reusing request ids")
	assert.Positive(t, total.Timeouts)
	assert.GreaterOrEqual(t, total.ColdStarts, 12, "every slot starts cold")
	for _, et := range []string{lambdaconv.ErrorTypeFunction, lambdaconv.ErrorTypeRuntimeExit, lambdaconv.ErrorTypeUnhandled,
		lambdaconv.ErrorTypeExtension, lambdaconv.ErrorTypeTimeout, lambdaconv.ErrorTypeOutOfMemory} {
		assert.Positive(t, total.Errors[et], et)
	}
	assert.Equal(t, total.Timeouts, total.Errors[lambdaconv.ErrorTypeTimeout])
	assert.Equal(t, total.OOMs, total.Errors[lambdaconv.ErrorTypeOutOfMemory])

	got := recount(t, f)
	require.Len(t, got, 4)
	for fn, want := range f.Truth {
		assert.Equal(t, want, got[fn], fn)
	}
}

func TestGenerateRetriesAreLater(t *testing.T) {
	f := generate(t)
	starts := map[string][]time.Time{}
	for _, b := range f.Batches {
		events, err := telemetryapi.DecodeEvents(b.Body)
		require.NoError(t, err)
		for _, e := range events {
			if e.Type == telemetryapi.TypePlatformStart {
				rec, err := e.DecodeRecord()
				require.NoError(t, err)
				id := rec.(*telemetryapi.PlatformStart).RequestID
				starts[id] = append(starts[id], e.Time)
			}
		}
	}
	retried := 0
	for id, ts := range starts {
		if len(ts) < 2 {
			continue
		}
		retried++
		for i := 1; i < len(ts); i++ {
			// Batches are not in time order across sandboxes, so compare as a set.
			assert.NotEqual(t, ts[0], ts[i], id)
		}
	}
	assert.Positive(t, retried)
}

func TestGenerateDeterministic(t *testing.T) {
	a, b := generate(t), generate(t)
	require.Equal(t, len(a.Batches), len(b.Batches))
	for i := range a.Batches {
		require.Equal(t, a.Batches[i].Body, b.Batches[i].Body)
		require.Equal(t, a.Batches[i].Header, b.Batches[i].Header)
	}
}

// flaky answers 503 or 429 to every other first attempt and 200 otherwise, and records
// what it acknowledged.
type flaky struct {
	mu       sync.Mutex
	attempts map[string]int
	acked    map[string]int
	order    map[string][]uint64
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get(wire.HeaderExtensionInstanceID) + "/" + r.Header.Get(wire.HeaderBatchSequence)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts[key]++
	if n := f.attempts[key]; n <= 2 && len(f.attempts)%2 == 0 {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		} else {
			w.WriteHeader(http.StatusTooManyRequests)
		}
		return
	}
	f.acked[key]++
	inst := r.Header.Get(wire.HeaderExtensionInstanceID)
	seq, _ := strconv.ParseUint(r.Header.Get(wire.HeaderBatchSequence), 10, 64)
	f.order[inst] = append(f.order[inst], seq)
	_, _ = w.Write([]byte(`{"accepted":1}`))
}

func TestSendRetriesAndNeverDrops(t *testing.T) {
	f := generate(t)
	h := &flaky{attempts: map[string]int{}, acked: map[string]int{}, order: map[string][]uint64{}}
	srv := httptest.NewServer(h)
	defer srv.Close()

	st, err := Send(context.Background(), SendConfig{URL: srv.URL, Workers: 4, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}, f.Batches)
	require.NoError(t, err)
	n := int64(len(f.Batches))
	assert.Equal(t, n, st.Generated)
	assert.Equal(t, n, st.Sent)
	assert.Equal(t, n, st.Acknowledged)
	assert.Positive(t, st.Retried)
	assert.Equal(t, st.Sent+st.Retried, st.Attempts)
	assert.Equal(t, int64(2000), st.AcknowledgedInvocations)
	h.mu.Lock()
	defer h.mu.Unlock()
	assert.Len(t, h.acked, len(f.Batches))
	for k, c := range h.acked {
		assert.Equal(t, 1, c, k)
	}
	for inst, seqs := range h.order {
		for i, s := range seqs {
			assert.Equal(t, uint64(i+1), s, "a sandbox's batches arrive in order: %s", inst)
		}
	}
}

func TestSendReportsWhatItCouldNotDeliver(t *testing.T) {
	f := generate(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	st, err := Send(context.Background(), SendConfig{URL: srv.URL, Workers: 2, Timeout: 300 * time.Millisecond,
		MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}, f.Batches)
	require.Error(t, err)
	assert.Equal(t, int64(len(f.Batches)), st.Unacknowledged())
	assert.Positive(t, st.Retried)
}

func TestSendRate(t *testing.T) {
	f, err := Generate(Config{Prefix: "r", Functions: 2, Sandboxes: 2, Invocations: 200, PerBatch: 10, Seed: 1})
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"accepted":1}`))
	}))
	defer srv.Close()
	st, err := Send(context.Background(), SendConfig{URL: srv.URL, Workers: 4, Rate: 1000}, f.Batches)
	require.NoError(t, err)
	// 200 invocations at 1000/s: the last batch leaves after about 190 ms.
	assert.GreaterOrEqual(t, st.Duration, 150*time.Millisecond)
	assert.Equal(t, int64(200), st.AcknowledgedInvocations)
}
