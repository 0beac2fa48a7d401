// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0
'use strict';

// A Node.js function with no instrumentation at all, run by AWS's Runtime Interface Client
// (aws-lambda-ric from npm, the client of Lambda's managed Node.js runtimes) behind the
// layer's wrapper script: the extension's Runtime API proxy alone tells each invocation's
// event source (issue #19). Its event steers it as the other testbed functions' do:
// {"fail": "message"} throws a CardDeclinedError (the client reports the error's name as
// errorType), {"sleepMs": n} works for n ms first, anything else succeeds.

class CardDeclinedError extends Error {
  constructor(reason) {
    super(`card declined: ${reason}`);
    this.name = 'CardDeclinedError';
  }
}

exports.handle = async (event) => {
  const steering = event && typeof event === 'object' ? event : {};
  if (steering.sleepMs > 0) {
    await new Promise((resolve) => setTimeout(resolve, steering.sleepMs));
  }
  if (steering.fail) {
    throw new CardDeclinedError(String(steering.fail));
  }
  return { ok: true };
};
