// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package telemetryapi // import "github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"

// recordArena is where ScanDecoded puts the records of one batch. A batch holds the same
// few record types many times over, and each record of an invocation repeats its request
// id and trace context: allocating each record, each of its parts and each string on its
// own was most of what decoding a batch allocated. The arena takes the records from slabs
// and shares a string or a trace context that repeats one decoded just before.
//
// A nil arena allocates each record on its own, as DecodeRecord returns it.
type recordArena struct {
	starts             slab[PlatformStart]
	runtimeDones       slab[PlatformRuntimeDone]
	reports            slab[PlatformReport]
	runtimeDoneMetrics slab[RuntimeDoneMetrics]
	numbers            slab[float64]
	spans              slab[Span]
	invocations        slab[Invocation]
	eventSources       slab[EventSource]
	// size is the batch's, and read how much of it the scan has read: they size the slabs.
	size, read int

	// recent are the last strings decoded that read as they are written (no escapes), to
	// share with the next record that repeats one.
	recent     [8]string
	nextRecent int
	// lastTracing is the last trace context decoded, shared with the next record whose
	// trace context is the same.
	lastTracing *TraceContext
}

// Slab sizes. The first slab of a kind is a guess from the batch's size; when it is used
// up, the next holds what the rest of the batch should need at the rate seen so far, with
// an eighth more: a batch of invocations then costs about two allocations per kind, and
// wastes about a tenth of them.
const (
	bytesPerFirstSlab = 2048 // a record of each kind per 2 kB; an invocation is 0.5 to 1.5 kB
	maxSlab           = 1024
)

// slab hands out parts of a larger allocation. Nothing is ever handed out twice.
type slab[T any] struct {
	free  []T
	taken int // how many were handed out
}

// take returns n zero values, capacity n, so that an append cannot reach the next ones.
// a tells how much of the batch was read.
func (s *slab[T]) take(n int, a *recordArena) []T {
	if len(s.free) < n {
		size := a.size / bytesPerFirstSlab
		if s.taken > 0 && a.read > 0 {
			size = s.taken*(a.size-a.read)/a.read + s.taken/8 + 1
		}
		s.free = make([]T, max(min(size, maxSlab), n))
	}
	s.taken += n
	out := s.free[:n:n]
	s.free = s.free[n:]
	return out
}

func (a *recordArena) newStart() *PlatformStart {
	if a == nil {
		return new(PlatformStart)
	}
	return &a.starts.take(1, a)[0]
}

func (a *recordArena) newRuntimeDone() *PlatformRuntimeDone {
	if a == nil {
		return new(PlatformRuntimeDone)
	}
	return &a.runtimeDones.take(1, a)[0]
}

func (a *recordArena) newReport() *PlatformReport {
	if a == nil {
		return new(PlatformReport)
	}
	return &a.reports.take(1, a)[0]
}

func (a *recordArena) newRuntimeDoneMetrics() *RuntimeDoneMetrics {
	if a == nil {
		return new(RuntimeDoneMetrics)
	}
	return &a.runtimeDoneMetrics.take(1, a)[0]
}

func (a *recordArena) newInvocation() *Invocation {
	if a == nil {
		return new(Invocation)
	}
	return &a.invocations.take(1, a)[0]
}

func (a *recordArena) newEventSource() *EventSource {
	if a == nil {
		return new(EventSource)
	}
	return &a.eventSources.take(1, a)[0]
}

func (a *recordArena) newNumber() *float64 {
	if a == nil {
		return new(float64)
	}
	return &a.numbers.take(1, a)[0]
}

// keepSpans copies the spans a record's array held out of the decoder's scratch space. An
// empty array stays an empty slice, not nil, as encoding/json decodes it.
func (a *recordArena) keepSpans(spans []Span) []Span {
	var kept []Span
	if a == nil || len(spans) == 0 {
		kept = make([]Span, len(spans))
	} else {
		kept = a.spans.take(len(spans), a)
	}
	copy(kept, spans)
	return kept
}

// keepTracing returns tc on the heap, shared with the record before when that one's is
// the same.
func (a *recordArena) keepTracing(tc TraceContext) *TraceContext {
	if a != nil && a.lastTracing != nil && *a.lastTracing == tc {
		return a.lastTracing
	}
	kept := new(TraceContext)
	*kept = tc
	if a != nil {
		a.lastTracing = kept
	}
	return kept
}

// unquote is the package's unquote, sharing a recent string that reads the same.
func (a *recordArena) unquote(q []byte) (string, bool) {
	if a == nil {
		return unquote(q)
	}
	raw := q[1 : len(q)-1]
	for _, s := range a.recent {
		if s == string(raw) {
			return s, true
		}
	}
	s, ok := unquote(q)
	// Kept only when its text is raw's: a later raw text equal to it then means it too.
	if ok && s == string(raw) {
		a.recent[a.nextRecent] = s
		a.nextRecent = (a.nextRecent + 1) % len(a.recent)
	}
	return s, ok
}
