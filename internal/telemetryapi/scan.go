// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package telemetryapi // import "github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Why ScanEvents rejects an element. They are fixed values, so that rejecting an element
// allocates nothing: a hostile body holds millions of bad elements.
var (
	errElementNotObject = errors.New("the element is not a JSON object")
	errEventKeys        = errors.New(`the event repeats a key, or spells one otherwise than Lambda writes "time", "type" and "record"`)
	errEventTime        = errors.New(`the event's "time" is not an RFC 3339 time in UTC, as Lambda writes it`)
	errEventType        = errors.New(`the event's "type" is not a plain string of at most 64 bytes`)
	errEventNoTime      = errors.New(`the event has no "time"`)
	errEventNoType      = errors.New(`the event has no "type"`)
	errEventNoRecord    = errors.New(`the event has no "record", or a null one`)
	errEventEmptyType   = errors.New(`the event's "type" is empty`)
	errEventTooDeep     = fmt.Errorf("the event is nested deeper than %d levels", maxDepth)
	errEventTimeRange   = fmt.Errorf(`the event's "time" is %w: before %d or after %d`, ErrOutOfRange,
		EarliestEventTime.Year(), LatestEventTime.Year())
)

// maxEventTypeLen bounds an event type: Lambda's are short identifiers
// ("platform.restoreRuntimeDone" is the longest), and a type is kept per event.
const maxEventTypeLen = 64

// maxTimeLen bounds the text of an event time: RFC 3339 with nanoseconds is 30 bytes. A
// longer one is refused before it is parsed, whose error would copy it.
const maxTimeLen = 40

// ScanEvents reads the JSON array of events that a forwarder posts one element at a time,
// for a receiver that uses the good events of a batch and rejects the bad ones alone.
//
// It reads events as Lambda writes them, more strictly than [DecodeEvents]: an element is
// an event when it is a JSON object with the keys "time" (an RFC 3339 time in UTC, ending
// in Z), "type" (a string of at most 64 bytes without escapes) and "record" (any JSON
// value but null), each once and spelled exactly so; other keys are ignored. Every event
// it accepts is what encoding/json decodes from that element. An element that is valid
// JSON but no such event is passed to each with the reason, one of a few fixed errors (an
// event time outside [EarliestEventTime, LatestEventTime) wraps [ErrOutOfRange]), and
// the scan goes on. The records of the events share data's memory, as with
// [DecodeEventsNoCopy].
//
// Rejecting an element allocates nothing, and accepting one nothing but the event type
// when it is not one this package knows: the caller decides how many bad elements a batch
// may have, by returning false from each to stop the scan; ScanEvents then returns nil
// without reading further.
//
// ScanEvents returns an error when data is not a JSON array of JSON values: past an
// element that is not valid JSON, where the next one starts is unknown.
func ScanEvents(data []byte, each func(index int, ev Event, err error) bool) error {
	return scan(&decoder{data: data}, func(index int, ev scannedEvent, err error) bool {
		return each(index, ev.Event, err)
	})
}

// DecodedEvent is an event that [ScanDecoded] accepted, with its record decoded in place
// of the record's JSON: a receiver keeps a batch's events while it translates them, and
// the JSON would make each a third larger.
type DecodedEvent struct {
	Time time.Time
	Type string
	// Decoded is the record as [Event.DecodeRecord] returns it, nil when DecodeErr is set.
	Decoded any
	// DecodeErr is DecodeRecord's error for the record, except for an event type this
	// package does not know: then it is [ErrUnknownEventType] itself, which costs nothing
	// per event.
	DecodeErr error
}

// ScanDecoded is [ScanEvents] that also decodes the record of each event it accepts, in
// the same walk over data that validates the event: what a receiver that uses every
// record needs, for the cost of one pass. The records it decodes are what
// [Event.DecodeRecord] returns for them.
//
// Records of one call share memory, to allocate little per event: strings and trace
// contexts that repeat one of a record just before are the same string or pointer, the
// records of a type come from a few larger allocations, and the extras of JSON log
// records point into data. Treat them as read-only, and keep data unchanged while the
// extras are used.
//
// Records of the events Lambda sends on every invocation (platform.start,
// platform.runtimeDone, platform.report, function and extension logs), and our extension's
// otelcol.invocation, are decoded in the walk; those of the events a sandbox sends a few times in its life, and records the fast
// path does not take (see the package documentation), are decoded by encoding/json after
// it.
func ScanDecoded(data []byte, each func(index int, ev DecodedEvent, err error) bool) error {
	return scan(&decoder{data: data, arena: &recordArena{size: len(data)}}, func(index int, ev scannedEvent, err error) bool {
		return each(index, DecodedEvent{Time: ev.Time, Type: ev.Type, Decoded: ev.decoded, DecodeErr: ev.decodeErr}, err)
	})
}

// scannedEvent is an element scan read: an event, and its record decoded when the
// decoder has an arena.
type scannedEvent struct {
	Event
	decoded   any
	decodeErr error
}

// scan is ScanEvents, decoding records when d has an arena.
func scan(d *decoder, each func(index int, ev scannedEvent, err error) bool) error {
	if !d.eat('[') {
		return errors.New("the events are not a JSON array")
	}
	if !d.eat(']') {
		for index := 0; ; index++ {
			if d.arena != nil {
				d.arena.read = d.pos
			}
			ev, err := d.scanElement()
			if errors.Is(err, errInvalidElement) {
				return fmt.Errorf("the events are not valid JSON (at event %d): %w", index, err)
			}
			if !each(index, ev, err) {
				return nil
			}
			if !d.eat(',') {
				break
			}
		}
		if !d.eat(']') {
			return errors.New("the events array is not closed")
		}
	}
	if !d.atEnd() {
		return errors.New("unexpected data after the events array")
	}
	return nil
}

// errInvalidElement marks an element that is not valid JSON (it wraps encoding/json's
// error): the scan cannot go on.
var errInvalidElement = errors.New("invalid JSON")

// scanElement reads one element of the array and leaves d after it.
func (d *decoder) scanElement() (scannedEvent, error) {
	d.peek()
	start := d.pos
	var ev scannedEvent
	read, why := d.strictEvent(&ev)
	if read {
		if why != nil {
			return scannedEvent{}, why
		}
		return ev, nil
	}
	// The element is not an event as Lambda writes it: find where it ends.
	d.pos = start
	if !d.skip(0) {
		// Not valid JSON, or nested deeper than skip goes: skipDeep goes as deep as
		// encoding/json, whose error says what is wrong.
		d.pos = start
		if !d.skipDeep(1) {
			err := json.Unmarshal(d.data[start:], new(struct{}))
			if err == nil {
				err = errors.New("unexpected end")
			}
			return scannedEvent{}, fmt.Errorf("%w: %w", errInvalidElement, err)
		}
		if why == nil {
			why = errEventTooDeep
		}
	}
	if why == nil {
		// strictEvent stops without a reason only where skip stops too.
		why = errEventTooDeep
	}
	return scannedEvent{}, why
}

// strictEvent reads an event written as Lambda writes it. It returns whether it read the
// whole element, and why the element is not such an event: nil when it is, or when it
// stopped where the element is not valid JSON. With an arena, it decodes the record of
// an event it accepts.
func (d *decoder) strictEvent(ev *scannedEvent) (bool, error) {
	if d.peek() != '{' {
		return false, errElementNotObject
	}
	var seen uint16
	var why error
	triedFast := false // the fast decoder refused the record: encoding/json decides
	var refused error  // unless it refused it for good (see decoder.refused)
	typeKnown := false
	ok := d.object(func(key []byte) bool {
		var bit uint16
		switch string(key) {
		case `"time"`:
			bit = 1
		case `"type"`:
			bit = 2
		case `"record"`:
			bit = 4
		default:
			if !plainKey(key) {
				why = errEventKeys
				return false
			}
			return d.skip(0)
		}
		if !once(&seen, bit) {
			why = errEventKeys
			return false
		}
		switch bit {
		case 1:
			if !d.utcTime(&ev.Time) {
				why = errEventTime
				return false
			}
		case 2:
			var ok bool
			if ok, typeKnown = d.plainEventType(&ev.Type); !ok {
				why = errEventType
				return false
			}
		default:
			if d.peek() == 'n' && d.literal("null") {
				why = errEventNoRecord
				return false
			}
			if c := d.peek(); d.arena != nil && seen&2 != 0 && (c == '{' || c == '"') {
				// The type came first, as Lambda writes it: decode the record right here.
				// (A record that is no object nor string is refused after the walk, without
				// taking a record for it.)
				if rec := d.newFastRecord(ev.Type); rec != nil {
					start := d.pos
					if d.record(rec) {
						ev.Record = d.data[start:d.pos:d.pos]
						ev.decoded = rec
						return true
					}
					d.pos, triedFast = start, true
					refused, d.refused = d.refused, nil
				}
			}
			record, ok := d.value()
			if !ok {
				return false
			}
			ev.Record = record[:len(record):len(record)] // an append must not write into data
		}
		return true
	})
	if !ok {
		return false, why
	}
	switch {
	case seen&1 == 0:
		return true, errEventNoTime
	case seen&2 == 0:
		return true, errEventNoType
	case seen&4 == 0:
		return true, errEventNoRecord
	case ev.Time.Before(EarliestEventTime) || !ev.Time.Before(LatestEventTime):
		return true, errEventTimeRange
	case !typeKnown && !newPlatformEventType(ev.Type):
		return true, untypedEventError(ev.Type)
	}
	if d.arena != nil && ev.decoded == nil {
		if refused != nil {
			ev.decodeErr = &RecordError{Type: ev.Type, Err: refused}
		} else {
			ev.decoded, ev.decodeErr = ev.decodedRecord(!triedFast)
		}
	}
	return true, nil
}

// plainKey reports whether an unknown key of an event object is plain ASCII that no
// reading could take for "time", "type" or "record": encoding/json matches keys without
// regard to case and after unescaping.
func plainKey(key []byte) bool {
	name := key[1 : len(key)-1]
	for _, c := range name {
		if c == '\\' || c >= utf8.RuneSelf {
			return false
		}
	}
	for _, f := range eventFields {
		if len(f) == len(name) && asciiEqualFold(name, f) {
			return false
		}
	}
	return true
}

// utcTime reads a time as Lambda writes it: RFC 3339, in UTC. Another zone would give
// each event a time.Location of its own.
func (d *decoder) utcTime(dst *time.Time) bool {
	if d.peek() != '"' {
		return false
	}
	q, ok := d.quoted()
	return ok && len(q) <= maxTimeLen && len(q) > 2 && q[len(q)-2] == 'Z' && unmarshalTime(dst, q)
}

// plainEventType reads a type without escapes, allocating only for a type this package
// does not know; known tells whether it knows it.
func (d *decoder) plainEventType(dst *string) (ok, known bool) {
	if d.peek() != '"' {
		return false, false
	}
	q, ok := d.quoted()
	if !ok {
		return false, false
	}
	name := q[1 : len(q)-1]
	if len(name) > maxEventTypeLen || bytes.IndexByte(name, '\\') >= 0 || !utf8.Valid(name) {
		return false, false
	}
	for _, k := range eventTypes {
		if string(name) == k {
			*dst = k
			return true, true
		}
	}
	*dst = string(name)
	return true, false
}

// maxJSONDepth is encoding/json's nesting limit; the events array is one level of it.
const maxJSONDepth = 10000

// skipDeep reads any value as skip does, to encoding/json's nesting limit and without
// recursion: an element nested some thousand levels deep must cost neither a deep stack
// nor encoding/json's scanner, whose stack of 8 bytes per level made such a body cost 15
// times its size. depth is how many levels enclose the value.
func (d *decoder) skipDeep(depth int) bool {
	var objects [maxJSONDepth/64 + 1]uint64 // bit n: level n is an object (else an array)
	level := depth
	for {
		// A value, or the start of a container.
		switch c := d.peek(); {
		case c == '{' || c == '[':
			if level >= maxJSONDepth {
				return false
			}
			d.pos++
			if c == '{' {
				objects[level/64] |= 1 << (level % 64)
			} else {
				objects[level/64] &^= 1 << (level % 64)
			}
			level++
			if c == '{' && !d.eat('}') {
				if !d.objectKey() {
					return false
				}
				continue // the first member's value
			}
			if c == '[' && !d.eat(']') {
				continue // the first element
			}
			level-- // an empty container is a whole value
		case c == '"':
			if _, ok := d.quoted(); !ok {
				return false
			}
		case c == 't':
			if !d.literal("true") {
				return false
			}
		case c == 'f':
			if !d.literal("false") {
				return false
			}
		case c == 'n':
			if !d.literal("null") {
				return false
			}
		case c == '-' || '0' <= c && c <= '9':
			if _, ok := d.number(); !ok {
				return false
			}
		default:
			return false
		}
		// A value is whole: close the containers that end after it, up to the next value.
		for {
			if level == depth {
				return true
			}
			top := level - 1
			inObject := objects[top/64]>>(top%64)&1 == 1
			if d.eat(',') {
				if inObject && !d.objectKey() {
					return false
				}
				break
			}
			if inObject && d.eat('}') || !inObject && d.eat(']') {
				level--
				continue
			}
			return false
		}
	}
}

// objectKey reads a member's key and its colon.
func (d *decoder) objectKey() bool {
	if d.peek() != '"' {
		return false
	}
	_, ok := d.quoted()
	return ok && d.eat(':')
}
