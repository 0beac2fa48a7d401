// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package series // import "github.com/otelcol-lambda/otelcol-lambda/internal/series"

import "math"

// maxScale is the finest scale an exponential histogram starts at; it downscales as the range
// of its measurements grows, so that it never holds more than its configured number of buckets.
const maxScale = 20

// expo is the positive half of a base-2 exponential histogram (durations, ages and sizes are
// never negative): bucket i holds (2^(i/2^scale), 2^((i+1)/2^scale)].
type expo struct {
	scale  int32
	zero   uint64
	offset int32
	counts []uint64
}

func (e *expo) reset() {
	e.scale = maxScale
	e.zero = 0
	e.offset = 0
	e.counts = e.counts[:0]
}

func indexOf(v float64, scale int32) int32 {
	return int32(math.Ceil(math.Log2(v)*math.Ldexp(1, int(scale)))) - 1
}

func (e *expo) record(v float64, maxSize int32) {
	if v <= 0 || math.IsNaN(v) {
		e.zero++
		return
	}
	idx := indexOf(v, e.scale)
	if len(e.counts) == 0 {
		e.offset = idx
		e.counts = append(e.counts, 1)
		return
	}
	lo, hi := min(int64(e.offset), int64(idx)), max(int64(e.offset)+int64(len(e.counts))-1, int64(idx))
	var shift int32
	for (hi>>shift)-(lo>>shift)+1 > int64(maxSize) {
		shift++
	}
	if shift > 0 {
		e.downscale(shift)
		idx >>= shift
	}
	e.add(idx, 1)
}

// add adds n to bucket idx, growing the window of buckets as needed.
func (e *expo) add(idx int32, n uint64) {
	if len(e.counts) == 0 {
		e.offset = idx
		e.counts = append(e.counts, n)
		return
	}
	if idx < e.offset {
		grow := int(e.offset - idx)
		e.counts = append(make([]uint64, grow, grow+len(e.counts)), e.counts...)
		e.offset = idx
	}
	if i := int(idx - e.offset); i >= len(e.counts) {
		e.counts = append(e.counts, make([]uint64, i-len(e.counts)+1)...)
	}
	e.counts[idx-e.offset] += n
}

// downscale merges buckets so that the scale drops by shift.
func (e *expo) downscale(shift int32) {
	if shift <= 0 {
		return
	}
	e.scale -= shift
	if len(e.counts) == 0 {
		return
	}
	newOffset := e.offset >> shift
	last := (e.offset + int32(len(e.counts)) - 1) >> shift
	merged := make([]uint64, last-newOffset+1)
	for i, c := range e.counts {
		merged[((e.offset+int32(i))>>shift)-newOffset] += c
	}
	e.offset = newOffset
	e.counts = merged
}

// merge adds o into e at the coarser of the two scales, downscaling further if the union of
// their buckets exceeds maxSize.
func (e *expo) merge(o *expo, maxSize int32) {
	e.zero += o.zero
	if len(o.counts) == 0 {
		return
	}
	src := *o
	if src.scale > e.scale {
		src.counts = append([]uint64(nil), o.counts...)
		src.downscale(src.scale - e.scale)
	} else if e.scale > src.scale {
		e.downscale(e.scale - src.scale)
	}
	// In int64: bucket indexes at scale 20 reach ±2^30, and their span overflows int32.
	lo, hi := int64(src.offset), int64(src.offset)+int64(len(src.counts))-1
	if len(e.counts) > 0 {
		lo = min(lo, int64(e.offset))
		hi = max(hi, int64(e.offset)+int64(len(e.counts))-1)
	}
	var shift int32
	for (hi>>shift)-(lo>>shift)+1 > int64(maxSize) {
		shift++
	}
	if shift > 0 {
		e.downscale(shift)
		if src.counts == nil || &src.counts[0] == &o.counts[0] {
			src.counts = append([]uint64(nil), o.counts...)
		}
		src.downscale(shift)
	}
	for i, c := range src.counts {
		if c != 0 {
			e.add(src.offset+int32(i), c)
		}
	}
}
