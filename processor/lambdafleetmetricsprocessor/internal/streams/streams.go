// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package streams turns the cumulative metric streams of single sandboxes into increments,
// each counted once.
//
// A stream is one sandbox's one series (an SDK's cumulative counter, say). Its first point
// counts whole when the stream started after this gateway process started and after the
// newest start of any stream forgotten since: then nothing of it can have been counted
// before. Otherwise the first point is only a baseline, and counting starts with the
// second. So a gateway restart, or a forgotten stream that comes back, loses at most one
// point's increments of that stream and never counts anything twice. A later point whose
// start time moved, or whose value went down, is a reset inside the sandbox: its whole
// value is the increment, never a negative one.
//
// Memory is bounded: at most a configured number of streams, the least recently seen
// forgotten first, and streams idle for longer than a configured time are forgotten.
// Nothing here is safe for concurrent use.
package streams // import "github.com/otelcol-lambda/otelcol-lambda/processor/lambdafleetmetricsprocessor/internal/streams"

import (
	"container/list"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Outcome is what a point meant.
type Outcome int

const (
	// Counted: the returned increment is to be added.
	Counted Outcome = iota
	// Baseline: the first point of a stream that may have been counted before; it only
	// sets where counting starts.
	Baseline
	// Stale: a point not newer than the stream's last one (a repeat, or out of order);
	// nothing to add.
	Stale
)

// Tracker remembers the last point of each stream.
type Tracker struct {
	max          int
	idle         pcommon.Timestamp
	processStart pcommon.Timestamp
	// watermark is the newest start time of any stream forgotten so far.
	watermark pcommon.Timestamp

	streams map[uint64]*list.Element
	lru     list.List // front: most recently seen
	evicted int
}

type stream struct {
	key         uint64
	start, last pcommon.Timestamp // start time and timestamp of the last point
	seen        pcommon.Timestamp // when the last point arrived

	value float64 // sums

	sum    float64 // histograms
	bounds []float64
	counts []uint64

	scale  int32 // exponential histograms
	zero   uint64
	offset int32
}

// New returns a tracker for a gateway process that started at processStart, keeping at
// most max streams, each for at most idle after its last point.
func New(processStart pcommon.Timestamp, max int, idle pcommon.Timestamp) *Tracker {
	return &Tracker{max: max, idle: idle, processStart: processStart, streams: make(map[uint64]*list.Element)}
}

// Len is the number of streams remembered.
func (t *Tracker) Len() int { return len(t.streams) }

// TakeEvicted returns how many streams were forgotten since the last call.
func (t *Tracker) TakeEvicted() int {
	n := t.evicted
	t.evicted = 0
	return n
}

// Sweep forgets the streams whose last point arrived before now minus the idle time.
func (t *Tracker) Sweep(now pcommon.Timestamp) {
	if now < t.idle {
		return
	}
	cutoff := now - t.idle
	for e := t.lru.Back(); e != nil; {
		s := e.Value.(*stream)
		if s.seen >= cutoff {
			return
		}
		prev := e.Prev()
		t.forget(e)
		e = prev
	}
}

func (t *Tracker) forget(e *list.Element) {
	s := e.Value.(*stream)
	t.watermark = max(t.watermark, s.start)
	delete(t.streams, s.key)
	t.lru.Remove(e)
	t.evicted++
}

// lookup returns the stream for key and whether it is new; a new stream is made room for.
func (t *Tracker) lookup(key uint64, now pcommon.Timestamp) (*stream, bool) {
	if e, ok := t.streams[key]; ok {
		t.lru.MoveToFront(e)
		s := e.Value.(*stream)
		s.seen = now
		return s, false
	}
	for len(t.streams) >= t.max && t.lru.Len() > 0 {
		t.forget(t.lru.Back())
	}
	s := &stream{key: key, seen: now}
	t.streams[key] = t.lru.PushFront(s)
	return s, true
}

// countsWhole says whether a stream seen for the first time can be counted from zero.
func (t *Tracker) countsWhole(start pcommon.Timestamp) bool {
	return start != 0 && start >= t.processStart && start > t.watermark
}

// first decides a new stream's outcome.
func (t *Tracker) first(start pcommon.Timestamp) Outcome {
	if t.countsWhole(start) {
		return Counted
	}
	return Baseline
}

// Number takes a point of a monotonic cumulative sum and returns the increment.
func (t *Tracker) Number(key uint64, start, ts, now pcommon.Timestamp, v float64) (float64, Outcome) {
	s, isNew := t.lookup(key, now)
	defer func() { s.start, s.last, s.value = start, max(ts, s.last), v }()
	switch {
	case isNew:
		return v, t.first(start)
	case ts <= s.last && start == s.start:
		v = s.value // keep what the newer point said
		return 0, Stale
	case start != s.start || v < s.value:
		return v, Counted // a reset inside the sandbox: counted from zero
	}
	return v - s.value, Counted
}

// Histogram takes a point of a cumulative explicit-bucket histogram (len(bounds)+1
// counts) and returns the increments, in a slice that is valid until the next call.
func (t *Tracker) Histogram(key uint64, start, ts, now pcommon.Timestamp, bounds []float64, counts []uint64, sum float64, out []uint64) ([]uint64, float64, Outcome) {
	s, isNew := t.lookup(key, now)
	out = append(out[:0], counts...)
	stale := !isNew && ts <= s.last && start == s.start
	reset := !isNew && !stale && (start != s.start || !slices.Equal(bounds, s.bounds) || decreased(counts, s.counts))
	var outcome Outcome
	dSum := sum
	switch {
	case isNew:
		outcome = t.first(start)
	case stale:
		return nil, 0, Stale
	case reset:
		outcome = Counted
	default:
		for i := range out {
			out[i] -= s.counts[i]
		}
		dSum = sum - s.sum
		outcome = Counted
	}
	s.start, s.last, s.sum = start, ts, sum
	s.bounds = append(s.bounds[:0], bounds...)
	s.counts = append(s.counts[:0], counts...)
	return out, dSum, outcome
}

func decreased(cur, prev []uint64) bool {
	if len(cur) != len(prev) {
		return true
	}
	for i := range cur {
		if cur[i] < prev[i] {
			return true
		}
	}
	return false
}

// Exponential is a point of a cumulative exponential histogram's positive buckets.
type Exponential struct {
	Scale  int32
	Zero   uint64
	Offset int32
	Counts []uint64
	Sum    float64
}

// Exponential takes a point of a cumulative exponential histogram and returns the
// increments, at the coarser scale of this point and the last one.
func (t *Tracker) Exponential(key uint64, start, ts, now pcommon.Timestamp, p Exponential) (Exponential, Outcome) {
	s, isNew := t.lookup(key, now)
	if !isNew && ts <= s.last && start == s.start {
		return Exponential{}, Stale
	}
	prev := Exponential{Scale: s.scale, Zero: s.zero, Offset: s.offset, Counts: s.counts, Sum: s.sum}
	remember := func() {
		s.start, s.last, s.sum = start, ts, p.Sum
		s.scale, s.zero, s.offset = p.Scale, p.Zero, p.Offset
		s.counts = append(s.counts[:0], p.Counts...)
	}
	if isNew {
		outcome := t.first(start)
		remember()
		return p, outcome
	}
	d, ok := subtract(p, prev)
	if start != s.start || !ok {
		remember()
		return p, Counted // reset: from zero
	}
	remember()
	return d, Counted
}

// subtract returns cur - prev at the coarser of their scales; false when some bucket would
// go negative (a reset).
func subtract(cur, prev Exponential) (Exponential, bool) {
	if cur.Zero < prev.Zero {
		return Exponential{}, false
	}
	scale := min(cur.Scale, prev.Scale)
	c := downscale(cur, scale)
	p := downscale(prev, scale)
	d := Exponential{Scale: scale, Zero: cur.Zero - prev.Zero, Offset: c.Offset, Counts: append([]uint64(nil), c.Counts...), Sum: cur.Sum - prev.Sum}
	for i, n := range p.Counts {
		if n == 0 {
			continue
		}
		j := int(p.Offset) + i - int(d.Offset)
		if j < 0 || j >= len(d.Counts) || d.Counts[j] < n {
			return Exponential{}, false
		}
		d.Counts[j] -= n
	}
	return d, true
}

// downscale merges buckets down to scale (never finer).
func downscale(e Exponential, scale int32) Exponential {
	shift := e.Scale - scale
	if shift <= 0 || len(e.Counts) == 0 {
		e.Scale = min(e.Scale, scale)
		return e
	}
	offset := e.Offset >> shift
	last := (e.Offset + int32(len(e.Counts)) - 1) >> shift
	merged := make([]uint64, last-offset+1)
	for i, n := range e.Counts {
		merged[((e.Offset+int32(i))>>shift)-offset] += n
	}
	return Exponential{Scale: scale, Zero: e.Zero, Offset: offset, Counts: merged, Sum: e.Sum}
}
