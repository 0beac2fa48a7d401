// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/lambdaemu"
)

// sampleWithValues is AWS's sample event name (lambdatrigger's testdata) with the values at
// paths replaced: its shape stays AWS's, and every path must already be in it. A path is
// keys and array indexes joined by dots ("Records.0.eventSourceARN").
func sampleWithValues(t *testing.T, name string, values map[string]any) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(sampleEvent(t, name, nil)))
	dec.UseNumber() // AWS's numbers go back as they came
	var doc any
	require.NoError(t, dec.Decode(&doc))
	for path, v := range values {
		node := doc
		keys := strings.Split(path, ".")
		for i, k := range keys {
			last := i == len(keys)-1
			switch n := node.(type) {
			case map[string]any:
				_, ok := n[k]
				require.True(t, ok, "%s has no %s", name, path)
				if last {
					n[k] = v
				}
				node = n[k]
			case []any:
				j, err := strconv.Atoi(k)
				require.NoError(t, err, "%s: %s", name, path)
				require.Less(t, j, len(n), "%s: %s", name, path)
				if last {
					n[j] = v
				}
				node = n[j]
			default:
				t.Fatalf("%s: %s goes through a value", name, path)
			}
		}
	}
	out, err := json.Marshal(doc)
	require.NoError(t, err)
	return out
}

// fleetEvent makes one invocation's event, its source's timestamp set to at.
type fleetEvent func(t *testing.T, at time.Time) []byte

func sqsMessage(queue string) fleetEvent {
	return func(t *testing.T, at time.Time) []byte {
		return sampleWithValues(t, "sqs-event.json", map[string]any{
			"Records.0.eventSourceARN":           "arn:aws:sqs:eu-west-1:123456789012:" + queue,
			"Records.0.awsRegion":                "eu-west-1",
			"Records.0.attributes.SentTimestamp": strconv.FormatInt(at.UnixMilli(), 10),
			// Received no earlier than sent.
			"Records.0.attributes.ApproximateFirstReceiveTimestamp": strconv.FormatInt(at.UnixMilli(), 10),
		})
	}
}

func snsNotification(topic string) fleetEvent {
	return func(t *testing.T, at time.Time) []byte {
		arn := "arn:aws:sns:eu-west-1:123456789012:" + topic
		return sampleWithValues(t, "sns-event.json", map[string]any{
			"Records.0.EventSubscriptionArn": arn + ":2bcfbf39-05c3-41de-beaa-fcfcc21c8f55",
			"Records.0.Sns.TopicArn":         arn,
			"Records.0.Sns.Timestamp":        at.UTC().Format("2006-01-02T15:04:05.000Z"),
		})
	}
}

// apiGatewayTime is the layout of API Gateway's requestTime ("15/May/2020:06:01:09 +0000").
const apiGatewayTime = "02/Jan/2006:15:04:05 -0700"

// restRequest is an API Gateway REST API request to route (a resource template) at path.
func restRequest(route, path string) fleetEvent {
	return func(t *testing.T, at time.Time) []byte {
		return sampleWithValues(t, "apigw-request.json", map[string]any{
			"resource":                        route,
			"path":                            path,
			"httpMethod":                      "GET",
			"pathParameters":                  map[string]any{"id": path[strings.LastIndex(path, "/")+1:]},
			"requestContext.resourcePath":     route,
			"requestContext.httpMethod":       "GET",
			"requestContext.requestTimeEpoch": at.UnixMilli(),
			"requestContext.requestTime":      at.UTC().Format(apiGatewayTime),
		})
	}
}

// httpAPIRequest is an API Gateway HTTP API (payload 2.0) request to the route key
// "GET route" at path.
func httpAPIRequest(route, path string) fleetEvent {
	return func(t *testing.T, at time.Time) []byte {
		return sampleWithValues(t, "aws-docs-apigw-v2-event.json", map[string]any{
			"routeKey":                   "GET " + route,
			"rawPath":                    path,
			"requestContext.routeKey":    "GET " + route,
			"requestContext.http.method": "GET",
			"requestContext.http.path":   path,
			"requestContext.timeEpoch":   at.UnixMilli(),
			"requestContext.time":        at.UTC().Format(apiGatewayTime),
		})
	}
}

// fleetInvocation is one invocation of a fleet sandbox: its event, which says it waited
// age at its source, and what the function is told to do with it (steering: "fail",
// "sleepMs"), which ends it with status.
type fleetInvocation struct {
	event    fleetEvent
	age      time.Duration
	steering map[string]any
	status   string
}

// payload is the invocation's event, its source's timestamp age before now.
func (inv fleetInvocation) payload(t *testing.T, now time.Time) []byte {
	t.Helper()
	event := inv.event(t, now.Add(-inv.age))
	if len(inv.steering) == 0 {
		return event
	}
	var fields map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(event, &fields))
	for k, v := range inv.steering {
		raw, err := json.Marshal(v)
		require.NoError(t, err)
		fields[k] = raw
	}
	out, err := json.Marshal(fields)
	require.NoError(t, err)
	return out
}

// Ages at the source, a few seconds, different per source so that a mix-up shows.
const (
	queueAge = 4 * time.Second
	topicAge = 9 * time.Second
	restAge  = 2 * time.Second
	httpAge  = 6 * time.Second
)

// TestUninstrumentedFleetEventSources is issue #19's promise end to end: a fleet of
// functions with no instrumentation at all (aws-lambda-go, and AWS's Node.js runtime
// interface client), the layer's wrapper set, several sandboxes each with the real
// extension, the built gateway and a real Prometheus. They are invoked with AWS's sample
// events whose values (queue and topic ARNs, API routes, the source's timestamps, set a
// known few seconds before the invocation) vary and whose shapes are AWS's. Prometheus must
// hold exactly as many invocations per queue, topic and route, and as many event ages, as
// were sent, with mean ages that match the timestamps.
func TestUninstrumentedFleetEventSources(t *testing.T) {
	extension := buildExtension(t)
	wrapper := layerWrapper(t)
	goFn := goPlainRuntime(t, wrapper)
	nodeFn := nodeRICRuntime(t, wrapper)
	s := startStack(t, "OTELCOL_LAMBDA_CORRELATION_WINDOW=1s")

	orders, notify, api := goFn, goFn, nodeFn
	orders.name, notify.name, api.name = "fleet-orders", "fleet-notify", "fleet-api"
	ok := telemetryapi.StatusSuccess
	sqs := func(queue string) fleetInvocation {
		return fleetInvocation{event: sqsMessage(queue), age: queueAge, status: ok}
	}
	sns := func(topic string) fleetInvocation {
		return fleetInvocation{event: snsNotification(topic), age: topicAge, status: ok}
	}
	rest := func(path string) fleetInvocation {
		return fleetInvocation{event: restRequest("/orders/{id}", path), age: restAge, status: ok}
	}
	httpAPI := func(path string) fleetInvocation {
		return fleetInvocation{event: httpAPIRequest("/customers/{id}", path), age: httpAge, status: ok}
	}
	failing := func(inv fleetInvocation) fleetInvocation {
		inv.steering, inv.status = map[string]any{"fail": "insufficient funds"}, telemetryapi.StatusError
		return inv
	}
	timingOut := func(inv fleetInvocation) fleetInvocation {
		inv.steering, inv.status = map[string]any{"sleepMs": 60000}, telemetryapi.StatusTimeout
		return inv
	}
	sandboxes := []struct {
		fn          proxyRuntime
		timeout     time.Duration
		invocations []fleetInvocation
	}{
		{orders, 10 * time.Second, []fleetInvocation{sqs("orders-a"), sqs("orders-a"), sqs("orders-b")}},
		{orders, 10 * time.Second, []fleetInvocation{sqs("orders-b"), sqs("orders-a")}},
		// A function that overruns its timeout, the last invocation of its sandbox (reset).
		{orders, 2 * time.Second, []fleetInvocation{sqs("orders-slow"), timingOut(sqs("orders-slow"))}},
		{notify, 10 * time.Second, []fleetInvocation{sns("alerts"), sns("audit"), failing(sns("audit")), sns("alerts")}},
		{api, 10 * time.Second, []fleetInvocation{rest("/orders/17"), rest("/orders/42")}},
		{api, 10 * time.Second, []fleetInvocation{httpAPI("/customers/7"), failing(rest("/orders/99")), httpAPI("/customers/8")}},
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for i, sandbox := range sandboxes {
		apiFile := filepath.Join(t.TempDir(), "otelcol-lambda-runtime-api")
		sb := startProxySandbox(t, ctx, sandbox.fn, extension, s.URL, apiFile, sandbox.timeout)
		reset := false
		for _, inv := range sandbox.invocations {
			require.False(t, reset, "sandbox %d was reset before its last invocation", i)
			// The source took the event in age before the invocation starts (Invoke).
			reset = sb.invoke(t, ctx, inv.payload(t, time.Now()), inv.status).Reset
		}
		if !reset {
			_, err := sb.Shutdown(ctx, lambdaemu.ShutdownSpindown)
			require.NoError(t, err, "sandbox %d", i)
		}
	}

	keys := []string{"faas_name", "faas_trigger", "messaging_system", "messaging_destination_name", "http_route"}
	by := "(" + strings.Join(keys, ", ") + ")"
	want := map[string]float64{
		"faas_name=fleet-orders,faas_trigger=pubsub,messaging_system=aws_sqs,messaging_destination_name=orders-a,http_route=":    3,
		"faas_name=fleet-orders,faas_trigger=pubsub,messaging_system=aws_sqs,messaging_destination_name=orders-b,http_route=":    2,
		"faas_name=fleet-notify,faas_trigger=pubsub,messaging_system=aws.sns,messaging_destination_name=alerts,http_route=":      2,
		"faas_name=fleet-orders,faas_trigger=pubsub,messaging_system=aws_sqs,messaging_destination_name=orders-slow,http_route=": 2,
		"faas_name=fleet-notify,faas_trigger=pubsub,messaging_system=aws.sns,messaging_destination_name=audit,http_route=":       2,
		"faas_name=fleet-api,faas_trigger=http,messaging_system=,messaging_destination_name=,http_route=/orders/{id}":            3,
		"faas_name=fleet-api,faas_trigger=http,messaging_system=,messaging_destination_name=,http_route=/customers/{id}":         2,
	}
	sel := `{job="otelcol-lambda",faas_name=~"fleet-.*"}`
	s.eventually(t, "sum by "+by+" (faas_invocations_total"+sel+")", want, keys...)
	s.eventually(t, "sum by "+by+" (aws_lambda_event_age_seconds_count"+sel+")", want, keys...)
	// The report's metrics split by source too: memory (one observation per report) and
	// the billed duration and cost that come with it.
	s.eventually(t, "sum by "+by+" (faas_mem_usage_bytes_count"+sel+")", want, keys...)
	for _, metric := range []string{"aws_lambda_billed_duration_seconds_total", "aws_lambda_cost_usd_total"} {
		s.eventually(t, "count by "+by+" ("+metric+sel+" > 0)", map[string]float64{
			"faas_name=fleet-orders,faas_trigger=pubsub,messaging_system=aws_sqs,messaging_destination_name=orders-a,http_route=":    1,
			"faas_name=fleet-orders,faas_trigger=pubsub,messaging_system=aws_sqs,messaging_destination_name=orders-b,http_route=":    1,
			"faas_name=fleet-notify,faas_trigger=pubsub,messaging_system=aws.sns,messaging_destination_name=alerts,http_route=":      1,
			"faas_name=fleet-orders,faas_trigger=pubsub,messaging_system=aws_sqs,messaging_destination_name=orders-slow,http_route=": 1,
			"faas_name=fleet-notify,faas_trigger=pubsub,messaging_system=aws.sns,messaging_destination_name=audit,http_route=":       1,
			"faas_name=fleet-api,faas_trigger=http,messaging_system=,messaging_destination_name=,http_route=/orders/{id}":            1,
			"faas_name=fleet-api,faas_trigger=http,messaging_system=,messaging_destination_name=,http_route=/customers/{id}":         1,
		}, keys...)
	}
	// The failures, each under its source: the function's errors and the timeout.
	errKeys := []string{"faas_name", "error_type", "messaging_destination_name", "http_route"}
	s.eventually(t, "sum by (faas_name, error_type, messaging_destination_name, http_route) (faas_errors_total"+sel+")", map[string]float64{
		"faas_name=fleet-orders,error_type=timeout,messaging_destination_name=orders-slow,http_route=":      1,
		"faas_name=fleet-notify,error_type=function_error,messaging_destination_name=audit,http_route=":     1,
		"faas_name=fleet-api,error_type=function_error,messaging_destination_name=,http_route=/orders/{id}": 1,
	}, errKeys...)
	s.eventually(t, "sum by (faas_name, messaging_destination_name) (faas_timeouts_total"+sel+")",
		map[string]float64{"faas_name=fleet-orders,messaging_destination_name=orders-slow": 1}, "faas_name", "messaging_destination_name")

	// Each source's mean age is the age its timestamps were set to: no less (the invocation
	// starts after the timestamp was taken, and timestamps and starts are whole
	// milliseconds), and less than a second more (a second is the coarsest timestamp here and
	// far more than the few milliseconds from taking the timestamp to the invocation).
	ages := map[string]time.Duration{
		"messaging_destination_name=orders-a,http_route=":        queueAge,
		"messaging_destination_name=orders-b,http_route=":        queueAge,
		"messaging_destination_name=orders-slow,http_route=":     queueAge,
		"messaging_destination_name=alerts,http_route=":          topicAge,
		"messaging_destination_name=audit,http_route=":           topicAge,
		"messaging_destination_name=,http_route=/orders/{id}":    restAge,
		"messaging_destination_name=,http_route=/customers/{id}": httpAge,
	}
	meanKeys := []string{"messaging_destination_name", "http_route"}
	promql := "sum by (messaging_destination_name, http_route) (aws_lambda_event_age_seconds_sum" + sel + ")" +
		" / sum by (messaging_destination_name, http_route) (aws_lambda_event_age_seconds_count" + sel + ")"
	s.waitFor(t, queryDeadline, promql, func() (bool, string) {
		series, err := s.query(ctx, promql)
		if err != nil {
			return false, err.Error()
		}
		got := byLabels(series, meanKeys...)
		if len(got) != len(ages) {
			return false, fmt.Sprintf("mean ages %v, want one for each of %v", sorted(got), ages)
		}
		for k, age := range ages {
			mean, ok := got[k]
			if !ok || math.IsNaN(mean) || mean < age.Seconds() || mean >= age.Seconds()+1 {
				return false, fmt.Sprintf("mean age of %s: %v s, want [%v, %v) s; all: %v", k, mean, age.Seconds(), age.Seconds()+1, sorted(got))
			}
		}
		return true, ""
	})
}
