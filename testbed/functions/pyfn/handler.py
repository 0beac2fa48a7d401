# Copyright The otelcol-lambda Authors
# SPDX-License-Identifier: Apache-2.0
"""The seed document's function, as a new user writes it: prometheus_client's default
registry, pushed to the extension's Pushgateway API after every invocation.

Two things differ from the seed: the push address comes from $PUSHGATEWAY (each emulated
sandbox's extension listens on its own loopback port; on Lambda it is localhost:9091), and
the handler returns what this process's registry holds after the push, which is the
testbed's ground truth: summed over the last response of every sandbox, it is what
Prometheus must hold. The event may ask for {"sleepMs": n} of work.
"""

import os
import time

from prometheus_client import Counter, Histogram, push_to_gateway, REGISTRY

invocations = Counter('lambda_invocations_total', 'Total Lambda invocations')
latency = Histogram('lambda_execution_duration_seconds', 'Lambda execution duration in seconds')


def handler(event, context):
    invocations.inc()
    with latency.time():
        # Lambda logic here
        time.sleep(((event or {}).get('sleepMs') or 0) / 1000.0)
    push_to_gateway(os.environ['PUSHGATEWAY'], job='orders-consumer', registry=REGISTRY)

    # Not in the seed: what was pushed, read back from the registry, for the test.
    buckets = {}
    for metric in latency.collect():
        for sample in metric.samples:
            if sample.name == 'lambda_execution_duration_seconds_bucket':
                buckets[sample.labels['le']] = sample.value
    return {
        'invocations': REGISTRY.get_sample_value('lambda_invocations_total'),
        'count': REGISTRY.get_sample_value('lambda_execution_duration_seconds_count'),
        'sum': REGISTRY.get_sample_value('lambda_execution_duration_seconds_sum'),
        'buckets': buckets,
        'pid': os.getpid(),
    }
