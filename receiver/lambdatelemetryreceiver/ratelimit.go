// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver // import "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver"

import (
	"sync"
	"time"

	"go.uber.org/zap"
)

// warnInterval is how often one kind of bad-input warning may be logged: a fleet that
// sends bad data must not flood the gateway's log. The counts are in the receiver's own
// metrics either way.
const warnInterval = time.Minute

// rateLimitedLogger logs each message at most once per warnInterval, with how many were
// suppressed in between.
type rateLimitedLogger struct {
	logger *zap.Logger
	mu     sync.Mutex
	last   map[string]time.Time
	missed map[string]int
	now    func() time.Time
}

func newRateLimitedLogger(logger *zap.Logger) *rateLimitedLogger {
	return &rateLimitedLogger{logger: logger, last: map[string]time.Time{}, missed: map[string]int{}, now: time.Now}
}

func (l *rateLimitedLogger) warn(msg string, fields ...zap.Field) {
	l.mu.Lock()
	now := l.now()
	if last, ok := l.last[msg]; ok && now.Sub(last) < warnInterval {
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
