// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package cloudwatch maps what CloudWatch Metric Streams send in the OpenTelemetry 1.0.0
// output format onto the gateway's Prometheus series, so that CloudWatch's numbers
// (throttles, concurrency, async and stream queues, SQS queue depth) join our RED series on
// the same labels.
//
// Each CloudWatch data point is a summary (sum, sample count, quantile 0 = minimum, quantile
// 1 = maximum, optional percentiles) of one metric and one set of dimensions over one period.
// It becomes one gauge sample per statistic, named
//
//	aws_<namespace without "AWS/">_<metric name>[_seconds]_<sum|sample_count|minimum|maximum|pNN>
//
// in snake_case, time units converted to seconds, with the period's timestamp and the labels
// cloud_region, cloud_account_id, faas_name (FunctionName), messaging_destination_name
// (QueueName) and every other dimension in snake_case. The output resource is the gateway
// replica (job and instance), as for every other series of the gateway.
//
// README.md has the mapping table, the facts of the format with AWS's documentation cited,
// and how to query the series. Subpackage cloudwatchtest builds realistic metric stream
// requests and Firehose deliveries for tests.
package cloudwatch // import "github.com/otelcol-lambda/otelcol-lambda/internal/cloudwatch"
