// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdametricsconnector

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv/lambdaconvtest"
)

// TestProxyFindingsNeedNoChange: the receiver puts the extension's Runtime API proxy
// findings (otelcol.invocation) on invocation spans under the keys functions' own
// instrumentations use, so RED per event source and the event age (per source too) come out of an
// uninstrumented function as they do out of an instrumented one. The batch size is no
// dimension and no metric.
func TestProxyFindingsNeedNoChange(t *testing.T) {
	h := newHarness(t, nil)
	sent := t0.Add(-2 * time.Second).UnixMilli()
	found := map[string]any{
		lambdaconv.AttrFaaSTrigger: "pubsub", lambdaconv.AttrMessagingSystem: "aws_sqs", lambdaconv.AttrMessagingDestinationName: "orders",
		lambdaconv.AttrEventSourceARN: "arn:aws:sqs:eu-west-1:123456789012:orders", lambdaconv.AttrEventTimeUnixMs: sent,
		lambdaconv.AttrBatchMessageCount: int64(10),
	}
	h.send(newBatch(fnA).
		Invocation(inv{RequestID: "1", Duration: time.Second, Attributes: found}).
		// The function's errorType, which Lambda did not give, from the proxy.
		Invocation(inv{RequestID: "2", Duration: time.Second, Outcome: lambdaconvtest.Outcome{Status: "error", ErrorType: "ValueError"}, Attributes: found}))
	dims := "cloud.region=eu-west-1,faas.name=orders,faas.trigger=pubsub,messaging.destination.name=orders,messaging.system=aws_sqs"
	assert.Equal(t, map[string]float64{
		"faas.invocations{" + dims + "}": 2,
		"faas.errors{cloud.region=eu-west-1,error.type=function_error," + dims[len("cloud.region=eu-west-1,"):] + "}": 1,
		"aws.lambda.event_age_count{" + dims + "}": 2,
		"aws.lambda.event_age_sum{" + dims + "}":   4,
	}, only(h.flush(), "faas.invocations", "faas.errors", "aws.lambda.event_age_count", "aws.lambda.event_age_sum"))
}
