// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package loadgen // import "github.com/otelcol-lambda/otelcol-lambda/testbed/loadgen"

import (
	"fmt"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-lambda/otelcol-lambda/instrumentation/go/lambdatrigger"
	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
)

// TriggerKind is the type of a function's event source: lambdatrigger's Kind, the one
// vocabulary of the extension's classifier and instrumentation/go/lambdaevents.
type TriggerKind = lambdatrigger.Kind

// The event sources a function can have.
const (
	TriggerSQS            = lambdatrigger.KindSQS
	TriggerSNS            = lambdatrigger.KindSNS
	TriggerAPIGatewayREST = lambdatrigger.KindAPIGatewayREST // REST API (payload 1.0)
	TriggerAPIGatewayHTTP = lambdatrigger.KindAPIGatewayHTTP // HTTP API (payload 2.0)
	TriggerKafka          = lambdatrigger.KindKafka          // Amazon MSK
	TriggerKinesis        = lambdatrigger.KindKinesis
	TriggerEventBridge    = lambdatrigger.KindEventBridge
	TriggerS3             = lambdatrigger.KindS3
	TriggerDynamoDB       = lambdatrigger.KindDynamoDB // DynamoDB stream
)

// Triggers are the event sources functions get in turn: function i has
// Triggers[i%len(Triggers)].
var Triggers = []TriggerKind{
	TriggerSQS, TriggerSNS, TriggerAPIGatewayREST, TriggerAPIGatewayHTTP, TriggerKafka,
	TriggerKinesis, TriggerEventBridge, TriggerS3, TriggerDynamoDB,
}

// Labels are the event-source labels that the lambda_metrics connector (with its default
// dimensions) puts on faas_invocations_total, faas_errors_total,
// faas_invoke_duration_seconds_* and aws_lambda_event_age_seconds_*, as Prometheus shows
// them after remote write. The zero value is an invocation whose event source is unknown:
// the labels are absent.
type Labels struct {
	FaaSTrigger              string // faas_trigger (faas.trigger)
	MessagingSystem          string // messaging_system (messaging.system)
	MessagingDestinationName string // messaging_destination_name (messaging.destination.name)
	HTTPRoute                string // http_route (http.route)
}

// Match returns the labels as an exact label matcher (Prometheus label name -> value). An
// empty value matches a series that does not have the label, as in PromQL and in
// rwsink.Sink.Find.
func (l Labels) Match() map[string]string {
	return map[string]string{
		"faas_trigger":               l.FaaSTrigger,
		"messaging_system":           l.MessagingSystem,
		"messaging_destination_name": l.MessagingDestinationName,
		"http_route":                 l.HTTPRoute,
	}
}

// Trigger is a function's event source: what its instrumentation (otellambda with
// instrumentation/go/lambdaevents) writes on its root span.
type Trigger struct {
	Kind   TriggerKind
	Labels Labels
	// Collection is the S3 bucket or DynamoDB table (faas.document.collection, not among
	// the connector's default dimensions).
	Collection string
	// ARN is the source's ARN (aws.lambda.event_source.arn); empty for EventBridge.
	ARN string
}

const (
	region    = "eu-west-1"
	accountID = "123456789012"
)

// triggerOf is the event source of function fn named name.
func triggerOf(fn int, name string) Trigger {
	t := Trigger{Kind: Triggers[fn%len(Triggers)]}
	arn := func(service, resource string) string {
		return fmt.Sprintf("arn:aws:%s:%s:%s:%s", service, region, accountID, resource)
	}
	l := &t.Labels
	switch t.Kind {
	case TriggerSQS:
		l.FaaSTrigger, l.MessagingSystem, l.MessagingDestinationName = lambdaconv.TriggerPubSub, lambdaconv.MessagingSystemSQS, name+"-queue"
		t.ARN = arn("sqs", l.MessagingDestinationName)
	case TriggerSNS:
		l.FaaSTrigger, l.MessagingSystem, l.MessagingDestinationName = lambdaconv.TriggerPubSub, lambdaconv.MessagingSystemSNS, name+"-topic"
		t.ARN = arn("sns", l.MessagingDestinationName)
	case TriggerAPIGatewayREST:
		// The REST resource; lambdaevents takes http.route from "resource".
		l.FaaSTrigger, l.HTTPRoute = lambdaconv.TriggerHTTP, "/"+name+"/orders/{id}"
		t.ARN = arn("execute-api", fmt.Sprintf("a%04drest/prod/GET%s", fn, l.HTTPRoute))
	case TriggerAPIGatewayHTTP:
		// routeKey "POST /<name>/items/{id}" without the method.
		l.FaaSTrigger, l.HTTPRoute = lambdaconv.TriggerHTTP, "/"+name+"/items/{id}"
		t.ARN = arn("execute-api", fmt.Sprintf("a%04dhttp/$default/POST%s", fn, l.HTTPRoute))
	case TriggerKafka:
		// An MSK cluster ARN names the cluster; the topic comes from the records.
		l.FaaSTrigger, l.MessagingSystem, l.MessagingDestinationName = lambdaconv.TriggerPubSub, lambdaconv.MessagingSystemKafka, name+"-events"
		t.ARN = arn("kafka", fmt.Sprintf("cluster/fleet-msk/%08x-0000-4000-8000-%012x-1", fn, fn))
	case TriggerKinesis:
		l.FaaSTrigger, l.MessagingSystem, l.MessagingDestinationName = lambdaconv.TriggerPubSub, lambdaconv.MessagingSystemKinesis, name+"-stream"
		t.ARN = arn("kinesis", "stream/"+l.MessagingDestinationName)
	case TriggerEventBridge:
		// The destination is the event's "source"; lambdaevents sets no ARN.
		l.FaaSTrigger, l.MessagingSystem, l.MessagingDestinationName = lambdaconv.TriggerPubSub, lambdaconv.MessagingSystemEventBridge, "com."+name
	case TriggerS3:
		l.FaaSTrigger, t.Collection = lambdaconv.TriggerDatasource, name+"-bucket"
		t.ARN = "arn:aws:s3:::" + t.Collection
	case TriggerDynamoDB:
		l.FaaSTrigger, t.Collection = lambdaconv.TriggerDatasource, name+"-table"
		t.ARN = arn("dynamodb", "table/"+t.Collection+"/stream/2026-01-01T00:00:00.000")
	}
	return t
}

// eventSource is what one invocation's event says about its source.
type eventSource struct {
	// time is when the source took in the oldest event, at the precision the event gives.
	time     time.Time
	messages int // records in the batch; 0 for single events
}

// drawEvent draws an invocation's event: its age at start and its record count.
func drawEvent(rng *rand.Rand, kind TriggerKind, start time.Time) eventSource {
	var age time.Duration
	var messages int
	switch kind {
	case TriggerAPIGatewayREST, TriggerAPIGatewayHTTP:
		age = time.Duration(rng.IntN(30)) * time.Millisecond // API Gateway's own latency
	case TriggerSQS:
		age, messages = time.Duration(rng.IntN(20_000))*time.Millisecond, 1+rng.IntN(10)
	case TriggerSNS, TriggerS3:
		age, messages = time.Duration(rng.IntN(2_000))*time.Millisecond, 1
	case TriggerKafka:
		age, messages = time.Duration(rng.IntN(10_000))*time.Millisecond, 1+rng.IntN(50)
	case TriggerKinesis:
		age, messages = time.Duration(rng.IntN(10_000))*time.Millisecond, 1+rng.IntN(100)
	case TriggerDynamoDB:
		age, messages = time.Duration(rng.IntN(5_000))*time.Millisecond, 1+rng.IntN(20)
	case TriggerEventBridge:
		age = time.Duration(rng.IntN(5_000)) * time.Millisecond
	}
	t := start.Add(-age)
	switch kind {
	case TriggerEventBridge, TriggerDynamoDB:
		// EventBridge's "time" and DynamoDB's ApproximateCreationDateTime have whole seconds.
		t = time.Unix(t.Unix(), 0).UTC()
	default:
		t = time.UnixMilli(t.UnixMilli()).UTC()
	}
	return eventSource{time: t, messages: messages}
}

// eventAge is the connector's aws.lambda.event_age of an invocation that started at start:
// computed exactly as lambda_metrics does, from the span start in nanoseconds and the
// source time in milliseconds.
func eventAge(start time.Time, eventUnixMs int64) float64 {
	return max(float64(start.UnixNano()-eventUnixMs*1e6)/1e9, 0)
}

// putSourceAttributes writes what instrumentation/go/lambdaevents sets on the function's
// span for this trigger and event (Source.Attributes, in its order).
func putSourceAttributes(attrs pcommon.Map, t Trigger, ev eventSource) {
	put := func(k, v string) {
		if v != "" {
			attrs.PutStr(k, v)
		}
	}
	put(lambdaconv.AttrFaaSTrigger, t.Labels.FaaSTrigger)
	put(lambdaconv.AttrMessagingSystem, t.Labels.MessagingSystem)
	put(lambdaconv.AttrMessagingDestinationName, t.Labels.MessagingDestinationName)
	put(lambdaconv.AttrFaaSDocumentCollection, t.Collection)
	put(lambdaconv.AttrHTTPRoute, t.Labels.HTTPRoute)
	put(lambdaconv.AttrEventSourceARN, t.ARN)
	attrs.PutInt(lambdaconv.AttrEventTimeUnixMs, ev.time.UnixMilli())
	if ev.messages > 1 {
		attrs.PutInt(attrBatchMessageCount, int64(ev.messages))
	}
}

// attrBatchMessageCount is set by lambdaevents for batches of more than one record.
const attrBatchMessageCount = lambdatrigger.AttrBatchMessageCount
