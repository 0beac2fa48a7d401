// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate mdatagen metadata.yaml

// Package lambdafleetmetricsprocessor folds the metrics that Lambda functions emit
// themselves (Pushgateway API pushes forwarded by the extension, OTel SDK metrics) into
// fleet series: one cumulative series per (service.namespace, service.name, scope, metric,
// data point attributes) for this gateway replica, summed over every sandbox of every
// function that reports under that service name (the job).
//
// Increments come in three ways: delta points are added as they come (the extension sends
// the increments of pushed counters and histograms since its last acknowledged batch, in
// numbered batches the receiver dedupes); cumulative points are differenced per sandbox
// stream (internal/streams); gauges are combined across sandboxes by a per-metric mode
// (last, sum, max or min). The output follows the contract of lambda_metrics, from the
// same series store (internal/series): the gateway replica is the resource's
// service.instance.id (instance in Prometheus), a stable start time, a zero point before a
// counter's first value, idle expiry, and a cap on series per job with an overflow series.
package lambdafleetmetricsprocessor // import "github.com/otelcol-lambda/otelcol-lambda/processor/lambdafleetmetricsprocessor"
