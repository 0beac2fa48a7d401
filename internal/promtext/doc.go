// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package promtext parses the Prometheus text exposition format (version 0.0.4), the body
// of a Pushgateway push (https://prometheus.io/docs/instrumenting/exposition_formats/).
//
// It groups samples into metric families the way Prometheus does: the _bucket, _sum and
// _count samples of a histogram (and the quantiles, _sum and _count of a summary) become
// one [Metric] per label set. Bad input gives a [*ParseError] naming the line, never a
// panic.
//
// Two programs use it: the Lambda extension (layer/) parses what a function pushes to its
// Pushgateway-compatible endpoint, and the testbed reads the gateway's own metrics with it.
// It uses the standard library only, because the extension's size and start time are paid
// on every cold start.
package promtext // import "github.com/otelcol-lambda/otelcol-lambda/internal/promtext"
