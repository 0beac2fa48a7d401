// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package telemetryapi // import "github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"
)

// LogFormat is the log format a function or extension log record came in,
// set by the function's logging configuration.
type LogFormat uint8

const (
	// LogFormatText: the record is a JSON string, the log line.
	LogFormatText LogFormat = iota
	// LogFormatJSON: the record is a JSON object (timestamp, level,
	// requestId, message and any other keys the logger added).
	LogFormatJSON
)

func (f LogFormat) String() string {
	if f == LogFormatJSON {
		return "JSON"
	}
	return "Text"
}

// Keys of a JSON-format log record that LogRecord decodes into fields.
const (
	logKeyTimestamp = "timestamp"
	logKeyLevel     = "level"
	logKeyRequestID = "requestId"
	logKeyMessage   = "message"
)

// LogRecord is the record of a function or extension event, in either log
// format.
//
// For LogFormatText only Message is set: the whole line, as Lambda sent it.
// For LogFormatJSON the well-known keys fill Timestamp, Level, RequestID and
// Message. Loggers put anything in them (pino writes numeric levels and
// epoch-millisecond times, some loggers log objects as the message), so a
// value that is not a JSON string is kept as its raw JSON text (invalid UTF-8
// replaced by U+FFFD, as in strings), and null is kept as "". The remaining
// keys go to Extras, unchanged, up to MaxLogExtras of them (the first in the
// record; a later duplicate of a kept key still replaces its value), and
// DroppedExtras counts the key-value pairs beyond; Extras is nil when there
// are none.
type LogRecord struct {
	Format        LogFormat
	Timestamp     string
	Level         string
	RequestID     string
	Message       string
	Extras        map[string]json.RawMessage
	DroppedExtras int
}

// MaxLogExtras bounds the extra keys of a JSON log record that are kept, as
// OpenTelemetry SDKs bound a record's attributes by default: a record of half
// a million keys would otherwise cost some forty times its size.
const MaxLogExtras = 128

// keepExtra reports whether the extra key name may be stored, counting it
// dropped when not: a key already kept may, others while there is room.
func (r *LogRecord) keepExtra(name string) bool {
	if len(r.Extras) < MaxLogExtras {
		return true
	}
	if _, kept := r.Extras[name]; kept {
		return true
	}
	r.DroppedExtras++
	return false
}

var errLogRecord = errors.New("log record must be a JSON string or object")

// UnmarshalJSON decodes either log format.
func (r *LogRecord) UnmarshalJSON(data []byte) error {
	*r = LogRecord{}
	if decodeFast(data, r) {
		return nil
	}
	*r = LogRecord{}
	return r.decodeSlow(data)
}

// field returns the field a well-known key fills, or nil.
func (r *LogRecord) field(key string) *string {
	switch key {
	case logKeyTimestamp:
		return &r.Timestamp
	case logKeyLevel:
		return &r.Level
	case logKeyRequestID:
		return &r.RequestID
	case logKeyMessage:
		return &r.Message
	}
	return nil
}

// decodeSlow decodes with encoding/json. It defines what the fast path must
// do, and makes the errors.
func (r *LogRecord) decodeSlow(data []byte) error {
	data = trimSpace(data)
	if len(data) == 0 {
		return errLogRecord
	}
	switch data[0] {
	case '"':
		return json.Unmarshal(data, &r.Message)
	case '{':
	default:
		return errLogRecord
	}
	// Member by member, in order: which extras are kept depends on it. The result is what
	// decoding into a map gives (the last duplicate wins), within MaxLogExtras.
	if !json.Valid(data) {
		var fields map[string]json.RawMessage
		return json.Unmarshal(data, &fields) // encoding/json's error
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // {
		return err
	}
	r.Format = LogFormatJSON
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		if dst := r.field(key); dst != nil {
			if *dst, err = rawText(v); err != nil {
				return err
			}
			continue
		}
		if !r.keepExtra(key) {
			continue
		}
		if r.Extras == nil {
			r.Extras = make(map[string]json.RawMessage)
		}
		r.Extras[key] = v
	}
	return nil
}

// rawText returns a JSON string's value, "" for null, or else v's JSON text
// (made valid UTF-8, as encoding/json does with strings).
func rawText(v json.RawMessage) (string, error) {
	switch {
	case len(v) > 0 && v[0] == '"':
		var s string
		err := json.Unmarshal(v, &s)
		return s, err
	case string(v) == "null":
		return "", nil
	}
	return validText(v), nil
}

// validText returns b as a string, each invalid UTF-8 byte replaced by
// U+FFFD.
func validText(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var s strings.Builder
	s.Grow(len(b) + 8)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			s.WriteString("\uFFFD")
		} else {
			s.Write(b[:n])
		}
		b = b[n:]
	}
	return s.String()
}

// MarshalJSON encodes the record in its Format: a JSON string, or an object
// of the well-known keys (message always, the others when not empty) and
// Extras (which must not hold the well-known keys: they are skipped).
// Well-known values are encoded as JSON strings.
func (r LogRecord) MarshalJSON() ([]byte, error) {
	if r.Format != LogFormatJSON {
		return json.Marshal(r.Message)
	}
	fields := make(map[string]any, len(r.Extras)+4)
	for k, v := range r.Extras {
		switch k {
		case logKeyTimestamp, logKeyLevel, logKeyRequestID, logKeyMessage:
			continue // the fields own these keys
		}
		fields[k] = v
	}
	for _, kv := range [...]struct{ k, v string }{
		{logKeyTimestamp, r.Timestamp},
		{logKeyLevel, r.Level},
		{logKeyRequestID, r.RequestID},
	} {
		if kv.v != "" {
			fields[kv.k] = kv.v
		}
	}
	fields[logKeyMessage] = r.Message
	return json.Marshal(fields)
}
