// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatrigger // import "github.com/otelcol-lambda/otelcol-lambda/instrumentation/go/lambdatrigger"

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// epoch reads a count of units since the Unix epoch, a JSON number or a string holding one,
// such as SQS's "1520621625029" (ms) or Kinesis's 1480641523.477 (s). The decimal fraction
// is read exactly (a float would turn .477 s into 476 ms). Zero, negative or unreadable
// values give the zero time.
func epoch(t text, unit time.Duration) time.Time {
	b := t.raw()
	if t.esc || len(b) == 0 || len(b) > 32 {
		return time.Time{}
	}
	var whole, frac int64
	scale := int64(unit)
	i := 0
	for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		d := int64(b[i] - '0')
		if whole > (math.MaxInt64/scale-d)/10 {
			return time.Time{} // past 2262
		}
		whole = whole*10 + d
	}
	if i == 0 {
		return time.Time{}
	}
	if i < len(b) && b[i] == '.' {
		i++
		for p := scale; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
			p /= 10
			frac += int64(b[i]-'0') * p
		}
	}
	if i < len(b) {
		if b[i] != 'e' && b[i] != 'E' {
			return time.Time{}
		}
		// An exponent: rare enough to take the float.
		f, err := strconv.ParseFloat(string(b), 64)
		if err != nil || f*float64(scale) >= math.MaxInt64 {
			return time.Time{}
		}
		whole, frac = 0, int64(f*float64(scale))
	}
	ns := whole*scale + frac
	if ns <= 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// rfc3339 reads a time such as "2015-06-03T17:43:27.123Z"; anything else gives the zero time.
func rfc3339(t text) time.Time {
	if !t.isString() {
		return time.Time{}
	}
	v, err := time.Parse(time.RFC3339, t.String())
	if err != nil {
		return time.Time{}
	}
	return v.UTC()
}

// arnResource is the resource part of an ARN, arn:partition:service:region:account:resource.
func arnResource(arn string) string {
	for range 5 {
		i := strings.IndexByte(arn, ':')
		if i < 0 {
			return ""
		}
		arn = arn[i+1:]
	}
	return arn
}

func cutPrefix(s, prefix string) string {
	s, _ = strings.CutPrefix(s, prefix)
	return s
}

// cutAfter is s up to the first sep.
func cutAfter(s string, sep byte) string {
	if i := strings.IndexByte(s, sep); i >= 0 {
		return s[:i]
	}
	return s
}

// lastSegment is s after its last '/'.
func lastSegment(s string) string {
	return s[strings.LastIndexByte(s, '/')+1:]
}
