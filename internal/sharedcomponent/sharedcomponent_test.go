// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package sharedcomponent

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
)

type countingComponent struct {
	starts, shutdowns int
	startErr          error
}

func (c *countingComponent) Start(context.Context, component.Host) error {
	c.starts++
	return c.startErr
}

func (c *countingComponent) Shutdown(context.Context) error {
	c.shutdowns++
	return nil
}

func TestSameKeySameInstanceStartedOnce(t *testing.T) {
	m := NewMap[string, *countingComponent]()
	created := 0
	create := func() (*countingComponent, error) {
		created++
		return &countingComponent{}, nil
	}
	a, err := m.LoadOrStore("k", create)
	require.NoError(t, err)
	b, err := m.LoadOrStore("k", create)
	require.NoError(t, err)
	assert.Same(t, a, b)
	assert.Equal(t, 1, created)

	host := componenttest.NewNopHost()
	require.NoError(t, a.Start(context.Background(), host))
	require.NoError(t, b.Start(context.Background(), host))
	assert.Equal(t, 1, a.Unwrap().starts)

	require.NoError(t, a.Shutdown(context.Background()))
	require.NoError(t, b.Shutdown(context.Background()))
	assert.Equal(t, 1, a.Unwrap().shutdowns)

	// After shutdown the configuration can be created anew.
	c, err := m.LoadOrStore("k", create)
	require.NoError(t, err)
	assert.NotSame(t, a, c)
	assert.Equal(t, 2, created)
}

func TestCreateErrorIsNotStored(t *testing.T) {
	m := NewMap[string, *countingComponent]()
	boom := errors.New("boom")
	_, err := m.LoadOrStore("k", func() (*countingComponent, error) { return nil, boom })
	require.ErrorIs(t, err, boom)
	c, err := m.LoadOrStore("k", func() (*countingComponent, error) { return &countingComponent{}, nil })
	require.NoError(t, err)
	assert.NotNil(t, c.Unwrap())
}

func TestStartErrorIsRemembered(t *testing.T) {
	m := NewMap[string, *countingComponent]()
	boom := errors.New("boom")
	c, err := m.LoadOrStore("k", func() (*countingComponent, error) { return &countingComponent{startErr: boom}, nil })
	require.NoError(t, err)
	require.ErrorIs(t, c.Start(context.Background(), componenttest.NewNopHost()), boom)
	require.ErrorIs(t, c.Start(context.Background(), componenttest.NewNopHost()), boom)
	assert.Equal(t, 1, c.Unwrap().starts)
}
