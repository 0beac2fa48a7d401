// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package telemetryapi // import "github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"

import (
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
// keys go to Extras, unchanged; Extras is nil when there are none.
type LogRecord struct {
	Format    LogFormat
	Timestamp string
	Level     string
	RequestID string
	Message   string
	Extras    map[string]json.RawMessage
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
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return err
	}
	r.Format = LogFormatJSON
	for k, v := range fields {
		dst := r.field(k)
		if dst == nil {
			continue
		}
		var err error
		if *dst, err = rawText(v); err != nil {
			return err
		}
		delete(fields, k)
	}
	if len(fields) > 0 {
		r.Extras = fields
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
