// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package lambdaemu is an in-process fake of the AWS Lambda APIs an execution environment
// (a "sandbox") offers, following AWS's documentation
// (docs.aws.amazon.com/lambda/latest/dg/runtimes-extensions-api.html, telemetry-api.html,
// runtimes-api.html):
//
//   - the Extensions API (/2020-01-01/extension): register with the extension's name and
//     events (and the accountId feature), a blocking /event/next that hands out INVOKE and
//     SHUTDOWN events, /init/error and /exit/error;
//   - the Telemetry API (PUT /2022-07-01/telemetry): subscriptions validated as Lambda
//     validates them (400 ValidationError), and delivery of JSON arrays of events to the
//     subscriber's HTTP destination, batched by maxItems, maxBytes and timeoutMs;
//   - enough of the Runtime API (/2018-06-01/runtime) for a function runtime to run:
//     invocation/next, response, error and init/error.
//
// One [Emulator] is one sandbox: [Emulator.Start] is its cold start (extensions are spawned
// as real processes with the documented environment, the runtime is started once they have
// registered, init ends when all of them called next), [Emulator.Invoke] is one invocation,
// [Emulator.Shutdown] its end. Between invocations the sandbox is frozen: no telemetry is
// delivered (and, with [Config.FreezeProcesses], the extension processes are stopped), so
// platform.report of an invocation, produced when its invoke phase ends, reaches the
// subscribers at the next invocation or at shutdown, as on Lambda.
//
// The emulator measures what the caller of a real function and its bill would see: the
// response latency, the runtime's duration, the extensions' post-runtime time, and the
// init duration with the time each extension took from spawn to its first /event/next.
//
// Failures during an invocation reset the sandbox as Lambda does: a timeout, a runtime that
// exited, or an extension process that exited (Extension.Crash) end the invocation, and the
// sandbox goes through its shutdown phase with reason timeout or failure. Lambda would
// initialize a new runtime and new extensions for the next invocation; here that is a new
// Emulator. [ProcessRuntime] starts a managed runtime through AWS_LAMBDA_EXEC_WRAPPER when
// the function's environment sets it.
//
// Everything listens on loopback. The host name sandbox.localdomain in a subscriber's
// destination resolves to 127.0.0.1.
package lambdaemu // import "github.com/otelcol-lambda/otelcol-lambda/testbed/lambdaemu"
