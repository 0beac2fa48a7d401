// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
)

func TestFitLineExact(t *testing.T) {
	// memory = 40 MiB + 6 KiB per sandbox, as the sandbox series measures it.
	xs := []float64{1000, 5000, 20000, 50000}
	ys := make([]float64, len(xs))
	for i, x := range xs {
		ys[i] = 40<<20 + 6<<10*x
	}
	l, err := fitLine(xs, ys)
	require.NoError(t, err)
	assert.InDelta(t, 6<<10, l.slope, 1e-6)
	assert.InDelta(t, 40<<20, l.intercept, 1e-3)
	assert.InDelta(t, 1, l.r2, 1e-12)
	assert.InDelta(t, 0, l.slopeErr, 1e-6)
	assert.Equal(t, 4, l.n)
}

func TestFitLineNoisy(t *testing.T) {
	// y = 2x + 1, with residuals +1, -1, -1, +1: worked by hand, slope 2, intercept 1,
	// SSres 4, Sxx 5 (x mean 1.5), Syy 24, so R² = 1 - 4/24 and the slope's standard
	// error is sqrt(4 / 2 / 5).
	xs := []float64{0, 1, 2, 3}
	ys := []float64{2, 2, 4, 8}
	l, err := fitLine(xs, ys)
	require.NoError(t, err)
	assert.InDelta(t, 2, l.slope, 1e-12)
	assert.InDelta(t, 1, l.intercept, 1e-12)
	assert.InDelta(t, 1-4.0/24, l.r2, 1e-12)
	assert.InDelta(t, math.Sqrt(4.0/2/5), l.slopeErr, 1e-12)
}

func TestFitLineTwoPoints(t *testing.T) {
	l, err := fitLine([]float64{1, 3}, []float64{10, 4})
	require.NoError(t, err)
	assert.InDelta(t, -3, l.slope, 1e-12)
	assert.InDelta(t, 13, l.intercept, 1e-12)
	assert.True(t, math.IsNaN(l.slopeErr), "two points fit any line: no standard error")
}

func TestFitLineRefuses(t *testing.T) {
	for name, xs := range map[string][]float64{"one point": {5}, "no points": nil, "one x": {5, 5, 5}} {
		t.Run(name, func(t *testing.T) {
			_, err := fitLine(xs, make([]float64, len(xs)))
			assert.ErrorIs(t, err, errFewPoints)
		})
	}
	_, err := fitLine([]float64{1, 2}, []float64{1})
	assert.EqualError(t, err, "2 x and 1 y")
}

func TestCPUFitOverRequestSize(t *testing.T) {
	// 4 µs per invocation plus 300 µs per request.
	var cells []*cell
	for _, size := range []int{10, 100, 1000} {
		c := &cell{kind: mixExtension, size: size, invocations: 100_000}
		cpu := time.Duration(float64(c.invocations)*(4+300/float64(size))) * time.Microsecond
		c.results[0] = []result{{cpu: cpu}}
		cells = append(cells, c)
	}
	cells = append(cells, &cell{kind: mixSDK, size: 10, invocations: 1, results: [2][]result{{{cpu: time.Hour}}}})
	l, err := cpuFit(cells, mixExtension)
	require.NoError(t, err)
	assert.InDelta(t, 4, l.intercept, 1e-6)
	assert.InDelta(t, 300, l.slope, 1e-6)
	assert.Equal(t, 3, l.n, "only the traffic asked for")
	_, err = cpuFit(cells, mixSDK)
	assert.ErrorIs(t, err, errFewPoints)
}

// heapProfileTail is the end of a heap profile's text form (debug=1), as a gateway
// answered it.
const heapProfileTail = `heap profile: 3: 1200 [98: 40960] @ heap/1048576
1: 512 [1: 512] @ 0x4a1b2c 0x4a1d3e
#	0x4a1b2c	main.main+0x2c	/src/main.go:10

# runtime.MemStats
# Alloc = 4640896
# TotalAlloc = 8950496
# Sys = 18262296
# HeapAlloc = 4640896
# HeapSys = 11993088
# HeapIdle = 5029888
# HeapInuse = 6963200
# HeapReleased = 4980736
# NumGC = 4
`

func TestParseMemStats(t *testing.T) {
	m, err := parseMemStats([]byte(heapProfileTail))
	require.NoError(t, err)
	assert.Equal(t, memStats{heapAlloc: 4640896, heapInuse: 6963200, sys: 18262296}, m)
}

func TestParseMemStatsRefuses(t *testing.T) {
	_, err := parseMemStats([]byte(strings.Replace(heapProfileTail, "# HeapInuse = 6963200\n", "", 1)))
	assert.EqualError(t, err, "heap profile: no HeapInuse (not the text form of a heap profile?)")
	_, err = parseMemStats([]byte("404 page not found\n"))
	assert.EqualError(t, err, "heap profile: no HeapAlloc, HeapInuse, Sys (not the text form of a heap profile?)")
	_, err = parseMemStats([]byte(strings.Replace(heapProfileTail, "# Sys = 18262296", "# Sys = 18k", 1)))
	assert.ErrorContains(t, err, "heap profile: Sys: ")
	// A field named in a stack frame is not a statistic.
	_, err = parseMemStats([]byte("HeapAlloc = 1\nHeapInuse = 2\nSys = 3\n"))
	assert.Error(t, err)
}

func TestSizeFor(t *testing.T) {
	m := sizingModel{
		cpu:         5,                                                // µs per invocation
		flush:       line{slope: 2, n: 4},                             // µs per series per flush
		sandbox:     line{intercept: 50 << 20, slope: 10 << 10, n: 4}, // 50 MiB + 10 KiB per sandbox
		series:      line{slope: 4 << 10, n: 4},                       // 4 KiB per series
		seriesPerFn: 75,
	}
	// Hashing on the sandbox: every replica flushes all 375,000 series, 375,000 x 2 µs /
	// 10 s = 0.075 cores; 5 cores / (1.4 - 0.075) = 3.77: 4 replicas.
	e := m.sizeFor(1_000_000, 5_000, false)
	assert.InDelta(t, 5, e.cores, 1e-9)
	assert.InDelta(t, 375_000, e.series, 1e-9)
	assert.InDelta(t, 0.075, e.flushCores, 1e-9)
	assert.Equal(t, 4, e.replicas)
	assert.InDelta(t, 200_000, e.sandboxes, 1e-9)
	assert.InDelta(t, 50<<20+10<<10*50_000+4<<10*375_000, e.memory, 1e-3)

	// Hashing on the function: (5 + 0.075) / 1.4 = 3.6: 4 replicas, a quarter of the
	// series each.
	e = m.sizeFor(1_000_000, 5_000, true)
	assert.Equal(t, 4, e.replicas)
	assert.InDelta(t, 93_750, e.series, 1e-9)
	assert.InDelta(t, 0.075/4, e.flushCores, 1e-9)
	assert.InDelta(t, 50<<20+10<<10*50_000+4<<10*93_750, e.memory, 1e-3)

	// 100,000/s takes half a core: still two replicas, so that one may fail.
	assert.Equal(t, 2, m.sizeFor(100_000, 1_000, false).replicas)
	assert.Equal(t, 2, m.sizeFor(100_000, 1_000, true).replicas)

	m.flush.slope = 40 // flushing all series takes 1.5 cores: more than a replica may use
	assert.Equal(t, 0, m.sizeFor(1_000_000, 5_000, false).replicas)
	assert.Equal(t, 5, m.sizeFor(1_000_000, 5_000, true).replicas, "(5 + 1.5) / 1.4 = 4.6: 5 replicas, a fifth of the series each")
}

func TestFlushCost(t *testing.T) {
	// CPU readings every 250 ms; the process burns 100 ms of CPU per second.
	var samples []harness.Sample
	for i := range 41 {
		at := time.Duration(i) * 250 * time.Millisecond
		samples = append(samples, harness.Sample{At: at, CPU: at / 10})
	}
	// Flushes started at 1.1 s, 4.1 s and 7.1 s (between readings), and one before the
	// readings began and one after they ended.
	cycles, per := flushCost(samples, []time.Duration{-time.Second, 1100 * time.Millisecond, 4100 * time.Millisecond, 7100 * time.Millisecond, 20 * time.Second})
	assert.Equal(t, 2, cycles)
	assert.Equal(t, 300*time.Millisecond, per)

	cycles, per = flushCost(samples, []time.Duration{2 * time.Second, 5 * time.Second})
	assert.Equal(t, 1, cycles)
	assert.Equal(t, 300*time.Millisecond, per)

	cycles, per = flushCost(samples, []time.Duration{2 * time.Second})
	assert.Zero(t, cycles, "one flush start is no cycle")
	assert.Zero(t, per)
}

func TestThousands(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.4: "1,234,567", -45000: "-45,000", 100_000: "100,000"} {
		assert.Equal(t, want, thousands(in), "%v", in)
	}
}

func TestParseHeadSeries(t *testing.T) {
	n, err := parseHeadSeries([]byte(`{"status":"success","data":{"headStats":{"numSeries":390001,"numLabelPairs":12,"chunkCount":1,"minTime":1,"maxTime":2},"seriesCountByMetricName":[]}}`))
	require.NoError(t, err)
	assert.Equal(t, 390001, n)
	_, err = parseHeadSeries([]byte(`{"status":"success","data":{"seriesCountByMetricName":[]}}`))
	assert.EqualError(t, err, "tsdb status: no headStats")
	_, err = parseHeadSeries([]byte(`{"status":"error","error":"not ready"}`))
	assert.EqualError(t, err, "tsdb status: error: not ready")
	_, err = parseHeadSeries([]byte(`<html>`))
	assert.ErrorContains(t, err, "tsdb status: ")
}
