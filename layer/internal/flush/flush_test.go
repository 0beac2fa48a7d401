// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package flush

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    Strategy
		wantErr string
	}{
		{in: "", want: Default},
		{in: "default", want: Default},
		{in: "Adaptive", want: Default},
		{in: "end", want: Strategy{End: true}},
		{in: "periodically,1000", want: Strategy{Period: time.Second}},
		{in: "end, periodically, 250", want: Strategy{End: true, Period: 250 * time.Millisecond}},
		{in: "sometimes", wantErr: "unknown flush strategy"},
		{in: "periodically,0", wantErr: "invalid flush period"},
		{in: "periodically,abc", wantErr: "invalid flush period"},
		{in: "end,periodically", wantErr: "unknown flush strategy"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			again, err := Parse(got.String())
			require.NoError(t, err)
			assert.Equal(t, got, again)
		})
	}
}

func TestPlannerEnd(t *testing.T) {
	start := time.Unix(1000, 0)
	p := NewPlanner(Strategy{End: true, Period: time.Second}, start)
	assert.Equal(t, Decision{WaitForRuntimeDone: true, Period: time.Second}, p.OnInvoke(start))
}

func TestPlannerPeriodically(t *testing.T) {
	start := time.Unix(1000, 0)
	p := NewPlanner(Strategy{Period: time.Second}, start)
	assert.False(t, p.OnInvoke(start.Add(500*time.Millisecond)).FlushNow)
	assert.True(t, p.OnInvoke(start.Add(1500*time.Millisecond)).FlushNow)
	p.Flushed(start.Add(1500 * time.Millisecond))
	assert.False(t, p.OnInvoke(start.Add(2000*time.Millisecond)).FlushNow)
}

func TestPlannerAdaptive(t *testing.T) {
	start := time.Unix(1000, 0)
	p := NewPlanner(Default, start)
	now := start
	// The first invocations, and any after a long pause, flush at the end.
	for range BusyInvocations {
		d := p.OnInvoke(now)
		assert.True(t, d.WaitForRuntimeDone)
		now = now.Add(100 * time.Millisecond)
	}
	// Busy: periodic, and the flush is due only once per period.
	d := p.OnInvoke(now)
	assert.False(t, d.WaitForRuntimeDone)
	assert.False(t, d.FlushNow)
	due := 0
	for now.Before(start.Add(AdaptivePeriod)) {
		now = now.Add(time.Second)
		d = p.OnInvoke(now)
		assert.False(t, d.WaitForRuntimeDone)
		if d.FlushNow {
			due++
		}
	}
	assert.Equal(t, 1, due)
	// A long pause: back to end.
	now = now.Add(BusyGap + time.Second)
	assert.True(t, p.OnInvoke(now).WaitForRuntimeDone)
	assert.False(t, p.Busy())
}
