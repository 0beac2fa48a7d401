// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package exportwatchextension // import "github.com/otelcol-lambda/otelcol-lambda/extension/exportwatchextension"

import (
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Outcomes of a request, the values of the outcome attribute.
const (
	outcomeSuccess        = "success"
	outcomeErrorResponse  = "error_response"
	outcomeTransportError = "transport_error"
	outcomeCanceled       = "canceled"
	outcomeRefused        = "refused"
)

var outcomes = [...]string{outcomeSuccess, outcomeErrorResponse, outcomeTransportError, outcomeCanceled, outcomeRefused}

// maxEndpoints bounds the endpoints watched one by one. Exporters write to the endpoints
// of their configuration, a handful; one that builds URLs from its data must not grow this
// state, so the rest share otherEndpoint.
const (
	maxEndpoints  = 64
	otherEndpoint = "other"
)

// endpointState is what the watch knows of one endpoint. Its fields are guarded by the
// watch's mutex.
type endpointState struct {
	name string
	// requests holds, per outcome, the attribute set of its counter: built once, so that a
	// request costs no allocation for its metrics.
	requests map[string]metric.AddOption
	// attrs is the attribute set of the per-endpoint metrics.
	attrs metric.MeasurementOption

	// consecutive is the number of failed requests since the last success: while it is
	// above 0 the exporters are retrying (or dropping) what they send here.
	consecutive int64
	// failingSince is when the first of those failed; zero while the endpoint answers.
	failingSince time.Time
	// reason is why the last request failed.
	reason string
	// episodeLogged says whether this failure episode (the failures since the last
	// success) was announced; only an announced episode gets its recovery logged.
	episodeLogged bool
	// lastWarn is when a warning was last logged for the endpoint.
	lastWarn time.Time
	// unlogged counts the failures of episodes that were not announced (an endpoint that
	// fails and recovers faster than log_interval), for the next line.
	unlogged int64
}

func newEndpointState(name string) *endpointState {
	s := &endpointState{name: name, requests: make(map[string]metric.AddOption, len(outcomes))}
	ep := attribute.String("endpoint", name)
	for _, o := range outcomes {
		s.requests[o] = metric.WithAttributeSet(attribute.NewSet(ep, attribute.String("outcome", o)))
	}
	s.attrs = metric.WithAttributeSet(attribute.NewSet(ep))
	return s
}

// logLine is a line to log once the watch's mutex is released.
type logLine struct {
	level  zapcore.Level
	msg    string
	fields []zap.Field
}

// Messages of the lines logged about an endpoint; tests and operators search for them.
const (
	msgFailed       = "Export requests to the backend are failing"
	msgStillFailing = "Export requests to the backend are still failing"
	msgRecovered    = "Export requests to the backend succeed again"
)

// failed records a failed request at now. The first failure after a success is announced
// at warn with its reason, unless a warning about the endpoint was logged within interval
// (an endpoint that flaps); a failure episode that lasts gets one summary warning per
// interval. It returns the line to log, if any.
func (s *endpointState) failed(now time.Time, reason string, interval time.Duration) *logLine {
	s.consecutive++
	s.reason = reason
	if s.failingSince.IsZero() {
		s.failingSince = now
		s.episodeLogged = false
	}
	if !s.wouldLog(now, interval) {
		if !s.episodeLogged {
			s.unlogged++
		}
		return nil
	}
	s.lastWarn = now
	fields := []zap.Field{zap.String("endpoint", s.name), zap.String("reason", reason)}
	if s.episodeLogged {
		fields = append(fields,
			zap.String("failing_for", now.Sub(s.failingSince).Truncate(time.Millisecond).String()),
			zap.Int64("failed_requests", s.consecutive))
	}
	fields = s.appendUnlogged(fields)
	if s.episodeLogged {
		return &logLine{level: zapcore.WarnLevel, msg: msgStillFailing, fields: fields}
	}
	s.episodeLogged = true
	return &logLine{level: zapcore.WarnLevel, msg: msgFailed, fields: fields}
}

// succeeded records a successful request at now. It returns the recovery line when the
// failure episode it ends was announced.
func (s *endpointState) succeeded(now time.Time) *logLine {
	failed, since, logged := s.consecutive, s.failingSince, s.episodeLogged
	s.consecutive = 0
	s.failingSince = time.Time{}
	s.episodeLogged = false
	if failed == 0 {
		return nil
	}
	if !logged {
		// Its failures were counted in unlogged one by one.
		return nil
	}
	fields := s.appendUnlogged([]zap.Field{
		zap.String("endpoint", s.name),
		zap.String("down_for", now.Sub(since).Truncate(time.Millisecond).String()),
		zap.Int64("failed_requests", failed),
	})
	return &logLine{level: zapcore.InfoLevel, msg: msgRecovered, fields: fields}
}

// appendUnlogged adds the failures no line told of yet, and forgets them.
func (s *endpointState) appendUnlogged(fields []zap.Field) []zap.Field {
	if s.unlogged > 0 {
		fields = append(fields, zap.Int64("unlogged_failed_requests", s.unlogged))
		s.unlogged = 0
	}
	return fields
}

// wouldLog says whether a failure at now would be logged.
func (s *endpointState) wouldLog(now time.Time, interval time.Duration) bool {
	return s.lastWarn.IsZero() || now.Sub(s.lastWarn) >= interval
}

// failingFor is how long the endpoint has been failing at now; 0 while it answers.
func (s *endpointState) failingFor(now time.Time) time.Duration {
	if s.failingSince.IsZero() {
		return 0
	}
	return now.Sub(s.failingSince)
}
