// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0
'use strict';

// The testbed's Node.js function. Its event steers it, as the Go function's does:
// {"fail": "message"} throws, {"sleepMs": n} works for n ms, anything else succeeds.
//
// With NODEFN_METRICS=1 it also records OTel SDK metrics as a Lambda user's code would,
// with its own MeterProvider exporting OTLP/HTTP (JSON) to OTEL_EXPORTER_OTLP_ENDPOINT (the
// extension), and flushes them before it returns, since the sandbox freezes afterwards:
//   orders.processed  Counter {order}, one per order, attribute channel
//   orders.amount     Histogram of each order's amount (explicit buckets), attribute channel
//   orders.pending    UpDownCounter {order}, adds the event's pendingDelta
// An event {"orders": [{"amount": 12.5, "channel": "web"}, ...], "pendingDelta": n} says
// what to record; channel defaults to "web". The exporter takes the temporality from
// OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE (cumulative, the default, or delta) and
// the resource from OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
const metrics = process.env.NODEFN_METRICS === '1' ? setUpMetrics() : undefined;

function setUpMetrics() {
  const { MeterProvider, PeriodicExportingMetricReader } = require('@opentelemetry/sdk-metrics');
  const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-http');
  const { defaultResource, detectResources, envDetector, resourceFromAttributes } = require('@opentelemetry/resources');

  const env = process.env;
  const resource = defaultResource()
    .merge(resourceFromAttributes({
      'faas.name': env.AWS_LAMBDA_FUNCTION_NAME,
      'faas.version': env.AWS_LAMBDA_FUNCTION_VERSION,
      'cloud.provider': 'aws',
      'cloud.region': env.AWS_REGION,
    }))
    .merge(detectResources({ detectors: [envDetector] }));
  const provider = new MeterProvider({
    resource,
    readers: [
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter(),
        // The flush at the end of each invocation exports; the timer is the SDK's default.
        exportIntervalMillis: Number(env.NODEFN_METRICS_EXPORT_INTERVAL_MS) || 60000,
      }),
    ],
  });
  const meter = provider.getMeter('otelcol-lambda-testbed-nodefn', '0.1.0');
  return {
    provider,
    processed: meter.createCounter('orders.processed', { unit: '{order}', description: 'Orders processed' }),
    amount: meter.createHistogram('orders.amount', {
      description: 'Amount of each order processed',
      advice: { explicitBucketBoundaries: [5, 10, 25, 50, 100, 250] },
    }),
    pending: meter.createUpDownCounter('orders.pending', { unit: '{order}', description: 'Orders waiting' }),
  };
}

async function recordOrders(steering) {
  const orders = Array.isArray(steering.orders) ? steering.orders : [];
  for (const order of orders) {
    const attributes = { channel: String(order.channel || 'web') };
    metrics.processed.add(1, attributes);
    metrics.amount.record(Number(order.amount), attributes);
  }
  if (typeof steering.pendingDelta === 'number') {
    metrics.pending.add(steering.pendingDelta);
  }
  try {
    await metrics.provider.forceFlush();
  } catch (err) {
    // Telemetry must not fail the invocation; the sandbox's output shows it.
    console.error('nodefn: flushing metrics:', err);
  }
}

exports.handle = async (event) => {
  const steering = event && typeof event === 'object' ? event : {};
  if (steering.sleepMs > 0) {
    await new Promise((resolve) => setTimeout(resolve, steering.sleepMs));
  }
  if (steering.fail) {
    throw new Error(String(steering.fail));
  }
  if (metrics) {
    await recordOrders(steering);
  }
  return { ok: true };
};
