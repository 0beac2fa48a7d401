// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdaconv // import "github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"

import (
	"context"
	"slices"
	"strings"
)

// Provenance. The lambda_metrics connector believes the span type and the platform
// attributes of a span: an invocation span is an invocation, a report's billed duration is
// billed. Only the lambda_telemetry receiver's conversion of Telemetry API events may
// therefore make them. Any client that can send OTLP (every function) could otherwise
// forge invocations, cold starts, durations and cost.
//
// The receiver marks the context it hands those spans on with; the marking survives the
// processors before lambda_correlation (memory_limiter passes the context on), and
// lambda_correlation removes the internal attributes from every span whose context is not
// marked. A context is the one thing a client cannot send: no header, no attribute and no
// resource can make a span trusted.

// receiverSpansKey is the context key of the mark. It is unexported, so only this package
// can set it.
type receiverSpansKey struct{}

// WithReceiverSpans returns ctx marked as carrying spans that the lambda_telemetry receiver
// made from Telemetry API events. Only that conversion calls it: a component that passes
// on spans it received from elsewhere must not.
func WithReceiverSpans(ctx context.Context) context.Context {
	return context.WithValue(ctx, receiverSpansKey{}, true)
}

// FromReceiver tells whether ctx was marked by [WithReceiverSpans].
func FromReceiver(ctx context.Context) bool {
	marked, _ := ctx.Value(receiverSpansKey{}).(bool)
	return marked
}

// internalPrefix starts every internal attribute key; most span attributes do not, so
// [IsInternalAttribute] rejects them with one comparison.
const internalPrefix = "aws.lambda."

// IsInternalAttribute tells whether a span attribute key is one that only the receiver's
// conversion of Telemetry API events sets: the span type and the platform's facts on
// invocation, report and init spans.
//
// Semantic-convention attributes that functions' instrumentations set themselves are not
// internal, although invocation spans carry them too: faas.invocation_id, faas.coldstart,
// error.type, faas.trigger, messaging.*, http.route, cloud.*. Nor are the event-source
// attributes of our function-side instrumentation (aws.lambda.event_source.arn and
// aws.lambda.event_source.time_unix_ms), which the lambda_correlation processor joins from
// the function's span, nor OTel's aws.lambda.invoked_arn. Without the span type none of
// these makes a span count: the connector counts only typed spans, and generic SERVER spans
// only when its sdk_spans setting says so.
func IsInternalAttribute(key string) bool {
	if !strings.HasPrefix(key, internalPrefix) {
		return false
	}
	_, ok := internalAttributeSet[key]
	return ok
}

// internalAttributes is the one list of internal keys; internalAttributeSet indexes it.
var internalAttributes = []string{
	AttrSpanType,
	AttrStatus, AttrLambdaErrorType, AttrInvocationFromReport, AttrProducedBytes, AttrInitializationType,
	AttrDurationMs, AttrBilledDurationMs, AttrMemorySize, AttrMaxMemoryUsed, AttrInitDurationMs, AttrRestoreDurationMs,
	AttrBilledRestoreDurationMs,
	AttrInitPhase, AttrRuntimeVersion, AttrInitFromReport, AttrColdstartLate,
	AttrAckToken,
}

var internalAttributeSet = func() map[string]struct{} {
	set := make(map[string]struct{}, len(internalAttributes))
	for _, k := range internalAttributes {
		set[k] = struct{}{}
	}
	return set
}()

// InternalAttributes lists every key [IsInternalAttribute] accepts, for tests and
// documentation.
func InternalAttributes() []string { return slices.Clone(internalAttributes) }
