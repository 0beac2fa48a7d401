// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdametricsconnector

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv/lambdaconvtest"
)

// TestPendingOverflow: past maxPending distinct keys in one interval, the invocation, report
// and init deltas all go to the overflow function's deltas, without dimensions, and nothing
// counted is lost.
func TestPendingOverflow(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.CardinalityLimit = 1 }) // maxPending 4
	require.Equal(t, 4, h.c.maxPending)
	b := newBatch(fnA)
	for i := range 6 {
		route := fmt.Sprintf("/r%d", i)
		routeAttr := map[string]any{lambdaconv.AttrHTTPRoute: route}
		b.Invocation(inv{RequestID: route, Duration: time.Second, Attributes: routeAttr}).
			Report(report{RequestID: route, Duration: 100 * time.Millisecond, MaxMemoryUsedMB: 64, Attributes: routeAttr}).
			Init(lambdaconvtest.Init{InitializationType: fmt.Sprintf("type-%d", i), Duration: time.Second})
	}
	h.send(b)

	overflowOf := func(n int, fnOf func(i int) *function) int {
		t.Helper()
		over := 0
		for i := range n {
			if fnOf(i).overflow {
				over++
			}
		}
		return over
	}
	inv, rep, ini := entries(h.c.cur.inv), entries(h.c.cur.rep), entries(h.c.cur.ini)
	require.Len(t, inv, 5, "four keys and the overflow")
	require.Len(t, rep, 5)
	require.Len(t, ini, 6, "four keys and the overflow's, which keep their initialization type")
	assert.Equal(t, 1, overflowOf(5, func(i int) *function { return inv[i].fn }))
	assert.Equal(t, 1, overflowOf(5, func(i int) *function { return rep[i].fn }))
	assert.Equal(t, 2, overflowOf(6, func(i int) *function { return ini[i].fn }))
	var count, billedMs int64
	var inits uint64
	for i := range 5 {
		count += inv[i].count
		billedMs += rep[i].billedMs
		if inv[i].fn.overflow {
			assert.Equal(t, int64(2), inv[i].count)
			assert.Empty(t, inv[i].dims, "the overflow delta has no dimensions")
		}
	}
	for _, e := range ini {
		inits += e.dur.Count()
	}
	assert.Equal(t, int64(6), count)
	assert.Equal(t, int64(600), billedMs)
	assert.Equal(t, uint64(6), inits)
	assert.Equal(t, int64(6), h.c.overflowed, "two spans of each type")
}

func entries[E any](m map[string]*E) []*E {
	out := make([]*E, 0, len(m))
	for _, e := range m {
		out = append(out, e)
	}
	return out
}
