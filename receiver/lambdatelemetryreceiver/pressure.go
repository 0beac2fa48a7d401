// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver // import "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver"

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
)

// probeInterval is how long a pressure gate refuses every request after the pipeline
// refused data for now, and then how often it lets one through to find out whether the
// pipeline takes data again. It matches Retry-After (retryAfterSeconds) and the distribution's
// memory_limiter check_interval: memory is not measured more often than that.
const probeInterval = time.Second

// pressureGate refuses requests before their body is read while the pipeline behind them
// refuses data for now, as the memory_limiter processor does under memory pressure.
// Reading and decoding a body only to hear the pipeline refuse it costs the very memory
// that is short: up to several times the body, for a body of up to max_request_body_size.
//
// It closes when the pipeline refuses a request it admitted with a retryable error. While
// closed, it admits one request per probeInterval (the probe), and the pipeline's answer to
// a probe opens it again or keeps it closed: it recovers on its own, as soon as the
// pipeline does, and never needs the pipeline to tell it.
//
// One gate serves one signal (traces, metrics, logs): each has its own pipeline, and a
// refusal in one says nothing about the others.
type pressureGate struct {
	closed atomic.Bool
	// nextProbe is when, in Unix nanoseconds, the closed gate admits its next probe.
	nextProbe atomic.Int64
}

// admit reports whether a request may be read: always while the gate is open, and while
// closed once per probeInterval. The clock is read only while closed.
func (g *pressureGate) admit(clock func() time.Time) bool {
	if !g.closed.Load() {
		return true
	}
	now := clock().UnixNano()
	next := g.nextProbe.Load()
	return now >= next && g.nextProbe.CompareAndSwap(next, now+int64(probeInterval))
}

// observe learns from the pipeline's answer to an admitted request. A retryable refusal
// closes the gate; anything else, success or a permanent error about the data, opens it.
// A cancelled request says nothing about the pipeline: its client gave up.
func (g *pressureGate) observe(err error, clock func() time.Time) {
	switch {
	case err == nil || consumererror.IsPermanent(err):
		g.closed.Store(false)
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
	case !g.closed.Load():
		// The first probe comes after a whole interval: the pipeline refused just now.
		g.nextProbe.Store(clock().Add(probeInterval).UnixNano())
		g.closed.Store(true)
	}
}

// pressureGates are the receiver's gates, one per signal.
type pressureGates struct {
	traces, metrics, logs pressureGate
}

// errPipelineBusy is the answer of a closed gate.
var errPipelineBusy = errors.New("the pipeline refused data for now a moment ago (as memory_limiter does when memory is short): " +
	"the request was not read; retry after " + retryAfterSeconds + " s")
