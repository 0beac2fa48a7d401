// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package queue is the extension's bounded memory: a FIFO with a byte budget that drops
// its oldest items when full and counts what it dropped, so that a slow or absent gateway
// can never make the extension grow until Lambda kills the sandbox.
package queue // import "github.com/otelcol-lambda/otelcol-lambda/layer/internal/queue"

import "sync"

// Queue is a FIFO bounded by the total size of its items. It is safe for concurrent use.
type Queue[T any] struct {
	sizeOf func(T) int
	limit  int

	mu      sync.Mutex
	items   []T
	bytes   int
	dropped uint64
}

// New returns a queue holding at most limit bytes as sizeOf measures them.
func New[T any](limit int, sizeOf func(T) int) *Queue[T] {
	return &Queue[T]{limit: limit, sizeOf: sizeOf}
}

// Push appends items, dropping the oldest when over the limit. It returns how many items
// were dropped.
func (q *Queue[T]) Push(items ...T) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, it := range items {
		q.items = append(q.items, it)
		q.bytes += q.sizeOf(it)
	}
	return q.trimLocked()
}

// PushFront puts items back at the front (after a failed send), dropping the oldest when
// over the limit.
func (q *Queue[T]) PushFront(items []T) int {
	if len(items) == 0 {
		return 0
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	merged := make([]T, 0, len(items)+len(q.items))
	merged = append(merged, items...)
	q.items = append(merged, q.items...)
	for _, it := range items {
		q.bytes += q.sizeOf(it)
	}
	return q.trimLocked()
}

func (q *Queue[T]) trimLocked() int {
	n := 0
	for q.bytes > q.limit && len(q.items) > 0 {
		q.bytes -= q.sizeOf(q.items[0])
		var zero T
		q.items[0] = zero
		q.items = q.items[1:]
		n++
	}
	q.dropped += uint64(n)
	return n
}

// Take removes items from the front while their total stays within maxBytes (always at
// least one item, if any) and at most maxItems (0: no limit).
func (q *Queue[T]) Take(maxBytes, maxItems int) []T {
	q.mu.Lock()
	defer q.mu.Unlock()
	n, size := 0, 0
	for n < len(q.items) && (maxItems <= 0 || n < maxItems) {
		s := q.sizeOf(q.items[n])
		if n > 0 && size+s > maxBytes {
			break
		}
		size += s
		n++
	}
	out := append([]T(nil), q.items[:n]...)
	clear(q.items[:n])
	q.items = q.items[n:]
	q.bytes -= size
	if len(q.items) == 0 {
		q.items = nil // let the backing array go
	}
	return out
}

// Len returns the number of items held.
func (q *Queue[T]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// Bytes returns the size held.
func (q *Queue[T]) Bytes() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes
}

// AddDropped counts items dropped elsewhere (for example refused by the gateway).
func (q *Queue[T]) AddDropped(n uint64) {
	q.mu.Lock()
	q.dropped += n
	q.mu.Unlock()
}

// TakeDropped returns the count of dropped items and resets it.
func (q *Queue[T]) TakeDropped() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.dropped
	q.dropped = 0
	return n
}
