// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package harness

import (
	"bytes"
	"math"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/rwsink"
)

// writeRequest is a remote-write v1 request of one sample of faas_invocations_total.
func writeRequest(value float64, tsMs int64) []byte {
	var lb, ts, req []byte
	lb = protowire.AppendTag(lb, 1, protowire.BytesType)
	lb = protowire.AppendString(lb, "__name__")
	lb = protowire.AppendTag(lb, 2, protowire.BytesType)
	lb = protowire.AppendString(lb, "faas_invocations_total")
	ts = protowire.AppendTag(ts, 1, protowire.BytesType)
	ts = protowire.AppendBytes(ts, lb)
	var sb []byte
	sb = protowire.AppendTag(sb, 1, protowire.Fixed64Type)
	sb = protowire.AppendFixed64(sb, math.Float64bits(value))
	sb = protowire.AppendTag(sb, 2, protowire.VarintType)
	sb = protowire.AppendVarint(sb, uint64(tsMs))
	ts = protowire.AppendTag(ts, 2, protowire.BytesType)
	ts = protowire.AppendBytes(ts, sb)
	req = protowire.AppendTag(req, 1, protowire.BytesType)
	req = protowire.AppendBytes(req, ts)
	return snappy.Encode(nil, req)
}

func TestTeeAnswersAsPrometheusDoes(t *testing.T) {
	var status atomic.Int32
	var received atomic.Int32
	prom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received.Add(1)
		w.WriteHeader(int(status.Load()))
	}))
	defer prom.Close()

	for _, tc := range []struct {
		name        string
		prometheus  int
		want        int
		sinkCounted bool
	}{
		{name: "both take it", prometheus: http.StatusNoContent, want: http.StatusNoContent, sinkCounted: true},
		// A 4xx is final for the gateway: the sink gets the write too, so both hold the same.
		{name: "prometheus refuses", prometheus: http.StatusBadRequest, want: http.StatusBadRequest, sinkCounted: true},
		// A 5xx is retried by the gateway: the sink waits for the retry.
		{name: "prometheus is down", prometheus: http.StatusServiceUnavailable, want: http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status.Store(int32(tc.prometheus))
			sink := rwsink.New()
			tee := &Tee{Sink: sink, Prometheus: prom.URL}
			rec := httptest.NewRecorder()
			tee.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/write", bytes.NewReader(writeRequest(7, 1000))))
			assert.Equal(t, tc.want, rec.Code)
			want := 0.0
			if tc.sinkCounted {
				want = 7
			}
			assert.Equal(t, want, sink.Sum("faas_invocations_total", nil))
		})
	}
	assert.EqualValues(t, 3, received.Load())
}

func TestTeeRefusesWhatTheSinkCannotDecode(t *testing.T) {
	prom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer prom.Close()
	tee := &Tee{Sink: rwsink.New(), Prometheus: prom.URL}
	rec := httptest.NewRecorder()
	tee.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/write", strings.NewReader("not snappy")))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Contains(t, rec.Body.String(), "rwsink")
}

func TestStopEscalatesOnAProcessThatIgnoresSIGTERM(t *testing.T) {
	p, err := StartProcess(exec.Command("bash", "-c", `trap "" TERM; echo ready; while true; do sleep 0.1; done`))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return strings.Contains(p.Output.String(), "ready") }, 10*time.Second, 10*time.Millisecond)
	err = p.Stop(syscall.SIGTERM, 200*time.Millisecond)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "did not stop")
	select {
	case <-p.Done():
	default:
		t.Fatal("the process still runs after Stop")
	}
}

func TestProcessFiguresAndAQuietStop(t *testing.T) {
	p, err := StartProcess(exec.Command("sleep", "60"))
	require.NoError(t, err)
	_, err = p.CPU()
	require.NoError(t, err)
	rss, peak, err := p.Memory()
	require.NoError(t, err)
	assert.Positive(t, rss)
	assert.GreaterOrEqual(t, peak, rss)
	require.NoError(t, p.Stop(syscall.SIGTERM, 10*time.Second))
	_, err = p.CPU()
	assert.Error(t, err, "a process that is gone has no figures")
}

func TestFreeAddrsAreDistinctLoopbackPorts(t *testing.T) {
	addrs, err := FreeAddrs(5)
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, a := range addrs {
		assert.True(t, strings.HasPrefix(a, "127.0.0.1:"), a)
		assert.False(t, seen[a], "duplicate %s", a)
		seen[a] = true
	}
}
