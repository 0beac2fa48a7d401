// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate mdatagen metadata.yaml

// Package lambdacorrelationprocessor joins the invocation spans that the lambda_telemetry
// receiver derives from Lambda's platform events with the functions' own spans, and names
// each invocation's event source (SQS, SNS, API Gateway, Kafka, ...) with one normalized set
// of attributes, whatever convention the function's instrumentation used. The function's
// trace is canonical: the invocation span joins it as the function root span's parent, and
// report spans arriving later follow. It holds only invocation spans and function root spans,
// each at most one window, within max_pending; README.md has the details and the table of
// conventions.
//
// It is also the trust boundary in front of the lambda_metrics connector: spans that the
// lambda_telemetry receiver did not make from Telemetry API events (its context mark,
// internal/lambdaconv.FromReceiver, is absent) lose the receiver's span type and platform
// attributes, counted, so that no client that can send OTLP can forge invocations;
// forwarded_platform_spans: trust keeps them for a tier fed by another otelcol-lambda.
package lambdacorrelationprocessor // import "github.com/otelcol-lambda/otelcol-lambda/processor/lambdacorrelationprocessor"
