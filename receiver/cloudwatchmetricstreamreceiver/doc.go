// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate mdatagen metadata.yaml

// Package cloudwatchmetricstreamreceiver takes CloudWatch Metric Streams delivered by
// Amazon Data Firehose to an HTTP endpoint: it speaks Firehose's HTTP endpoint delivery
// protocol (request id, access key, gzip, JSON answers whose status tells Firehose
// whether to retry), decodes each record's OpenTelemetry 1.0.0 output (length-delimited
// OTLP ExportMetricsServiceRequest messages) and hands the series internal/cloudwatch
// makes of them to the next consumer. See README.md.
package cloudwatchmetricstreamreceiver // import "github.com/otelcol-lambda/otelcol-lambda/receiver/cloudwatchmetricstreamreceiver"
