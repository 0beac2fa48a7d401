// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdametricsconnector // import "github.com/otelcol-lambda/otelcol-lambda/connector/lambdametricsconnector"

import "encoding/binary"

// Three maps are keyed by byte strings, all encoded by appendKey: the functions (by their
// identity), the current interval's deltas (by function id, dimension values and what else
// the span type labels by) and the cumulative series (by function key, dimension values and
// the metric's own attributes). The keys are built in a reused buffer, so that a lookup
// allocates nothing; only a new entry copies its key.
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

// pendingKey is the key of a delta: the function's id stands for its identity. Caller holds mu.
func (c *lambdaMetrics) pendingKey(fn *function, dims []string, extra ...string) []byte {
	c.buf = appendKey(binary.LittleEndian.AppendUint32(c.buf[:0], fn.id), dims, extra...)
	return c.buf
}

// seriesKey is the key of a cumulative series. Caller holds flushMu.
func (c *lambdaMetrics) seriesKey(fn *function, dims []string, extra ...string) []byte {
	b := append(c.pbuf[:0], fn.key...)
	c.pbuf = appendKey(append(b, sepEnd), dims, extra...)
	return c.pbuf
}
