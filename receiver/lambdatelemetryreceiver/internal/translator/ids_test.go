// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package translator

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestDerivedIDsAreStable: derived ids must not change between versions, or the spans of
// a batch replayed from the write-ahead log, or translated by another replica, would not
// match the first ones.
func TestDerivedIDsAreStable(t *testing.T) {
	at := time.Date(2024, 6, 1, 12, 0, 0, 123e6, time.UTC)
	const requestID = "8476a536-e9f4-11e8-9739-2dfe598c3fcd"
	traceID, spanID := derivedTraceID("invocation", requestID, at), derivedSpanID("invocation", requestID, at)
	assert.Equal(t, "6fb13137f5f0e43e8082e7395d3f7a37", hex.EncodeToString(traceID[:]))
	assert.Equal(t, "e2a66ca52372f930", hex.EncodeToString(spanID[:]))
	assert.Equal(t, uint64(0x2cafe01b6263778b), eventKey("report", "r1", at))
	reportSpan := derivedSpanID("report", "", time.Unix(0, 0))
	assert.Equal(t, "ab0d6f561b2fd7a1", hex.EncodeToString(reportSpan[:]))
}
