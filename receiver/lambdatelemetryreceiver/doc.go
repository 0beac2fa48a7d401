// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate mdatagen metadata.yaml

// Package lambdatelemetryreceiver is the gateway's front door for AWS Lambda telemetry: the
// batches that the otelcol-lambda extension forwards from inside each sandbox and the
// functions' own OTLP data, all on one HTTP server.
//
// Each numbered batch (extension instance id, sequence) is taken once. With the storage
// setting, which batches were accepted survives a restart: a graceful restart counts
// nothing twice (Shutdown writes a final checkpoint before the storage closes); a kill -9
// may count again, if they are resent, at most the batches accepted within the last
// checkpoint_interval; without storage, every batch resent to a restarted receiver
// counts again.
//
// With write_ahead_log enabled, every accepted batch is also kept in storage until
// lambda_metrics acknowledged each span made from it (internal/acklog), and replayed at
// start without the acknowledged spans: an acknowledged event survives a kill -9 (see
// durable.go and internal/batchlog).
package lambdatelemetryreceiver // import "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver"
