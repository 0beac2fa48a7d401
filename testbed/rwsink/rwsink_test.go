// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package rwsink

import (
	"bytes"
	"cmp"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/golang/snappy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
)

type testSeries struct {
	labels  [][2]string
	samples [][2]float64 // value, timestamp ms
}

// encode builds a remote-write v1 request as Prometheus' prompb defines it.
func encode(series ...testSeries) []byte {
	var req []byte
	for _, s := range series {
		var ts []byte
		for _, l := range s.labels {
			var lb []byte
			lb = protowire.AppendTag(lb, 1, protowire.BytesType)
			lb = protowire.AppendString(lb, l[0])
			lb = protowire.AppendTag(lb, 2, protowire.BytesType)
			lb = protowire.AppendString(lb, l[1])
			ts = protowire.AppendTag(ts, 1, protowire.BytesType)
			ts = protowire.AppendBytes(ts, lb)
		}
		for _, smp := range s.samples {
			var sb []byte
			sb = protowire.AppendTag(sb, 1, protowire.Fixed64Type)
			sb = protowire.AppendFixed64(sb, math.Float64bits(smp[0]))
			sb = protowire.AppendTag(sb, 2, protowire.VarintType)
			sb = protowire.AppendVarint(sb, uint64(int64(smp[1])))
			ts = protowire.AppendTag(ts, 2, protowire.BytesType)
			ts = protowire.AppendBytes(ts, sb)
		}
		req = protowire.AppendTag(req, 1, protowire.BytesType)
		req = protowire.AppendBytes(req, ts)
	}
	return snappy.Encode(nil, req)
}

func post(t *testing.T, h http.Handler, body []byte) int {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/write", bytes.NewReader(body)))
	return rec.Code
}

func TestSumsTheNewestValueOfEachSeries(t *testing.T) {
	s := New()
	a := [][2]string{{"__name__", "faas_invocations_total"}, {"faas_name", "a"}, {"instance", "r1"}}
	b := [][2]string{{"__name__", "faas_invocations_total"}, {"faas_name", "a"}, {"instance", "r2"}}
	other := [][2]string{{"__name__", "faas_errors_total"}, {"faas_name", "a"}}
	require.Equal(t, http.StatusNoContent, post(t, s, encode(
		testSeries{labels: a, samples: [][2]float64{{0, 1000}, {3, 2000}}},
		testSeries{labels: b, samples: [][2]float64{{5, 2000}}},
		testSeries{labels: other, samples: [][2]float64{{1, 2000}}},
	)))
	// A later write of series a, and a late (older) sample that must not win.
	require.Equal(t, http.StatusNoContent, post(t, s, encode(
		testSeries{labels: a, samples: [][2]float64{{7, 3000}, {4, 2500}}},
	)))

	assert.InDelta(t, 12.0, s.Sum("faas_invocations_total", map[string]string{"faas_name": "a"}), 0)
	assert.InDelta(t, 7.0, s.Sum("faas_invocations_total", map[string]string{"instance": "r1"}), 0)
	assert.Zero(t, s.Sum("faas_invocations_total", map[string]string{"faas_name": "b"}))
	found := s.Find("faas_invocations_total", map[string]string{"instance": "r1"})
	require.Len(t, found, 1)
	assert.Equal(t, 4, found[0].Samples)
	total, failed := s.Requests()
	assert.Equal(t, 2, total)
	assert.Zero(t, failed)
}

func TestRefusesWhatDoesNotDecode(t *testing.T) {
	s := New()
	assert.Equal(t, http.StatusBadRequest, post(t, s, []byte("not snappy")))
	assert.Equal(t, http.StatusBadRequest, post(t, s, snappy.Encode(nil, []byte{0x0a, 0x05, 0x01})))
	assert.Equal(t, http.StatusBadRequest, post(t, s, encode(testSeries{labels: [][2]string{{"job", "x"}}})), "a series must have a name")
	_, failed := s.Requests()
	assert.Equal(t, 3, failed)
}

func TestCounterTotalSumsResetSegments(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []float64
		total  float64
		resets int
	}{
		{name: "no samples", values: nil, total: 0},
		{name: "one segment", values: []float64{0, 3, 3, 7}, total: 7},
		{name: "a restart", values: []float64{0, 4, 9, 0, 2, 5}, total: 14, resets: 1},
		{name: "a restart without the zero sample", values: []float64{4, 9, 3, 6}, total: 15, resets: 1},
		{name: "two restarts", values: []float64{5, 1, 0, 2}, total: 8, resets: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			points := make([]Point, len(tc.values))
			for i, v := range tc.values {
				points[i] = Point{Timestamp: int64(i), Value: v}
			}
			total, resets := CounterTotal(points)
			assert.Equal(t, tc.total, total)
			assert.Equal(t, tc.resets, resets)
		})
	}
}

func TestSumFollowsAGatewayRestart(t *testing.T) {
	s := New()
	series := func(samples ...[2]float64) testSeries {
		return testSeries{labels: [][2]string{{"__name__", "faas_invocations_total"}, {"instance", "replica-0"}}, samples: samples}
	}
	require.Equal(t, http.StatusNoContent, post(t, s, encode(series([2]float64{0, 1000}, [2]float64{40, 2000}))))
	// Restarted: a new start with a zero sample, then counts again; a resent sample counts once.
	require.Equal(t, http.StatusNoContent, post(t, s, encode(series([2]float64{0, 3000}, [2]float64{15, 4000}))))
	require.Equal(t, http.StatusNoContent, post(t, s, encode(series([2]float64{15, 4000}))))
	assert.Equal(t, 55.0, s.Sum("faas_invocations_total", nil))
	found := s.Find("faas_invocations_total", nil)
	require.Len(t, found, 1)
	assert.Equal(t, 1, found[0].Resets)
	assert.Equal(t, 15.0, found[0].Value, "Value stays the newest sample")
	assert.Len(t, found[0].History, 4)
}

// TestTotalsFollowSamplesInAnyOrder: the running totals kept as samples arrive (appended,
// inserted late, resent, or resent with another value) always equal CounterTotal over the
// samples in time order, one per timestamp, the newest write of each winning.
func TestTotalsFollowSamplesInAnyOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	labels := [][2]string{{"__name__", "c"}, {"instance", "r"}}
	for round := range 200 {
		s := New()
		want := map[int64]float64{}
		for range 1 + rng.IntN(8) {
			var samples [][2]float64
			for range 1 + rng.IntN(6) {
				ts := int64(rng.IntN(40)) // repeats and out-of-order timestamps
				v := float64(rng.IntN(10))
				samples = append(samples, [2]float64{v, float64(ts)})
				want[ts] = v
			}
			require.Equal(t, http.StatusNoContent, post(t, s, encode(testSeries{labels: labels, samples: samples})))
			// Ask between writes too, so that a recount and later appends mix.
			if rng.IntN(2) == 0 {
				s.Sum("c", nil)
			}
		}
		points := make([]Point, 0, len(want))
		for ts, v := range want {
			points = append(points, Point{Timestamp: ts, Value: v})
		}
		slices.SortFunc(points, func(a, b Point) int { return cmp.Compare(a.Timestamp, b.Timestamp) })
		total, resets := CounterTotal(points)
		require.Equal(t, total, s.Sum("c", nil), "round %d", round)
		found := s.Find("c", nil)
		require.Len(t, found, 1)
		require.Equal(t, points, found[0].History, "round %d", round)
		require.Equal(t, resets, found[0].Resets, "round %d", round)
	}
}
