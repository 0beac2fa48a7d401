// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package telemetryapi // import "github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// TimeLayout is how AWS writes Telemetry API timestamps: UTC, milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// ErrUnknownEventType is returned (wrapped, with the type) by
// [Event.DecodeRecord] for an event type this package does not know. Lambda
// adds event types over time: callers count such events and skip them.
var ErrUnknownEventType = errors.New("telemetryapi: unknown event type")

// Event is one Telemetry API event. Record holds the record's JSON exactly as
// received, so that a forwarder can re-encode it verbatim and decode only the
// records it needs (see [Event.DecodeRecord]).
type Event struct {
	Time   time.Time       `json:"time"`
	Type   string          `json:"type"`
	Record json.RawMessage `json:"record"`
}

// RecordError reports a record that could not be decoded as its event type
// says. Callers count it by Type.
type RecordError struct {
	Type string
	Err  error
}

func (e *RecordError) Error() string {
	return "telemetryapi: malformed " + e.Type + " record: " + e.Err.Error()
}

func (e *RecordError) Unwrap() error { return e.Err }

var (
	errNoRecord          = errors.New("missing record")
	errRecordNotObject   = errors.New("the record is not a JSON object")
	errRecordListTooLong = fmt.Errorf("a list of the record (spans, events, types) has more than %d elements, more than Lambda writes", MaxRecordListLen)
)

// DecodeEvents decodes the JSON array of events that Lambda POSTs to a
// subscriber. Records are not decoded (see [Event.DecodeRecord]); they are
// copied out of data, which the caller may reuse.
func DecodeEvents(data []byte) ([]Event, error) {
	if events, ok := decodeEventsFast(data); ok {
		copyRecords(events)
		return events, nil
	}
	return decodeEventsSlow(data)
}

// DecodeEventsNoCopy is [DecodeEvents] without the copy of the records: they
// may share data's memory, so the caller must own data and keep it unchanged
// while it uses the events. A receiver that decodes each request body once
// saves a copy of every record.
func DecodeEventsNoCopy(data []byte) ([]Event, error) {
	if events, ok := decodeEventsFast(data); ok {
		return events, nil
	}
	return decodeEventsSlow(data)
}

// decodeEventsSlow decodes with encoding/json. It defines what the fast path
// must do, and makes the errors.
func decodeEventsSlow(data []byte) ([]Event, error) {
	var events []Event
	if err := json.Unmarshal(data, &events); err != nil {
		return nil, fmt.Errorf("telemetryapi: decode events: %w", err)
	}
	return events, nil
}

// DecodeRecord decodes the record for the event's Type. It returns a pointer
// to the typed record, ready for a type switch:
//
//	platform.initStart             *PlatformInitStart
//	platform.initRuntimeDone       *PlatformInitRuntimeDone
//	platform.initReport            *PlatformInitReport
//	platform.start                 *PlatformStart
//	platform.runtimeDone           *PlatformRuntimeDone
//	platform.report                *PlatformReport
//	platform.restoreStart          *PlatformRestoreStart
//	platform.restoreRuntimeDone    *PlatformRestoreRuntimeDone
//	platform.restoreReport         *PlatformRestoreReport
//	platform.extension             *PlatformExtension
//	platform.telemetrySubscription *PlatformTelemetrySubscription
//	platform.logsDropped           *PlatformLogsDropped
//	function, extension            *LogRecord
//	otelcol.invocation             *Invocation
//
// An unknown Type gives an error wrapping [ErrUnknownEventType]; a missing,
// null or malformed record gives a [*RecordError]. Unknown keys in a record
// are ignored, so records of newer schema versions decode. Records decode as
// encoding/json decodes them into these types; the frequent ones take a
// faster path to the same result.
func (e Event) DecodeRecord() (any, error) { return e.decodeRecord(true) }

func (e Event) decodeRecord(fast bool) (any, error) {
	if !KnownEventType(e.Type) {
		return nil, fmt.Errorf("%w %q", ErrUnknownEventType, e.Type)
	}
	if isNull(e.Record) {
		return nil, &RecordError{Type: e.Type, Err: errNoRecord}
	}
	// Every platform record is an object: anything else fails in encoding/json too, whose
	// error costs some hundred bytes, a lot for a batch of many tiny bad records.
	if e.Type != TypeFunction && e.Type != TypeExtension {
		if r := trimSpace(e.Record); r[0] != '{' {
			return nil, &RecordError{Type: e.Type, Err: errRecordNotObject}
		}
	}
	rec := newRecord(e.Type)
	if fast {
		d := decoder{data: e.Record}
		if d.record(rec) && d.atEnd() {
			return rec, nil
		}
		if d.refused != nil {
			return nil, &RecordError{Type: e.Type, Err: d.refused}
		}
	}
	rec = newRecord(e.Type) // the fast path may have filled some fields
	var err error
	if r, ok := rec.(*LogRecord); ok {
		err = r.decodeSlow(e.Record)
	} else if listTooLong(e.Record, listKey(e.Type)) {
		err = errRecordListTooLong
	} else {
		err = json.Unmarshal(e.Record, rec)
	}
	if err != nil {
		return nil, &RecordError{Type: e.Type, Err: err}
	}
	return rec, nil
}

// DecodeRecords decodes the record of each event as [ScanDecoded] does, for events that
// come from elsewhere (tests, an emulator).
func DecodeRecords(events []Event) []DecodedEvent {
	out := make([]DecodedEvent, len(events))
	for i, ev := range events {
		out[i] = DecodedEvent{Time: ev.Time, Type: ev.Type}
		out[i].Decoded, out[i].DecodeErr = ev.decodedRecord(true)
	}
	return out
}

// decodedRecord is decodeRecord for a [DecodedEvent]: an unknown type gives
// ErrUnknownEventType itself, which costs nothing per event.
func (e Event) decodedRecord(fast bool) (any, error) {
	if !KnownEventType(e.Type) {
		return nil, ErrUnknownEventType
	}
	return e.decodeRecord(fast)
}

// newPlatformEventType reports whether an event type this package does not know may be
// one Lambda added since: "platform." and a name spelled as Lambda spells its names
// (lowerCamelCase ASCII letters), which is not a known type in another case. Such an event
// is skipped, so that a newer Lambda does not make its batches fail. Any other unknown
// type, "" included, is not Lambda's (a runtime's JSON log line that reached the stream, a
// forwarder's typo of a known type) and its event is rejected: skipping it would lose it
// without a word.
func newPlatformEventType(typ string) bool {
	name, ok := strings.CutPrefix(typ, "platform.")
	if !ok || name == "" || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for i := range len(name) {
		if c := name[i]; (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return knownTypeInOtherCase(typ) == ""
}

// knownTypeInOtherCase returns the known event type typ spells in another case, or "".
func knownTypeInOtherCase(typ string) string {
	for _, k := range eventTypes {
		if k != typ && strings.EqualFold(k, typ) {
			return k
		}
	}
	return ""
}

// untypedEventError says why an event whose type is none of Lambda's is rejected.
func untypedEventError(typ string) error {
	if typ == "" {
		return errEventEmptyType
	}
	if k := knownTypeInOtherCase(typ); k != "" {
		return fmt.Errorf(`the event's "type" %q is none of Lambda's: Lambda writes %q`, typ, k)
	}
	return fmt.Errorf(`the event's "type" %q is none of Lambda's (function, extension, platform.<name>)`, typ)
}

// KnownEventType reports whether [Event.DecodeRecord] knows the event type; it allocates
// nothing, where DecodeRecord's error for an unknown type does.
func KnownEventType(typ string) bool {
	switch typ {
	case TypePlatformInitStart, TypePlatformInitRuntimeDone, TypePlatformInitReport,
		TypePlatformStart, TypePlatformRuntimeDone, TypePlatformReport,
		TypePlatformRestoreStart, TypePlatformRestoreRuntimeDone, TypePlatformRestoreReport,
		TypePlatformExtension, TypePlatformTelemetrySubscription, TypePlatformLogsDropped,
		TypeFunction, TypeExtension, TypeInvocation:
		return true
	}
	return false
}

// newRecord returns a new record for an event type, nil if unknown.
func newRecord(typ string) any {
	switch typ {
	case TypePlatformInitStart:
		return new(PlatformInitStart)
	case TypePlatformInitRuntimeDone:
		return new(PlatformInitRuntimeDone)
	case TypePlatformInitReport:
		return new(PlatformInitReport)
	case TypePlatformStart:
		return new(PlatformStart)
	case TypePlatformRuntimeDone:
		return new(PlatformRuntimeDone)
	case TypePlatformReport:
		return new(PlatformReport)
	case TypePlatformRestoreStart:
		return new(PlatformRestoreStart)
	case TypePlatformRestoreRuntimeDone:
		return new(PlatformRestoreRuntimeDone)
	case TypePlatformRestoreReport:
		return new(PlatformRestoreReport)
	case TypePlatformExtension:
		return new(PlatformExtension)
	case TypePlatformTelemetrySubscription:
		return new(PlatformTelemetrySubscription)
	case TypePlatformLogsDropped:
		return new(PlatformLogsDropped)
	case TypeFunction, TypeExtension:
		return new(LogRecord)
	case TypeInvocation:
		return new(Invocation)
	}
	return nil
}

// isNull reports whether data is empty or the JSON null.
func isNull(data []byte) bool {
	data = trimSpace(data)
	return len(data) == 0 || string(data) == "null"
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// NewEvent builds an event from a typed record, for emulators and tests.
// record is one of the types [Event.DecodeRecord] returns (pointer or value),
// a string (a text-format log line), or a json.RawMessage used as is. A typed
// record must match typ. t is stored in UTC, truncated to milliseconds, so
// that the event equals what decoding its encoding gives.
func NewEvent(t time.Time, typ string, record any) (Event, error) {
	if want := recordType(record); want != "" && want != typ &&
		(want != TypeFunction || typ != TypeExtension) {
		return Event{}, fmt.Errorf("telemetryapi: a %T record cannot be a %s event", record, typ)
	}
	var raw []byte
	switch r := record.(type) {
	case json.RawMessage:
		if !validJSON(r) {
			return Event{}, errors.New("telemetryapi: record is not valid JSON")
		}
		raw = append([]byte(nil), r...)
	default:
		var err error
		if raw, err = json.Marshal(record); err != nil {
			return Event{}, fmt.Errorf("telemetryapi: encode %s record: %w", typ, err)
		}
	}
	return Event{Time: t.UTC().Truncate(time.Millisecond), Type: typ, Record: raw}, nil
}

// recordType returns the event type a typed record belongs to, TypeFunction
// for log records (also valid as TypeExtension), or "" if record is not typed.
func recordType(record any) string {
	switch record.(type) {
	case PlatformInitStart, *PlatformInitStart:
		return TypePlatformInitStart
	case PlatformInitRuntimeDone, *PlatformInitRuntimeDone:
		return TypePlatformInitRuntimeDone
	case PlatformInitReport, *PlatformInitReport:
		return TypePlatformInitReport
	case PlatformStart, *PlatformStart:
		return TypePlatformStart
	case PlatformRuntimeDone, *PlatformRuntimeDone:
		return TypePlatformRuntimeDone
	case PlatformReport, *PlatformReport:
		return TypePlatformReport
	case PlatformRestoreStart, *PlatformRestoreStart:
		return TypePlatformRestoreStart
	case PlatformRestoreRuntimeDone, *PlatformRestoreRuntimeDone:
		return TypePlatformRestoreRuntimeDone
	case PlatformRestoreReport, *PlatformRestoreReport:
		return TypePlatformRestoreReport
	case PlatformExtension, *PlatformExtension:
		return TypePlatformExtension
	case PlatformTelemetrySubscription, *PlatformTelemetrySubscription:
		return TypePlatformTelemetrySubscription
	case PlatformLogsDropped, *PlatformLogsDropped:
		return TypePlatformLogsDropped
	case Invocation, *Invocation:
		return TypeInvocation
	case LogRecord, *LogRecord, string:
		return TypeFunction
	}
	return ""
}

// MarshalJSON encodes the event as AWS does, with the record's bytes as they
// are. (encoding/json compacts and HTML-escapes a Marshaler's output; use
// [AppendEvents] to keep records byte for byte.)
func (e Event) MarshalJSON() ([]byte, error) {
	b, err := e.appendJSON(nil)
	if err != nil {
		return nil, fmt.Errorf("telemetryapi: %w", err)
	}
	return b, nil
}

// AppendEvents appends the JSON array of events to dst, each record byte for
// byte as it is in the event: what a forwarder sends on. On error it returns
// dst unchanged.
func AppendEvents(dst []byte, events []Event) ([]byte, error) {
	orig := len(dst)
	dst = append(dst, '[')
	for i := range events {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = events[i].appendJSON(dst); err != nil {
			return dst[:orig], fmt.Errorf("telemetryapi: event %d: %w", i, err)
		}
	}
	return append(dst, ']'), nil
}

// appendJSON appends the event. Times are written as AWS writes them, so
// that a forwarded event reads the same as one from Lambda.
func (e Event) appendJSON(dst []byte) ([]byte, error) {
	if len(e.Record) == 0 {
		return dst, errors.New("no record")
	}
	if !validJSON(e.Record) {
		return dst, fmt.Errorf("%s record is not valid JSON", e.Type)
	}
	dst = append(dst, `{"time":"`...)
	dst = e.Time.UTC().AppendFormat(dst, TimeLayout)
	dst = append(dst, `","type":`...)
	dst = appendString(dst, e.Type)
	dst = append(dst, `,"record":`...)
	dst = append(dst, e.Record...)
	return append(dst, '}'), nil
}

// appendString appends s as a JSON string. Event types are plain ASCII, so
// the fast path covers them; anything else goes through encoding/json.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			b, _ := json.Marshal(s) // a string always encodes
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// jsonTime encodes a time as AWS does.
type jsonTime time.Time

func (t jsonTime) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(TimeLayout)+2)
	b = append(b, '"')
	b = time.Time(t).UTC().AppendFormat(b, TimeLayout)
	return append(b, '"'), nil
}

// MarshalJSON encodes the span with its start time as AWS writes it.
func (s Span) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Name       string   `json:"name"`
		Start      jsonTime `json:"start"`
		DurationMs float64  `json:"durationMs"`
	}{s.Name, jsonTime(s.Start), s.DurationMs})
}

// listKey is the key of the record of an event type that encoding/json decodes into a
// slice, "" for none.
func listKey(typ string) string {
	switch typ {
	case TypePlatformInitRuntimeDone, TypePlatformInitReport, TypePlatformRuntimeDone, TypePlatformReport,
		TypePlatformRestoreRuntimeDone, TypePlatformRestoreReport:
		return "spans"
	case TypePlatformExtension:
		return "events"
	case TypePlatformTelemetrySubscription:
		return "types"
	}
	return ""
}

// listTooLong reports whether a record's member named key holds a list longer than
// MaxRecordListLen, reading the record without allocating (but for an escaped key) before
// encoding/json allocates the list. It matches keys as encoding/json does: unescaped, and
// without regard to case (Unicode's simple folding), each duplicate. It leaves what is
// not valid JSON to encoding/json, which refuses it before it decodes anything.
func listTooLong(record []byte, key string) bool {
	if key == "" {
		return false
	}
	d := decoder{data: record}
	tooLong := false
	d.object(func(k []byte) bool {
		name := k[1 : len(k)-1]
		if bytes.IndexByte(name, '\\') >= 0 {
			s, ok := unquote(k)
			if !ok {
				return false
			}
			name = []byte(s)
		}
		if d.peek() != '[' || !bytes.EqualFold(name, []byte(key)) {
			return d.skipDeep(1)
		}
		n := 0
		ok := d.array(func() bool {
			n++
			return n <= MaxRecordListLen && d.skipDeep(2)
		})
		tooLong = tooLong || n > MaxRecordListLen
		return ok
	})
	return tooLong
}
