// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatrigger // import "github.com/otelcol-lambda/otelcol-lambda/instrumentation/go/lambdatrigger"

import (
	"encoding/binary"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// maxDepth is encoding/json's nesting limit: with it, Classify rejects exactly what
// json.Valid rejects.
const maxDepth = 10000

type status uint8

const (
	statusOK      status = iota
	statusEnd            // the input ended inside a value: a truncated event
	statusInvalid        // the bytes read are not JSON
)

// reader walks JSON in place, validating as it goes, without allocating. A value that the
// input cuts off sets statusEnd, so the callers keep only the values they read whole.
type reader struct {
	b  []byte
	i  int
	st status
}

func (r *reader) ok() bool { return r.st == statusOK }

func (r *reader) fail(st status) {
	if r.st == statusOK {
		r.st = st
	}
}

// peek skips whitespace and returns the next byte, or 0 (statusEnd) at the end of input.
func (r *reader) peek() byte {
	for r.i < len(r.b) {
		switch c := r.b[r.i]; c {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return c
		}
	}
	r.fail(statusEnd)
	return 0
}

// enter consumes the opening byte of a container if it is next.
func (r *reader) enter(open byte) bool {
	if r.peek() != open || !r.ok() {
		return false
	}
	r.i++
	return true
}

// next reports whether another element follows in the container entered; n is the number
// of elements already read. It consumes the comma before the element or the closing byte.
func (r *reader) next(closing byte, n int) bool {
	c := r.peek()
	if !r.ok() {
		return false
	}
	if c == closing {
		r.i++
		return false
	}
	if n > 0 {
		if c != ',' {
			r.fail(statusInvalid)
			return false
		}
		r.i++
		if c = r.peek(); !r.ok() {
			return false
		}
		if c == closing { // a trailing comma
			r.fail(statusInvalid)
			return false
		}
	}
	return true
}

// key reads an object member's name and the colon after it.
func (r *reader) key() text {
	if c := r.peek(); c != '"' {
		r.fail(statusInvalid) // no-op at the end of input
		return text{}
	}
	k := r.str()
	if c := r.peek(); c != ':' {
		r.fail(statusInvalid)
		return text{}
	}
	r.i++
	return k
}

// plain marks the bytes a string holds as they are: not a quote, backslash or control byte.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// special reports whether one of the eight bytes of w may be a quote, a backslash or below
// 0x20 (it may say so of a plain byte after one that is; never the reverse).
func special(w uint64) bool {
	zero := func(v uint64) uint64 { return (v - ones) & ^v & highs }
	return zero(w^('"'*ones))|zero(w^('\\'*ones))|((w-0x20*ones)&^w&highs) != 0
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// str reads a string; the reader is at its opening quote.
func (r *reader) str() text {
	start := r.i
	r.i++
	esc := false
	for {
		// Eight bytes at a time while none is a quote, a backslash or a control byte:
		// message bodies are most of an event's bytes.
		for r.i+8 <= len(r.b) && !special(binary.LittleEndian.Uint64(r.b[r.i:])) {
			r.i += 8
		}
		for r.i < len(r.b) && plain[r.b[r.i]] {
			r.i++
		}
		if r.i >= len(r.b) {
			r.fail(statusEnd)
			return text{}
		}
		switch r.b[r.i] {
		case '"':
			r.i++
			return text{quoted: r.b[start:r.i], esc: esc, set: true}
		case '\\':
			esc = true
			if r.i+1 >= len(r.b) {
				r.fail(statusEnd)
				return text{}
			}
			switch r.b[r.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				r.i += 2
			case 'u':
				for j := r.i + 2; j < r.i+6; j++ {
					if j >= len(r.b) {
						r.fail(statusEnd)
						return text{}
					}
					if !isHex(r.b[j]) {
						r.fail(statusInvalid)
						return text{}
					}
				}
				r.i += 6
			default:
				r.fail(statusInvalid)
				return text{}
			}
		default: // a control byte
			r.fail(statusInvalid)
			return text{}
		}
	}
}

func (r *reader) digits() int {
	n := 0
	for r.i < len(r.b) && '0' <= r.b[r.i] && r.b[r.i] <= '9' {
		r.i++
		n++
	}
	return n
}

// num reads a number. One that reaches the end of input is cut off: more digits may follow.
func (r *reader) num() text {
	start := r.i
	if r.b[r.i] == '-' {
		r.i++
	}
	switch {
	case r.i >= len(r.b):
		r.fail(statusEnd)
		return text{}
	case r.b[r.i] == '0':
		r.i++
	case r.digits() == 0:
		r.fail(statusInvalid)
		return text{}
	}
	if r.i < len(r.b) && r.b[r.i] == '.' {
		r.i++
		if r.digits() == 0 {
			r.fail(r.endOr())
			return text{}
		}
	}
	if r.i < len(r.b) && (r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		r.i++
		if r.i < len(r.b) && (r.b[r.i] == '+' || r.b[r.i] == '-') {
			r.i++
		}
		if r.digits() == 0 {
			r.fail(r.endOr())
			return text{}
		}
	}
	if r.i >= len(r.b) {
		r.fail(statusEnd)
		return text{}
	}
	return text{quoted: r.b[start:r.i], set: true}
}

// endOr is statusEnd at the end of input and statusInvalid before it.
func (r *reader) endOr() status {
	if r.i >= len(r.b) {
		return statusEnd
	}
	return statusInvalid
}

func (r *reader) literal(word string) {
	for k := 0; k < len(word); k++ {
		if r.i >= len(r.b) {
			r.fail(statusEnd)
			return
		}
		if r.b[r.i] != word[k] {
			r.fail(statusInvalid)
			return
		}
		r.i++
	}
}

// skip reads a value of any kind; depth is the number of containers around it.
func (r *reader) skip(depth int) {
	switch c := r.peek(); c {
	case '{':
		if depth >= maxDepth {
			r.fail(statusInvalid)
			return
		}
		r.i++
		for n := 0; r.next('}', n); n++ {
			r.key()
			r.skip(depth + 1)
		}
	case '[':
		if depth >= maxDepth {
			r.fail(statusInvalid)
			return
		}
		r.i++
		for n := 0; r.next(']', n); n++ {
			r.skip(depth + 1)
		}
	case '"':
		r.str()
	case 't':
		r.literal("true")
	case 'f':
		r.literal("false")
	case 'n':
		r.literal("null")
	case 0:
		if r.ok() { // a NUL byte, not the end
			r.fail(statusInvalid)
		}
	default:
		if c == '-' || '0' <= c && c <= '9' {
			r.num()
			return
		}
		r.fail(statusInvalid)
	}
}

// scalar reads a string or a number (Lambda writes some numbers as strings) and skips any
// other value, returning an unset text for it.
func (r *reader) scalar(depth int) text {
	switch c := r.peek(); {
	case c == '"':
		return r.str()
	case c == '-' || '0' <= c && c <= '9':
		return r.num()
	}
	r.skip(depth)
	return text{}
}

// end reports whether only whitespace follows the top-level value.
func (r *reader) end() bool {
	for ; r.i < len(r.b); r.i++ {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
		default:
			return false
		}
	}
	return true
}

// text is a string (with its quotes) or a number as it stands in the input.
type text struct {
	quoted []byte
	esc    bool // holds escapes: decode before use
	set    bool
}

// raw is the text without quotes or escapes decoded: a number, or a string to compare
// when it has no escapes.
func (t text) raw() []byte {
	if len(t.quoted) >= 2 && t.quoted[0] == '"' {
		return t.quoted[1 : len(t.quoted)-1]
	}
	return t.quoted
}

// bytes is the decoded text; it allocates only for a string with escapes.
func (t text) bytes() []byte {
	if !t.esc {
		return t.raw()
	}
	var s string
	if json.Unmarshal(t.quoted, &s) != nil {
		return nil
	}
	return []byte(s)
}

// String is the decoded text, always valid UTF-8: each byte that is not part of a valid
// sequence becomes U+FFFD, as encoding/json decodes strings. A span attribute that is not
// valid UTF-8 makes an OTLP exporter drop its whole batch.
func (t text) String() string {
	if !t.esc {
		b := t.raw()
		if utf8.Valid(b) {
			return string(b)
		}
		return validUTF8(b)
	}
	var s string // encoding/json replaces invalid bytes and lone surrogates itself
	if json.Unmarshal(t.quoted, &s) != nil {
		return ""
	}
	return s
}

// validUTF8 is b with each byte that is not part of a valid UTF-8 sequence replaced by
// U+FFFD.
func validUTF8(b []byte) string {
	var s strings.Builder
	s.Grow(len(b) + 2*utf8.UTFMax) // room for a few replacements, 3 bytes each
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			s.WriteRune(utf8.RuneError)
		} else {
			s.Write(b[:size])
		}
		b = b[size:]
	}
	return s.String()
}

// is reports whether the text is s; keys compare case-insensitively (ASCII letters), as
// encoding/json matches them to struct fields.
func (t text) is(s string) bool { return t.match(s, true) }

// equals reports whether the text is exactly s: for values.
func (t text) equals(s string) bool { return t.match(s, false) }

// match compares the text with s, an ASCII name or value. A key or value is compared with
// several names, and some again after each member, so escapes are decoded on the fly,
// without allocating, and only as far as s goes: a long text costs no more than a short one.
func (t text) match(s string, fold bool) bool {
	b := t.raw()
	if !t.esc {
		if !fold {
			return string(b) == s
		}
		if len(b) != len(s) {
			return false
		}
		for i := range len(b) {
			if c, d := b[i], s[i]; c != d && lower(c) != lower(d) {
				return false
			}
		}
		return true
	}
	n := 0 // bytes of s matched
	for i := 0; i < len(b); n++ {
		if n == len(s) {
			return false // longer than s
		}
		c := b[i]
		i++
		if c == '\\' {
			c, i = unescape(b, i)
		}
		if c != s[n] && (!fold || lower(c) != lower(s[n])) {
			return false
		}
	}
	return n == len(s)
}

// unescape decodes the escape whose backslash is before b[i] when it is an ASCII character
// and returns the index after it. Any other character (and a malformed escape, which the
// reader rejects before) gives 0x80, which no ASCII byte equals.
func unescape(b []byte, i int) (byte, int) {
	if i >= len(b) {
		return 0x80, i
	}
	switch c := b[i]; c {
	case 'b':
		return '\b', i + 1
	case 'f':
		return '\f', i + 1
	case 'n':
		return '\n', i + 1
	case 'r':
		return '\r', i + 1
	case 't':
		return '\t', i + 1
	case 'u':
		if i+5 > len(b) {
			return 0x80, len(b)
		}
		var r rune
		for _, h := range b[i+1 : i+5] {
			r = r<<4 | rune(hexValue(h))
		}
		if r >= 0x80 {
			return 0x80, i + 5
		}
		return byte(r), i + 5
	default: // '"', '\\', '/'
		return c, i + 1
	}
}

func hexValue(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10
	}
	return 0
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// isString tells a string from a number.
func (t text) isString() bool { return len(t.quoted) > 0 && t.quoted[0] == '"' }
