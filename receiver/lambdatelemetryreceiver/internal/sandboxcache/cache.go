// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package sandboxcache bounds the per-sandbox state the receiver keeps between batches:
// at most a fixed number of entries, each dropped once idle for longer than a TTL, least
// recently used first.
package sandboxcache // import "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/sandboxcache"

import (
	"container/list"
	"sync"
	"time"
)

// Cache maps keys to values, bounded in count and idle time. It is safe for concurrent use.
type Cache[V any] struct {
	mu      sync.Mutex
	maxSize int
	ttl     time.Duration
	entries map[string]*list.Element
	lru     *list.List // front: most recently used
	// onEvict is called, without the lock, with how many entries a call evicted.
	onEvict func(n int)
}

type entry[V any] struct {
	key      string
	value    V
	lastUsed time.Time
}

// New returns a cache of at most maxSize entries, each kept while used within ttl.
func New[V any](maxSize int, ttl time.Duration, onEvict func(n int)) *Cache[V] {
	if onEvict == nil {
		onEvict = func(int) {}
	}
	return &Cache[V]{
		maxSize: maxSize,
		ttl:     ttl,
		entries: make(map[string]*list.Element),
		lru:     list.New(),
		onEvict: onEvict,
	}
}

// GetOrCreate returns the value for key, creating it with create when absent (or expired),
// and marks it used at now. Creating may evict the least recently used entries.
func (c *Cache[V]) GetOrCreate(key string, now time.Time, create func() V) V {
	c.mu.Lock()
	evicted := c.evictExpired(now)
	var v V
	if el, ok := c.entries[key]; ok {
		e := el.Value.(*entry[V])
		e.lastUsed = now
		c.lru.MoveToFront(el)
		v = e.value
	} else {
		for len(c.entries) >= c.maxSize && c.lru.Len() > 0 {
			c.remove(c.lru.Back())
			evicted++
		}
		v = create()
		c.entries[key] = c.lru.PushFront(&entry[V]{key: key, value: v, lastUsed: now})
	}
	c.mu.Unlock()
	if evicted > 0 {
		c.onEvict(evicted)
	}
	return v
}

// Len returns the number of entries.
func (c *Cache[V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// evictExpired drops the entries idle for longer than the TTL, oldest first.
func (c *Cache[V]) evictExpired(now time.Time) int {
	n := 0
	for el := c.lru.Back(); el != nil; el = c.lru.Back() {
		if now.Sub(el.Value.(*entry[V]).lastUsed) <= c.ttl {
			break
		}
		c.remove(el)
		n++
	}
	return n
}

func (c *Cache[V]) remove(el *list.Element) {
	delete(c.entries, el.Value.(*entry[V]).key)
	c.lru.Remove(el)
}
