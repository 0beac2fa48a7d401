// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package streams

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

const processStart = pcommon.Timestamp(1000)

type point struct {
	start, ts pcommon.Timestamp
	v         float64
}

func TestNumber(t *testing.T) {
	tests := []struct {
		name     string
		points   []point
		want     []float64
		outcomes []Outcome
	}{
		{
			name:     "a stream that started after the process counts whole",
			points:   []point{{1500, 1600, 4}, {1500, 1700, 9}},
			want:     []float64{4, 5},
			outcomes: []Outcome{Counted, Counted},
		},
		{
			name:     "an older stream counts from its second point",
			points:   []point{{500, 1600, 4}, {500, 1700, 9}},
			want:     []float64{4, 5},
			outcomes: []Outcome{Baseline, Counted},
		},
		{
			name:     "a stream without a start time counts from its second point",
			points:   []point{{0, 1600, 4}, {0, 1700, 9}},
			want:     []float64{4, 5},
			outcomes: []Outcome{Baseline, Counted},
		},
		{
			name:     "a new start time is a reset, counted from zero",
			points:   []point{{1500, 1600, 4}, {1650, 1700, 2}},
			want:     []float64{4, 2},
			outcomes: []Outcome{Counted, Counted},
		},
		{
			name:     "a value that went down is a reset",
			points:   []point{{1500, 1600, 4}, {1500, 1700, 1}},
			want:     []float64{4, 1},
			outcomes: []Outcome{Counted, Counted},
		},
		{
			name:     "a repeated or older point adds nothing, and the newer value stays",
			points:   []point{{1500, 1600, 4}, {1500, 1600, 4}, {1500, 1550, 3}, {1500, 1700, 6}},
			want:     []float64{4, 0, 0, 2},
			outcomes: []Outcome{Counted, Stale, Stale, Counted},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := New(processStart, 10, 1e12)
			for i, p := range tt.points {
				d, o := tr.Number(1, p.start, p.ts, p.ts, p.v)
				assert.Equal(t, tt.outcomes[i], o, "point %d", i)
				if o == Counted {
					assert.Equal(t, tt.want[i], d, "point %d", i)
				}
			}
		})
	}
}

// TestForgottenStreamNeverCountsTwice: a stream forgotten (idle, or beyond the bound) that
// comes back cannot be told from a new one, so it counts from its second point; a stream
// that started after every forgotten one still counts whole.
func TestForgottenStreamNeverCountsTwice(t *testing.T) {
	tr := New(processStart, 2, 100)
	_, o := tr.Number(1, 1500, 1600, 1600, 4)
	assert.Equal(t, Counted, o)
	tr.Sweep(1800) // idle since 1600
	assert.Zero(t, tr.Len())
	assert.Equal(t, 1, tr.TakeEvicted())
	_, o = tr.Number(1, 1500, 1900, 1900, 9)
	assert.Equal(t, Baseline, o, "it may have been counted before")
	d, o := tr.Number(2, 1850, 1900, 1900, 3)
	assert.Equal(t, Counted, o, "started after every forgotten stream")
	assert.Equal(t, 3.0, d)

	// Beyond max_streams the least recently seen goes.
	_, _ = tr.Number(3, 1870, 1910, 1910, 1)
	assert.Equal(t, 2, tr.Len())
	_, o = tr.Number(1, 1500, 1920, 1920, 10)
	assert.Equal(t, Baseline, o, "stream 1 was forgotten for room")
}

func TestHistogram(t *testing.T) {
	tr := New(processStart, 10, 1e12)
	bounds := []float64{1, 5}
	d, sum, o := tr.Histogram(1, 1500, 1600, 1600, bounds, []uint64{1, 2, 0}, 7, nil)
	assert.Equal(t, Counted, o)
	assert.Equal(t, []uint64{1, 2, 0}, d)
	assert.Equal(t, 7.0, sum)
	d, sum, o = tr.Histogram(1, 1500, 1700, 1700, bounds, []uint64{2, 2, 1}, 16, nil)
	assert.Equal(t, Counted, o)
	assert.Equal(t, []uint64{1, 0, 1}, d)
	assert.Equal(t, 9.0, sum)
	d, _, o = tr.Histogram(1, 1500, 1800, 1800, bounds, []uint64{0, 1, 0}, 2, nil)
	assert.Equal(t, Counted, o, "a bucket went down: a reset")
	assert.Equal(t, []uint64{0, 1, 0}, d)
	_, _, o = tr.Histogram(1, 1500, 1800, 1800, bounds, []uint64{0, 1, 0}, 2, nil)
	assert.Equal(t, Stale, o)
}

func TestExponential(t *testing.T) {
	tr := New(processStart, 10, 1e12)
	first := Exponential{Scale: 3, Zero: 1, Offset: 8, Counts: []uint64{1, 0, 2}, Sum: 10}
	d, o := tr.Exponential(1, 1500, 1600, 1600, first)
	assert.Equal(t, Counted, o)
	assert.Equal(t, first, d)
	// The SDK downscaled to 2: buckets 8..10 at scale 3 are 4..5 at scale 2.
	second := Exponential{Scale: 2, Zero: 1, Offset: 4, Counts: []uint64{3, 4}, Sum: 20}
	d, o = tr.Exponential(1, 1500, 1700, 1700, second)
	assert.Equal(t, Counted, o)
	assert.Equal(t, Exponential{Scale: 2, Zero: 0, Offset: 4, Counts: []uint64{2, 2}, Sum: 10}, d)
	third := Exponential{Scale: 2, Zero: 0, Offset: 4, Counts: []uint64{1}, Sum: 1}
	d, o = tr.Exponential(1, 1500, 1800, 1800, third)
	assert.Equal(t, Counted, o, "the zero count went down: a reset")
	assert.Equal(t, third, d)
}
