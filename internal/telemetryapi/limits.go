// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package telemetryapi // import "github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"

import (
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
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

// Limits of an otelcol.invocation record, which our extension's Runtime API proxy writes
// from what it read of an invocation's event. Its strings become attributes of the
// invocation span and, some of them, dimensions of every RED metric, so each is bounded by
// what AWS allows the thing it names, and must be text (no control characters).
const (
	// MaxEventSourceTokenLen bounds the kind, trigger and messaging system: short
	// identifiers ("self-managed-kafka" is the longest today), of lowercase ASCII letters,
	// digits and ".-_". A value outside the known sets is accepted, so that a newer
	// extension's kind does not make an older gateway reject the whole record.
	MaxEventSourceTokenLen = 32
	// MaxEventSourceNameLen bounds a destination or a collection: the longest names AWS
	// allows among them are CloudWatch Logs log groups (512); queues take 80, topics 256,
	// streams and tables 255, Kafka topics 249, buckets 63.
	MaxEventSourceNameLen = 512
	// MaxRouteLen bounds http.route, a route template (API Gateway's resource or route
	// key, an ALB's path): generous, since a path has no small limit, and still a bound on
	// an attribute every invocation of the function carries.
	MaxRouteLen = 1024
	// MaxEventSourceARNLen bounds the event source's ARN: 2048 is the longest ARN any AWS
	// API accepts.
	MaxEventSourceARNLen = 2048
	// MaxErrorTypeLen bounds the errorType the function's runtime posted: an exception's
	// class name, fully qualified in Java (some hundred bytes at most in practice).
	MaxErrorTypeLen = 512
	// MaxBatchSize bounds the number of records of one batch event. AWS caps every event
	// source mapping's batch at 10,000 records (SQS, Kinesis, DynamoDB, Kafka, MQ); the
	// bound leaves room for sources that are no event source mapping and for limits that
	// grow, and no event of Lambda's 6 MB payload holds 100,000 records (each is tens of
	// bytes of JSON at the least).
	MaxBatchSize = 100_000
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
// ([MaxRequestIDLen]); of an otelcol.invocation record, every field (its strings become
// attributes and metric labels, see [MaxEventSourceNameLen] and the constants around it).
// A memorySizeMB of 0 is taken as not reported.
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
	case *Invocation:
		c.invocation(r)
	}
	return c.err
}

// earliestEventUnixMs and latestEventUnixMs are EarliestEventTime and LatestEventTime in
// Unix milliseconds: an event source's time has the bounds of an event's.
var (
	earliestEventUnixMs = EarliestEventTime.UnixMilli()
	latestEventUnixMs   = LatestEventTime.UnixMilli()
)

// invocation checks an otelcol.invocation record. Its request id must not be empty: the
// record says nothing of any invocation without one.
func (c *limitCheck) invocation(r *Invocation) {
	if r.RequestID == "" {
		c.refuse("requestId", "", ruleNotEmpty)
	}
	c.requestID(r.RequestID)
	c.bounded("errorType", r.ErrorType, &errorTypeBound)
	s := r.Source
	if s == nil {
		return
	}
	if s.Kind == "" {
		c.refuse("eventSource.kind", "", ruleNotEmpty)
	}
	for _, f := range s.boundedStrings() {
		c.bounded(f.field, *f.value, f.bound)
	}
	if c.err == nil && !eventTimeWithin(s.EventTimeUnixMs) {
		c.err = &LimitError{Type: c.typ, Field: "eventSource.eventTimeUnixMs", Value: float64(s.EventTimeUnixMs),
			Min: float64(earliestEventUnixMs), Max: float64(latestEventUnixMs), Unit: "ms since the Unix epoch"}
	}
	if c.err == nil && !batchSizeWithin(s.BatchSize) {
		c.err = &LimitError{Type: c.typ, Field: "eventSource.batchSize", Value: float64(s.BatchSize),
			Min: 0, Max: MaxBatchSize, Unit: "records"}
	}
}

// DropOutOfBounds empties (or zeroes) each field of r that [CheckLimits] would refuse, and
// keeps the rest, so that one hostile value of an event (a queue name of 600 bytes, an
// event time in year 9999) does not cost the whole record, the function's errorType with
// it. An event source whose kind is empty or not a token is dropped whole: its other
// fields mean nothing without it. It returns how many fields (or event sources) it
// dropped. It changes r, and the EventSource r points to, in place.
//
// The request id is left as it is: a record without a valid one says nothing of any
// invocation, and CheckLimits still refuses it.
func (r *Invocation) DropOutOfBounds() (dropped int) {
	if !errorTypeBound.holds(r.ErrorType) {
		r.ErrorType = ""
		dropped++
	}
	s := r.Source
	if s == nil {
		return dropped
	}
	if s.Kind == "" || !tokenBound.holds(s.Kind) {
		r.Source = nil
		return dropped + 1
	}
	for _, f := range s.boundedStrings() {
		if !f.bound.holds(*f.value) {
			*f.value = ""
			dropped++
		}
	}
	if !eventTimeWithin(s.EventTimeUnixMs) {
		s.EventTimeUnixMs = 0
		dropped++
	}
	if !batchSizeWithin(s.BatchSize) {
		s.BatchSize = 0
		dropped++
	}
	return dropped
}

// boundedString is a string field of an EventSource with its bound.
type boundedString struct {
	field string // as an error names it
	value *string
	bound *stringBound
}

// boundedStrings lists the strings of s, kind first, in the order CheckLimits checks
// them; both CheckLimits and DropOutOfBounds walk this one list.
func (s *EventSource) boundedStrings() [7]boundedString {
	return [7]boundedString{
		{"eventSource.kind", &s.Kind, &tokenBound},
		{"eventSource.trigger", &s.Trigger, &tokenBound},
		{"eventSource.messagingSystem", &s.MessagingSystem, &tokenBound},
		{"eventSource.destination", &s.Destination, &nameBound},
		{"eventSource.collection", &s.Collection, &nameBound},
		{"eventSource.route", &s.Route, &routeBound},
		{"eventSource.arn", &s.ARN, &arnBound},
	}
}

// eventTimeWithin says whether an event source's time is within the bounds of an event's
// time; 0 is not reported, and passes. Compared as integers: a float64 would round a
// hostile value into range.
func eventTimeWithin(ms int64) bool {
	return ms == 0 || earliestEventUnixMs <= ms && ms < latestEventUnixMs
}

func batchSizeWithin(n int) bool { return 0 <= n && n <= MaxBatchSize }

// stringBound is what a string of an otelcol.invocation must be: a token (short
// identifier) or text, of at most maxLen bytes. rule says it in an error.
type stringBound struct {
	maxLen int
	token  bool
	rule   string
}

// The bounds of the strings of an otelcol.invocation; made once.
var (
	tokenBound     = stringBound{maxLen: MaxEventSourceTokenLen, token: true, rule: ruleToken}
	errorTypeBound = textBound(MaxErrorTypeLen)
	nameBound      = textBound(MaxEventSourceNameLen)
	routeBound     = textBound(MaxRouteLen)
	arnBound       = textBound(MaxEventSourceARNLen)
)

const ruleNotEmpty = "it must not be empty"

var ruleToken = fmt.Sprintf("at most %d bytes of a-z, 0-9, '.', '-', '_'", MaxEventSourceTokenLen)

func textBound(maxLen int) stringBound {
	return stringBound{maxLen: maxLen, rule: fmt.Sprintf("at most %d bytes of UTF-8 text without control characters", maxLen)}
}

// holds says whether v is within the bound. Empty is absent, and passes.
//
// A token is lowercase ASCII letters, digits, '.', '-' and '_'. Text is valid UTF-8 with no
// control character (C0, DEL, C1): it becomes an attribute, and a metric label, as it is.
// Invalid UTF-8 is refused too: JSON encoding replaces each bad byte with U+FFFD, three
// bytes, so such a value within maxLen here could be past it in the record.
func (b *stringBound) holds(v string) bool {
	if len(v) > b.maxLen {
		return false
	}
	if b.token {
		for i := 0; i < len(v); i++ {
			c := v[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(v); {
		if c := v[i]; c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(v[i:])
		if r == utf8.RuneError && size == 1 || 0x80 <= r && r <= 0x9f {
			return false
		}
		i += size
	}
	return true
}

// bounded refuses a value outside its bound.
func (c *limitCheck) bounded(field, v string, b *stringBound) {
	if c.err == nil && !b.holds(v) {
		c.refuse(field, v, b.rule)
	}
}

// refuse keeps the first violation as a fieldError.
func (c *limitCheck) refuse(field, value, rule string) {
	if c.err == nil {
		c.err = &fieldError{typ: c.typ, field: field, value: value, rule: rule}
	}
}

// fieldError is a string of a record outside its bounds. It refers to the value, which the
// record holds anyway, and makes its message only when asked: a body of tiny bad records
// must not cost a message each (as spanStartError).
type fieldError struct {
	typ, field, value, rule string
}

func (e *fieldError) Error() string {
	return e.typ + " record: " + e.field + " " + quoteShort(e.value) + " is " + ErrOutOfRange.Error() + " (" + e.rule + ")"
}

func (e *fieldError) Unwrap() error { return ErrOutOfRange }

// quoteShort names a refused value in an error: quoted when short, by its length when not,
// so that an error does not copy a hostile value.
func quoteShort(v string) string {
	if len(v) > 64 {
		return "of " + strconv.Itoa(len(v)) + " bytes"
	}
	return strconv.QuoteToASCII(v)
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
