// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate mdatagen metadata.yaml

// Package lambdatelemetryreceiver is the gateway's front door for AWS Lambda telemetry: the
// batches that the otelcol-lambda extension forwards from inside each sandbox and the
// functions' own OTLP data, all on one HTTP server.
package lambdatelemetryreceiver // import "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver"
