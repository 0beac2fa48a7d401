// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package telemetryapi // import "github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// This file is the fast path for what the receiver decodes per invocation:
// the event envelope, platform.start, platform.runtimeDone, platform.report
// and log records. encoding/json spends most of its time on reflection and
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
}

// maxDepth bounds the nesting of skipped values; deeper input falls back.
const maxDepth = 1000

func (d *decoder) peek() byte {
	for d.pos < len(d.data) && isSpace(d.data[d.pos]) {
		d.pos++
	}
	if d.pos < len(d.data) {
		return d.data[d.pos]
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

// quoted reads a string at d.pos and returns it with its quotes, escapes
// unresolved.
func (d *decoder) quoted() ([]byte, bool) {
	start, data := d.pos, d.data
	for i := start + 1; i < len(data); i++ {
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
func (d *decoder) value() ([]byte, bool) {
	d.peek()
	start := d.pos
	ok := d.skip(0)
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
		*dst, ok = unquote(q)
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
	*dst, ok = unquote(q)
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
	*dst = &v
	return true
}

func (d *decoder) time(dst *time.Time) bool {
	if d.peek() != '"' {
		return false
	}
	q, ok := d.quoted()
	return ok && dst.UnmarshalJSON(q) == nil // as encoding/json does
}

// unknownKey skips the value of a key the caller does not decode.
// encoding/json ignores such a key unless, unescaped, it matches a field
// case-insensitively; the fast path gives up whenever that could be.
func (d *decoder) unknownKey(key []byte, fields []string) bool {
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
	return d.skip(0)
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
			return d.unknownKey(key, eventFields)
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
	TypeFunction, TypeExtension,
}

// eventType reads an event type, without allocating for the known ones.
func (d *decoder) eventType(dst *string) bool { return d.strOf(dst, eventTypes) }

// Fields of the records decoded here, for unknownKey.
var (
	traceContextFields       = []string{"spanId", "type", "value"}
	spanFields               = []string{"name", "start", "durationMs"}
	runtimeDoneMetricsFields = []string{"durationMs", "producedBytes"}
	reportMetricsFields      = []string{"durationMs", "billedDurationMs", "memorySizeMB", "maxMemoryUsedMB", "initDurationMs", "restoreDurationMs"}
	startFields              = []string{"requestId", "version", "tracing"}
	invocationFields         = []string{"requestId", "status", "errorType", "metrics", "spans", "tracing"}
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
	var ok bool
	switch r := rec.(type) {
	case *PlatformStart:
		ok = d.start(r)
	case *PlatformRuntimeDone:
		ok = invocationEnd(&d, (*InvocationEnd[*RuntimeDoneMetrics])(r), (*decoder).runtimeDoneMetrics)
	case *PlatformReport:
		ok = invocationEnd(&d, (*InvocationEnd[ReportMetrics])(r), (*decoder).reportMetrics)
	case *LogRecord:
		ok = d.logRecord(r)
	}
	return ok && d.atEnd()
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
		return d.unknownKey(key, startFields)
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
		return d.unknownKey(key, invocationFields)
	})
}

func (d *decoder) tracing(dst **TraceContext) bool {
	tc := new(TraceContext)
	*dst = tc
	var seen uint16
	return d.object(func(key []byte) bool {
		switch string(key) {
		case `"spanId"`:
			return once(&seen, 1) && d.str(&tc.SpanID)
		case `"type"`:
			return once(&seen, 2) && d.strOf(&tc.Type, tracingTypes)
		case `"value"`:
			return once(&seen, 4) && d.str(&tc.Value)
		}
		return d.unknownKey(key, traceContextFields)
	})
}

func (d *decoder) spans(dst *[]Span) bool {
	spans := []Span{} // encoding/json decodes [] as empty, not nil
	ok := d.array(func() bool {
		if cap(spans) == 0 {
			spans = make([]Span, 0, 4) // runtimeDone has up to 3
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
			return d.unknownKey(key, spanFields)
		})
	})
	*dst = spans
	return ok
}

func (d *decoder) runtimeDoneMetrics(dst **RuntimeDoneMetrics) bool {
	m := new(RuntimeDoneMetrics)
	*dst = m
	var seen uint16
	return d.object(func(key []byte) bool {
		switch string(key) {
		case `"durationMs"`:
			return once(&seen, 1) && d.num(&m.DurationMs)
		case `"producedBytes"`:
			return once(&seen, 2) && d.optNum(&m.ProducedBytes)
		}
		return d.unknownKey(key, runtimeDoneMetricsFields)
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
		}
		return d.unknownKey(key, reportMetricsFields)
	})
}

// logRecord decodes either log format, with the semantics of
// LogRecord.decodeSlow (a map of the object's keys: the last duplicate
// wins). Extras share one copy of the record.
func (d *decoder) logRecord(r *LogRecord) bool {
	switch d.peek() {
	case '"':
		return d.str(&r.Message)
	case '{':
	default:
		return false
	}
	r.Format = LogFormatJSON
	var arena []byte
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
		v, ok := d.value()
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
		if arena == nil {
			arena = append([]byte(nil), d.data...)
			if r.Extras == nil {
				r.Extras = make(map[string]json.RawMessage)
			}
		}
		r.Extras[name] = arena[d.pos-len(v) : d.pos : d.pos]
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
	v, ok := d.value()
	*dst = validText(v)
	return ok
}
