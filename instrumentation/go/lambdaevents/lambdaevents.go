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
// It recognises the raw event JSON with lambdatrigger, the classifier that otelcol-lambda's
// extension also runs on events it sees (SQS, SNS, API Gateway REST and HTTP APIs, function
// URLs, ALB, Kafka (MSK and self-managed), Kinesis, EventBridge and scheduled rules, S3,
// DynamoDB streams, CloudWatch Logs and Cognito user pool triggers), so both name a source
// alike. It depends on the OpenTelemetry API, aws-lambda-go and lambdatrigger (standard
// library only): never on the Collector.
package lambdaevents // import "github.com/otelcol-lambda/otelcol-lambda/instrumentation/go/lambdaevents"

import (
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

	"github.com/otelcol-lambda/otelcol-lambda/instrumentation/go/lambdatrigger"
)

// Attribute keys and values: lambdatrigger's, which mirror otelcol-lambda's
// internal/lambdaconv (this module cannot import the Collector's).
const (
	AttrFaaSTrigger              = lambdatrigger.AttrFaaSTrigger
	AttrMessagingSystem          = lambdatrigger.AttrMessagingSystem
	AttrMessagingDestinationName = lambdatrigger.AttrMessagingDestinationName
	AttrFaaSDocumentCollection   = lambdatrigger.AttrFaaSDocumentCollection
	AttrHTTPRoute                = lambdatrigger.AttrHTTPRoute
	AttrEventSourceARN           = lambdatrigger.AttrEventSourceARN
	AttrEventTimeUnixMs          = lambdatrigger.AttrEventTimeUnixMs
	AttrMessageID                = "messaging.message.id"
	AttrBatchMessageCount        = lambdatrigger.AttrBatchMessageCount

	TriggerHTTP       = lambdatrigger.TriggerHTTP
	TriggerPubSub     = lambdatrigger.TriggerPubSub
	TriggerDatasource = lambdatrigger.TriggerDatasource
	TriggerTimer      = lambdatrigger.TriggerTimer
	TriggerOther      = lambdatrigger.TriggerOther

	SystemSQS         = lambdatrigger.SystemSQS
	SystemSNS         = lambdatrigger.SystemSNS
	SystemKafka       = lambdatrigger.SystemKafka
	SystemKinesis     = lambdatrigger.SystemKinesis
	SystemEventBridge = lambdatrigger.SystemEventBridge
)

// Kind is the recognised event type.
type Kind = lambdatrigger.Kind

// The recognised event types.
const (
	KindUnknown          = lambdatrigger.KindUnknown
	KindSQS              = lambdatrigger.KindSQS
	KindSNS              = lambdatrigger.KindSNS
	KindAPIGateway       = lambdatrigger.KindAPIGatewayREST // REST APIs, and HTTP APIs with payload 1.0
	KindHTTPAPI          = lambdatrigger.KindAPIGatewayHTTP // HTTP APIs with payload 2.0
	KindFunctionURL      = lambdatrigger.KindFunctionURL
	KindALB              = lambdatrigger.KindALB
	KindKafka            = lambdatrigger.KindKafka // Amazon MSK
	KindSelfManagedKafka = lambdatrigger.KindSelfManagedKafka
	KindKinesis          = lambdatrigger.KindKinesis
	KindEventBridge      = lambdatrigger.KindEventBridge
	KindSchedule         = lambdatrigger.KindSchedule
	KindS3               = lambdatrigger.KindS3
	KindDynamoDB         = lambdatrigger.KindDynamoDB
	KindCloudWatchLogs   = lambdatrigger.KindCloudWatchLogs
	KindCognito          = lambdatrigger.KindCognito
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
	// Headers are the HTTP headers of an API Gateway, function URL or ALB event, to
	// extract a parent from.
	Headers map[string]string
}

// Parse recognises the event type of a raw event and reads its source. ok is false, and
// the Kind KindUnknown, for an event it does not know (a direct invocation with a custom
// payload).
func Parse(payload []byte) (src Source, ok bool) {
	t := lambdatrigger.Classify(payload, true)
	if t.Kind == lambdatrigger.KindUnknown {
		return Source{Kind: KindUnknown}, false
	}
	src = Source{Kind: t.Kind, Trigger: t.Trigger, System: t.System, Destination: t.Destination,
		Collection: t.Collection, Route: t.Route, ARN: t.ARN, Time: t.Time, Messages: t.BatchSize}
	// Links and headers need the messages and headers themselves: lambdatrigger reads
	// neither.
	switch t.Kind {
	case KindSQS:
		src.linkSQS(payload)
	case KindSNS:
		src.linkSNS(payload)
	case KindKafka, KindSelfManagedKafka:
		src.linkKafka(payload)
	case KindAPIGateway:
		src.readREST(payload)
	case KindHTTPAPI, KindFunctionURL:
		src.readHTTPAPI(payload)
	case KindALB:
		src.readALB(payload)
	}
	return src, true
}

func (s *Source) linkSQS(payload []byte) {
	var ev events.SQSEvent
	if json.Unmarshal(payload, &ev) != nil {
		return
	}
	for _, r := range ev.Records {
		var sc trace.SpanContext
		if a, ok := r.MessageAttributes["traceparent"]; ok && a.StringValue != nil {
			sc = parseTraceparent(*a.StringValue)
		}
		if !sc.IsValid() {
			sc = parseXRay(r.Attributes["AWSTraceHeader"])
		}
		s.addLink(sc, r.MessageId)
	}
}

func (s *Source) linkSNS(payload []byte) {
	var ev events.SNSEvent
	if json.Unmarshal(payload, &ev) != nil {
		return
	}
	for _, r := range ev.Records {
		// SNS message attributes: {"traceparent": {"Type": "String", "Value": "00-..."}}.
		if a, ok := r.SNS.MessageAttributes["traceparent"].(map[string]any); ok {
			if v, ok := a["Value"].(string); ok {
				s.addLink(parseTraceparent(v), r.SNS.MessageID)
			}
		}
	}
}

func (s *Source) linkKafka(payload []byte) {
	var ev events.KafkaEvent
	if json.Unmarshal(payload, &ev) != nil {
		return
	}
	for _, records := range ev.Records {
		for _, r := range records {
			for _, h := range r.Headers {
				if v, ok := h["traceparent"]; ok {
					s.addLink(parseTraceparent(string(v)), r.Topic+"-"+strconv.FormatInt(r.Partition, 10)+"-"+strconv.FormatInt(r.Offset, 10))
				}
			}
		}
	}
}

func (s *Source) readREST(payload []byte) {
	var ev events.APIGatewayProxyRequest
	if json.Unmarshal(payload, &ev) != nil {
		return
	}
	s.Headers = ev.Headers
	rc := ev.RequestContext
	s.ARN = executeAPIARN(rc.AccountID, rc.APIID, rc.Stage, ev.HTTPMethod, ev.Resource)
}

func (s *Source) readHTTPAPI(payload []byte) {
	var ev events.APIGatewayV2HTTPRequest
	if json.Unmarshal(payload, &ev) != nil {
		return
	}
	s.Headers = ev.Headers
	// routeKey is "GET /orders/{id}", "ANY /{proxy+}" or "$default" (function URLs too).
	if method, route, ok := strings.Cut(ev.RouteKey, " "); ok {
		rc := ev.RequestContext
		s.ARN = executeAPIARN(rc.AccountID, rc.APIID, rc.Stage, method, route)
	}
}

func (s *Source) readALB(payload []byte) {
	var ev events.ALBTargetGroupRequest
	if json.Unmarshal(payload, &ev) != nil {
		return
	}
	s.Headers = ev.Headers
	if len(s.Headers) == 0 && len(ev.MultiValueHeaders) > 0 {
		// A target group with multi-value headers on sends only these.
		s.Headers = make(map[string]string, len(ev.MultiValueHeaders))
		for k, v := range ev.MultiValueHeaders {
			if len(v) > 0 {
				s.Headers[k] = v[0]
			}
		}
	}
}

// executeAPIARN is the ARN of an API Gateway route, in the function's region (the event
// does not say it, so lambdatrigger gives none).
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
