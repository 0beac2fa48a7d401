// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
)

// sample is one reading of a process's resident set and CPU time.
type sample struct {
	at       time.Duration // since the sampler started
	rss, hwm int64         // bytes: VmRSS, VmHWM
	cpu      time.Duration // user+system so far
}

// sampler reads a process's memory and CPU every interval, from its start (a first
// reading at once) until Stop.
type sampler struct {
	began   time.Time
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	samples []sample
}

func startSampler(p *harness.Process, every time.Duration) *sampler {
	s := &sampler{began: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	read := func() {
		rss, hwm, err1 := p.Memory()
		cpu, err2 := p.CPU()
		if err1 != nil || err2 != nil {
			return // the process is gone; the caller notices elsewhere
		}
		s.mu.Lock()
		s.samples = append(s.samples, sample{at: time.Since(s.began), rss: rss, hwm: hwm, cpu: cpu})
		s.mu.Unlock()
	}
	go func() {
		defer close(s.done)
		read()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				read()
			}
		}
	}()
	return s
}

// since is how long ago the sampler started, on its clock.
func (s *sampler) since() time.Duration { return time.Since(s.began) }

// Stop stops sampling and returns the readings.
func (s *sampler) Stop() []sample {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.samples)
}

// between returns the readings taken in [from, to].
func between(samples []sample, from, to time.Duration) []sample {
	var out []sample
	for _, s := range samples {
		if s.at >= from && s.at <= to {
			out = append(out, s)
		}
	}
	return out
}

// medianRSS is the median resident set of the readings (0 without any).
func medianRSS(samples []sample) int64 {
	if len(samples) == 0 {
		return 0
	}
	v := make([]int64, len(samples))
	for i, s := range samples {
		v[i] = s.rss
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// slope is the least-squares slope of RSS over time, in MiB per minute.
func slope(samples []sample) float64 {
	n := float64(len(samples))
	if n < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for _, s := range samples {
		x, y := s.at.Minutes(), float64(s.rss)/(1<<20)
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / den
}

// busy is the CPU time every process on the machine has used since boot: the first line
// of /proc/stat (user, nice, system, irq, softirq, steal; guest time is within user).
func busy() (time.Duration, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line)
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
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(ticks) * time.Second / ticksPerSecond, nil
}

// others measures the CPU that processes other than the measured ones (and this one) use
// over a span of time: another job on a shared machine makes the measured process slower
// per unit of work, so the report says how busy the machine was.
type others struct {
	began  time.Time
	busy   time.Duration
	own    time.Duration
	procs  []*harness.Process
	procs0 []time.Duration
}

func startOthers(procs ...*harness.Process) *others {
	o := &others{began: time.Now(), procs: procs}
	o.busy, _ = busy()
	o.own = processCPU()
	for _, p := range procs {
		c, _ := p.CPU()
		o.procs0 = append(o.procs0, c)
	}
	return o
}

// stop returns the others' CPU as a share of one core over the time since start.
func (o *others) stop() float64 {
	b, err := busy()
	if err != nil {
		return math.NaN()
	}
	rest := b - o.busy - (processCPU() - o.own)
	for i, p := range o.procs {
		c, _ := p.CPU()
		rest -= c - o.procs0[i]
	}
	return math.Max(0, rest.Seconds()/time.Since(o.began).Seconds())
}
