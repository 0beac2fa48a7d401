// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package telemetryapi // import "github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Limits of what Lambda produces. A value outside them comes from a broken or hostile
// forwarder, never from Lambda: a receiver rejects the event that carries it, and counts
// it, rather than clamp it into range, because a clamped value is a wrong value that looks
// right (a duration of 1e308 ms once added 9.2e9 s to a duration sum; a negative one was
// taken as 0).
const (
	// MaxFunctionTimeout is Lambda's longest function timeout. It bounds every phase of an
	// execution environment: an invocation, an init re-run inside one, a provisioned or
	// SnapStart init.
	MaxFunctionTimeout = 15 * time.Minute
	// DurationMargin is allowed beyond MaxFunctionTimeout. billedDurationMs may include the
	// init phase (up to 10 s on demand) on top of a whole invocation, a timed-out invocation
	// reports a little more than its timeout, and Lambda rounds; a minute covers all of it
	// and still refuses anything no function could run.
	DurationMargin = time.Minute

	// MinMemorySizeMB and MaxMemorySizeMB bound a function's configured memory, in
	// Lambda's MB (MiB).
	MinMemorySizeMB = 128
	MaxMemorySizeMB = 10240
	// MemoryUsedMarginMB is how far maxMemoryUsedMB may exceed memorySizeMB: a function that
	// runs out of memory can be reported using a little more than it has.
	MemoryUsedMarginMB = 64

	// MaxProducedBytes bounds a response's size: Lambda's limits are 6 MB buffered and
	// 200 MB streamed; 1 GiB leaves room for both to grow.
	MaxProducedBytes = 1 << 30
	// MaxDroppedCount bounds the counts of platform.logsDropped (records, bytes): a
	// sandbox cannot drop a terabyte of telemetry.
	MaxDroppedCount = 1e12
	// MaxRequestIDLen bounds the requestId of platform.start, platform.runtimeDone and
	// platform.report, which must also be printable ASCII. Lambda's are UUIDs (36
	// characters); a receiver keys an invocation's state on its id, keeps it while the
	// invocation runs, and writes it on the invocation's span, so a 100 kB id costs 100 kB
	// per invocation (and it is not clamped: a cut id could join two invocations).
	MaxRequestIDLen = 128
	// MaxRecordListLen bounds the lists of a record: the spans of the platform records, the
	// events of platform.extension and the types of platform.telemetrySubscription. Lambda
	// writes at most 3 of each. Each element of a list costs 16 to 48 bytes decoded, from as
	// little as 3 bytes of JSON ({}, ""): a body-long list cost 34 to 98 times the body. A
	// record past the bound is rejected, and a runtimeDone's invocation with it: raise it if
	// Lambda ever writes more (the receiver's hostile-body memory test says how far it can go).
	MaxRecordListLen = 4
)

// maxDurationMs is the longest duration, in milliseconds, an event may report.
const maxDurationMs = float64((MaxFunctionTimeout + DurationMargin) / time.Millisecond)

// Event and span times outside [EarliestEventTime, LatestEventTime) are refused. The
// bounds are not a freshness check (a forwarder may resend old events): they keep times
// within what a Unix nanosecond timestamp holds, and out of the years before Lambda.
var (
	EarliestEventTime = time.Date(2014, time.November, 13, 0, 0, 0, 0, time.UTC) // Lambda's launch
	LatestEventTime   = time.Date(2200, time.January, 1, 0, 0, 0, 0, time.UTC)
)

// ErrOutOfRange is wrapped by every error about a value Lambda cannot produce, so that
// callers count those apart from records that do not decode.
var ErrOutOfRange = errors.New("outside what Lambda produces")

var errSpanStartRange = fmt.Errorf("a span's start is %w: before %d or after %d", ErrOutOfRange,
	EarliestEventTime.Year(), LatestEventTime.Year())

// LimitError reports a number in a record that Lambda cannot produce.
type LimitError struct {
	Type  string // the event type
	Field string // where in the record, e.g. "metrics.durationMs"
	Value float64
	Min   float64
	Max   float64
	Unit  string
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s record: %s = %g is %s (%g to %g %s)", e.Type, e.Field, e.Value, ErrOutOfRange, e.Min, e.Max, e.Unit)
}

func (e *LimitError) Unwrap() error { return ErrOutOfRange }

// CheckLimits returns an error wrapping [ErrOutOfRange] about the first value of rec, a
// record [Event.DecodeRecord] returned for an event of type typ, that Lambda cannot
// produce, and nil when there is none. It checks the values a receiver turns into
// durations, sizes and counts, and the request ids it keys invocations on
// ([MaxRequestIDLen]). A memorySizeMB of 0 is taken as not reported.
func CheckLimits(typ string, rec any) error {
	c := limitCheck{typ: typ}
	switch r := rec.(type) {
	case *PlatformStart:
		c.requestID(r.RequestID)
	case *PlatformRuntimeDone:
		c.requestID(r.RequestID)
		if m := r.Metrics; m != nil {
			c.duration("metrics.durationMs", m.DurationMs)
			if m.ProducedBytes != nil {
				c.within("metrics.producedBytes", *m.ProducedBytes, 0, MaxProducedBytes, "bytes")
			}
		}
		c.spans(r.Spans)
	case *PlatformReport:
		c.requestID(r.RequestID)
		m := r.Metrics
		c.duration("metrics.durationMs", m.DurationMs)
		c.duration("metrics.billedDurationMs", m.BilledDurationMs)
		if m.InitDurationMs != nil {
			c.duration("metrics.initDurationMs", *m.InitDurationMs)
		}
		if m.RestoreDurationMs != nil {
			c.duration("metrics.restoreDurationMs", *m.RestoreDurationMs)
		}
		if m.BilledRestoreDurationMs != nil {
			c.duration("metrics.billedRestoreDurationMs", *m.BilledRestoreDurationMs)
		}
		maxUsed := float64(MaxMemorySizeMB + MemoryUsedMarginMB)
		if m.MemorySizeMB != 0 {
			c.within("metrics.memorySizeMB", m.MemorySizeMB, MinMemorySizeMB, MaxMemorySizeMB, "MB")
			maxUsed = m.MemorySizeMB + MemoryUsedMarginMB
		}
		c.within("metrics.maxMemoryUsedMB", m.MaxMemoryUsedMB, 0, maxUsed, "MB")
		c.spans(r.Spans)
	case *PlatformInitReport:
		c.duration("metrics.durationMs", r.Metrics.DurationMs)
		c.spans(r.Spans)
	case *PlatformRestoreReport:
		c.duration("metrics.durationMs", r.Metrics.DurationMs)
		c.spans(r.Spans)
	case *PlatformInitRuntimeDone:
		c.spans(r.Spans)
	case *PlatformRestoreRuntimeDone:
		c.spans(r.Spans)
	case *PlatformLogsDropped:
		c.within("droppedRecords", r.DroppedRecords, 0, MaxDroppedCount, "records")
		c.within("droppedBytes", r.DroppedBytes, 0, MaxDroppedCount, "bytes")
	}
	return c.err
}

// limitCheck keeps the first violation; it allocates only then.
type limitCheck struct {
	typ string
	err error
}

// within also refuses NaN, which no comparison holds for.
func (c *limitCheck) within(field string, v, lo, hi float64, unit string) {
	if c.err == nil && !(v >= lo && v <= hi) {
		c.err = &LimitError{Type: c.typ, Field: field, Value: v, Min: lo, Max: hi, Unit: unit}
	}
}

// requestID refuses an id longer than MaxRequestIDLen or holding a byte that is not
// printable ASCII (a control character, or any of UTF-8's).
func (c *limitCheck) requestID(id string) {
	if c.err != nil {
		return
	}
	ok := len(id) <= MaxRequestIDLen
	for i := 0; ok && i < len(id); i++ {
		ok = ' ' <= id[i] && id[i] <= '~'
	}
	if ok {
		return
	}
	what := strconv.QuoteToASCII(id)
	if len(id) > 64 {
		what = "of " + strconv.Itoa(len(id)) + " bytes"
	}
	c.err = fmt.Errorf("%s record: requestId %s is %w (at most %d bytes of printable ASCII)", c.typ, what, ErrOutOfRange, MaxRequestIDLen)
}

func (c *limitCheck) duration(field string, ms float64) {
	c.within(field, ms, 0, maxDurationMs, "ms")
}

func (c *limitCheck) spans(spans []Span) {
	for i := range spans {
		if c.err != nil {
			return
		}
		c.duration("spans[].durationMs", spans[i].DurationMs)
		if c.err == nil && (spans[i].Start.Before(EarliestEventTime) || !spans[i].Start.Before(LatestEventTime)) {
			c.err = spanStartError{c.typ}
		}
	}
}

// spanStartError is a span start out of range in a record of type typ. It costs the
// error value alone: fmt.Errorf's message cost a rejected record of tiny spans more than
// the record itself.
type spanStartError struct{ typ string }

func (e spanStartError) Error() string { return e.typ + " record: " + errSpanStartRange.Error() }

func (e spanStartError) Unwrap() error { return errSpanStartRange }
