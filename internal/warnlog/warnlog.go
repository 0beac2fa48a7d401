// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package warnlog logs warnings about bad input at most once a minute per message, with a
// count of those suppressed: a fleet that sends bad data must not flood the gateway's log.
// The components count every case in their own metrics either way.
package warnlog // import "github.com/otelcol-lambda/otelcol-lambda/internal/warnlog"

import (
	"sync"
	"time"

	"go.uber.org/zap"
)

// interval is how often one kind of warning may be logged.
const interval = time.Minute

// Logger logs each message at most once per interval, with how many were suppressed in
// between. It is safe for concurrent use.
type Logger struct {
	logger *zap.Logger
	mu     sync.Mutex
	last   map[string]time.Time
	missed map[string]int
	now    func() time.Time
}

// New returns a Logger writing to logger.
func New(logger *zap.Logger) *Logger {
	return &Logger{logger: logger, last: map[string]time.Time{}, missed: map[string]int{}, now: time.Now}
}

// Warn logs msg at warn level unless it was logged within the last minute.
func (l *Logger) Warn(msg string, fields ...zap.Field) {
	l.mu.Lock()
	now := l.now()
	if last, ok := l.last[msg]; ok && now.Sub(last) < interval {
		l.missed[msg]++
		l.mu.Unlock()
		return
	}
	suppressed := l.missed[msg]
	l.last[msg] = now
	l.missed[msg] = 0
	l.mu.Unlock()
	if suppressed > 0 {
		fields = append(fields, zap.Int("suppressed_since_last", suppressed))
	}
	l.logger.Warn(msg, fields...)
}
