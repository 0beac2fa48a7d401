// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package telemetryapi // import "github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"

import (
	"errors"
	"fmt"
	"strings"
)

// ErrMalformedTracing is wrapped by the errors of [ParseXRayTraceHeader]
// and [TraceContext.ParseSpanID].
var ErrMalformedTracing = errors.New("telemetryapi: malformed X-Ray tracing")

// XRayTraceHeader is a parsed X-Ray trace header, in OpenTelemetry's terms.
type XRayTraceHeader struct {
	// TraceID is the Root's epoch (8 hex digits) followed by its random part
	// (24 hex digits): how X-Ray ids map to W3C/OTel trace ids.
	TraceID [16]byte
	// ParentID is the caller's span id; zero when the header has no Parent.
	ParentID [8]byte
	// Sampled is true for Sampled=1 only; Sampled=0, Sampled=? (the receiver
	// decides) and no Sampled key are all false.
	Sampled bool
}

// ParseXRayTraceHeader parses an X-Ray trace header value such as
// "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".
// Keys may come in any order; unknown keys (Lineage, Self...) are ignored.
// Root is required. It does not allocate unless it fails.
func ParseXRayTraceHeader(value string) (XRayTraceHeader, error) {
	var h XRayTraceHeader
	hasRoot := false
	for rest := value; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, ";")
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, val, ok := strings.Cut(part, "=")
		if !ok {
			return XRayTraceHeader{}, fmt.Errorf("%w: %q is not key=value", ErrMalformedTracing, part)
		}
		switch key {
		case "Root":
			// 1-<8 hex digits: epoch seconds>-<24 hex digits>
			if len(val) != 35 || val[0] != '1' || val[1] != '-' || val[10] != '-' ||
				!decodeHex(h.TraceID[:4], val[2:10]) || !decodeHex(h.TraceID[4:], val[11:]) {
				return XRayTraceHeader{}, fmt.Errorf("%w: bad Root %q", ErrMalformedTracing, val)
			}
			hasRoot = true
		case "Parent":
			if len(val) != 16 || !decodeHex(h.ParentID[:], val) {
				return XRayTraceHeader{}, fmt.Errorf("%w: bad Parent %q", ErrMalformedTracing, val)
			}
		case "Sampled":
			switch val {
			case "1":
				h.Sampled = true
			case "0", "?":
				h.Sampled = false
			default:
				return XRayTraceHeader{}, fmt.Errorf("%w: bad Sampled %q", ErrMalformedTracing, val)
			}
		}
	}
	if !hasRoot {
		return XRayTraceHeader{}, fmt.Errorf("%w: no Root in %q", ErrMalformedTracing, value)
	}
	return h, nil
}

// XRay parses the trace context's X-Ray header value.
func (tc TraceContext) XRay() (XRayTraceHeader, error) {
	if tc.Type != TracingTypeXRay && tc.Type != "" {
		return XRayTraceHeader{}, fmt.Errorf("telemetryapi: unsupported tracing type %q", tc.Type)
	}
	return ParseXRayTraceHeader(tc.Value)
}

// ParseSpanID decodes SpanID (16 hex digits). It returns a zero id and no
// error when SpanID is absent: Lambda sends it only with X-Ray enabled.
func (tc TraceContext) ParseSpanID() ([8]byte, error) {
	var id [8]byte
	if tc.SpanID == "" {
		return id, nil
	}
	if len(tc.SpanID) != 16 || !decodeHex(id[:], tc.SpanID) {
		return [8]byte{}, fmt.Errorf("%w: bad spanId %q", ErrMalformedTracing, tc.SpanID)
	}
	return id, nil
}

// decodeHex decodes len(dst)*2 hex digits of s into dst.
func decodeHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := fromHex(s[2*i])
		lo, ok2 := fromHex(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
