// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package sandboxcache

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestBoundedBySize(t *testing.T) {
	evicted := 0
	c := New[int](2, time.Hour, func(n int) { evicted += n })
	t0 := time.Unix(1000, 0)
	created := 0
	create := func() int { created++; return created }

	assert.Equal(t, 1, c.GetOrCreate("a", t0, create))
	assert.Equal(t, 2, c.GetOrCreate("b", t0, create))
	assert.Equal(t, 1, c.GetOrCreate("a", t0, create), "an existing entry is returned, not created")
	assert.Equal(t, 3, c.GetOrCreate("c", t0, create), "b is the least recently used and goes")
	assert.Equal(t, 1, evicted)
	assert.Equal(t, 2, c.Len())
	assert.Equal(t, 1, c.GetOrCreate("a", t0, create))
	assert.Equal(t, 4, c.GetOrCreate("b", t0, create), "b was evicted, so it is created again")
}

func TestIdleEntriesExpire(t *testing.T) {
	evicted := 0
	c := New[string](10, time.Minute, func(n int) { evicted += n })
	t0 := time.Unix(1000, 0)
	c.GetOrCreate("old", t0, func() string { return "first" })
	c.GetOrCreate("kept", t0.Add(50*time.Second), func() string { return "kept" })

	got := c.GetOrCreate("old", t0.Add(61*time.Second), func() string { return "second" })
	assert.Equal(t, "second", got, "an entry idle past the TTL is gone")
	assert.Equal(t, 1, evicted)
	assert.Equal(t, "kept", c.GetOrCreate("kept", t0.Add(61*time.Second), func() string { return "new" }))
}

func TestOnRemoveGetsEachEvictedEntry(t *testing.T) {
	c := New[string](2, time.Minute, nil)
	var removed []string
	c.OnRemove(func(key, value string) { removed = append(removed, key+"="+value) })
	t0 := time.Unix(1000, 0)
	c.GetOrCreate("a", t0, func() string { return "1" })
	c.GetOrCreate("b", t0.Add(30*time.Second), func() string { return "2" })
	c.GetOrCreate("c", t0.Add(30*time.Second), func() string { return "3" })
	assert.Equal(t, []string{"a=1"}, removed, "the least recently used goes over max size")
	assert.False(t, c.Contains("a"))
	assert.True(t, c.Contains("b"))

	c.GetOrCreate("d", t0.Add(2*time.Minute), func() string { return "4" })
	assert.Equal(t, []string{"a=1", "b=2", "c=3"}, removed, "idle entries go, oldest first")
	assert.Equal(t, 1, c.Len())
}
