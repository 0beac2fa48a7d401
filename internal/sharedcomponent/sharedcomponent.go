// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package sharedcomponent lets one component instance serve several signals.
//
// The Collector asks a factory for a traces, a metrics and a logs receiver separately, but a
// receiver that listens on one port must be a single object: the map hands out the same
// instance for the same configuration, starts it once and shuts it down once.
package sharedcomponent // import "github.com/otelcol-lambda/otelcol-lambda/internal/sharedcomponent"

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
)

// Map holds the shared instances, keyed by their configuration.
type Map[K comparable, V component.Component] struct {
	mu         sync.Mutex
	components map[K]*Component[V]
}

// NewMap returns an empty Map.
func NewMap[K comparable, V component.Component]() *Map[K, V] {
	return &Map[K, V]{components: map[K]*Component[V]{}}
}

// LoadOrStore returns the instance for key, creating it with create the first time.
func (m *Map[K, V]) LoadOrStore(key K, create func() (V, error)) (*Component[V], error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.components[key]; ok {
		return c, nil
	}
	v, err := create()
	if err != nil {
		return nil, err
	}
	c := &Component[V]{value: v}
	c.remove = func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		delete(m.components, key)
	}
	m.components[key] = c
	return c, nil
}

// Component wraps a shared instance so that Start and Shutdown run once, however many
// pipelines hold it.
type Component[V component.Component] struct {
	value        V
	remove       func()
	startOnce    sync.Once
	shutdownOnce sync.Once
	startErr     error
	shutdownErr  error
}

// Unwrap returns the shared instance.
func (c *Component[V]) Unwrap() V { return c.value }

// Start starts the instance the first time it is called.
func (c *Component[V]) Start(ctx context.Context, host component.Host) error {
	c.startOnce.Do(func() { c.startErr = c.value.Start(ctx, host) })
	return c.startErr
}

// Shutdown shuts the instance down the first time it is called and forgets it, so that the
// same configuration can be created again (as on a configuration reload).
func (c *Component[V]) Shutdown(ctx context.Context) error {
	c.shutdownOnce.Do(func() {
		c.shutdownErr = c.value.Shutdown(ctx)
		c.remove()
	})
	return c.shutdownErr
}
