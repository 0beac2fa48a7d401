// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package telemetryapi // import "github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// This file is the fast path for what the receiver decodes per invocation:
// the event envelope, platform.start, platform.runtimeDone, platform.report,
// log records and our extension's otelcol.invocation. encoding/json spends most of its time on reflection and
// allocations here.
//
// decoder is a small validating JSON reader. Its methods return false for
// invalid JSON and also for anything off the expected shape (null, a
// duplicate key, a key that differs from a field only in case, a number out
// of range...). The caller then decodes with encoding/json, which defines
// the result and the error. So the fast path has to be right only on what it
// accepts, and the fuzz tests check that it matches encoding/json there.
type decoder struct {
	data []byte
	pos  int
	// arena, when set, is a batch's: records come from its slabs, repeated strings are
	// shared, and log extras share data (see ScanDecoded). Without it every record is
	// allocated on its own, as DecodeRecord returns it.
	arena *recordArena
	// refused is set when the fast path stopped at a value encoding/json refuses whatever
	// surrounds it: the record is malformed, and encoding/json, whose error costs some
	// times a tiny record, need not say so.
	refused error
}

// maxDepth bounds the nesting of skipped values; deeper input falls back.
const maxDepth = 1000

func (d *decoder) peek() byte {
	for d.pos < len(d.data) {
		// Compact JSON has no spaces: a byte above ' ' is the answer at once.
		if c := d.data[d.pos]; c > ' ' || !isSpace(c) {
			return c
		}
		d.pos++
	}
	return 0
}

func (d *decoder) eat(c byte) bool {
	if d.peek() == c {
		d.pos++
		return true
	}
	return false
}

func (d *decoder) atEnd() bool {
	d.peek()
	return d.pos == len(d.data)
}

// object reads an object, calling field with each key (quoted, as in the
// input) and the decoder at its value, which field must consume.
func (d *decoder) object(field func(key []byte) bool) bool {
	if !d.eat('{') {
		return false
	}
	if d.eat('}') {
		return true
	}
	for {
		if d.peek() != '"' {
			return false
		}
		key, ok := d.quoted()
		if !ok || !d.eat(':') || !field(key) {
			return false
		}
		if !d.eat(',') {
			return d.eat('}')
		}
	}
}

// array reads an array, calling elem at each element.
func (d *decoder) array(elem func() bool) bool {
	if !d.eat('[') {
		return false
	}
	if d.eat(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if !d.eat(',') {
			return d.eat(']')
		}
	}
}

// plainByte tells the bytes a string holds as they are: not a quote, a
// backslash or a control character.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// anySpecial reports whether one of the 8 bytes in w is not a plainByte: a quote, a
// backslash or a control character. Strings are read 8 bytes at a time while none is: a
// request id, an X-Ray header and a time are 24 to 80 bytes.
func anySpecial(w uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote := w ^ (ones * '"')
	backslash := w ^ (ones * '\\')
	// A byte is zero (or below 0x20) exactly when subtracting 1 (0x20) borrows into its
	// high bit while the byte's own high bit is clear.
	return ((quote-ones)&^quote|(backslash-ones)&^backslash|(w-ones*0x20)&^w)&highs != 0
}

// quoted reads a string at d.pos and returns it with its quotes, escapes
// unresolved.
func (d *decoder) quoted() ([]byte, bool) {
	start, data := d.pos, d.data
	for i := start + 1; i < len(data); i++ {
		for i+8 <= len(data) && !anySpecial(binary.LittleEndian.Uint64(data[i:])) {
			i += 8
		}
		for i < len(data) && plainByte[data[i]] {
			i++
		}
		if i == len(data) {
			break
		}
		switch data[i] {
		case '"':
			d.pos = i + 1
			return data[start:d.pos], true
		case '\\':
			i++
			if i == len(data) {
				return nil, false
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(data) {
					return nil, false
				}
				for _, h := range data[i+1 : i+5] {
					if _, ok := fromHex(h); !ok {
						return nil, false
					}
				}
				i += 4
			default:
				return nil, false
			}
		default: // a control character
			return nil, false
		}
	}
	return nil, false
}

// number reads a number at d.pos, by JSON's grammar (strconv accepts more).
func (d *decoder) number() ([]byte, bool) {
	start, i, n := d.pos, d.pos, len(d.data)
	digits := func() bool {
		j := i
		for i < n && '0' <= d.data[i] && d.data[i] <= '9' {
			i++
		}
		return i > j
	}
	if i < n && d.data[i] == '-' {
		i++
	}
	switch {
	case i < n && d.data[i] == '0':
		i++
	case !digits():
		return nil, false
	}
	if i < n && d.data[i] == '.' {
		i++
		if !digits() {
			return nil, false
		}
	}
	if i < n && (d.data[i] == 'e' || d.data[i] == 'E') {
		i++
		if i < n && (d.data[i] == '+' || d.data[i] == '-') {
			i++
		}
		if !digits() {
			return nil, false
		}
	}
	d.pos = i
	return d.data[start:i], true
}

func (d *decoder) literal(lit string) bool {
	if bytes.HasPrefix(d.data[d.pos:], []byte(lit)) {
		d.pos += len(lit)
		return true
	}
	return false
}

// skip reads any value.
func (d *decoder) skip(depth int) bool {
	switch c := d.peek(); {
	case c == '"':
		_, ok := d.quoted()
		return ok
	case c == '{':
		return depth < maxDepth && d.object(func([]byte) bool { return d.skip(depth + 1) })
	case c == '[':
		return depth < maxDepth && d.array(func() bool { return d.skip(depth + 1) })
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		_, ok := d.number()
		return ok
	}
	return false
}

// value reads any value and returns its bytes.
func (d *decoder) value() ([]byte, bool) { return d.valueAt(0) }

// valueAt is value for a value that depth containers enclose (of those skip counts).
func (d *decoder) valueAt(depth int) ([]byte, bool) {
	d.peek()
	start := d.pos
	ok := d.skip(depth)
	return d.data[start:d.pos], ok
}

// validJSON is json.Valid, faster on what the decoder can read.
func validJSON(b []byte) bool {
	d := decoder{data: b}
	return d.skip(0) && d.atEnd() || json.Valid(b)
}

func (d *decoder) str(dst *string) bool {
	if d.peek() != '"' {
		return false
	}
	q, ok := d.quoted()
	if ok {
		*dst, ok = d.arena.unquote(q)
	}
	return ok
}

// strOf reads a string, without allocating when it is one of known: status
// values, span names and the like repeat in every record.
func (d *decoder) strOf(dst *string, known []string) bool {
	if d.peek() != '"' {
		return false
	}
	q, ok := d.quoted()
	if !ok {
		return false
	}
	for _, k := range known {
		if string(q[1:len(q)-1]) == k {
			*dst = k
			return true
		}
	}
	*dst, ok = d.arena.unquote(q)
	return ok
}

var (
	statuses     = []string{StatusSuccess, StatusFailure, StatusError, StatusTimeout}
	tracingTypes = []string{TracingTypeXRay}
	spanNames    = []string{SpanResponseLatency, SpanResponseDuration, SpanRuntimeOverhead}
	versions     = []string{"$LATEST"}
)

func (d *decoder) num(dst *float64) bool {
	if c := d.peek(); c != '-' && (c < '0' || c > '9') {
		return false
	}
	b, ok := d.number()
	if !ok {
		return false
	}
	v, err := strconv.ParseFloat(string(b), 64)
	*dst = v
	return err == nil
}

func (d *decoder) optNum(dst **float64) bool {
	var v float64
	if !d.num(&v) {
		return false
	}
	p := d.arena.newNumber()
	*p = v
	*dst = p
	return true
}

func (d *decoder) time(dst *time.Time) bool {
	if d.peek() != '"' {
		return false
	}
	q, ok := d.quoted()
	return ok && unmarshalTime(dst, q) // as encoding/json does
}

// unmarshalTime is time.Time's UnmarshalJSON, reading the layout Lambda writes (UTC,
// milliseconds) itself: time's parser took a fifth of decoding an invocation's events.
func unmarshalTime(dst *time.Time, q []byte) bool {
	if t, ok := lambdaTime(q); ok {
		*dst = t
		return true
	}
	return dst.UnmarshalJSON(q) == nil
}

// lambdaTime reads a quoted time written exactly as "2006-01-02T15:04:05.000Z", and
// refuses anything else, valid or not, for time's parser to decide.
func lambdaTime(q []byte) (time.Time, bool) {
	if len(q) != len(`"`+TimeLayout+`"`) || q[5] != '-' || q[8] != '-' || q[11] != 'T' ||
		q[14] != ':' || q[17] != ':' || q[20] != '.' || q[24] != 'Z' {
		return time.Time{}, false
	}
	year, ok1 := digits(q[1:5])
	month, ok2 := digits(q[6:8])
	day, ok3 := digits(q[9:11])
	hour, ok4 := digits(q[12:14])
	minute, ok5 := digits(q[15:17])
	sec, ok6 := digits(q[18:20])
	ms, ok7 := digits(q[21:24])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) || year < 1 || month < 1 || month > 12 ||
		day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	unix := daysSinceEpoch(year, month, day)*86400 + int64(hour*3600+minute*60+sec)
	return time.Unix(unix, int64(ms)*int64(time.Millisecond)).UTC(), true
}

// digits reads a decimal number of a few digits.
func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysSinceEpoch is the number of days from 1970-01-01 to a date of the proleptic
// Gregorian calendar, year at least 1 (Howard Hinnant's days_from_civil).
func daysSinceEpoch(year, month, day int) int64 {
	if month <= 2 {
		year--
	}
	era := year / 400
	yearOfEra := year - era*400
	dayOfYear := (153*((month+9)%12)+2)/5 + day - 1
	dayOfEra := yearOfEra*365 + yearOfEra/4 - yearOfEra/100 + dayOfYear
	return int64(era)*146097 + int64(dayOfEra) - 719468
}

// unknownKey skips the value of a key the caller does not decode.
// encoding/json ignores such a key unless, unescaped, it matches a field
// case-insensitively; the fast path gives up whenever that could be. depth is
// how many containers of the record enclose the value, so that a record decoded
// within its event refuses the nesting that reading it as a value refuses.
func (d *decoder) unknownKey(key []byte, fields []string, depth int) bool {
	name := key[1 : len(key)-1]
	for _, c := range name {
		if c == '\\' || c >= utf8.RuneSelf {
			return false
		}
	}
	for _, f := range fields {
		if len(f) == len(name) && asciiEqualFold(name, f) {
			return false
		}
	}
	return d.skip(depth)
}

func asciiEqualFold(b []byte, s string) bool {
	for i := range b {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// once marks a key seen and reports whether it was new: encoding/json merges
// duplicate objects, which the fast path leaves to it.
func once(seen *uint16, bit uint16) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

// unquote returns the value of a quoted JSON string as encoding/json does,
// doing the common cases itself.
func unquote(q []byte) (string, bool) {
	s := q[1 : len(q)-1]
	esc := bytes.IndexByte(s, '\\')
	valid := utf8.Valid(s)
	if esc < 0 && valid {
		return string(s), true
	}
	if !valid || bytes.Contains(s[esc:], []byte(`\u`)) {
		// Replacement of invalid UTF-8 and \u escapes (surrogates): let
		// encoding/json do them.
		var out string
		err := json.Unmarshal(q, &out)
		return out, err == nil
	}
	var b strings.Builder
	b.Grow(len(s))
	b.Write(s[:esc])
	for i := esc; i < len(s); i++ {
		c := s[i]
		if c == '\\' {
			i++
			switch c = s[i]; c {
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			}
		}
		b.WriteByte(c)
	}
	return b.String(), true
}

var eventFields = []string{"time", "type", "record"}

// decodeEventsFast decodes a batch of events. Their records share memory with
// data (see copyRecords).
func decodeEventsFast(data []byte) ([]Event, bool) {
	d := decoder{data: data}
	events := make([]Event, 0, 1+len(data)/256)
	ok := d.array(func() bool {
		var ev Event
		var seen uint16
		ok := d.object(func(key []byte) bool {
			switch string(key) {
			case `"time"`:
				return once(&seen, 1) && d.time(&ev.Time)
			case `"type"`:
				return once(&seen, 2) && d.eventType(&ev.Type)
			case `"record"`:
				if !once(&seen, 4) || d.peek() == 'n' {
					return false
				}
				record, ok := d.value()
				ev.Record = record[:len(record):len(record)] // an append must not write into data
				return ok
			}
			return d.unknownKey(key, eventFields, 0)
		})
		events = append(events, ev)
		return ok
	})
	if !ok || !d.atEnd() {
		return nil, false
	}
	return events, true
}

// copyRecords copies all records into one allocation, so that they no longer
// share memory with the data they were decoded from.
func copyRecords(events []Event) {
	total := 0
	for _, ev := range events {
		total += len(ev.Record)
	}
	arena := make([]byte, 0, total)
	for i := range events {
		if r := events[i].Record; r != nil {
			start := len(arena)
			arena = append(arena, r...)
			events[i].Record = arena[start:len(arena):len(arena)]
		}
	}
}

// eventTypes are the types [Event.DecodeRecord] knows.
var eventTypes = []string{
	TypePlatformInitStart, TypePlatformInitRuntimeDone, TypePlatformInitReport,
	TypePlatformStart, TypePlatformRuntimeDone, TypePlatformReport,
	TypePlatformRestoreStart, TypePlatformRestoreRuntimeDone, TypePlatformRestoreReport,
	TypePlatformExtension, TypePlatformTelemetrySubscription, TypePlatformLogsDropped,
	TypeFunction, TypeExtension, TypeInvocation,
}

// eventType reads an event type, without allocating for the known ones.
func (d *decoder) eventType(dst *string) bool { return d.strOf(dst, eventTypes) }

// Fields of the records decoded here, for unknownKey.
var (
	traceContextFields       = []string{"spanId", "type", "value"}
	spanFields               = []string{"name", "start", "durationMs"}
	runtimeDoneMetricsFields = []string{"durationMs", "producedBytes"}
	reportMetricsFields      = []string{"durationMs", "billedDurationMs", "memorySizeMB", "maxMemoryUsedMB", "initDurationMs", "restoreDurationMs", "billedRestoreDurationMs"}
	startFields              = []string{"requestId", "version", "tracing"}
	invocationFields         = []string{"requestId", "status", "errorType", "metrics", "spans", "tracing"}
	invocationRecordFields   = []string{"requestId", "eventSource", "errorType"}
	eventSourceFields        = []string{"kind", "trigger", "messagingSystem", "destination", "collection", "route", "arn", "eventTimeUnixMs", "batchSize"}
)

// Values of an otelcol.invocation's event source that repeat in every record: read
// without allocating.
var (
	eventSourceKinds = []string{"sqs", "sns", "apigateway-rest", "apigateway-http", "function-url", "alb",
		"kinesis", "dynamodb", "s3", "eventbridge", "schedule", "kafka", "self-managed-kafka",
		"cloudwatch-logs", "cognito", "unknown"}
	eventSourceTriggers = []string{"http", "pubsub", "datasource", "timer", "other"}
	messagingSystems    = []string{"aws_sqs", "aws.sns", "kafka", "aws_kinesis", "aws_eventbridge"}
)

// The record decoders below repeat one pattern on purpose (an object, a switch
// on its quoted keys, once per key, unknownKey for the rest) rather than share a
// table-driven or reflective reader: a switch compiled per record and fields
// written in place are what make them fast. BenchmarkDecodeEvents against
// BenchmarkDecodeEventsEncodingJSON shows it: about 4 times faster, with 20
// allocations per invocation's batch instead of 68.

// decodeFast decodes the records the receiver sees on every invocation.
func decodeFast(data []byte, rec any) bool {
	d := decoder{data: data}
	return d.record(rec) && d.atEnd()
}

// record decodes the record at d.pos into rec, which newFastRecord made.
func (d *decoder) record(rec any) bool {
	switch r := rec.(type) {
	case *PlatformStart:
		return d.start(r)
	case *PlatformRuntimeDone:
		return invocationEnd(d, (*InvocationEnd[*RuntimeDoneMetrics])(r), (*decoder).runtimeDoneMetrics)
	case *PlatformReport:
		return invocationEnd(d, (*InvocationEnd[ReportMetrics])(r), (*decoder).reportMetrics)
	case *LogRecord:
		return d.logRecord(r)
	case *Invocation:
		return d.invocation(r)
	}
	return false
}

// newFastRecord returns a new record for an event type that record decodes, nil
// for the others.
func (d *decoder) newFastRecord(typ string) any {
	switch typ {
	case TypePlatformStart:
		return d.arena.newStart()
	case TypePlatformRuntimeDone:
		return d.arena.newRuntimeDone()
	case TypePlatformReport:
		return d.arena.newReport()
	case TypeFunction, TypeExtension:
		return new(LogRecord)
	case TypeInvocation:
		return d.arena.newInvocation()
	}
	return nil
}

func (d *decoder) start(r *PlatformStart) bool {
	var seen uint16
	return d.object(func(key []byte) bool {
		switch string(key) {
		case `"requestId"`:
			return once(&seen, 1) && d.str(&r.RequestID)
		case `"version"`:
			return once(&seen, 2) && d.strOf(&r.Version, versions)
		case `"tracing"`:
			return once(&seen, 4) && d.tracing(&r.Tracing)
		}
		return d.unknownKey(key, startFields, 1)
	})
}

// invocationEnd decodes platform.runtimeDone and platform.report, whose
// metrics decodes.
func invocationEnd[M InvocationMetrics](d *decoder, r *InvocationEnd[M], metrics func(*decoder, *M) bool) bool {
	var seen uint16
	return d.object(func(key []byte) bool {
		switch string(key) {
		case `"requestId"`:
			return once(&seen, 1) && d.str(&r.RequestID)
		case `"status"`:
			return once(&seen, 2) && d.strOf(&r.Status, statuses)
		case `"errorType"`:
			return once(&seen, 4) && d.str(&r.ErrorType)
		case `"metrics"`:
			return once(&seen, 8) && metrics(d, &r.Metrics)
		case `"spans"`:
			return once(&seen, 16) && d.spans(&r.Spans)
		case `"tracing"`:
			return once(&seen, 32) && d.tracing(&r.Tracing)
		}
		return d.unknownKey(key, invocationFields, 1)
	})
}

func (d *decoder) tracing(dst **TraceContext) bool {
	var tc TraceContext
	var seen uint16
	ok := d.object(func(key []byte) bool {
		switch string(key) {
		case `"spanId"`:
			return once(&seen, 1) && d.str(&tc.SpanID)
		case `"type"`:
			return once(&seen, 2) && d.strOf(&tc.Type, tracingTypes)
		case `"value"`:
			return once(&seen, 4) && d.str(&tc.Value)
		}
		return d.unknownKey(key, traceContextFields, 2)
	})
	*dst = d.arena.keepTracing(tc)
	return ok
}

func (d *decoder) spans(dst *[]Span) bool {
	var few [MaxRecordListLen]Span // runtimeDone has up to 3
	spans := few[:0]
	ok := d.array(func() bool {
		if len(spans) == len(few) {
			return false // encoding/json decides, refusing the list (listTooLong)
		}
		spans = append(spans, Span{})
		s := &spans[len(spans)-1]
		var seen uint16
		return d.object(func(key []byte) bool {
			switch string(key) {
			case `"name"`:
				return once(&seen, 1) && d.strOf(&s.Name, spanNames)
			case `"start"`:
				return once(&seen, 2) && d.time(&s.Start)
			case `"durationMs"`:
				return once(&seen, 4) && d.num(&s.DurationMs)
			}
			return d.unknownKey(key, spanFields, 3)
		})
	})
	*dst = d.arena.keepSpans(spans)
	return ok
}

func (d *decoder) runtimeDoneMetrics(dst **RuntimeDoneMetrics) bool {
	m := d.arena.newRuntimeDoneMetrics()
	*dst = m
	var seen uint16
	return d.object(func(key []byte) bool {
		switch string(key) {
		case `"durationMs"`:
			return once(&seen, 1) && d.num(&m.DurationMs)
		case `"producedBytes"`:
			return once(&seen, 2) && d.optNum(&m.ProducedBytes)
		}
		return d.unknownKey(key, runtimeDoneMetricsFields, 2)
	})
}

func (d *decoder) reportMetrics(m *ReportMetrics) bool {
	var seen uint16
	return d.object(func(key []byte) bool {
		switch string(key) {
		case `"durationMs"`:
			return once(&seen, 1) && d.num(&m.DurationMs)
		case `"billedDurationMs"`:
			return once(&seen, 2) && d.num(&m.BilledDurationMs)
		case `"memorySizeMB"`:
			return once(&seen, 4) && d.num(&m.MemorySizeMB)
		case `"maxMemoryUsedMB"`:
			return once(&seen, 8) && d.num(&m.MaxMemoryUsedMB)
		case `"initDurationMs"`:
			return once(&seen, 16) && d.optNum(&m.InitDurationMs)
		case `"restoreDurationMs"`:
			return once(&seen, 32) && d.optNum(&m.RestoreDurationMs)
		case `"billedRestoreDurationMs"`:
			return once(&seen, 64) && d.optNum(&m.BilledRestoreDurationMs)
		}
		return d.unknownKey(key, reportMetricsFields, 2)
	})
}

// invocation decodes otelcol.invocation, which our extension sends with every invocation
// it proxied.
func (d *decoder) invocation(r *Invocation) bool {
	var seen uint16
	return d.object(func(key []byte) bool {
		switch string(key) {
		case `"requestId"`:
			return once(&seen, 1) && d.str(&r.RequestID)
		case `"eventSource"`:
			return once(&seen, 2) && d.eventSource(&r.Source)
		case `"errorType"`:
			return once(&seen, 4) && d.str(&r.ErrorType)
		}
		return d.unknownKey(key, invocationRecordFields, 1)
	})
}

func (d *decoder) eventSource(dst **EventSource) bool {
	s := d.arena.newEventSource()
	*dst = s
	var seen uint16
	return d.object(func(key []byte) bool {
		switch string(key) {
		case `"kind"`:
			return once(&seen, 1) && d.strOf(&s.Kind, eventSourceKinds)
		case `"trigger"`:
			return once(&seen, 2) && d.strOf(&s.Trigger, eventSourceTriggers)
		case `"messagingSystem"`:
			return once(&seen, 4) && d.strOf(&s.MessagingSystem, messagingSystems)
		case `"destination"`:
			return once(&seen, 8) && d.str(&s.Destination)
		case `"collection"`:
			return once(&seen, 16) && d.str(&s.Collection)
		case `"route"`:
			return once(&seen, 32) && d.str(&s.Route)
		case `"arn"`:
			return once(&seen, 64) && d.str(&s.ARN)
		case `"eventTimeUnixMs"`:
			return once(&seen, 128) && d.integer(&s.EventTimeUnixMs, 64)
		case `"batchSize"`:
			var n int64
			ok := once(&seen, 256) && d.integer(&n, strconv.IntSize)
			s.BatchSize = int(n)
			return ok
		}
		return d.unknownKey(key, eventSourceFields, 2)
	})
}

// errNotInteger is the error of a record with a number that is no integer in an integer
// field (see decoder.integer).
var errNotInteger = errors.New("an integer field holds a fraction, an exponent or a number out of range")

// integer reads a number into an integer field of bitSize bits. encoding/json refuses a
// fraction or an exponent there (1.0, 1e3) and a value out of range, with an error, even
// when it decodes the rest; so does ParseInt, and the record is then refused as malformed
// without asking encoding/json (see decoder.refused).
func (d *decoder) integer(dst *int64, bitSize int) bool {
	if c := d.peek(); c != '-' && (c < '0' || c > '9') {
		return false
	}
	b, ok := d.number()
	if !ok {
		return false
	}
	v, err := strconv.ParseInt(string(b), 10, bitSize)
	if err != nil {
		d.refused = errNotInteger
		return false
	}
	*dst = v
	return true
}

// logRecord decodes either log format, with the semantics of
// LogRecord.decodeSlow (a map of the object's keys: the last duplicate
// wins). Extras share one copy of the record, or d.data itself in a batch's
// arena.
func (d *decoder) logRecord(r *LogRecord) bool {
	switch d.peek() {
	case '"':
		return d.str(&r.Message)
	case '{':
	default:
		return false
	}
	r.Format = LogFormatJSON
	var backing []byte // what Extras point into
	return d.object(func(key []byte) bool {
		inner := key[1 : len(key)-1]
		plain := bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner)
		var name string
		if plain {
			if dst := r.field(string(inner)); dst != nil {
				return d.logValue(dst)
			}
		} else {
			var ok bool
			if name, ok = unquote(key); !ok {
				return false
			}
			if dst := r.field(name); dst != nil {
				return d.logValue(dst)
			}
		}
		v, ok := d.valueAt(1)
		if !ok {
			return false
		}
		if len(r.Extras) >= MaxLogExtras {
			// Full: only a kept key's duplicate gets in. Looked up without making the name.
			var kept bool
			if plain {
				_, kept = r.Extras[string(inner)]
			} else {
				_, kept = r.Extras[name]
			}
			if !kept {
				r.DroppedExtras++
				return true
			}
		}
		if plain {
			name = string(inner)
		}
		if backing == nil {
			if backing = d.data; d.arena == nil {
				backing = append([]byte(nil), d.data...)
			}
			if r.Extras == nil {
				r.Extras = make(map[string]json.RawMessage)
			}
		}
		r.Extras[name] = backing[d.pos-len(v) : d.pos : d.pos]
		return true
	})
}

// logValue reads the value of a well-known log key as rawText does.
func (d *decoder) logValue(dst *string) bool {
	switch d.peek() {
	case '"':
		return d.str(dst)
	case 'n':
		*dst = ""
		return d.literal("null")
	}
	v, ok := d.valueAt(1)
	*dst = validText(v)
	return ok
}
