// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate mdatagen metadata.yaml

// Package lambdametricsconnector derives RED, cold start, init, memory, cost and event-age
// metrics from the invocation, report and init spans of the lambda_telemetry receiver
// (internal/lambdaconv is the contract).
//
// Counting: every invocation is counted once, from its invocation span, and never from a
// report. Reports feed billed duration, memory used and cost. faas.init_duration (and
// aws.lambda.restore_duration, for SnapStart restores) comes from init spans only, not from
// the reports' init_duration_ms: init spans arrive when the init ends (a report only at the
// next thaw or at shutdown), they also cover inits that never served an invocation (failed
// inits, provisioned concurrency), and they carry the initialization type; taking one
// source means no init is counted twice. (When a sandbox's init events never came, the
// receiver makes its init span from the report, instead.) A cold start learnt after its
// invocation span went out is counted from its init span (aws.lambda.coldstart.late).
//
// The output is cumulative, one resource for the gateway replica (service.name and
// service.instance.id: job and instance in Prometheus), the function's identity and
// low-cardinality dimensions on the data points. A new series starts with a zero point at its
// start time. Each metric holds at most cardinality_limit series plus one overflow series;
// idle series expire after metrics_expiration. The dimension values come from the event,
// which any invoker chooses: each function has series for at most
// max_event_sources_per_function of them, and counts the rest in its own series marked
// otel.metric.overflow=true (sources.go).
//
// Trust: the connector believes a span's aws.lambda.span.type and the platform attributes
// on it, and cannot tell where a span came from. Only the lambda_telemetry receiver's
// conversion of Telemetry API events may make such spans; the lambda_correlation processor
// enforces it by stripping them from every other span. It must therefore come before this
// connector, and before the batch processor (which does not pass the receiver's context
// on), in every traces pipeline that has an OTLP or any other receiver: without it, any
// client that can send OTLP counts invocations, cold starts, durations and cost.
//
// Acknowledgements: spans of lambda_telemetry's write-ahead log carry a token. The connector
// hands the tokens of a flush back to the log (internal/acklog) once the flush was consumed,
// and, with storage set, keeps the flush being written so that one interrupted by a kill -9
// is written again at the next start instead of being replayed (inflight.go).
package lambdametricsconnector // import "github.com/otelcol-lambda/otelcol-lambda/connector/lambdametricsconnector"
