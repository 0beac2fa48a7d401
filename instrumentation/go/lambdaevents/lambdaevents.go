// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package lambdaevents names the event source of a Lambda invocation on the function's own
// span, with the attributes that otelcol-lambda's lambda_correlation processor and
// lambda_metrics connector read: faas.trigger, messaging.system, messaging.destination.name,
// http.route, faas.document.collection, the source's ARN (aws.lambda.event_source.arn) and
// the time the source took the event in (aws.lambda.event_source.time_unix_ms), plus span
// links to the producers whose trace context the messages carry.
//
// Go's otellambda instrumentation sets none of these. Use the package with it:
//
//	h := lambdaevents.WrapHandler(lambda.NewHandler(handle))
//	lambda.StartHandler(otellambda.WrapHandler(h,
//		otellambda.WithTracerProvider(tp),
//		otellambda.WithEventToCarrier(lambdaevents.EventToCarrier)))
//
// It recognises the raw event JSON of SQS, SNS, API Gateway REST and HTTP APIs (payload
// 1.0 and 2.0, and function URLs), Kafka (MSK and self-managed), Kinesis, EventBridge
// (and scheduled rules), S3 and DynamoDB streams. It depends on the OpenTelemetry API and
// aws-lambda-go only: never on the Collector.
package lambdaevents // import "github.com/otelcol-lambda/otelcol-lambda/instrumentation/go/lambdaevents"

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Attribute keys and values. They mirror otelcol-lambda's internal/lambdaconv, which this
// module cannot import (functions must not pull the Collector in).
const (
	AttrFaaSTrigger              = "faas.trigger"
	AttrMessagingSystem          = "messaging.system"
	AttrMessagingDestinationName = "messaging.destination.name"
	AttrFaaSDocumentCollection   = "faas.document.collection"
	AttrHTTPRoute                = "http.route"
	AttrEventSourceARN           = "aws.lambda.event_source.arn"
	AttrEventTimeUnixMs          = "aws.lambda.event_source.time_unix_ms"
	AttrMessageID                = "messaging.message.id"
	AttrBatchMessageCount        = "messaging.batch.message_count"

	TriggerHTTP       = "http"
	TriggerPubSub     = "pubsub"
	TriggerDatasource = "datasource"
	TriggerTimer      = "timer"

	SystemSQS         = "aws_sqs"
	SystemSNS         = "aws.sns"
	SystemKafka       = "kafka"
	SystemKinesis     = "aws_kinesis"
	SystemEventBridge = "aws_eventbridge"
)

// Kind is the recognised event type.
type Kind string

// The recognised event types.
const (
	KindUnknown     Kind = ""
	KindSQS         Kind = "sqs"
	KindSNS         Kind = "sns"
	KindAPIGateway  Kind = "apigateway-rest" // REST APIs, and HTTP APIs with payload 1.0
	KindHTTPAPI     Kind = "apigateway-http" // HTTP APIs with payload 2.0, function URLs
	KindKafka       Kind = "kafka"
	KindKinesis     Kind = "kinesis"
	KindEventBridge Kind = "eventbridge"
	KindS3          Kind = "s3"
	KindDynamoDB    Kind = "dynamodb"
)

// Source is what an event tells about its source.
type Source struct {
	Kind        Kind
	Trigger     string
	System      string
	Destination string
	Collection  string
	Route       string
	ARN         string
	// Time is when the source took in the oldest event of the batch; zero if unknown.
	Time time.Time
	// Messages is the number of records in the batch; 0 for single events.
	Messages int
	// Links are the producers' span contexts the messages carry.
	Links []trace.Link
	// Headers are the HTTP headers of an API Gateway event, to extract a parent from.
	Headers map[string]string
}

// sniff holds the fields that tell the event types apart.
type sniff struct {
	Records        json.RawMessage `json:"Records"` // also matches Kafka's "records"
	EventSource    string          `json:"eventSource"`
	Version        string          `json:"version"`
	RouteKey       string          `json:"routeKey"`
	Resource       *string         `json:"resource"`
	HTTPMethod     string          `json:"httpMethod"`
	RequestContext json.RawMessage `json:"requestContext"`
	DetailType     *string         `json:"detail-type"`
	Source         string          `json:"source"`
}

type recordSniff struct {
	EventSource string `json:"eventSource"` // SNS writes EventSource; matched case-insensitively
}

// Parse recognises the event type of a raw event and reads its source. ok is false for an
// event it does not know (a direct invocation with a custom payload).
func Parse(payload []byte) (src Source, ok bool) {
	payload = bytes.TrimSpace(payload)
	if len(payload) == 0 || payload[0] != '{' {
		return Source{}, false
	}
	var s sniff
	if json.Unmarshal(payload, &s) != nil {
		return Source{}, false
	}
	switch {
	case len(s.Records) > 0 && s.Records[0] == '{':
		return parseKafka(payload)
	case len(s.Records) > 0 && s.Records[0] == '[':
		var first []recordSniff
		if json.Unmarshal(s.Records, &first) != nil || len(first) == 0 {
			return Source{}, false
		}
		switch first[0].EventSource {
		case "aws:sqs":
			return parseSQS(payload)
		case "aws:sns":
			return parseSNS(payload)
		case "aws:kinesis":
			return parseKinesis(payload)
		case "aws:dynamodb":
			return parseDynamoDB(payload)
		case "aws:s3":
			return parseS3(payload)
		}
	case s.Version == "2.0" && s.RouteKey != "" && len(s.RequestContext) > 0:
		return parseHTTPAPI(payload)
	case s.Resource != nil && s.HTTPMethod != "" && len(s.RequestContext) > 0:
		return parseREST(payload)
	case s.DetailType != nil && s.Source != "":
		return parseEventBridge(payload)
	}
	return Source{}, false
}

func arnField(arn string, i int) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) <= i {
		return ""
	}
	return parts[i]
}

func older(t, than time.Time) bool { return !t.IsZero() && (than.IsZero() || t.Before(than)) }

func parseSQS(payload []byte) (Source, bool) {
	var ev events.SQSEvent
	if json.Unmarshal(payload, &ev) != nil || len(ev.Records) == 0 {
		return Source{}, false
	}
	arn := ev.Records[0].EventSourceARN
	src := Source{Kind: KindSQS, Trigger: TriggerPubSub, System: SystemSQS, Destination: arnField(arn, 5), ARN: arn, Messages: len(ev.Records)}
	for _, r := range ev.Records {
		if ms, err := strconv.ParseInt(r.Attributes["SentTimestamp"], 10, 64); err == nil && older(time.UnixMilli(ms), src.Time) {
			src.Time = time.UnixMilli(ms)
		}
		var sc trace.SpanContext
		if a, ok := r.MessageAttributes["traceparent"]; ok && a.StringValue != nil {
			sc = parseTraceparent(*a.StringValue)
		}
		if !sc.IsValid() {
			sc = parseXRay(r.Attributes["AWSTraceHeader"])
		}
		src.addLink(sc, r.MessageId)
	}
	return src, true
}

func parseSNS(payload []byte) (Source, bool) {
	var ev events.SNSEvent
	if json.Unmarshal(payload, &ev) != nil || len(ev.Records) == 0 {
		return Source{}, false
	}
	topic := ev.Records[0].SNS.TopicArn
	src := Source{Kind: KindSNS, Trigger: TriggerPubSub, System: SystemSNS, Destination: arnField(topic, 5), ARN: topic, Messages: len(ev.Records)}
	for _, r := range ev.Records {
		if older(r.SNS.Timestamp, src.Time) {
			src.Time = r.SNS.Timestamp
		}
		// SNS message attributes: {"traceparent": {"Type": "String", "Value": "00-..."}}.
		if a, ok := r.SNS.MessageAttributes["traceparent"].(map[string]any); ok {
			if v, ok := a["Value"].(string); ok {
				src.addLink(parseTraceparent(v), r.SNS.MessageID)
			}
		}
	}
	return src, true
}

func parseKinesis(payload []byte) (Source, bool) {
	var ev events.KinesisEvent
	if json.Unmarshal(payload, &ev) != nil || len(ev.Records) == 0 {
		return Source{}, false
	}
	arn := ev.Records[0].EventSourceArn
	src := Source{Kind: KindKinesis, Trigger: TriggerPubSub, System: SystemKinesis,
		Destination: strings.TrimPrefix(arnField(arn, 5), "stream/"), ARN: arn, Messages: len(ev.Records)}
	for _, r := range ev.Records {
		if t := r.Kinesis.ApproximateArrivalTimestamp.Time; older(t, src.Time) {
			src.Time = t
		}
	}
	return src, true
}

func parseDynamoDB(payload []byte) (Source, bool) {
	var ev events.DynamoDBEvent
	if json.Unmarshal(payload, &ev) != nil || len(ev.Records) == 0 {
		return Source{}, false
	}
	arn := ev.Records[0].EventSourceArn
	table := strings.TrimPrefix(arnField(arn, 5), "table/")
	if i := strings.IndexByte(table, '/'); i >= 0 {
		table = table[:i]
	}
	src := Source{Kind: KindDynamoDB, Trigger: TriggerDatasource, Collection: table, ARN: arn, Messages: len(ev.Records)}
	for _, r := range ev.Records {
		if t := r.Change.ApproximateCreationDateTime.Time; older(t, src.Time) {
			src.Time = t
		}
	}
	return src, true
}

func parseS3(payload []byte) (Source, bool) {
	var ev events.S3Event
	if json.Unmarshal(payload, &ev) != nil || len(ev.Records) == 0 {
		return Source{}, false
	}
	b := ev.Records[0].S3.Bucket
	arn := b.Arn
	if arn == "" && b.Name != "" {
		arn = "arn:aws:s3:::" + b.Name
	}
	src := Source{Kind: KindS3, Trigger: TriggerDatasource, Collection: b.Name, ARN: arn, Messages: len(ev.Records)}
	for _, r := range ev.Records {
		if older(r.EventTime, src.Time) {
			src.Time = r.EventTime
		}
	}
	return src, true
}

func parseKafka(payload []byte) (Source, bool) {
	var ev events.KafkaEvent
	if json.Unmarshal(payload, &ev) != nil {
		return Source{}, false
	}
	if ev.EventSource != "aws:kafka" && ev.EventSource != "SelfManagedKafka" {
		return Source{}, false
	}
	src := Source{Kind: KindKafka, Trigger: TriggerPubSub, System: SystemKafka, ARN: ev.EventSourceARN}
	for _, records := range ev.Records {
		for _, r := range records {
			src.Messages++
			if src.Destination == "" || r.Topic < src.Destination {
				src.Destination = r.Topic // one topic per mapping in practice; stable if not
			}
			if older(r.Timestamp.Time, src.Time) {
				src.Time = r.Timestamp.Time
			}
			for _, h := range r.Headers {
				if v, ok := h["traceparent"]; ok {
					src.addLink(parseTraceparent(string(v)), r.Topic+"-"+strconv.FormatInt(r.Partition, 10)+"-"+strconv.FormatInt(r.Offset, 10))
				}
			}
		}
	}
	return src, true
}

func parseREST(payload []byte) (Source, bool) {
	var ev events.APIGatewayProxyRequest
	if json.Unmarshal(payload, &ev) != nil {
		return Source{}, false
	}
	rc := ev.RequestContext
	src := Source{Kind: KindAPIGateway, Trigger: TriggerHTTP, Route: ev.Resource, Headers: ev.Headers,
		ARN: executeAPIARN(rc.AccountID, rc.APIID, rc.Stage, ev.HTTPMethod, ev.Resource)}
	if rc.RequestTimeEpoch > 0 {
		src.Time = time.UnixMilli(rc.RequestTimeEpoch)
	}
	return src, true
}

func parseHTTPAPI(payload []byte) (Source, bool) {
	var ev events.APIGatewayV2HTTPRequest
	if json.Unmarshal(payload, &ev) != nil {
		return Source{}, false
	}
	rc := ev.RequestContext
	src := Source{Kind: KindHTTPAPI, Trigger: TriggerHTTP, Headers: ev.Headers}
	// routeKey is "GET /orders/{id}", "ANY /{proxy+}" or "$default" (function URLs too).
	if method, route, ok := strings.Cut(ev.RouteKey, " "); ok {
		src.Route = route
		src.ARN = executeAPIARN(rc.AccountID, rc.APIID, rc.Stage, method, route)
	}
	if rc.TimeEpoch > 0 {
		src.Time = time.UnixMilli(rc.TimeEpoch)
	}
	return src, true
}

// executeAPIARN is the ARN of an API Gateway route, in the function's region.
func executeAPIARN(account, apiID, stage, method, route string) string {
	region := os.Getenv("AWS_REGION")
	if region == "" || account == "" || apiID == "" {
		return ""
	}
	if method == "ANY" {
		method = "*"
	}
	return "arn:aws:execute-api:" + region + ":" + account + ":" + apiID + "/" + stage + "/" + method + route
}

func parseEventBridge(payload []byte) (Source, bool) {
	var ev events.EventBridgeEvent
	if json.Unmarshal(payload, &ev) != nil {
		return Source{}, false
	}
	src := Source{Kind: KindEventBridge, Trigger: TriggerPubSub, System: SystemEventBridge, Destination: ev.Source, Time: ev.Time}
	if ev.Source == "aws.events" && ev.DetailType == "Scheduled Event" && len(ev.Resources) > 0 {
		// A schedule: the rule is the source.
		src.Trigger, src.System = TriggerTimer, ""
		src.ARN = ev.Resources[0]
		src.Destination = strings.TrimPrefix(arnField(src.ARN, 5), "rule/")
	}
	return src, true
}

func (s *Source) addLink(sc trace.SpanContext, messageID string) {
	if !sc.IsValid() {
		return
	}
	for _, l := range s.Links {
		if l.SpanContext.Equal(sc) {
			return
		}
	}
	l := trace.Link{SpanContext: sc}
	if messageID != "" {
		l.Attributes = []attribute.KeyValue{attribute.String(AttrMessageID, messageID)}
	}
	s.Links = append(s.Links, l)
}

// parseTraceparent reads a W3C traceparent: 00-<trace id>-<span id>-<flags>.
func parseTraceparent(v string) trace.SpanContext {
	parts := strings.Split(strings.TrimSpace(v), "-")
	if len(parts) < 4 || len(parts[0]) != 2 || parts[0] == "ff" {
		return trace.SpanContext{}
	}
	tid, err1 := trace.TraceIDFromHex(parts[1])
	sid, err2 := trace.SpanIDFromHex(parts[2])
	flags, err3 := hex.DecodeString(parts[3])
	if err1 != nil || err2 != nil || err3 != nil || len(flags) != 1 {
		return trace.SpanContext{}
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.TraceFlags(flags[0]), Remote: true})
}

// parseXRay reads an X-Ray trace header: Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1.
func parseXRay(v string) trace.SpanContext {
	var tid trace.TraceID
	var sid trace.SpanID
	var flags trace.TraceFlags
	var haveT, haveS bool
	for part := range strings.SplitSeq(v, ";") {
		k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Root":
			// 1-<8 hex epoch>-<24 hex>
			f := strings.Split(val, "-")
			if len(f) == 3 && f[0] == "1" && len(f[1]) == 8 && len(f[2]) == 24 {
				var err error
				tid, err = trace.TraceIDFromHex(f[1] + f[2])
				haveT = err == nil
			}
		case "Parent":
			var err error
			sid, err = trace.SpanIDFromHex(val)
			haveS = err == nil
		case "Sampled":
			if val == "1" {
				flags = trace.FlagsSampled
			}
		}
	}
	if !haveT || !haveS {
		return trace.SpanContext{}
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: flags, Remote: true})
}

// Attributes are the span attributes of the source.
func (s *Source) Attributes() []attribute.KeyValue {
	out := make([]attribute.KeyValue, 0, 8)
	add := func(k, v string) {
		if v != "" {
			out = append(out, attribute.String(k, v))
		}
	}
	add(AttrFaaSTrigger, s.Trigger)
	add(AttrMessagingSystem, s.System)
	add(AttrMessagingDestinationName, s.Destination)
	add(AttrFaaSDocumentCollection, s.Collection)
	add(AttrHTTPRoute, s.Route)
	add(AttrEventSourceARN, s.ARN)
	if !s.Time.IsZero() {
		out = append(out, attribute.Int64(AttrEventTimeUnixMs, s.Time.UnixMilli()))
	}
	if s.Messages > 1 {
		out = append(out, attribute.Int(AttrBatchMessageCount, s.Messages))
	}
	return out
}

// Annotate sets the source of the raw event on span: attributes and producer links. It
// returns false, changing nothing, for an event it does not know.
func Annotate(span trace.Span, payload []byte) bool {
	src, ok := Parse(payload)
	if !ok || !span.IsRecording() {
		return ok
	}
	span.SetAttributes(src.Attributes()...)
	for _, l := range src.Links {
		span.AddLink(l)
	}
	return true
}

// WrapHandler annotates the span in the invocation's context (otellambda's, when h runs
// inside otellambda.WrapHandler) before calling h.
func WrapHandler(h lambda.Handler) lambda.Handler {
	return handler{next: h}
}

type handler struct{ next lambda.Handler }

func (h handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	Annotate(trace.SpanFromContext(ctx), payload)
	return h.next.Invoke(ctx, payload)
}

// Carrier is a propagation.TextMapCarrier over an API Gateway event's headers, for
// otellambda.WithEventToCarrier: the function span then continues the caller's trace. For
// other events it is empty (their producers become links instead).
type Carrier map[string]string

// Get returns a header, case-insensitively.
func (c Carrier) Get(key string) string {
	if v, ok := c[key]; ok {
		return v
	}
	for k, v := range c {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// Set sets a header.
func (c Carrier) Set(key, value string) { c[key] = value }

// Keys lists the headers.
func (c Carrier) Keys() []string {
	out := make([]string, 0, len(c))
	for k := range c {
		out = append(out, k)
	}
	return out
}

// EventToCarrier is the carrier of a raw event, for otellambda.WithEventToCarrier: its HTTP
// headers for API Gateway events, empty otherwise.
func EventToCarrier(payload []byte) propagation.TextMapCarrier {
	src, _ := Parse(payload)
	if src.Headers == nil {
		return Carrier{}
	}
	return Carrier(src.Headers)
}
