// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0
'use strict';

// requestHook for @opentelemetry/instrumentation-aws-lambda. It names the invocation's event
// source on the instrumentation's span with the attributes otelcol-lambda's
// lambda_correlation processor and lambda_metrics connector read (the same ones as the Go
// package instrumentation/go/lambdaevents), and links the span to the producers whose trace
// context the messages carry.
//
//   const { AwsLambdaInstrumentation } = require('@opentelemetry/instrumentation-aws-lambda');
//   const { requestHook } = require('@otelcol-lambda/lambda-events-hook');
//   new AwsLambdaInstrumentation({ requestHook });
//
// It has no dependencies: the span and the event are all it needs.

const ATTR = Object.freeze({
  trigger: 'faas.trigger',
  system: 'messaging.system',
  destination: 'messaging.destination.name',
  collection: 'faas.document.collection',
  route: 'http.route',
  arn: 'aws.lambda.event_source.arn',
  timeUnixMs: 'aws.lambda.event_source.time_unix_ms',
  batchCount: 'messaging.batch.message_count',
  messageId: 'messaging.message.id',
});

function arnField(arn, i) {
  if (typeof arn !== 'string') return '';
  const parts = arn.split(':');
  if (parts.length <= i) return '';
  return i === 5 ? parts.slice(5).join(':') : parts[i];
}

function older(ms, than) {
  return Number.isFinite(ms) && ms > 0 && (than === undefined || ms < than);
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})/;

function parseTraceparent(v) {
  const m = typeof v === 'string' && TRACEPARENT.exec(v.trim());
  if (!m || m[1] === 'ff' || /^0+$/.test(m[2]) || /^0+$/.test(m[3])) return undefined;
  return { traceId: m[2], spanId: m[3], traceFlags: parseInt(m[4], 16) & 1, isRemote: true };
}

function parseXRay(v) {
  if (typeof v !== 'string') return undefined;
  let traceId;
  let spanId;
  let traceFlags = 0;
  for (const part of v.split(';')) {
    const [k, val] = part.trim().split('=');
    if (k === 'Root') {
      const f = (val || '').split('-');
      if (f.length === 3 && f[0] === '1' && /^[0-9a-f]{8}$/.test(f[1]) && /^[0-9a-f]{24}$/.test(f[2])) traceId = f[1] + f[2];
    } else if (k === 'Parent' && /^[0-9a-f]{16}$/.test(val || '')) {
      spanId = val;
    } else if (k === 'Sampled' && val === '1') {
      traceFlags = 1;
    }
  }
  if (!traceId || !spanId) return undefined;
  return { traceId, spanId, traceFlags, isRemote: true };
}

function addLink(src, context, messageId) {
  if (!context) return;
  if (src.links.some((l) => l.context.traceId === context.traceId && l.context.spanId === context.spanId)) return;
  const link = { context };
  if (messageId) link.attributes = { [ATTR.messageId]: String(messageId) };
  src.links.push(link);
}

function executeApiArn(account, apiId, stage, method, route) {
  const region = process.env.AWS_REGION;
  if (!region || !account || !apiId) return '';
  return `arn:aws:execute-api:${region}:${account}:${apiId}/${stage}/${method === 'ANY' ? '*' : method}${route}`;
}

// eventSource recognises the event type and reads its source; undefined for an event it does
// not know.
function eventSource(event) {
  if (!event || typeof event !== 'object' || Array.isArray(event)) return undefined;
  const src = { links: [] };
  const records = event.Records;
  if (Array.isArray(records) && records.length > 0) {
    const kind = records[0].eventSource || records[0].EventSource;
    src.messages = records.length;
    switch (kind) {
      case 'aws:sqs':
        Object.assign(src, { kind: 'sqs', trigger: 'pubsub', system: 'aws_sqs', arn: records[0].eventSourceARN, destination: arnField(records[0].eventSourceARN, 5) });
        for (const r of records) {
          const sent = Number(r.attributes && r.attributes.SentTimestamp);
          if (older(sent, src.timeUnixMs)) src.timeUnixMs = sent;
          const tp = r.messageAttributes && r.messageAttributes.traceparent;
          addLink(src, parseTraceparent(tp && tp.stringValue) || parseXRay(r.attributes && r.attributes.AWSTraceHeader), r.messageId);
        }
        return src;
      case 'aws:sns':
        Object.assign(src, { kind: 'sns', trigger: 'pubsub', system: 'aws.sns', arn: records[0].Sns.TopicArn, destination: arnField(records[0].Sns.TopicArn, 5) });
        for (const r of records) {
          const t = Date.parse(r.Sns.Timestamp);
          if (older(t, src.timeUnixMs)) src.timeUnixMs = t;
          const tp = r.Sns.MessageAttributes && r.Sns.MessageAttributes.traceparent;
          addLink(src, parseTraceparent(tp && tp.Value), r.Sns.MessageId);
        }
        return src;
      case 'aws:kinesis':
        Object.assign(src, { kind: 'kinesis', trigger: 'pubsub', system: 'aws_kinesis', arn: records[0].eventSourceARN, destination: arnField(records[0].eventSourceARN, 5).replace(/^stream\//, '') });
        for (const r of records) {
          const t = Math.round(Number(r.kinesis && r.kinesis.approximateArrivalTimestamp) * 1000);
          if (older(t, src.timeUnixMs)) src.timeUnixMs = t;
        }
        return src;
      case 'aws:dynamodb':
        Object.assign(src, { kind: 'dynamodb', trigger: 'datasource', arn: records[0].eventSourceARN, collection: arnField(records[0].eventSourceARN, 5).replace(/^table\//, '').split('/')[0] });
        for (const r of records) {
          const t = Math.round(Number(r.dynamodb && r.dynamodb.ApproximateCreationDateTime) * 1000);
          if (older(t, src.timeUnixMs)) src.timeUnixMs = t;
        }
        return src;
      case 'aws:s3': {
        const bucket = records[0].s3.bucket;
        Object.assign(src, { kind: 's3', trigger: 'datasource', collection: bucket.name, arn: bucket.arn || `arn:aws:s3:::${bucket.name}` });
        for (const r of records) {
          const t = Date.parse(r.eventTime);
          if (older(t, src.timeUnixMs)) src.timeUnixMs = t;
        }
        return src;
      }
      default:
        return undefined;
    }
  }
  if (event.records && typeof event.records === 'object' && (event.eventSource === 'aws:kafka' || event.eventSource === 'SelfManagedKafka')) {
    Object.assign(src, { kind: 'kafka', trigger: 'pubsub', system: 'kafka', arn: event.eventSourceArn, messages: 0 });
    for (const list of Object.values(event.records)) {
      for (const r of list) {
        src.messages++;
        if (!src.destination || r.topic < src.destination) src.destination = r.topic;
        if (older(Number(r.timestamp), src.timeUnixMs)) src.timeUnixMs = Number(r.timestamp);
        for (const h of r.headers || []) {
          if (h.traceparent) addLink(src, parseTraceparent(Buffer.from(h.traceparent).toString('latin1')), `${r.topic}-${r.partition}-${r.offset}`);
        }
      }
    }
    return src;
  }
  const rc = event.requestContext;
  if (event.version === '2.0' && typeof event.routeKey === 'string' && rc) {
    Object.assign(src, { kind: 'apigateway-http', trigger: 'http', headers: event.headers });
    const space = event.routeKey.indexOf(' ');
    if (space > 0) {
      src.route = event.routeKey.slice(space + 1);
      src.arn = executeApiArn(rc.accountId, rc.apiId, rc.stage, event.routeKey.slice(0, space), src.route);
    }
    if (rc.timeEpoch > 0) src.timeUnixMs = rc.timeEpoch;
    return src;
  }
  if (typeof event.resource === 'string' && event.httpMethod && rc) {
    Object.assign(src, { kind: 'apigateway-rest', trigger: 'http', route: event.resource, headers: event.headers });
    src.arn = executeApiArn(rc.accountId, rc.apiId, rc.stage, event.httpMethod, event.resource);
    if (rc.requestTimeEpoch > 0) src.timeUnixMs = rc.requestTimeEpoch;
    return src;
  }
  if (typeof event['detail-type'] === 'string' && typeof event.source === 'string') {
    Object.assign(src, { kind: 'eventbridge', trigger: 'pubsub', system: 'aws_eventbridge', destination: event.source, timeUnixMs: Date.parse(event.time) });
    if (event.source === 'aws.events' && event['detail-type'] === 'Scheduled Event' && Array.isArray(event.resources) && event.resources.length > 0) {
      Object.assign(src, { trigger: 'timer', system: undefined, arn: event.resources[0], destination: arnField(event.resources[0], 5).replace(/^rule\//, '') });
    }
    return src;
  }
  return undefined;
}

// attributes are the span attributes of a source.
function attributes(src) {
  const out = {};
  const put = (k, v) => {
    if (v !== undefined && v !== null && v !== '') out[k] = v;
  };
  put(ATTR.trigger, src.trigger);
  put(ATTR.system, src.system);
  put(ATTR.destination, src.destination);
  put(ATTR.collection, src.collection);
  put(ATTR.route, src.route);
  put(ATTR.arn, src.arn);
  if (Number.isFinite(src.timeUnixMs) && src.timeUnixMs > 0) out[ATTR.timeUnixMs] = src.timeUnixMs;
  if (src.messages > 1) out[ATTR.batchCount] = src.messages;
  return out;
}

// requestHook is the instrumentation's requestHook: (span, { event, context }).
function requestHook(span, { event } = {}) {
  const src = eventSource(event);
  if (!src) return;
  span.setAttributes(attributes(src));
  if (typeof span.addLink === 'function') {
    for (const link of src.links) span.addLink(link);
  }
}

module.exports = { requestHook, eventSource, attributes, ATTR };
