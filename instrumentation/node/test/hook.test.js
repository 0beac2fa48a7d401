// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0
'use strict';

// Runs each trigger's event (the same fixtures as the Go package's tests) through the real
// @opentelemetry/instrumentation-aws-lambda with our requestHook, and checks the span it
// exports. Run with `node --test` (or `npm test`).

const { test, before } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const FIXTURES = path.join(__dirname, '..', '..', 'go', 'lambdaevents', 'testdata');
const fixture = (name) => JSON.parse(fs.readFileSync(path.join(FIXTURES, name), 'utf8'));

let exporter;
let handler;

before(() => {
  const taskRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'lambda-task-'));
  fs.writeFileSync(path.join(taskRoot, 'handler.js'), 'exports.handler = async (event) => ({ statusCode: 200 });\n');
  process.env.LAMBDA_TASK_ROOT = taskRoot;
  process.env._HANDLER = 'handler.handler';
  process.env.AWS_REGION = 'eu-west-1';

  const { NodeTracerProvider, SimpleSpanProcessor, InMemorySpanExporter } = require('@opentelemetry/sdk-trace-node');
  const { AwsLambdaInstrumentation } = require('@opentelemetry/instrumentation-aws-lambda');
  const { requestHook } = require('..');
  exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  provider.register();
  const instrumentation = new AwsLambdaInstrumentation({ requestHook });
  instrumentation.setTracerProvider(provider);
  instrumentation.enable();
  handler = require(path.join(taskRoot, 'handler.js')).handler;
});

const context = {
  functionName: 'checkout',
  awsRequestId: '8476a536-e9f4-11e8-9739-2dfe598c3fcd',
  invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:checkout',
};

const OURS = ['faas.trigger', 'messaging.system', 'messaging.destination.name', 'faas.document.collection', 'http.route',
  'aws.lambda.event_source.arn', 'aws.lambda.event_source.time_unix_ms', 'messaging.batch.message_count'];

const cases = [
  {
    fixture: 'sqs.json',
    attrs: {
      'faas.trigger': 'pubsub', 'messaging.system': 'aws_sqs', 'messaging.destination.name': 'orders-queue',
      'aws.lambda.event_source.arn': 'arn:aws:sqs:eu-west-1:123456789012:orders-queue',
      'aws.lambda.event_source.time_unix_ms': 1717243198500, 'messaging.batch.message_count': 2,
    },
    links: [
      ['665b0e3fbd862e3fe1be46a994272793', '53995c3f42cd8ad8', '059f36b4-87a3-44ab-83d2-661975830a7d'],
      ['4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7', '2e1424d4-f796-459a-8184-9c92662be6da'],
    ],
  },
  {
    fixture: 'sns.json',
    attrs: {
      'faas.trigger': 'pubsub', 'messaging.system': 'aws.sns', 'messaging.destination.name': 'price-changes',
      'aws.lambda.event_source.arn': 'arn:aws:sns:eu-west-1:123456789012:price-changes', 'aws.lambda.event_source.time_unix_ms': 1717243198250,
    },
    links: [['0af7651916cd43dd8448eb211c80319c', 'b7ad6b7169203331', '95df01b4-ee98-5cb9-9903-4c221d41eb5e']],
  },
  {
    fixture: 'apigw-rest.json',
    attrs: {
      'faas.trigger': 'http', 'http.route': '/orders/{id}',
      'aws.lambda.event_source.arn': 'arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/orders/{id}',
      'aws.lambda.event_source.time_unix_ms': 1717243199500,
    },
    links: [],
  },
  {
    fixture: 'apigw-http.json',
    attrs: {
      'faas.trigger': 'http', 'http.route': '/carts/{cartId}/items',
      'aws.lambda.event_source.arn': 'arn:aws:execute-api:eu-west-1:123456789012:def456/$default/POST/carts/{cartId}/items',
      'aws.lambda.event_source.time_unix_ms': 1717243199750,
    },
    links: [],
  },
  { fixture: 'function-url.json', attrs: { 'faas.trigger': 'http', 'aws.lambda.event_source.time_unix_ms': 1717243199900 }, links: [] },
  {
    fixture: 'kafka-msk.json',
    attrs: {
      'faas.trigger': 'pubsub', 'messaging.system': 'kafka', 'messaging.destination.name': 'payments',
      'aws.lambda.event_source.arn': 'arn:aws:kafka:eu-west-1:123456789012:cluster/payments/a1b2c3d4-5678-90ab-cdef-11111EXAMPLE-1',
      'aws.lambda.event_source.time_unix_ms': 1717243197000, 'messaging.batch.message_count': 2,
    },
    links: [['4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7', 'payments-0-15']],
  },
  {
    fixture: 'kinesis.json',
    attrs: {
      'faas.trigger': 'pubsub', 'messaging.system': 'aws_kinesis', 'messaging.destination.name': 'clicks',
      'aws.lambda.event_source.arn': 'arn:aws:kinesis:eu-west-1:123456789012:stream/clicks', 'aws.lambda.event_source.time_unix_ms': 1717243196500,
    },
    links: [],
  },
  {
    fixture: 'eventbridge.json',
    attrs: { 'faas.trigger': 'pubsub', 'messaging.system': 'aws_eventbridge', 'messaging.destination.name': 'com.example.orders', 'aws.lambda.event_source.time_unix_ms': 1717243195000 },
    links: [],
  },
  {
    fixture: 'schedule.json',
    attrs: {
      'faas.trigger': 'timer', 'messaging.destination.name': 'nightly-report',
      'aws.lambda.event_source.arn': 'arn:aws:events:eu-west-1:123456789012:rule/nightly-report', 'aws.lambda.event_source.time_unix_ms': 1717243200000,
    },
    links: [],
  },
  {
    fixture: 's3.json',
    attrs: {
      'faas.trigger': 'datasource', 'faas.document.collection': 'invoices-eu', 'aws.lambda.event_source.arn': 'arn:aws:s3:::invoices-eu',
      'aws.lambda.event_source.time_unix_ms': 1717243197123,
    },
    links: [],
  },
  {
    fixture: 'dynamodb.json',
    attrs: {
      'faas.trigger': 'datasource', 'faas.document.collection': 'orders',
      'aws.lambda.event_source.arn': 'arn:aws:dynamodb:eu-west-1:123456789012:table/orders/stream/2024-06-01T00:00:00.000',
      'aws.lambda.event_source.time_unix_ms': 1717243194000,
    },
    links: [],
  },
  { fixture: 'custom.json', attrs: {}, links: [] },
];

for (const c of cases) {
  test(`requestHook names the source of ${c.fixture}`, async () => {
    exporter.reset();
    await handler(fixture(c.fixture), context);
    const spans = exporter.getFinishedSpans();
    // The instrumentation's own invocation span (SQS adds a "process" CONSUMER child).
    const span = spans.find((s) => s.kind === 1 /* SERVER */);
    assert.ok(span, `no SERVER span among ${spans.map((s) => s.name)}`);
    assert.equal(span.name, 'checkout');
    assert.equal(span.attributes['faas.invocation_id'], context.awsRequestId);
    const got = {};
    for (const k of OURS) if (k in span.attributes) got[k] = span.attributes[k];
    if (c.fixture === 'sqs.json') {
      // The instrumentation sets faas.trigger itself for SQS; the hook agrees.
      assert.equal(span.attributes['faas.trigger'], 'pubsub');
    }
    assert.deepEqual(got, c.attrs);
    const links = span.links.map((l) => [l.context.traceId, l.context.spanId, l.attributes && l.attributes['messaging.message.id']]);
    assert.deepEqual(links, c.links);
  });
}

test('eventSource ignores what it does not know', () => {
  const { eventSource } = require('..');
  for (const e of [undefined, null, 'text', [], {}, { Records: [] }, { Records: [{ eventSource: 'aws:unknown' }] }, { records: {}, eventSource: 'x' }]) {
    assert.equal(eventSource(e), undefined);
  }
});
