// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate mdatagen metadata.yaml

// Package lambdametricsconnector derives RED, cold start, init, memory, cost and event-age
// metrics from the invocation, report and init spans of the lambda_telemetry receiver
// (internal/lambdaconv is the contract).
//
// Counting: every invocation is counted once, from its invocation span, and never from a
// report. Reports feed billed duration, memory used and cost. faas.init_duration comes from
// init spans only, not from the reports' init_duration_ms: init spans arrive when the init
// ends (a report only at the next thaw or at shutdown), they also cover inits that never
// served an invocation (failed inits, provisioned concurrency) and SnapStart restores, and
// they carry the initialization type; taking one source means no init is counted twice.
//
// The output is cumulative, one resource for the gateway replica (service.name and
// service.instance.id: job and instance in Prometheus), the function's identity and
// low-cardinality dimensions on the data points. A new series starts with a zero point at its
// start time. Each metric holds at most cardinality_limit series plus one overflow series;
// idle series expire after metrics_expiration.
package lambdametricsconnector // import "github.com/otelcol-lambda/otelcol-lambda/connector/lambdametricsconnector"
