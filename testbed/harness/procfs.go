// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package harness // import "github.com/otelcol-lambda/otelcol-lambda/testbed/harness"

// The testbed's one reader of /proc: every benchmark, scenario and test that reports a
// process's CPU or memory, or the machine's, reads it here, so that each figure means the
// same thing in every report.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ticksPerSecond is USER_HZ, the unit of /proc's CPU times: 100 on every Linux we run on.
const ticksPerSecond = 100

// ProcessCPU is the user+system CPU time that process pid has used so far, from
// /proc/PID/stat.
func ProcessCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(data)
}

// parseStatCPU reads utime and stime from a /proc/PID/stat line.
func parseStatCPU(data []byte) (time.Duration, error) {
	// The fields after the command name, which is in parentheses and may hold spaces and
	// parentheses of its own: the last ')' ends it.
	end := bytes.LastIndexByte(data, ')')
	if end < 0 || end+2 > len(data) {
		return 0, errors.New("no command name in the /proc stat line")
	}
	fields := strings.Fields(string(data[end+2:]))
	if len(fields) < 13 {
		return 0, errors.New("short /proc stat line")
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * time.Second / ticksPerSecond, nil
}

// ProcessMemory is process pid's resident set now and at its peak (VmRSS and VmHWM), in
// bytes, from /proc/PID/status. VmHWM only grows, so the last reading before the process
// exits holds its peak.
func ProcessMemory(pid int) (rss, peak int64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	return parseStatusMemory(data)
}

// ResetPeakMemory makes process pid's VmHWM its resident set now (Linux 4.0 and later:
// writing 5 to /proc/PID/clear_refs), so that the next reading of the peak is that of what
// the process did since.
func ResetPeakMemory(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// parseStatusMemory reads VmRSS and VmHWM (in kB) from /proc/PID/status.
func parseStatusMemory(data []byte) (rss, peak int64, err error) {
	var seen int
	for line := range strings.SplitSeq(string(data), "\n") {
		key, value, ok := strings.Cut(line, ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc status %s: %w", key, err)
		}
		if key == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
		seen++
	}
	if seen < 2 {
		// A zombie has no memory lines: it is gone as far as its figures go.
		return 0, 0, errors.New("no VmRSS and VmHWM in /proc status")
	}
	return rss, peak, nil
}

// MachineBusy is the CPU time every process on the machine has used since boot: the first
// line of /proc/stat (user, nice, system, irq, softirq, steal; guest time is within user).
func MachineBusy() (time.Duration, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return parseMachineBusy(data)
}

func parseMachineBusy(data []byte) (time.Duration, error) {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	fields := strings.Fields(string(line))
	if len(fields) < 9 || fields[0] != "cpu" {
		return 0, errors.New("unexpected /proc/stat")
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseInt(fields[i], 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / ticksPerSecond, nil
}

// OwnCPU is this process's user+system CPU time so far (the load generator's cost).
func OwnCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0 // cannot fail for RUSAGE_SELF on Linux
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// LoadAverage is the machine's load average over 1, 5 and 15 minutes (/proc/loadavg), or
// "unknown".
func LoadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	fields := strings.Fields(string(data))
	if len(fields) < 3 {
		return "unknown"
	}
	return strings.Join(fields[:3], " ")
}

// CPUModel names the machine's processor (/proc/cpuinfo), for reports.
func CPUModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if strings.HasPrefix(line, "model name") {
			if _, v, ok := strings.Cut(line, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return "unknown CPU"
}

// EphemeralPortFloor is the lowest port the kernel hands out to outgoing connections
// (/proc/sys/net/ipv4/ip_local_port_range), or 32768, Linux's default, when unreadable.
func EphemeralPortFloor() int {
	const linuxDefault = 32768
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return linuxDefault
	}
	fields := strings.Fields(string(data))
	if len(fields) != 2 {
		return linuxDefault
	}
	low, err := strconv.Atoi(fields[0])
	if err != nil {
		return linuxDefault
	}
	return low
}
