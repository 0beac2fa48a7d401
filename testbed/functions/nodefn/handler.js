// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0
'use strict';

// The testbed's Node.js function. Its event steers it, as the Go function's does:
// {"fail": "message"} throws, {"sleepMs": n} works for n ms, anything else succeeds.
exports.handle = async (event) => {
  const steering = event && typeof event === 'object' ? event : {};
  if (steering.sleepMs > 0) {
    await new Promise((resolve) => setTimeout(resolve, steering.sleepMs));
  }
  if (steering.fail) {
    throw new Error(String(steering.fail));
  }
  return { ok: true };
};
