// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package lambdaconv defines, once, the spans and attributes by which the lambda_telemetry
// receiver hands Lambda's platform facts to the lambda_correlation processor and the
// lambda_metrics connector.
//
// The receiver derives three kinds of span, told apart by [AttrSpanType]:
//
//   - invocation (SERVER): one per invocation, emitted when platform.runtimeDone arrives
//     (or, only when the forwarder marked that it never saw the runtimeDone, from the
//     platform.report). Its start and end are the invocation's; it carries
//     faas.invocation_id, faas.coldstart, aws.lambda.status and, on failure, error.type;
//     with the extension's Runtime API proxy (otelcol.invocation), the event source too.
//     The connector counts invocations, errors, timeouts and cold starts from these and
//     only these.
//   - report (INTERNAL, child of the invocation span when known): one per platform.report,
//     carrying billed duration, memory size, max memory used and init/restore duration.
//     The connector derives billed duration, memory and cost from these.
//   - init (INTERNAL): one per init or SnapStart restore phase, carrying its
//     initialization type, phase, status and duration; the cold invocation links to it.
//     When the phase's events never arrived, the first invocation's report makes it
//     (AttrInitFromReport); when the cold start was learnt after the invocation span went
//     out, the init span carries it (AttrColdstartLate).
//
// Attribute keys follow the OpenTelemetry semantic conventions where they exist (faas.*,
// cloud.*, error.type) and use aws.lambda.* where they do not. Durations that Lambda
// reports in milliseconds keep them, with the unit in the key; memory is in bytes.
package lambdaconv // import "github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"

import "strings"

// Span types: the values of AttrSpanType.
const (
	AttrSpanType = "aws.lambda.span.type"

	SpanTypeInvocation = "invocation"
	SpanTypeReport     = "report"
	SpanTypeInit       = "init"
)

// Span names of the spans that are not named after the function.
const (
	SpanNameReport  = "report"
	SpanNameInit    = "init"
	SpanNameRestore = "restore"
)

// Attributes of invocation spans (and, where it makes sense, report spans).
const (
	AttrFaaSInvocationID = "faas.invocation_id"
	AttrFaaSColdstart    = "faas.coldstart"
	AttrFaaSTrigger      = "faas.trigger"
	AttrErrorType        = "error.type"
	// AttrStatus is Lambda's status: success, error, failure or timeout.
	AttrStatus = "aws.lambda.status"
	// AttrLambdaErrorType is Lambda's errorType verbatim (e.g. Runtime.OutOfMemory);
	// error.type holds its low-cardinality class.
	AttrLambdaErrorType = "aws.lambda.error_type"
	// AttrInvocationFromReport marks an invocation span made from a platform.report whose
	// runtimeDone the forwarder never saw.
	AttrInvocationFromReport = "aws.lambda.invocation.from_report"
	AttrProducedBytes        = "aws.lambda.produced_bytes"
	// AttrInitializationType is on cold invocations and init spans: on-demand,
	// provisioned-concurrency, snap-start or lambda-managed-instances.
	AttrInitializationType = "aws.lambda.initialization_type"
)

// Attributes of report spans.
const (
	AttrDurationMs        = "aws.lambda.duration_ms"
	AttrBilledDurationMs  = "aws.lambda.billed_duration_ms"
	AttrMemorySize        = "aws.lambda.memory_size"     // bytes
	AttrMaxMemoryUsed     = "aws.lambda.max_memory_used" // bytes
	AttrInitDurationMs    = "aws.lambda.init_duration_ms"
	AttrRestoreDurationMs = "aws.lambda.restore_duration_ms"
	// AttrBilledRestoreDurationMs is the billed part of a SnapStart restore, which
	// AttrBilledDurationMs already includes.
	AttrBilledRestoreDurationMs = "aws.lambda.billed_restore_duration_ms"
)

// Attributes of init spans.
const (
	// AttrInitPhase is "init", or "invoke" for an init Lambda re-ran inside an invocation.
	AttrInitPhase      = "aws.lambda.init.phase"
	AttrRuntimeVersion = "aws.lambda.runtime_version"
	// AttrInitFromReport marks an init span made from the init or restore duration of a
	// platform.report, because the phase's own events never arrived.
	AttrInitFromReport = "aws.lambda.init.from_report"
	// AttrColdstartLate marks the init span of a cold start learnt after the sandbox's
	// first invocation span went out without it: the connector counts that cold start
	// from this span, not from the invocation span.
	AttrColdstartLate = "aws.lambda.coldstart.late"
)

// AttrAckToken is on the receiver's spans in its write-ahead mode: which logged batch and
// event the span was made from (see internal/acklog). lambda_metrics hands it back once
// the span's counts were written.
const AttrAckToken = "aws.lambda.ack_token"

// Attributes of the event source: set by the receiver from the extension's Runtime API
// proxy (otelcol.invocation), and by the correlation processor from the function's span.
const (
	AttrMessagingSystem          = "messaging.system"
	AttrMessagingDestinationName = "messaging.destination.name"
	AttrHTTPRoute                = "http.route"
	AttrEventSourceARN           = "aws.lambda.event_source.arn"
	// AttrEventTimeUnixMs is when the event source took in the (oldest) event the invocation
	// handles, in milliseconds since the Unix epoch, as an int (SQS SentTimestamp, Kinesis
	// approximateArrivalTimestamp, the event time of EventBridge, S3 or SNS). The connector's
	// aws.lambda.event_age is the invocation's start minus this.
	AttrEventTimeUnixMs = "aws.lambda.event_source.time_unix_ms"
	// AttrFaaSDocumentCollection is the bucket (S3) or table (DynamoDB) of a datasource
	// trigger, as the FaaS semantic conventions name it.
	AttrFaaSDocumentCollection = "faas.document.collection"
	// AttrBatchMessageCount is how many records a batch event (SQS, Kinesis, DynamoDB,
	// Kafka) held, an int, as the messaging semantic conventions name it. Functions' own
	// instrumentations set it too; the receiver sets it from the extension's proxy.
	AttrBatchMessageCount = "messaging.batch.message_count"
	// AttrFaaSExecution is the request id under its name before semantic conventions 1.21
	// (faas.invocation_id since), still set by older Node and Python instrumentations.
	AttrFaaSExecution = "faas.execution"
)

// Values of faas.trigger and messaging.system that the correlation processor writes.
const (
	TriggerHTTP       = "http"
	TriggerPubSub     = "pubsub"
	TriggerDatasource = "datasource"
	TriggerTimer      = "timer"
	TriggerOther      = "other"

	MessagingSystemSQS         = "aws_sqs"
	MessagingSystemSNS         = "aws.sns"
	MessagingSystemKafka       = "kafka"
	MessagingSystemKinesis     = "aws_kinesis"
	MessagingSystemEventBridge = "aws_eventbridge"
)

// Resource attributes that describe the sandbox.
const (
	AttrServiceName     = "service.name"
	AttrCloudProvider   = "cloud.provider"
	AttrCloudPlatform   = "cloud.platform"
	AttrCloudRegion     = "cloud.region"
	AttrCloudAccountID  = "cloud.account.id"
	AttrCloudResourceID = "cloud.resource_id"
	AttrFaaSName        = "faas.name"
	AttrFaaSVersion     = "faas.version"
	AttrFaaSInstance    = "faas.instance"   // the forwarder's instance id: one per sandbox
	AttrFaaSMaxMemory   = "faas.max_memory" // bytes
	AttrHostArch        = "host.arch"
	AttrRuntime         = "aws.lambda.runtime"
	AttrTimeoutMs       = "aws.lambda.timeout_ms"
	// AttrExtensionInstanceID is the forwarder's instance id, which the receiver puts on
	// every resource that came with a forwarder's sandbox headers: what the extension
	// forwarded. faas.instance carries the same id unless the function's SDK set its own
	// (the AWS Lambda resource detectors set the log stream's name), so it cannot tell.
	AttrExtensionInstanceID = "aws.lambda.extension.instance_id"
	CloudProviderAWS        = "aws"
	CloudPlatformLambda     = "aws_lambda"
)

// Attributes of log records derived from Telemetry API events.
const (
	// AttrTelemetryType is the Telemetry API event type the record came from.
	AttrTelemetryType = "aws.lambda.telemetry.type"
)

// Values of error.type: a few classes an on-call can alert on, whatever Lambda's own
// errorType was.
const (
	ErrorTypeTimeout       = "timeout"
	ErrorTypeOutOfMemory   = "out_of_memory"
	ErrorTypeRuntimeExit   = "runtime_exit"
	ErrorTypeExtension     = "extension_failure"
	ErrorTypeFunction      = "function_error"
	ErrorTypeUnhandled     = "unhandled"
	ErrorTypeInitFailure   = "init_failure"
	ErrorTypeOtherFallback = "_OTHER"
)

// ErrorType classifies a Lambda status and errorType into an error.type value; "" for
// success.
func ErrorType(status, lambdaErrorType string) string {
	switch {
	case status == "success" || (status == "" && lambdaErrorType == ""):
		return ""
	case status == "timeout" || strings.Contains(lambdaErrorType, "Timedout") || strings.Contains(lambdaErrorType, "Timeout"):
		return ErrorTypeTimeout
	case strings.Contains(lambdaErrorType, "OutOfMemory"):
		return ErrorTypeOutOfMemory
	case lambdaErrorType == "Runtime.ExitError":
		return ErrorTypeRuntimeExit
	case strings.HasPrefix(lambdaErrorType, "Extension."):
		return ErrorTypeExtension
	case strings.HasPrefix(lambdaErrorType, "Runtime."):
		// Runtime.Unknown, Runtime.HandlerNotFound, Runtime.ImportModuleError, ...: the
		// runtime failed, the function's code did not return an error.
		return ErrorTypeUnhandled
	case status == "error":
		return ErrorTypeFunction
	case status == "failure":
		return ErrorTypeUnhandled
	}
	return ErrorTypeOtherFallback
}

// HostArch maps Lambda's architecture names to host.arch values.
func HostArch(lambdaArchitecture string) string {
	switch lambdaArchitecture {
	case "x86_64":
		return "amd64"
	case "arm64":
		return "arm64"
	}
	return lambdaArchitecture
}
