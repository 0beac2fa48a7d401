// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package harness starts and watches the real processes of testbed runs (the gateway
// distribution, Prometheus) on free loopback ports, and reads what they hold: process
// CPU and memory from /proc (procfs.go, the testbed's one reader of it), series from
// Prometheus' HTTP API. It is shared by the
// scenarios runner, the gateway benchmark and the end-to-end tests, so that each starts
// and stops processes the same way.
package harness // import "github.com/otelcol-lambda/otelcol-lambda/testbed/harness"

import (
	"bytes"
	"fmt"
	"math"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"sync"
	"syscall"
	"time"
)

// FreeAddrs reserves n distinct loopback addresses and releases them for the processes to
// take.
func FreeAddrs(n int) ([]string, error) {
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	addrs := make([]string, n)
	for i := range addrs {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		addrs[i] = l.Addr().String()
	}
	return addrs, nil
}

// Serve serves h on a free loopback port until stop is called; url is http://host:port.
// The scenarios and the benchmark put their remote-write receivers (tee, sink) there.
func Serve(h http.Handler) (url string, stop func() error, err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String(), srv.Close, nil
}

// LockedBuffer collects a process's output from its copying goroutines.
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Tail is the last n bytes of s, for error messages.
func Tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// Process is a started child process in its own process group, which dies with us.
type Process struct {
	Cmd    *exec.Cmd
	Output *LockedBuffer
	done   chan struct{}
	err    error
}

// StartProcess starts cmd with its output collected in Output.
func StartProcess(cmd *exec.Cmd) (*Process, error) {
	p := &Process{Cmd: cmd, Output: &LockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.Output, p.Output
	// Own process group, so that a stop reaches a script's children too; killed if we die.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the process's exit error, once Done is closed.
func (p *Process) Err() error {
	<-p.done
	return p.err
}

// Stop sends sig (SIGTERM or SIGINT for a graceful stop, SIGKILL for a crash) and waits;
// a process still running after timeout gets SIGQUIT, so that a Go program writes its
// goroutines to Output, then has its whole group killed, and that is an error.
func (p *Process) Stop(sig syscall.Signal, timeout time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.Cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
	}
	_ = p.Cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	return fmt.Errorf("%s did not stop within %s of %s and was killed (its goroutines are in its output)", p.Cmd.Path, timeout, sig)
}

// CPU is the process's user+system CPU time so far.
func (p *Process) CPU() (time.Duration, error) { return ProcessCPU(p.Cmd.Process.Pid) }

// Memory is the process's resident set now and at its peak, in bytes.
func (p *Process) Memory() (rss, peak int64, err error) { return ProcessMemory(p.Cmd.Process.Pid) }

// ResetPeak starts the process's peak resident set over from now (ResetPeakMemory).
func (p *Process) ResetPeak() error { return ResetPeakMemory(p.Cmd.Process.Pid) }

// Sample is one reading of a process's resident set and CPU time.
type Sample struct {
	At       time.Duration // since the sampler started
	RSS, HWM int64         // bytes: VmRSS, VmHWM
	CPU      time.Duration // user+system so far
}

// Sampler reads a process's memory and CPU every interval, from its start (a first reading
// at once) until Stop: RSS over time for the benchmark and the soak.
type Sampler struct {
	began   time.Time
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	samples []Sample
}

// StartSampler starts sampling p every interval.
func StartSampler(p *Process, every time.Duration) *Sampler {
	s := &Sampler{began: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	read := func() {
		rss, hwm, err1 := p.Memory()
		cpu, err2 := p.CPU()
		if err1 != nil || err2 != nil {
			return // the process is gone; the caller notices elsewhere
		}
		s.mu.Lock()
		s.samples = append(s.samples, Sample{At: time.Since(s.began), RSS: rss, HWM: hwm, CPU: cpu})
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

// Since is how long ago the sampler started, on the clock of Sample.At.
func (s *Sampler) Since() time.Duration { return time.Since(s.began) }

// Stop stops sampling and returns the readings.
func (s *Sampler) Stop() []Sample {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.samples)
}

// Between returns the readings taken in [from, to].
func Between(samples []Sample, from, to time.Duration) []Sample {
	var out []Sample
	for _, s := range samples {
		if s.At >= from && s.At <= to {
			out = append(out, s)
		}
	}
	return out
}

// MedianRSS is the median resident set of the readings (0 without any).
func MedianRSS(samples []Sample) int64 {
	if len(samples) == 0 {
		return 0
	}
	v := make([]int64, len(samples))
	for i, s := range samples {
		v[i] = s.RSS
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// RSSSlope is the least-squares slope of RSS over time, in MiB per minute (0 with fewer
// than two readings).
func RSSSlope(samples []Sample) float64 {
	n := float64(len(samples))
	if n < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for _, s := range samples {
		x, y := s.At.Minutes(), float64(s.RSS)/(1<<20)
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / den
}

// OtherWork measures the CPU that processes other than the measured ones (and this one)
// use over a span of time: another job on a shared machine makes the measured process
// slower per unit of work, so a report says how busy the machine was.
type OtherWork struct {
	began  time.Time
	busy   time.Duration
	own    time.Duration
	procs  []*Process
	procs0 []time.Duration
}

// StartOtherWork starts measuring the CPU of every process but procs and this one.
func StartOtherWork(procs ...*Process) *OtherWork {
	o := &OtherWork{began: time.Now(), procs: procs}
	o.busy, _ = MachineBusy()
	o.own = OwnCPU()
	for _, p := range procs {
		c, _ := p.CPU()
		o.procs0 = append(o.procs0, c)
	}
	return o
}

// Cores is the other processes' CPU since the start, as a share of one core (NaN when
// /proc/stat could not be read).
func (o *OtherWork) Cores() float64 {
	b, err := MachineBusy()
	if err != nil {
		return math.NaN()
	}
	rest := b - o.busy - (OwnCPU() - o.own)
	for i, p := range o.procs {
		c, _ := p.CPU()
		rest -= c - o.procs0[i]
	}
	return math.Max(0, rest.Seconds()/time.Since(o.began).Seconds())
}

// waitReady polls url until it answers 200; the process exiting first, or timeout
// passing, is an error that quotes the end of its output.
func (p *Process) waitReady(name, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited during start-up (%v):\n%s", name, p.err, Tail(p.Output.String(), 4096))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s was not ready within %s:\n%s", name, timeout, Tail(p.Output.String(), 4096))
		}
	}
}
