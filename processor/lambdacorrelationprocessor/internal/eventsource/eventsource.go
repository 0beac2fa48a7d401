// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package eventsource reads the event source of a Lambda invocation from span attributes
// written in any of the conventions that Lambda instrumentations use (old and new semantic
// conventions, Node, Python, Go, the AWS SDK instrumentations, our own function-side
// packages) and writes it back as one normalized set of attributes.
package eventsource // import "github.com/otelcol-lambda/otelcol-lambda/processor/lambdacorrelationprocessor/internal/eventsource"

import (
	"errors"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
)

// Input keys beside the normalized ones of lambdaconv.
const (
	// messaging.destination held the destination's name before semantic conventions 1.17.
	attrMessagingDestinationOld = "messaging.destination"
	// messaging.source.name named where a consumer read from, in conventions 1.17-1.20.
	attrMessagingSourceName = "messaging.source.name"
	// Queue URLs: aws.sqs.queue.url (AWS SDK instrumentations), messaging.url (conventions
	// before 1.17, the Node aws-sdk instrumentation), aws.queue.url (X-Ray style).
	attrSQSQueueURL      = "aws.sqs.queue.url"
	attrMessagingURL     = "messaging.url"
	attrAWSQueueURL      = "aws.queue.url"
	attrHTTPMethodOld    = "http.method"
	attrHTTPMethod       = "http.request.method"
	attrFaaSInvocationID = lambdaconv.AttrFaaSInvocationID
)

// ErrConflict is returned when one span names two different event sources.
var ErrConflict = errors.New("the span names two different event sources")

// Source is the normalized event source of one invocation. Empty fields are unknown.
type Source struct {
	Trigger     string // faas.trigger
	System      string // messaging.system, normalized (aws_sqs, aws.sns, kafka, ...)
	Destination string // messaging.destination.name: queue, topic or stream name, never an ARN
	Collection  string // faas.document.collection: S3 bucket or DynamoDB table
	Route       string // http.route
	ARN         string // aws.lambda.event_source.arn
	TimeUnixMs  int64  // aws.lambda.event_source.time_unix_ms
}

// IsZero tells whether nothing is known.
func (s *Source) IsZero() bool { return *s == Source{} }

// set assigns v to *field unless it holds a different value already.
func set(field *string, v string) bool {
	if v == "" || *field == v {
		return true
	}
	if *field == "" {
		*field = v
		return true
	}
	return false
}

// Read extracts the event source from span attributes in any known convention. It returns
// ErrConflict when two attributes disagree (e.g. messaging.destination.name and an old
// messaging.destination naming different queues); the returned Source is then partial.
func Read(attrs pcommon.Map) (Source, error) {
	var s Source
	var urlDest, httpMethod string
	ok := true
	for k, v := range attrs.All() {
		switch k {
		case lambdaconv.AttrFaaSTrigger:
			ok = set(&s.Trigger, v.Str()) && ok
		case lambdaconv.AttrMessagingSystem:
			ok = set(&s.System, NormalizeSystem(v.Str())) && ok
		case lambdaconv.AttrMessagingDestinationName, attrMessagingDestinationOld, attrMessagingSourceName:
			if v.Type() != pcommon.ValueTypeStr {
				continue // messaging.destination is a namespace in newer conventions
			}
			name, arn := splitARN(v.Str())
			ok = set(&s.Destination, name) && ok
			ok = set(&s.ARN, arn) && ok
		case attrSQSQueueURL, attrMessagingURL, attrAWSQueueURL:
			urlDest = lastSegment(v.Str())
		case lambdaconv.AttrFaaSDocumentCollection:
			ok = set(&s.Collection, v.Str()) && ok
		case lambdaconv.AttrHTTPRoute:
			ok = set(&s.Route, v.Str()) && ok
		case attrHTTPMethod, attrHTTPMethodOld:
			httpMethod = v.Str()
		case lambdaconv.AttrEventSourceARN:
			ok = set(&s.ARN, v.Str()) && ok
		case lambdaconv.AttrEventTimeUnixMs:
			switch v.Type() {
			case pcommon.ValueTypeInt:
				s.TimeUnixMs = v.Int()
			case pcommon.ValueTypeDouble:
				s.TimeUnixMs = int64(v.Double())
			}
		}
	}
	if s.Destination == "" {
		s.Destination = urlDest
	}
	if s.ARN != "" {
		ok = s.fromARN() && ok
	}
	if s.Trigger == "" {
		switch {
		case s.System != "":
			s.Trigger = lambdaconv.TriggerPubSub
		case s.Collection != "":
			s.Trigger = lambdaconv.TriggerDatasource
		case s.Route != "" || httpMethod != "":
			s.Trigger = lambdaconv.TriggerHTTP
		}
	}
	if !ok {
		return s, ErrConflict
	}
	return s, nil
}

// fromARN fills what the source's ARN tells and checks it against what is known.
func (s *Source) fromARN() bool {
	service, resource, found := parseARN(s.ARN)
	if !found {
		return true
	}
	ok := true
	switch service {
	case "sqs":
		ok = set(&s.System, lambdaconv.MessagingSystemSQS) && set(&s.Destination, resource)
	case "sns":
		ok = set(&s.System, lambdaconv.MessagingSystemSNS) && set(&s.Destination, resource)
	case "kinesis":
		// arn:aws:kinesis:region:account:stream/name
		ok = set(&s.System, lambdaconv.MessagingSystemKinesis) && set(&s.Destination, strings.TrimPrefix(resource, "stream/"))
	case "kafka":
		// An MSK cluster ARN names the cluster, not the topic: only the system follows.
		ok = set(&s.System, lambdaconv.MessagingSystemKafka)
	case "dynamodb":
		// arn:aws:dynamodb:region:account:table/name/stream/label
		table := strings.TrimPrefix(resource, "table/")
		if i := strings.IndexByte(table, '/'); i >= 0 {
			table = table[:i]
		}
		ok = set(&s.Collection, table)
	case "s3":
		ok = set(&s.Collection, resource)
	}
	return ok
}

// parseARN splits arn:partition:service:region:account:resource.
func parseARN(arn string) (service, resource string, ok bool) {
	rest, ok := strings.CutPrefix(arn, "arn:")
	if !ok {
		return "", "", false
	}
	var fields [4]string // partition, service, region, account; cut without allocating
	for i := range fields {
		if fields[i], rest, ok = strings.Cut(rest, ":"); !ok {
			return "", "", false
		}
	}
	return fields[1], rest, true
}

// splitARN turns a destination given as an ARN into its name and the ARN.
func splitARN(v string) (name, arn string) {
	service, resource, ok := parseARN(v)
	if !ok {
		return v, ""
	}
	switch service {
	case "kinesis":
		resource = strings.TrimPrefix(resource, "stream/")
	}
	return resource, v
}

func lastSegment(url string) string {
	url = strings.TrimRight(url, "/")
	if i := strings.LastIndexByte(url, '/'); i >= 0 {
		return url[i+1:]
	}
	return url
}

// NormalizeSystem maps the messaging.system values that instrumentations use for AWS
// services (AmazonSQS, aws.sqs, aws:sqs, ...) to one value per system.
func NormalizeSystem(v string) string {
	switch strings.ToLower(v) {
	case "aws_sqs", "aws.sqs", "aws:sqs", "amazonsqs", "sqs":
		return lambdaconv.MessagingSystemSQS
	case "aws.sns", "aws_sns", "aws:sns", "amazonsns", "sns":
		return lambdaconv.MessagingSystemSNS
	case "kafka", "aws:kafka", "selfmanagedkafka", "aws_msk", "msk":
		return lambdaconv.MessagingSystemKafka
	case "aws_kinesis", "aws.kinesis", "aws:kinesis", "amazonkinesis", "kinesis":
		return lambdaconv.MessagingSystemKinesis
	case "aws_eventbridge", "aws.eventbridge", "aws:events", "aws.events", "amazoneventbridge", "eventbridge":
		return lambdaconv.MessagingSystemEventBridge
	}
	return v
}

// Overlay puts what o knows over s, field by field: a field o knows replaces s's, whatever
// s said; a field o does not know keeps s's. The correlation processor overlays the
// function span's source on the invocation span's, which the extension's Runtime API proxy
// may have named: the function's own instrumentation wins where both know a field.
func (s *Source) Overlay(o Source) {
	for _, f := range [...]struct {
		dst *string
		v   string
	}{
		{&s.Trigger, o.Trigger}, {&s.System, o.System}, {&s.Destination, o.Destination},
		{&s.Collection, o.Collection}, {&s.Route, o.Route}, {&s.ARN, o.ARN},
	} {
		if f.v != "" {
			*f.dst = f.v
		}
	}
	if o.TimeUnixMs != 0 {
		s.TimeUnixMs = o.TimeUnixMs
	}
}

// Write puts the normalized attributes on a span; unknown fields are left as they are.
// A value the span has already is not put again (putting allocates), and the attributes
// grow once for all the keys it lacks.
func (s *Source) Write(attrs pcommon.Map) {
	strs := [...]struct{ key, value string }{
		{lambdaconv.AttrFaaSTrigger, s.Trigger},
		{lambdaconv.AttrMessagingSystem, s.System},
		{lambdaconv.AttrMessagingDestinationName, s.Destination},
		{lambdaconv.AttrFaaSDocumentCollection, s.Collection},
		{lambdaconv.AttrHTTPRoute, s.Route},
		{lambdaconv.AttrEventSourceARN, s.ARN},
	}
	var put [len(strs)]bool
	putTime, added := false, 0
	for i, f := range strs {
		if f.value == "" {
			continue
		}
		old, ok := attrs.Get(f.key)
		put[i] = !ok || old.Type() != pcommon.ValueTypeStr || old.Str() != f.value
		if !ok {
			added++
		}
	}
	if s.TimeUnixMs > 0 {
		old, ok := attrs.Get(lambdaconv.AttrEventTimeUnixMs)
		putTime = !ok || old.Type() != pcommon.ValueTypeInt || old.Int() != s.TimeUnixMs
		if !ok {
			added++
		}
	}
	attrs.EnsureCapacity(attrs.Len() + added)
	for i, f := range strs {
		if put[i] {
			attrs.PutStr(f.key, f.value)
		}
	}
	if putTime {
		attrs.PutInt(lambdaconv.AttrEventTimeUnixMs, s.TimeUnixMs)
	}
}

// RequestID returns the request id of a span: faas.invocation_id, or faas.execution of
// older conventions.
func RequestID(attrs pcommon.Map) string {
	if v, ok := attrs.Get(attrFaaSInvocationID); ok && v.Type() == pcommon.ValueTypeStr && v.Str() != "" {
		return v.Str()
	}
	if v, ok := attrs.Get(lambdaconv.AttrFaaSExecution); ok && v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return ""
}
