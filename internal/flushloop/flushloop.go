// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package flushloop runs a component's flush on a ticker and once more when the component
// shuts down: lambda_metrics and lambda_fleet_metrics both hold state between flushes that
// a shutdown must not drop.
package flushloop // import "github.com/otelcol-lambda/otelcol-lambda/internal/flushloop"

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Loop calls flush every interval between Start and Stop, and a last time at Stop.
type Loop struct {
	flush  func(context.Context) error
	logger *zap.Logger

	stop, done chan struct{}
	stopOnce   sync.Once
}

// New returns a Loop that calls flush; failures are logged with logger.
func New(flush func(context.Context) error, logger *zap.Logger) *Loop {
	return &Loop{flush: flush, logger: logger}
}

// Start flushes every interval until Stop. Call it at most once.
func (l *Loop) Start(interval time.Duration) {
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(l.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-t.C:
				if err := l.flush(context.Background()); err != nil {
					l.logger.Error("Failed ConsumeMetrics", zap.Error(err))
				}
			}
		}
	}()
}

// Stop ends the ticker, waits for a flush under way, and flushes a last time; it does
// nothing without Start, and only the first call acts. The last flush's failure is logged,
// not returned: a SIGTERM during an outage is no failure of the gateway, and export_watch
// and the exporter already count what was not written.
func (l *Loop) Stop(ctx context.Context) {
	l.stopOnce.Do(func() {
		if l.stop == nil {
			return
		}
		close(l.stop)
		<-l.done
		if err := l.flush(ctx); err != nil {
			l.logger.Warn("The last flush before shutdown was not written; what it held since the last written flush is lost", zap.Error(err))
		}
	})
}
