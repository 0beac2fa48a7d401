// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0
'use strict';

// Runs a Node.js handler against the Lambda Runtime API the way the managed runtime does:
// it loads $LAMBDA_TASK_ROOT/<module> named by $_HANDLER ("module.export"), then loops on
// /invocation/next, calling the handler and posting its response or error. Tracing is set
// up first, as a user's layer or --require would: the OTel SDK exporting OTLP/HTTP to the
// extension (localhost:4318 unless OTEL_EXPORTER_OTLP_ENDPOINT says otherwise),
// @opentelemetry/instrumentation-aws-lambda, which wraps the handler and flushes after each
// invocation, and otelcol-lambda's requestHook naming the event source.
//
// The npm runtime interface client needs a native build; this is the part of it the
// testbed needs, in plain Node.

const http = require('node:http');
const path = require('node:path');
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { AwsLambdaInstrumentation } = require('@opentelemetry/instrumentation-aws-lambda');
const { requestHook } = require('../../../instrumentation/node');

const env = process.env;
const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({
    'service.name': env.AWS_LAMBDA_FUNCTION_NAME,
    'faas.name': env.AWS_LAMBDA_FUNCTION_NAME,
    'faas.version': env.AWS_LAMBDA_FUNCTION_VERSION,
    'cloud.provider': 'aws',
    'cloud.region': env.AWS_REGION,
  }),
  spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
});
provider.register();
registerInstrumentations({ instrumentations: [new AwsLambdaInstrumentation({ requestHook })] });

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const [host, port] = (env.AWS_LAMBDA_RUNTIME_API || '').split(':');

function call(method, urlPath, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, method, path: `/2018-06-01/runtime${urlPath}`, agent, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function errorBody(err) {
  return JSON.stringify({ errorType: (err && err.name) || 'Error', errorMessage: String((err && err.message) || err) });
}

function invokeHandler(handler, event, context) {
  return new Promise((resolve, reject) => {
    const result = handler(event, context, (err, value) => (err ? reject(err) : resolve(value)));
    if (result && typeof result.then === 'function') result.then(resolve, reject);
  });
}

async function main() {
  let handler;
  try {
    const [moduleName, exportName] = (env._HANDLER || '').split('.');
    handler = require(path.join(env.LAMBDA_TASK_ROOT || process.cwd(), moduleName))[exportName];
    if (typeof handler !== 'function') throw new Error(`_HANDLER ${env._HANDLER} is not a function`);
  } catch (err) {
    await call('POST', '/init/error', errorBody(err), { 'Lambda-Runtime-Function-Error-Type': 'Runtime.ImportModuleError' });
    process.exit(1);
  }
  for (;;) {
    const next = await call('GET', '/invocation/next');
    const requestId = next.headers['lambda-runtime-aws-request-id'];
    const deadline = Number(next.headers['lambda-runtime-deadline-ms']);
    if (next.headers['lambda-runtime-trace-id']) env._X_AMZN_TRACE_ID = next.headers['lambda-runtime-trace-id'];
    const context = {
      awsRequestId: requestId,
      functionName: env.AWS_LAMBDA_FUNCTION_NAME,
      functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
      invokedFunctionArn: next.headers['lambda-runtime-invoked-function-arn'],
      memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      getRemainingTimeInMillis: () => deadline - Date.now(),
      callbackWaitsForEmptyEventLoop: true,
    };
    let event;
    try {
      event = JSON.parse(next.body);
    } catch {
      event = next.body;
    }
    try {
      const value = await invokeHandler(handler, event, context);
      await call('POST', `/invocation/${requestId}/response`, JSON.stringify(value === undefined ? null : value));
    } catch (err) {
      await call('POST', `/invocation/${requestId}/error`, errorBody(err), { 'Lambda-Runtime-Function-Error-Type': 'Unhandled' });
    }
  }
}

main().catch((err) => {
  console.error('bootstrap:', err);
  process.exit(1);
});
