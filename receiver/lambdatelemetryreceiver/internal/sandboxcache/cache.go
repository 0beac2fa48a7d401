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
	// onRemove, when set, is called without the lock for each evicted entry, after onEvict.
	onRemove func(key string, value V)
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

// OnRemove sets a function called with each entry the cache evicts, for state kept
// elsewhere about it (the receiver's storage). Set it before the cache is used.
func (c *Cache[V]) OnRemove(fn func(key string, value V)) { c.onRemove = fn }

// Contains reports whether key has an entry, without marking it used.
func (c *Cache[V]) Contains(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.entries[key]
	return ok
}

// GetOrCreate returns the value for key, creating it with create when absent (or expired),
// and marks it used at now. Creating may evict the least recently used entries.
func (c *Cache[V]) GetOrCreate(key string, now time.Time, create func() V) V {
	c.mu.Lock()
	// removed collects the evicted entries for onRemove; it stays nil without one.
	var removed []*entry[V]
	evicted := c.evictExpired(now, &removed)
	var v V
	if el, ok := c.entries[key]; ok {
		e := el.Value.(*entry[V])
		e.lastUsed = now
		c.lru.MoveToFront(el)
		v = e.value
	} else {
		for len(c.entries) >= c.maxSize && c.lru.Len() > 0 {
			c.remove(c.lru.Back(), &removed)
			evicted++
		}
		v = create()
		c.entries[key] = c.lru.PushFront(&entry[V]{key: key, value: v, lastUsed: now})
	}
	c.mu.Unlock()
	if evicted > 0 {
		c.onEvict(evicted)
	}
	for _, e := range removed {
		c.onRemove(e.key, e.value)
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
func (c *Cache[V]) evictExpired(now time.Time, removed *[]*entry[V]) int {
	n := 0
	for el := c.lru.Back(); el != nil; el = c.lru.Back() {
		if now.Sub(el.Value.(*entry[V]).lastUsed) <= c.ttl {
			break
		}
		c.remove(el, removed)
		n++
	}
	return n
}

func (c *Cache[V]) remove(el *list.Element, removed *[]*entry[V]) {
	e := el.Value.(*entry[V])
	delete(c.entries, e.key)
	c.lru.Remove(el)
	if c.onRemove != nil {
		*removed = append(*removed, e)
	}
}
