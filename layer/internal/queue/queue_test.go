// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package queue

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func newStrings(limit int) *Queue[string] {
	return New(limit, func(s string) int { return len(s) })
}

func TestDropOldest(t *testing.T) {
	q := newStrings(10)
	assert.Equal(t, 0, q.Push("aaaa", "bbbb"))
	assert.Equal(t, 1, q.Push("cccc"))
	assert.Equal(t, 2, q.Len())
	assert.Equal(t, 8, q.Bytes())
	assert.Equal(t, []string{"bbbb", "cccc"}, q.Take(100, 0))
	assert.Equal(t, uint64(1), q.TakeDropped())
	assert.Equal(t, uint64(0), q.TakeDropped())
}

func TestTakeBounds(t *testing.T) {
	q := newStrings(100)
	q.Push("aaaa", "bbbb", "cccc", "dddd")
	assert.Equal(t, []string{"aaaa", "bbbb"}, q.Take(9, 0))
	assert.Equal(t, []string{"cccc"}, q.Take(9, 1))
	// An item larger than the batch still goes, alone.
	q.Push("a-very-long-item")
	assert.Equal(t, []string{"dddd"}, q.Take(5, 0))
	assert.Equal(t, []string{"a-very-long-item"}, q.Take(5, 0))
	assert.Empty(t, q.Take(5, 0))
	assert.Equal(t, 0, q.Bytes())
}

func TestPushFront(t *testing.T) {
	q := newStrings(12)
	q.Push("cccc")
	assert.Equal(t, 0, q.PushFront([]string{"aaaa", "bbbb"}))
	assert.Equal(t, []string{"aaaa", "bbbb", "cccc"}, q.Take(100, 0))
	q.Push("dddd", "eeee")
	// Putting back more than fits drops the oldest: the put-back ones.
	assert.Equal(t, 1, q.PushFront([]string{"aaaa", "bbbb"}))
	assert.Equal(t, []string{"bbbb", "dddd", "eeee"}, q.Take(100, 0))
	q.AddDropped(2)
	assert.Equal(t, uint64(3), q.TakeDropped())
}
