// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package runtimeproxy is a proxy of Lambda's Runtime API (2018-06-01) for the extension:
// the function's runtime talks to it as to Lambda, and it tells the extension what each
// invocation was (its event, for classifying the event source) and how it ended (response,
// error with its errorType, init error), with no change to the function's code (issue #19).
//
// # What goes through
//
// Every request goes to Lambda as the runtime sent it (method, path, query, headers but the
// hop-by-hop ones, body, trailers) and Lambda's answer comes back the same way: status,
// headers, body, trailers. The proxy adds no header of its own (not even a User-Agent).
// Four calls are also looked at:
//
//   - GET invocation/next: the long poll, without any timeout. The event is streamed to the
//     runtime while its first ClassifyWindow bytes are kept; the headers
//     (Lambda-Runtime-Aws-Request-Id, -Deadline-Ms, -Invoked-Function-Arn, -Trace-Id,
//     -Client-Context, -Cognito-Identity) go through untouched.
//   - POST invocation/{id}/response: counted as it streams. A streamed response
//     (Lambda-Runtime-Function-Response-Mode: streaming, chunked) goes chunk by chunk,
//     and its trailers Lambda-Runtime-Function-Error-Type/-Body follow it; an error type
//     in them makes the outcome an error (the function failed mid-stream).
//   - POST invocation/{id}/error and init/error: the first ClassifyWindow bytes are kept
//     to read errorType ([ErrorType]), else the Lambda-Runtime-Function-Error-Type header.
//
// # Memory and latency
//
// Nothing is read whole: bodies go through one pooled 32 KB buffer, and an event costs its
// prefix, at most ClassifyWindow bytes, which is handed to OnInvocation (not copied again).
// A 6 MB event adds about one window plus ~10 KB to the extension's allocations
// (TestLargeEventMemory). BenchmarkProxyOverhead reports the latency one invocation
// (next with a 10 KB event, then the response) gains through the proxy.
//
// # Never break the function
//
//   - If Lambda cannot be reached, the runtime gets what it gets from a failing Runtime API:
//     a 502 with a JSON body {"errorMessage", "errorType": "Runtime.ProxyUpstreamUnavailable"}.
//     If Lambda's answer breaks off mid-body, the runtime's connection is cut rather than a
//     partial event passed off as whole.
//   - Callbacks run on one goroutine of the proxy, fed by a bounded queue: a request only
//     ever does a non-blocking send (a full queue drops the event and counts it, see
//     [Stats]), and a panic in a callback is recovered and counted. Invocations reach the
//     callbacks before their outcome.
//   - Start returns an error if the proxy cannot listen; the runtime must then be given
//     Lambda's address, unchanged.
//
// Known limits: a request body is a stream and cannot be sent twice, so when Lambda has
// closed a kept-alive connection (after a long freeze) a response or error POST on it fails
// with a 502, where the runtime's own client would have failed the same way on its own
// connection. GET next is retried by the transport as usual.
//
// # How the extension wires it
//
//   - The wrapper script /opt/otelcol-lambda-wrapper (layer/wrapper; AWS_LAMBDA_EXEC_WRAPPER)
//     sets AWS_LAMBDA_RUNTIME_API to the proxy's address and execs "$@", but only if the
//     extension published that address in OTELCOL_LAMBDA_RUNTIME_API_FILE
//     (/tmp/otelcol-lambda-runtime-api by default); otherwise, or if the file holds no
//     valid host:port, it execs "$@" unchanged and the runtime talks to Lambda.
//   - The agent (layer/internal/agent) starts the proxy before it registers, since Lambda
//     starts the runtime once every extension registered: Upstream is its own
//     AWS_LAMBDA_RUNTIME_API, Listen 127.0.0.1:0. It first removes a stale address file,
//     then writes the address to a temporary file renamed over it. It does so when
//     AWS_LAMBDA_EXEC_WRAPPER ends in otelcol-lambda-wrapper, or always or never per
//     OTELCOL_LAMBDA_RUNTIME_PROXY (on, off; auto by default). On a Start or write error
//     it logs once and publishes nothing. It closes the proxy at SHUTDOWN, after the last
//     flush, and removes the file.
//   - The events: OnInvocation classifies the prefix (instrumentation/go/lambdatrigger) and
//     notes the event source by request id in the Telemetry API listener
//     (layer/internal/telemetry); OnOutcome adds the errorType of an error outcome that
//     Lambda accepted. The listener queues the finding as an otelcol.invocation event
//     (internal/telemetryapi.Invocation, its time the Invocation's Received) just before
//     the invocation's platform.runtimeDone, or before its platform.report marked as
//     without runtimeDone. An errorType that arrives after runtimeDone is lost (counted):
//     best effort, though it is normally microseconds after Lambda accepted the error,
//     and runtimeDone comes later, in a buffered Telemetry API delivery. At most 64
//     findings wait; older ones are dropped and counted.
//   - Stats: with the listener's counts, on the extension's shutdown log line.
//   - Cold start: BenchmarkProxyStart (layer/internal/agent) times start and publish;
//     testbed/results/proxy.md has it with the whole init measured with and without.
package runtimeproxy // import "github.com/otelcol-lambda/otelcol-lambda/layer/internal/runtimeproxy"
