// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package translator // import "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/translator"

import (
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
)

// Identities are derived, not random: the same events give the same ids on every replica
// and on every retry, and an invocation's logs, invocation span and report span agree on
// them without sharing state.

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// hashKey is FNV-1a over a kind, a string and a time: enough to tell invocations apart,
// including Lambda's retries of an asynchronous invocation, which reuse the request id
// but not the start time.
func hashKey(seed uint64, kind, s string, t time.Time) uint64 {
	h := uint64(fnvOffset) ^ seed
	for i := 0; i < len(kind); i++ {
		h = (h ^ uint64(kind[i])) * fnvPrime
	}
	h = (h ^ 0xff) * fnvPrime // separator: "ab"+"c" differs from "a"+"bc"
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	n := uint64(t.UnixNano())
	for range 8 {
		h = (h ^ (n & 0xff)) * fnvPrime
		n >>= 8
	}
	return h
}

func putUint64(b []byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (56 - 8*i))
	}
}

func derivedTraceID(kind, s string, t time.Time) (id [16]byte) {
	putUint64(id[:8], hashKey(1, kind, s, t))
	putUint64(id[8:], hashKey(2, kind, s, t))
	return id
}

func derivedSpanID(kind, s string, t time.Time) (id [8]byte) {
	putUint64(id[:], hashKey(3, kind, s, t))
	if id == ([8]byte{}) {
		id[7] = 1 // an all-zero span id is invalid
	}
	return id
}

// traceIdentity is the trace context an invocation's spans and logs share.
type traceIdentity struct {
	traceID  [16]byte
	spanID   [8]byte // the invocation span
	parentID [8]byte // the X-Ray parent, zero if none
}

// invocationIdentity takes the trace from the X-Ray header Lambda propagated and the span
// id Lambda gave the invocation, and derives what is missing from the request id and the
// start time.
func invocationIdentity(requestID string, start time.Time, tracing *telemetryapi.TraceContext) traceIdentity {
	var id traceIdentity
	haveTrace := false
	if tracing != nil {
		if xray, err := tracing.XRay(); err == nil && xray.TraceID != ([16]byte{}) {
			id.traceID, id.parentID, haveTrace = xray.TraceID, xray.ParentID, true
		}
		if spanID, err := tracing.ParseSpanID(); err == nil && spanID != ([8]byte{}) {
			id.spanID = spanID
		}
	}
	if !haveTrace {
		id.traceID = derivedTraceID("invocation", requestID, start)
	}
	if id.spanID == ([8]byte{}) {
		id.spanID = derivedSpanID("invocation", requestID, start)
	}
	return id
}

// eventKey identifies a request's event for duplicate detection.
func eventKey(kind, requestID string, t time.Time) uint64 { return hashKey(4, kind, requestID, t) }
