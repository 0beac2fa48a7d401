// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package telemetryapi

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// outOfBoundsInvocation has every field the attack on issue #19 found the classifier
// could fill out of bounds, each out of bounds.
func outOfBoundsInvocation() *Invocation {
	return &Invocation{
		RequestID: "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
		ErrorType: "a\nb\x00",
		Source: &EventSource{
			Kind:            "sqs",
			Trigger:         "pub sub",
			MessagingSystem: "AWS_SQS",
			Destination:     strings.Repeat("q", 600),
			Collection:      "q\u0085x",
			Route:           "/a\tb",
			ARN:             strings.Repeat("a", 3000),
			EventTimeUnixMs: time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC).UnixMilli(),
			BatchSize:       340_001,
		},
	}
}

func TestDropOutOfBounds(t *testing.T) {
	valid := func() *Invocation {
		r := *testInvocation
		s := *r.Source
		r.Source = &s
		return &r
	}
	tests := []struct {
		name    string
		rec     *Invocation
		want    *Invocation
		dropped int
	}{
		{"a valid record is unchanged", valid(), valid(), 0},
		{"no event source", &Invocation{RequestID: "r", ErrorType: "E"}, &Invocation{RequestID: "r", ErrorType: "E"}, 0},
		{"every field out of bounds", outOfBoundsInvocation(),
			&Invocation{RequestID: "8476a536-e9f4-11e8-9739-2dfe598c3fcd", Source: &EventSource{Kind: "sqs"}}, 9},
		{"an errorType of 5,000 bytes, the event source kept",
			func() *Invocation { r := valid(); r.ErrorType = strings.Repeat("E", 5000); return r }(),
			func() *Invocation { r := valid(); r.ErrorType = ""; return r }(), 1},
		{"a 600-byte queue name, the errorType kept",
			func() *Invocation { r := valid(); r.Source.Destination = strings.Repeat("q", 600); return r }(),
			func() *Invocation { r := valid(); r.Source.Destination = ""; return r }(), 1},
		{"an event time of 1969", func() *Invocation { r := valid(); r.Source.EventTimeUnixMs = -1000; return r }(),
			func() *Invocation { r := valid(); r.Source.EventTimeUnixMs = 0; return r }(), 1},
		{"invalid UTF-8 in a name", func() *Invocation { r := valid(); r.Source.Destination = "q\xff\xfe"; return r }(),
			func() *Invocation { r := valid(); r.Source.Destination = ""; return r }(), 1},
		{"a kind that is no token drops the event source",
			func() *Invocation { r := valid(); r.Source.Kind = "SQS"; return r }(),
			func() *Invocation { r := valid(); r.Source = nil; return r }(), 1},
		{"an empty kind drops the event source, the errorType still checked",
			func() *Invocation { r := valid(); r.Source.Kind = ""; r.ErrorType = "E\x00"; return r }(),
			func() *Invocation { r := valid(); r.Source = nil; r.ErrorType = ""; return r }(), 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.dropped, tc.rec.DropOutOfBounds())
			assert.Equal(t, tc.want, tc.rec)
			assert.NoError(t, CheckLimits(TypeInvocation, tc.rec))
		})
	}
}

// TestDropOutOfBoundsAtTheBounds: values at the bounds pass both, and are kept.
func TestDropOutOfBoundsAtTheBounds(t *testing.T) {
	rec := &Invocation{RequestID: "r", ErrorType: strings.Repeat("E", MaxErrorTypeLen), Source: &EventSource{
		Kind: strings.Repeat("k", MaxEventSourceTokenLen), Destination: strings.Repeat("d", MaxEventSourceNameLen),
		Collection: "größe-\ufffd", Route: strings.Repeat("r", MaxRouteLen), ARN: strings.Repeat("a", MaxEventSourceARNLen),
		EventTimeUnixMs: LatestEventTime.UnixMilli() - 1, BatchSize: MaxBatchSize,
	}}
	require.NoError(t, CheckLimits(TypeInvocation, rec))
	kept := *rec.Source
	assert.Zero(t, rec.DropOutOfBounds())
	assert.Equal(t, kept, *rec.Source)
}

// FuzzDropOutOfBounds holds DropOutOfBounds to CheckLimits: for any record with a valid
// request id, what it leaves passes CheckLimits, also once encoded and read back as the
// gateway reads it; a record CheckLimits passes is left unchanged.
func FuzzDropOutOfBounds(f *testing.F) {
	add := func(r *Invocation) {
		s := r.Source
		f.Add(r.ErrorType, s.Kind, s.Trigger, s.MessagingSystem, s.Destination, s.Collection, s.Route, s.ARN, s.EventTimeUnixMs, s.BatchSize)
	}
	add(testInvocation)
	add(outOfBoundsInvocation())
	add(&Invocation{ErrorType: "\u0085", Source: &EventSource{Kind: "", Destination: "\xed\xa0\x80", Route: "GET /" + strings.Repeat("r", 2000),
		EventTimeUnixMs: EarliestEventTime.UnixMilli() - 1, BatchSize: -1}})
	f.Fuzz(func(t *testing.T, errorType, kind, trigger, system, destination, collection, route, arn string, eventTime int64, batch int) {
		rec := &Invocation{RequestID: "8476a536-e9f4-11e8-9739-2dfe598c3fcd", ErrorType: errorType, Source: &EventSource{
			Kind: kind, Trigger: trigger, MessagingSystem: system, Destination: destination, Collection: collection,
			Route: route, ARN: arn, EventTimeUnixMs: eventTime, BatchSize: batch,
		}}
		before := *rec
		beforeSource := *rec.Source
		validBefore := CheckLimits(TypeInvocation, rec) == nil

		dropped := rec.DropOutOfBounds()
		require.NoError(t, CheckLimits(TypeInvocation, rec))
		if validBefore {
			require.Zero(t, dropped)
			require.Equal(t, before.ErrorType, rec.ErrorType)
			require.Equal(t, beforeSource, *rec.Source)
		} else {
			require.NotZero(t, dropped)
		}

		ev, err := NewEvent(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), TypeInvocation, rec)
		require.NoError(t, err)
		body, err := AppendEvents(nil, []Event{ev})
		require.NoError(t, err)
		require.NoError(t, ScanDecoded(body, func(_ int, d DecodedEvent, err error) bool {
			require.NoError(t, err)
			require.NoError(t, d.DecodeErr)
			require.NoError(t, CheckLimits(d.Type, d.Decoded), "as the gateway reads it")
			assert.Equal(t, rec, d.Decoded, "read back as written")
			return true
		}))
	})
}

// TestCheckLimitsInvocationAllocatesNothing: the gateway checks every finding.
func TestCheckLimitsInvocationAllocatesNothing(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		if CheckLimits(TypeInvocation, testInvocation) != nil {
			t.Fatal("refused")
		}
	})
	assert.Zero(t, allocs)
}
