// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package lambdatrigger recognises the event source of a Lambda event from its raw JSON:
// the one classifier of otelcol-lambda's Go instrumentation (lambdaevents), the
// extension's Runtime API proxy and the load generator. It uses the standard library only,
// so that the extension and functions can import it at no cost. The README has the table
// of what it reads for each kind.
package lambdatrigger // import "github.com/otelcol-lambda/otelcol-lambda/instrumentation/go/lambdatrigger"

import "time"

// Kind names an event source.
type Kind string

// The event sources Classify recognises.
const (
	KindUnknown          Kind = "unknown"
	KindSQS              Kind = "sqs"
	KindSNS              Kind = "sns"
	KindAPIGatewayREST   Kind = "apigateway-rest" // REST APIs, and HTTP APIs with payload 1.0
	KindAPIGatewayHTTP   Kind = "apigateway-http" // HTTP APIs with payload 2.0
	KindFunctionURL      Kind = "function-url"
	KindALB              Kind = "alb"
	KindKinesis          Kind = "kinesis"
	KindDynamoDB         Kind = "dynamodb"
	KindS3               Kind = "s3"
	KindEventBridge      Kind = "eventbridge"
	KindSchedule         Kind = "schedule" // EventBridge (CloudWatch Events) scheduled rule
	KindKafka            Kind = "kafka"    // Amazon MSK
	KindSelfManagedKafka Kind = "self-managed-kafka"
	KindCloudWatchLogs   Kind = "cloudwatch-logs"
	KindCognito          Kind = "cognito" // Cognito user pool triggers
)

// Attribute keys: the OpenTelemetry names and otelcol-lambda's own
// (aws.lambda.event_source.*), as internal/lambdaconv has them.
const (
	AttrFaaSTrigger              = "faas.trigger"
	AttrMessagingSystem          = "messaging.system"
	AttrMessagingDestinationName = "messaging.destination.name"
	AttrFaaSDocumentCollection   = "faas.document.collection"
	AttrHTTPRoute                = "http.route"
	AttrEventSourceARN           = "aws.lambda.event_source.arn"
	AttrEventTimeUnixMs          = "aws.lambda.event_source.time_unix_ms"
	AttrBatchMessageCount        = "messaging.batch.message_count"
)

// Values of faas.trigger.
const (
	TriggerHTTP       = "http"
	TriggerPubSub     = "pubsub"
	TriggerDatasource = "datasource"
	TriggerTimer      = "timer"
	TriggerOther      = "other"
)

// Values of messaging.system.
const (
	SystemSQS         = "aws_sqs"
	SystemSNS         = "aws.sns"
	SystemKafka       = "kafka"
	SystemKinesis     = "aws_kinesis"
	SystemEventBridge = "aws_eventbridge"
)

// Source is what an event says about where it came from.
type Source struct {
	Kind        Kind
	Trigger     string    // faas.trigger
	System      string    // messaging.system
	Destination string    // messaging.destination.name: queue, topic, stream, bus, rule; never an ARN
	Collection  string    // faas.document.collection: S3 bucket, DynamoDB table, CloudWatch Logs log group
	Route       string    // http.route: a route template only, never a raw path (cardinality)
	ARN         string    // the event source's ARN when the event says it
	Time        time.Time // when the source took in the oldest event of the batch; zero if unknown
	BatchSize   int       // records in a batch source; 0 when not a batch source or not known
}
