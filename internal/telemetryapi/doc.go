// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package telemetryapi is the one Go model of the AWS Lambda Telemetry API
// (https://docs.aws.amazon.com/lambda/latest/dg/telemetry-api.html).
//
// Three programs share it, so that they cannot disagree about the schema:
//
//   - the gateway receiver (lambda_telemetry) decodes batches of events at a
//     high rate and turns them into spans, metrics and logs;
//   - the Lambda extension (layer/) subscribes to the Telemetry API, receives
//     events from Lambda, looks at a few of them (to learn when an invocation
//     ended) and forwards them to the gateway verbatim;
//   - the Lambda emulator in the testbed produces events from typed records.
//
// Verbatim forwarding is why an [Event] keeps its record as raw JSON: a
// forwarder decodes the envelope (time, type) of every event but decodes a
// record only when it needs it, and re-encodes the record's bytes exactly as
// Lambda sent them, so fields this package does not know survive the trip.
// [Event.DecodeRecord] turns a record into its typed form; [DecodeEvents] and
// [AppendEvents] read and write the JSON array Lambda POSTs to a subscriber.
// A receiver, which uses every record, reads a batch with [ScanDecoded]: one
// walk over the bytes validates each event and decodes its record.
//
// One event type is ours, not Lambda's: otelcol.invocation ([TypeInvocation], record
// [Invocation]). The extension's Runtime API proxy sees each invocation's event and the
// error the function's runtime posts, which the Telemetry API does not tell: where the
// event came from (kind, faas.trigger, messaging system, destination or collection, route,
// the source's ARN, when the source took the event in, the batch size) and the function's
// errorType. The extension adds one such event per proxied invocation to its batch, just
// before that invocation's platform.runtimeDone (or the platform.report it marks as
// without one), so the event is in the same batch or an earlier one of the same sandbox;
// the gateway receiver puts its findings on the invocation span. Its integers are int64
// and int, not float64: the proxy writes them, never Lambda. [CheckLimits] bounds each of
// its fields. A gateway older than this type rejects the event (a type that is none of
// Lambda's), so gateways are upgraded before extensions.
//
// Conventions of the typed records:
//   - every number is a float64, because Lambda has sent fields documented as
//     integers with a fractional part ("billedDurationMs": 101.0);
//   - optional strings are empty when absent (absent and empty mean the same
//     to every consumer); optional objects and optional metrics are pointers,
//     because their absence carries meaning (initDurationMs is present on cold
//     starts only) or because zero is a real value (producedBytes);
//   - "MB" in Lambda's memory fields means MiB; use the Bytes helpers;
//   - timestamps are encoded in UTC with millisecond precision, as AWS sends
//     them ("2022-10-12T00:03:50.000Z").
//
// Decoding is on the receiver's hot path: the envelope and the records seen
// on every invocation (platform.start, platform.runtimeDone, platform.report,
// logs, otelcol.invocation) take a small hand-written, validating decoder; within a batch, their
// records come from a few larger allocations and share the strings they
// repeat. Whatever it does not take (null, duplicate keys, keys in another
// case, deep nesting, errors) goes to encoding/json, which defines the result;
// tests and fuzzing hold the two to the same output. One error the fast path makes
// itself: a number that is no integer in an integer field of otelcol.invocation, which
// encoding/json refuses whatever surrounds it, at some times the cost of a tiny record.
//
// The package uses the standard library only: the extension links it and its
// size and start time are paid on every cold start.
package telemetryapi // import "github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
