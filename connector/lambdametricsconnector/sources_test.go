// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdametricsconnector

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-lambda/otelcol-lambda/connector/lambdametricsconnector/internal/metadatatest"
	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv/lambdaconvtest"
)

// sqsFrom are the dimension values of an SQS event from queue.
func sqsFrom(queue string) map[string]any {
	return map[string]any{
		lambdaconv.AttrFaaSTrigger: "pubsub", lambdaconv.AttrMessagingSystem: "aws_sqs",
		lambdaconv.AttrMessagingDestinationName: queue,
	}
}

// sum adds up the points whose key has every one of the given parts.
func sum(points map[string]float64, parts ...string) float64 {
	var total float64
next:
	for k, v := range points {
		for _, p := range parts {
			if !strings.Contains(k, p) {
				continue next
			}
		}
		total += v
	}
	return total
}

// TestOneInvokerCannotFillTheGateway: whoever may invoke one function directly can send it
// fake SQS events naming any number of queues. That function's series stop at
// max_event_sources_per_function, its totals stay exact under its own name, and the next
// function still gets series of its own.
func TestOneInvokerCannotFillTheGateway(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.CardinalityLimit = 100
		c.MaxEventSourcesPerFunction = 10
	})
	attack := newBatch(fnA)
	for i := range 150 {
		attrs := sqsFrom(fmt.Sprintf("fake-%05d", i))
		attrs[lambdaconv.AttrEventTimeUnixMs] = t0.Add(-time.Second).UnixMilli()
		attack.Invocation(inv{RequestID: fmt.Sprint(i), Duration: time.Second, Attributes: attrs}).
			Report(report{RequestID: fmt.Sprint(i), Duration: time.Second, MaxMemoryUsedMB: 64, Attributes: attrs})
	}
	h.send(attack)
	h.flush()
	h.send(newBatch(fnB).Invocation(inv{RequestID: "honest", Duration: time.Second, Attributes: sqsFrom("billing-queue")}))
	got := h.flush()

	invocations := only(got, "faas.invocations")
	assert.Equal(t, 1.0, invocations["faas.invocations{cloud.region=us-east-1,faas.name=billing,faas.trigger=pubsub,"+
		"messaging.destination.name=billing-queue,messaging.system=aws_sqs}"], "the honest function keeps its own series")
	assert.NotContains(t, invocations, "faas.invocations{otel.metric.overflow=true}", "nothing went to the gateway's overflow series")
	assert.Len(t, invocations, 10+1+1, "ten event sources of orders, its overflowed ones, billing's")

	assert.Equal(t, 150.0, sum(invocations, "faas.name=orders"), "every invocation of orders is counted")
	assert.Equal(t, 140.0, invocations["faas.invocations{cloud.region=eu-west-1,faas.name=orders,otel.metric.overflow=true}"])
	assert.Equal(t, 150.0, sum(only(got, "aws.lambda.billed_duration"), "faas.name=orders"))
	assert.Equal(t, 150.0, sum(only(got, "aws.lambda.event_age_count"), "faas.name=orders"))
	assert.Equal(t, 140.0, got["aws.lambda.event_age_count{cloud.region=eu-west-1,faas.name=orders,otel.metric.overflow=true}"])
}

// TestEventSourceBound: past the bound, a new combination of dimension values is counted
// with the function's identity and otel.metric.overflow=true instead of the dimensions; the
// combinations it has, and spans with no dimension value at all, keep their series. Each
// function has a bound of its own, and the spans past it are counted in the connector's
// telemetry.
func TestEventSourceBound(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	h := newHarnessWithSettings(t, metadatatest.NewSettings(tt), func(c *Config) { c.MaxEventSourcesPerFunction = 2 })
	h.send(newBatch(fnA).
		Invocation(inv{RequestID: "1", Duration: time.Second, Attributes: sqsFrom("orders")}).
		Invocation(inv{RequestID: "2", Duration: time.Second, Attributes: sqsFrom("returns")}).
		Invocation(inv{RequestID: "3", Duration: time.Second, Attributes: sqsFrom("fake-1"), Outcome: lambdaconvtest.FunctionError}).
		Report(report{RequestID: "4", Duration: time.Second, MaxMemoryUsedMB: 64, Attributes: sqsFrom("fake-2")}).
		Invocation(inv{RequestID: "5", Duration: time.Second, Attributes: sqsFrom("orders")}).
		Invocation(inv{RequestID: "6", Duration: time.Second}),
		newBatch(fnB).
			Invocation(inv{RequestID: "b1", Duration: time.Second, Attributes: sqsFrom("fake-1")}).
			Invocation(inv{RequestID: "b2", Duration: time.Second, Attributes: sqsFrom("fake-2")}))
	got := h.flush()

	queue := "faas.trigger=pubsub,messaging.destination.name=%s,messaging.system=aws_sqs"
	orders := func(labels string) string { return "{cloud.region=eu-west-1,faas.name=orders" + labels + "}" }
	billing := func(labels string) string { return "{cloud.region=us-east-1,faas.name=billing" + labels + "}" }
	assert.Equal(t, map[string]float64{
		"faas.invocations" + orders(","+fmt.Sprintf(queue, "orders")):                                              2,
		"faas.invocations" + orders(","+fmt.Sprintf(queue, "returns")):                                             1,
		"faas.invocations" + orders(",otel.metric.overflow=true"):                                                  1,
		"faas.invocations" + orders(""):                                                                            1,
		"faas.errors{cloud.region=eu-west-1,error.type=function_error,faas.name=orders,otel.metric.overflow=true}": 1,
		"faas.invocations" + billing(","+fmt.Sprintf(queue, "fake-1")):                                             1,
		"faas.invocations" + billing(","+fmt.Sprintf(queue, "fake-2")):                                             1,
		"aws.lambda.billed_duration" + orders(",otel.metric.overflow=true"):                                        1,
	}, only(got, "faas.invocations", "faas.errors", "aws.lambda.billed_duration"))

	metadatatest.AssertEqualConnectorLambdaMetricsEventSourcesOverflow(t, tt, []metricdata.DataPoint[int64]{{Value: 2}},
		metricdatatest.IgnoreTimestamp())
}

// TestEventSourcesExpire: an event source not seen for metrics_expiration no longer counts
// against the bound, while the function lives on. (Its series expire at the same time,
// give or take a flush interval: they count from the flush, the source from the span.)
func TestEventSourcesExpire(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.MaxEventSourcesPerFunction = 2
		c.MetricsExpiration = time.Hour
	})
	send := func(queue string) {
		h.send(newBatch(fnA).Invocation(inv{RequestID: queue, Duration: time.Second, Attributes: sqsFrom(queue)}))
	}
	overflowed := "faas.invocations{cloud.region=eu-west-1,faas.name=orders,otel.metric.overflow=true}"
	series := func(queue string) string {
		return "faas.invocations{cloud.region=eu-west-1,faas.name=orders,faas.trigger=pubsub,messaging.destination.name=" + queue + ",messaging.system=aws_sqs}"
	}

	send("orders")
	send("returns")
	h.clock.Add(30 * time.Minute)
	send("orders") // seen again, within the same flush interval: it stays
	h.flush()
	send("refunds")
	assert.Equal(t, 1.0, h.flush()[overflowed], "returns was seen 30 minutes ago: no room yet")

	h.clock.Add(31 * time.Minute) // returns was last seen over an hour ago
	send("audit")
	send("refunds")
	got := only(h.flush(), "faas.invocations")
	assert.Equal(t, 1.0, got[series("audit")], "the expired event source made room")
	assert.Equal(t, 2.0, got[overflowed], "orders and audit fill the bound again")
	assert.Equal(t, 2.0, got[series("orders")])
}
