// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package testclock is the clock tests inject into components that take one: the test
// moves it, nothing sleeps.
package testclock // import "github.com/otelcol-lambda/otelcol-lambda/internal/testclock"

import (
	"sync"
	"time"
)

// Clock is a clock that stands still until the test moves it. It is safe for concurrent
// use: a component's ticker goroutine may read it while the test moves it.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New returns a clock that reads start.
func New(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
