// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdametricsconnector // import "github.com/otelcol-lambda/otelcol-lambda/connector/lambdametricsconnector"

import "encoding/binary"

// Four maps are keyed by byte strings, all encoded by appendKey: the functions (by their
// identity), each function's event sources (by dimension values), the current interval's
// deltas (by function id, dimension values and what else the span type labels by) and the
// cumulative series (by function key, dimension values and the metric's own attributes).
// The keys are built in a reused buffer, so that a lookup allocates nothing; only a new
// entry copies its key.
const (
	sep    = 0x1f // ends each dimension value
	sepEnd = 0x1e // comes before each extra value
)

// appendKey appends the dimension values, each ended by sep, then each extra value after a
// sepEnd. The number of dimensions is fixed by the configuration, so keys of the same map
// never differ in where the extra values start.
func appendKey(b []byte, dims []string, extra ...string) []byte {
	for _, d := range dims {
		b = append(b, d...)
		b = append(b, sep)
	}
	for _, x := range extra {
		b = append(b, sepEnd)
		b = append(b, x...)
	}
	return b
}

// functionKey is the key of a function identity. Caller holds mu.
func (c *lambdaMetrics) functionKey(name, version, account, region string) []byte {
	identity := [...]string{name, version, account, region}
	c.buf = appendKey(c.buf[:0], identity[:])
	return c.buf
}

// Right after the function, a key says whether the dimension values follow or the
// function's overflowed event sources stand in for them: a byte of its own, so that no
// dimension value, whatever bytes it holds, can make the key of the other.
const (
	withSources  = 0
	otherSources = 1
)

func appendSources(b []byte, dims []string, other bool, extra ...string) []byte {
	if other {
		return appendKey(append(b, otherSources), nil, extra...)
	}
	return appendKey(append(b, withSources), dims, extra...)
}

// pendingKey is the key of a delta: the function's id stands for its identity. Caller holds mu.
func (c *lambdaMetrics) pendingKey(fn *function, dims []string, other bool, extra ...string) []byte {
	c.buf = appendSources(binary.LittleEndian.AppendUint32(c.buf[:0], fn.id), dims, other, extra...)
	return c.buf
}

// seriesKey is the key of a cumulative series. Caller holds flushMu.
func (c *lambdaMetrics) seriesKey(fn *function, dims []string, other bool, extra ...string) []byte {
	b := append(c.pbuf[:0], fn.key...)
	c.pbuf = appendSources(append(b, sepEnd), dims, other, extra...)
	return c.pbuf
}
