// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package harness

import (
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseStatCPUSkipsACommandNameWithSpacesAndParentheses(t *testing.T) {
	// utime 250 and stime 50 ticks: 3 s at USER_HZ 100.
	line := "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 8 0 100 1000000 500 18446744073709551615\n"
	cpu, err := parseStatCPU([]byte(line))
	require.NoError(t, err)
	assert.Equal(t, 3*time.Second, cpu)

	_, err = parseStatCPU([]byte("4242 (cmd) S 1 4242\n"))
	assert.ErrorContains(t, err, "short")
	_, err = parseStatCPU([]byte("garbage"))
	assert.Error(t, err)
	_, err = parseStatCPU([]byte("4242 (cmd) S 1 4242 4242 0 -1 4194560 1000 0 0 0 x 50 0\n"))
	assert.Error(t, err, "a field that is not a number")
}

func TestParseStatusMemoryReadsRSSAndPeak(t *testing.T) {
	status := "Name:\tgateway\nVmPeak:\t  900000 kB\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t8\n"
	rss, peak, err := parseStatusMemory([]byte(status))
	require.NoError(t, err)
	assert.Equal(t, int64(10<<20), rss)
	assert.Equal(t, int64(20<<20), peak)

	_, _, err = parseStatusMemory([]byte("Name:\tzombie\nState:\tZ (zombie)\n"))
	assert.Error(t, err, "a zombie has no memory figures")
	_, _, err = parseStatusMemory([]byte("VmHWM:\tlots kB\nVmRSS:\t1 kB\n"))
	assert.Error(t, err)
}

func TestParseMachineBusyLeavesOutIdleAndIOWait(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	busy, err := parseMachineBusy([]byte("cpu  100 10 50 9000 300 5 5 30 0 0\ncpu0 50 5 25 4500 150 2 2 15 0 0\n"))
	require.NoError(t, err)
	assert.Equal(t, 2*time.Second, busy) // 100+10+50+5+5+30 ticks

	_, err = parseMachineBusy([]byte("intr 1 2 3\n"))
	assert.Error(t, err)
}

func TestProcessFiguresOfThisProcess(t *testing.T) {
	rss, peak, err := ProcessMemory(os.Getpid())
	require.NoError(t, err)
	assert.Positive(t, rss)
	assert.GreaterOrEqual(t, peak, rss)
	_, err = ProcessCPU(os.Getpid())
	require.NoError(t, err)
	busy, err := MachineBusy()
	require.NoError(t, err)
	assert.Positive(t, busy)
	assert.Positive(t, EphemeralPortFloor())
	assert.NotEqual(t, "unknown", LoadAverage())
}

func TestSamplerReadsUntilStopped(t *testing.T) {
	p, err := StartProcess(exec.Command("sleep", "60"))
	require.NoError(t, err)
	defer func() { _ = p.Stop(syscall.SIGKILL, 10*time.Second) }()
	s := StartSampler(p, 10*time.Millisecond)
	require.Eventually(t, func() bool { return s.Since() > 100*time.Millisecond }, 5*time.Second, 10*time.Millisecond)
	samples := s.Stop()
	require.GreaterOrEqual(t, len(samples), 2, "a first reading at once and one per interval")
	for i, smp := range samples {
		assert.Positive(t, smp.RSS)
		if i > 0 {
			assert.Greater(t, smp.At, samples[i-1].At)
		}
	}
}

func TestRSSFiguresOverSamples(t *testing.T) {
	var samples []Sample
	for i := range 5 {
		// 2 MiB more every minute.
		samples = append(samples, Sample{At: time.Duration(i) * time.Minute, RSS: int64(100+2*i) << 20})
	}
	assert.InDelta(t, 2.0, RSSSlope(samples), 1e-9)
	assert.Equal(t, int64(104<<20), MedianRSS(samples))
	assert.Len(t, Between(samples, time.Minute, 3*time.Minute), 3)
	assert.Zero(t, RSSSlope(samples[:1]))
	assert.Zero(t, MedianRSS(nil))
}

// After a burst is freed, the peak still holds it until ResetPeakMemory, and not after.
func TestResetPeakMemory(t *testing.T) {
	const burst = 64 << 20
	pid := os.Getpid()
	b := make([]byte, burst)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1 // resident
	}
	_, withBurst, err := ProcessMemory(pid)
	require.NoError(t, err)
	runtime.KeepAlive(b)
	b = nil
	debug.FreeOSMemory()
	rss, peak, err := ProcessMemory(pid)
	require.NoError(t, err)
	require.Greater(t, peak, rss+burst/2, "the freed burst should have left the resident set and stayed in the peak")

	require.NoError(t, ResetPeakMemory(pid))
	rssNow, reset, err := ProcessMemory(pid)
	require.NoError(t, err)
	// The race detector's shadow memory stays resident after the burst is freed, so the
	// reset peak is held to the resident set of now, not to what was resident before it.
	assert.LessOrEqual(t, reset, rssNow+4<<20, "the peak after the reset is not the resident set of now")
	assert.Less(t, reset, withBurst-burst/4, "the peak after the reset still holds the burst")
}
