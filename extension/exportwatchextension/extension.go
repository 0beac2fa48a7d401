// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package exportwatchextension // import "github.com/otelcol-lambda/otelcol-lambda/extension/exportwatchextension"

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensioncapabilities"
	"go.opentelemetry.io/collector/extension/extensionmiddleware"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-lambda/otelcol-lambda/extension/exportwatchextension/internal/metadata"
)

// errDrainTimeout is the cause of the requests that drain_timeout ended: the canceled ones
// and the refused ones wrap it.
var errDrainTimeout = errors.New("drain_timeout passed during the shutdown")

var (
	_ extension.Extension                   = (*exportWatch)(nil)
	_ extensionmiddleware.HTTPClient        = (*exportWatch)(nil)
	_ extensionmiddleware.GRPCClient        = (*exportWatch)(nil)
	_ extensioncapabilities.PipelineWatcher = (*exportWatch)(nil)
)

// exportWatch is the extension: the exporters' requests pass through it (see
// roundtripper.go and grpc.go), it keeps per endpoint whether the backend answers, and it
// bounds the drain of the shutdown.
type exportWatch struct {
	cfg       *Config
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
	// now is the clock of the failure episodes and log intervals; tests set it.
	now func() time.Time

	// drainCtx is canceled, with errDrainTimeout as the cause, once drain_timeout passed
	// after NotReady: every request in flight runs under a context that ends with it.
	drainCtx    context.Context
	cancelDrain context.CancelCauseFunc
	// drained is set when drainCtx is canceled: requests from then on are refused.
	drained   atomic.Bool
	drainOnce sync.Once
	// errRefuse and errCanceled end the requests that drain_timeout refuses or cancels.
	errRefuse, errCanceled error

	mu        sync.Mutex
	endpoints map[string]*endpointState
	// Below: the drain, from NotReady on.
	draining   bool
	drainStart time.Time
	timer      *time.Timer
	// drainFailed counts the requests that failed during the drain before the deadline;
	// canceled and refused the ones the deadline ended; unwrittenBytes the known body
	// bytes of those two.
	drainFailed, canceled, refused, unwrittenBytes int64
}

func newExportWatch(set extension.Settings, cfg *Config) (*exportWatch, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	drainCtx, cancelDrain := context.WithCancelCause(context.Background())
	w := &exportWatch{
		cfg:         cfg,
		logger:      set.Logger,
		telemetry:   tb,
		now:         time.Now,
		drainCtx:    drainCtx,
		cancelDrain: cancelDrain,
		errRefuse:   fmt.Errorf("export_watch: request not sent: %w (drain_timeout %s)", errDrainTimeout, cfg.DrainTimeout),
		errCanceled: fmt.Errorf("export_watch: request canceled in flight: %w (drain_timeout %s)", errDrainTimeout, cfg.DrainTimeout),
		endpoints:   map[string]*endpointState{},
	}
	err = errors.Join(
		tb.RegisterExtensionExportWatchConsecutiveFailuresCallback(w.observeConsecutiveFailures),
		tb.RegisterExtensionExportWatchFailingDurationCallback(w.observeFailingDuration),
	)
	if err != nil {
		tb.Shutdown()
		cancelDrain(nil)
		return nil, err
	}
	return w, nil
}

// Start does nothing: the exporters get the middleware when they build their clients.
func (*exportWatch) Start(context.Context, component.Host) error { return nil }

// Ready is called once the pipelines run; there is nothing to do.
func (*exportWatch) Ready() error { return nil }

// NotReady is called when the service starts shutting down, before the first pipeline
// stops: the exporters' queues are drained after it. It starts the drain_timeout clock.
func (w *exportWatch) NotReady() error {
	w.drainOnce.Do(func() {
		w.mu.Lock()
		w.draining = true
		w.drainStart = w.now()
		w.timer = time.AfterFunc(w.cfg.DrainTimeout, w.expire)
		w.mu.Unlock()
		w.logger.Info("Shutting down: exports may drain for drain_timeout", zap.String("drain_timeout", w.cfg.DrainTimeout.String()))
	})
	return nil
}

// expire ends the drain: requests in flight are canceled, later ones refused.
func (w *exportWatch) expire() {
	w.drained.Store(true)
	w.cancelDrain(errDrainTimeout)
	w.logger.Info("Drain timeout passed: canceling export requests in flight and refusing new ones",
		zap.String("drain_timeout", w.cfg.DrainTimeout.String()))
}

// Shutdown runs after every pipeline stopped. It logs, once, what the drain could not write.
func (w *exportWatch) Shutdown(context.Context) error {
	w.mu.Lock()
	if w.timer != nil {
		w.timer.Stop()
	}
	draining := w.draining
	took := w.now().Sub(w.drainStart).Truncate(time.Millisecond)
	failed, canceled, refused, unwritten := w.drainFailed, w.canceled, w.refused, w.unwrittenBytes
	w.mu.Unlock()
	// Releases what still waits on the drain context; nothing should be in flight now.
	w.cancelDrain(errors.New("export_watch shut down"))
	w.telemetry.Shutdown()
	if !draining {
		// Shut down without the service's notice (a test, a failed start): no drain to tell of.
		return nil
	}
	fields := []zap.Field{
		zap.String("drain_timeout", w.cfg.DrainTimeout.String()),
		zap.String("drain_took", took.String()),
		zap.Int64("failed_requests", failed),
		zap.Int64("canceled_requests", canceled),
		zap.Int64("refused_requests", refused),
	}
	if failed+canceled+refused == 0 {
		w.logger.Info("Exports drained at shutdown", fields...)
		return nil
	}
	fields = append(fields, zap.Int64("unwritten_bytes", unwritten))
	w.logger.Warn("Exports not written at shutdown: their requests failed, or drain_timeout ended them", fields...)
	return nil
}

// endpoint returns the state of the endpoint named name, created on first use. The caller
// holds w.mu.
func (w *exportWatch) endpoint(name string) *endpointState {
	if s, ok := w.endpoints[name]; ok {
		return s
	}
	if len(w.endpoints) >= maxEndpoints {
		name = otherEndpoint
		if s, ok := w.endpoints[name]; ok {
			return s
		}
	}
	s := newEndpointState(name)
	w.endpoints[name] = s
	return s
}

// wantReason says whether a failure of endpoint name would be logged now: only then is
// its reason worth working out, as that may read from the response.
func (w *exportWatch) wantReason(name string) bool {
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.endpoint(name).wouldLog(now, w.cfg.LogInterval)
}

// record counts one finished request to endpoint name, and logs what changed. reason says
// why a failed request failed; size is the request body's length, -1 when unknown.
func (w *exportWatch) record(ctx context.Context, name, outcome, reason string, size int64) {
	now := w.now()
	w.mu.Lock()
	s := w.endpoint(name)
	var line *logLine
	switch outcome {
	case outcomeSuccess:
		line = s.succeeded(now)
	case outcomeCanceled, outcomeRefused:
		// Not the backend's doing: its health stays what it was.
		if outcome == outcomeCanceled {
			w.canceled++
		} else {
			w.refused++
		}
		if size > 0 {
			w.unwrittenBytes += size
			w.telemetry.ExtensionExportWatchUnwrittenBytes.Add(ctx, size, s.attrs)
		}
	default:
		if w.draining {
			w.drainFailed++
		}
		if reason == "" {
			reason = "unknown (the failure was not expected to be logged)"
		}
		line = s.failed(now, reason, w.cfg.LogInterval)
	}
	w.telemetry.ExtensionExportWatchRequests.Add(ctx, 1, s.requests[outcome])
	w.mu.Unlock()
	if line != nil {
		w.logger.Log(line.level, line.msg, line.fields...)
	}
}

func (w *exportWatch) observeConsecutiveFailures(_ context.Context, o metric.Int64Observer) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.endpoints {
		o.Observe(s.consecutive, s.attrs)
	}
	return nil
}

func (w *exportWatch) observeFailingDuration(_ context.Context, o metric.Float64Observer) error {
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.endpoints {
		o.Observe(s.failingFor(now).Seconds(), s.attrs)
	}
	return nil
}
