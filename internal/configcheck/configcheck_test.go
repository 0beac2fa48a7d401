// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package configcheck

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestPositive(t *testing.T) {
	assert.NoError(t, Positive("max_pending", 1))
	assert.NoError(t, Positive("window", time.Nanosecond))

	err := Positive("max_pending", -1)
	assert.EqualError(t, err, "invalid max_pending: -1, must be positive")
	assert.ErrorIs(t, err, ErrNotPositive)

	err = Positive("trace_rewrites::ttl", time.Duration(0))
	assert.EqualError(t, err, "invalid trace_rewrites::ttl: 0s, the duration must be positive")
	assert.ErrorIs(t, err, ErrDurationNotPositive)
	assert.NotErrorIs(t, err, ErrNotPositive)
}

func TestAtLeast(t *testing.T) {
	assert.NoError(t, AtLeast("exponential_max_size", int32(2), 2))

	err := AtLeast("exponential_max_size", int32(1), 2)
	assert.EqualError(t, err, "invalid exponential_max_size: 1, must be at least 2")
	assert.ErrorIs(t, err, ErrTooSmall)
}
