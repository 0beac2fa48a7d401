// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package exportwatchextension

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"
)

// TestEndpointStateLogLines walks one endpoint through the cases the log must tell apart:
// each step is a request at a time and what it must log.
func TestEndpointStateLogLines(t *testing.T) {
	const interval = time.Minute
	type step struct {
		at      time.Duration // since the start
		failed  bool
		wantMsg string // "" = nothing logged
		want    map[string]any
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{
			name: "first failure warns with its reason, then one summary per interval, then the recovery",
			steps: []step{
				{at: 0, failed: false},
				{at: time.Second, failed: true, wantMsg: msgFailed, want: map[string]any{"reason": "r1"}},
				{at: 2 * time.Second, failed: true},
				{at: 30 * time.Second, failed: true},
				{at: 61 * time.Second, failed: true, wantMsg: msgStillFailing, want: map[string]any{"failed_requests": int64(4), "failing_for": "1m0s", "reason": "r61"}},
				{at: 62 * time.Second, failed: true},
				{at: 90 * time.Second, failed: false, wantMsg: msgRecovered, want: map[string]any{"failed_requests": int64(5), "down_for": "1m29s"}},
				{at: 91 * time.Second, failed: false},
			},
		},
		{
			name: "the first failure since the start warns at once",
			steps: []step{
				{at: 0, failed: true, wantMsg: msgFailed},
				{at: time.Second, failed: false, wantMsg: msgRecovered, want: map[string]any{"failed_requests": int64(1)}},
			},
		},
		{
			name: "a flapping endpoint logs at most one warning per interval and counts the failures in between",
			steps: []step{
				{at: 0, failed: true, wantMsg: msgFailed},
				{at: time.Second, failed: false, wantMsg: msgRecovered},
				{at: 2 * time.Second, failed: true},
				{at: 3 * time.Second, failed: false},
				{at: 4 * time.Second, failed: true},
				{at: 5 * time.Second, failed: true},
				{at: 6 * time.Second, failed: false},
				{at: 61 * time.Second, failed: true, wantMsg: msgFailed, want: map[string]any{"unlogged_failed_requests": int64(3), "reason": "r61"}},
				{at: 62 * time.Second, failed: false, wantMsg: msgRecovered, want: map[string]any{"failed_requests": int64(1)}},
			},
		},
		{
			name: "an episode that began unannounced is announced once the interval passed",
			steps: []step{
				{at: 0, failed: true, wantMsg: msgFailed},
				{at: time.Second, failed: false, wantMsg: msgRecovered},
				{at: 2 * time.Second, failed: true},
				{at: 70 * time.Second, failed: true, wantMsg: msgFailed, want: map[string]any{"unlogged_failed_requests": int64(1)}},
				{at: 80 * time.Second, failed: false, wantMsg: msgRecovered, want: map[string]any{"failed_requests": int64(2), "down_for": "1m18s"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newEndpointState("http://backend/api/v1/write")
			start := time.Unix(1_000_000, 0)
			for i, st := range tt.steps {
				now := start.Add(st.at)
				var line *logLine
				if st.failed {
					line = s.failed(now, "r"+strconv.Itoa(int(st.at/time.Second)), interval)
				} else {
					line = s.succeeded(now)
				}
				if st.wantMsg == "" {
					assert.Nil(t, line, "step %d logged %v", i, line)
					continue
				}
				require.NotNil(t, line, "step %d", i)
				assert.Equal(t, st.wantMsg, line.msg, "step %d", i)
				wantLevel := zapcore.WarnLevel
				if st.wantMsg == msgRecovered {
					wantLevel = zapcore.InfoLevel
				}
				assert.Equal(t, wantLevel, line.level, "step %d", i)
				fields := fieldMap(line)
				assert.Equal(t, "http://backend/api/v1/write", fields["endpoint"], "step %d", i)
				for k, v := range st.want {
					assert.Equal(t, v, fields[k], "step %d field %s", i, k)
				}
			}
		})
	}
}

func TestEndpointStateFailingFor(t *testing.T) {
	s := newEndpointState("e")
	now := time.Unix(1_000_000, 0)
	assert.Zero(t, s.failingFor(now))
	s.failed(now, "down", time.Minute)
	assert.Equal(t, 5*time.Second, s.failingFor(now.Add(5*time.Second)))
	assert.Equal(t, int64(1), s.consecutive)
	s.succeeded(now.Add(6 * time.Second))
	assert.Zero(t, s.failingFor(now.Add(7*time.Second)))
	assert.Zero(t, s.consecutive)
}

func fieldMap(l *logLine) map[string]any {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range l.fields {
		f.AddTo(enc)
	}
	return enc.Fields
}
