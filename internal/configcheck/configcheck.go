// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package configcheck holds the checks that every component's Validate makes of its numbers
// and durations, so that they fail alike: the error names the setting (its YAML key, with ::
// between levels), says what it got and wraps a sentinel that tests can match.
package configcheck // import "github.com/otelcol-lambda/otelcol-lambda/internal/configcheck"

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrNotPositive is wrapped by the errors of Positive.
	ErrNotPositive = errors.New("must be positive")
	// ErrDurationNotPositive is wrapped by the errors of Positive for a duration.
	ErrDurationNotPositive = errors.New("the duration must be positive")
	// ErrTooSmall is wrapped by the errors of AtLeast.
	ErrTooSmall = errors.New("must be at least")
)

// Number is what the checks take: a count, a size or a time.Duration.
type Number interface {
	~int | ~int32 | ~int64
}

// Positive returns nil when v is above zero, else an error such as
// "invalid metrics_flush_interval: 0s, the duration must be positive".
func Positive[T Number](key string, v T) error {
	if v > 0 {
		return nil
	}
	if _, ok := any(v).(time.Duration); ok {
		return fmt.Errorf("invalid %s: %v, %w", key, v, ErrDurationNotPositive)
	}
	return fmt.Errorf("invalid %s: %v, %w", key, v, ErrNotPositive)
}

// AtLeast returns nil when v is least or more, else an error such as
// "invalid exponential_max_size: 1, must be at least 2".
func AtLeast[T Number](key string, v, least T) error {
	if v >= least {
		return nil
	}
	return fmt.Errorf("invalid %s: %v, %w %v", key, v, ErrTooSmall, least)
}
