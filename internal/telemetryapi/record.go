// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package telemetryapi // import "github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"

import (
	"math"
	"time"
)

// Event types: the "type" of an [Event].
const (
	TypePlatformInitStart             = "platform.initStart"
	TypePlatformInitRuntimeDone       = "platform.initRuntimeDone"
	TypePlatformInitReport            = "platform.initReport"
	TypePlatformStart                 = "platform.start"
	TypePlatformRuntimeDone           = "platform.runtimeDone"
	TypePlatformReport                = "platform.report"
	TypePlatformRestoreStart          = "platform.restoreStart"
	TypePlatformRestoreRuntimeDone    = "platform.restoreRuntimeDone"
	TypePlatformRestoreReport         = "platform.restoreReport"
	TypePlatformExtension             = "platform.extension"
	TypePlatformTelemetrySubscription = "platform.telemetrySubscription"
	TypePlatformLogsDropped           = "platform.logsDropped"
	TypeFunction                      = "function"
	TypeExtension                     = "extension"

	// TypeInvocation is otelcol-lambda's own event, not Lambda's: what the extension's
	// Runtime API proxy saw of one invocation (its event source, the function's error
	// type). The extension puts it in its batch just before the invocation's
	// platform.runtimeDone (or its marked platform.report); see [Invocation].
	TypeInvocation = "otelcol.invocation"
)

// Status values of init, restore and invoke phases. Every value but
// StatusSuccess comes with an errorType.
const (
	StatusSuccess = "success"
	StatusFailure = "failure"
	StatusError   = "error"
	StatusTimeout = "timeout"
)

// Initialization types: how Lambda created the execution environment.
const (
	InitTypeOnDemand               = "on-demand"
	InitTypeProvisionedConcurrency = "provisioned-concurrency"
	InitTypeSnapStart              = "snap-start"
	InitTypeLambdaManagedInstances = "lambda-managed-instances"
)

// Phases in which init code runs. PhaseInvoke means a suppressed init: Lambda
// re-ran the init code at the start of an invocation after an init failure.
const (
	PhaseInit   = "init"
	PhaseInvoke = "invoke"
)

// Names of the spans Lambda reports in platform.runtimeDone.
const (
	SpanResponseLatency  = "responseLatency"
	SpanResponseDuration = "responseDuration"
	SpanRuntimeOverhead  = "runtimeOverhead"
)

// TracingTypeXRay is the only documented [TraceContext] type: its value is an
// X-Ray trace header (see [ParseXRayTraceHeader]).
const TracingTypeXRay = "X-Amzn-Trace-Id"

// BytesPerMB converts Lambda's memory fields to bytes: Lambda's "MB" is a MiB.
const BytesPerMB = 1 << 20

// MBToBytes converts a memory size in Lambda's "MB" (MiB) to bytes.
func MBToBytes(mb float64) float64 { return mb * BytesPerMB }

// MillisToDuration converts Lambda's float milliseconds to a Duration,
// rounding to the nanosecond: a plain conversion truncates 693.92 ms to
// 693.919999 ms.
func MillisToDuration(ms float64) time.Duration {
	return time.Duration(math.Round(ms * float64(time.Millisecond)))
}

// Span is a sub-phase Lambda measured, e.g. responseLatency.
type Span struct {
	Name       string    `json:"name"`
	Start      time.Time `json:"start"`
	DurationMs float64   `json:"durationMs"`
}

// Duration returns the span's duration.
func (s Span) Duration() time.Duration { return MillisToDuration(s.DurationMs) }

// End returns the time the span ended.
func (s Span) End() time.Time { return s.Start.Add(s.Duration()) }

// TraceContext is the tracing object of platform.start, platform.runtimeDone
// and platform.report. SpanID, when present, is the 16 hex digit id Lambda
// gave the invocation's span.
type TraceContext struct {
	SpanID string `json:"spanId,omitempty"`
	Type   string `json:"type"`
	Value  string `json:"value"`
}

// InitReportMetrics are the metrics of platform.initReport and
// platform.restoreReport.
type InitReportMetrics struct {
	DurationMs float64 `json:"durationMs"`
}

// RuntimeDoneMetrics are the metrics of platform.runtimeDone.
type RuntimeDoneMetrics struct {
	DurationMs float64 `json:"durationMs"`
	// ProducedBytes is the size of the function's response, when Lambda
	// reports it.
	ProducedBytes *float64 `json:"producedBytes,omitempty"`
}

// ReportMetrics are the metrics of platform.report.
type ReportMetrics struct {
	DurationMs       float64 `json:"durationMs"`
	BilledDurationMs float64 `json:"billedDurationMs"`
	// MemorySizeMB is the configured memory in MiB; see MemorySizeBytes.
	MemorySizeMB float64 `json:"memorySizeMB"`
	// MaxMemoryUsedMB is in MiB; see MaxMemoryUsedBytes.
	MaxMemoryUsedMB float64 `json:"maxMemoryUsedMB"`
	// InitDurationMs is present on the first invocation after a cold start.
	InitDurationMs *float64 `json:"initDurationMs,omitempty"`
	// RestoreDurationMs is present on the first invocation after a SnapStart
	// restore.
	RestoreDurationMs *float64 `json:"restoreDurationMs,omitempty"`
	// BilledRestoreDurationMs is the part of the restore Lambda bills (loading the
	// runtime, after-restore hooks), present with RestoreDurationMs. BilledDurationMs
	// already includes it: real reports show billed = ceil(duration) + billed restore.
	BilledRestoreDurationMs *float64 `json:"billedRestoreDurationMs,omitempty"`
}

// MemorySizeBytes returns the configured memory in bytes.
func (m ReportMetrics) MemorySizeBytes() float64 { return MBToBytes(m.MemorySizeMB) }

// MaxMemoryUsedBytes returns the invocation's peak memory in bytes.
func (m ReportMetrics) MaxMemoryUsedBytes() float64 { return MBToBytes(m.MaxMemoryUsedMB) }

// PlatformInitStart is the record of platform.initStart.
type PlatformInitStart struct {
	InitializationType string `json:"initializationType"`
	Phase              string `json:"phase"`
	RuntimeVersion     string `json:"runtimeVersion,omitempty"`
	RuntimeVersionARN  string `json:"runtimeVersionArn,omitempty"`
	FunctionName       string `json:"functionName,omitempty"`
	FunctionVersion    string `json:"functionVersion,omitempty"`
	// InstanceID and InstanceMaxMemory (bytes) appear with Lambda Managed
	// Instances (schema 2025-01-29).
	InstanceID        string  `json:"instanceId,omitempty"`
	InstanceMaxMemory float64 `json:"instanceMaxMemory,omitempty"`
}

// PlatformInitRuntimeDone is the record of platform.initRuntimeDone.
type PlatformInitRuntimeDone struct {
	InitializationType string `json:"initializationType"`
	Phase              string `json:"phase"`
	Status             string `json:"status"`
	ErrorType          string `json:"errorType,omitempty"`
	Spans              []Span `json:"spans,omitempty"`
}

// PlatformInitReport is the record of platform.initReport.
type PlatformInitReport struct {
	InitializationType string            `json:"initializationType"`
	Phase              string            `json:"phase"`
	Status             string            `json:"status"`
	ErrorType          string            `json:"errorType,omitempty"`
	Metrics            InitReportMetrics `json:"metrics"`
	Spans              []Span            `json:"spans,omitempty"`
}

// PlatformStart is the record of platform.start: an invocation began.
type PlatformStart struct {
	RequestID string        `json:"requestId"`
	Version   string        `json:"version,omitempty"`
	Tracing   *TraceContext `json:"tracing,omitempty"`
}

// PlatformRuntimeDone is the record of platform.runtimeDone: the runtime
// finished an invocation (the invocation is counted when this arrives). Defined types,
// not aliases, of InvocationEnd: a decoding error then names the record's own type and
// field (PlatformRuntimeDone.requestId), not the generic instance.
type PlatformRuntimeDone InvocationEnd[*RuntimeDoneMetrics]

// PlatformReport is the record of platform.report, produced after the
// invoke phase ended (it includes the extensions' time after the runtime).
type PlatformReport InvocationEnd[ReportMetrics]

// InvocationMetrics are the metrics of the records that end an invocation.
type InvocationMetrics interface {
	*RuntimeDoneMetrics | ReportMetrics
}

// InvocationEnd is the shape of the records that end an invocation
// (PlatformRuntimeDone, PlatformReport); they differ in their metrics.
type InvocationEnd[M InvocationMetrics] struct {
	RequestID string `json:"requestId"`
	Status    string `json:"status"`
	ErrorType string `json:"errorType,omitempty"`
	// Metrics: omitempty leaves out a nil *RuntimeDoneMetrics; ReportMetrics, a
	// struct, is always written.
	Metrics M             `json:"metrics,omitempty"`
	Spans   []Span        `json:"spans,omitempty"`
	Tracing *TraceContext `json:"tracing,omitempty"`
}

// PlatformRestoreStart is the record of platform.restoreStart (SnapStart).
type PlatformRestoreStart struct {
	RuntimeVersion    string  `json:"runtimeVersion,omitempty"`
	RuntimeVersionARN string  `json:"runtimeVersionArn,omitempty"`
	FunctionName      string  `json:"functionName,omitempty"`
	FunctionVersion   string  `json:"functionVersion,omitempty"`
	InstanceID        string  `json:"instanceId,omitempty"`
	InstanceMaxMemory float64 `json:"instanceMaxMemory,omitempty"`
}

// PlatformRestoreRuntimeDone is the record of platform.restoreRuntimeDone.
type PlatformRestoreRuntimeDone struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType,omitempty"`
	Spans     []Span `json:"spans,omitempty"`
}

// PlatformRestoreReport is the record of platform.restoreReport.
type PlatformRestoreReport struct {
	Status    string            `json:"status"`
	ErrorType string            `json:"errorType,omitempty"`
	Metrics   InitReportMetrics `json:"metrics"`
	Spans     []Span            `json:"spans,omitempty"`
}

// PlatformExtension is the record of platform.extension: an extension
// registered and is ready.
type PlatformExtension struct {
	Name   string   `json:"name"`
	State  string   `json:"state"`
	Events []string `json:"events"`
}

// PlatformTelemetrySubscription is the record of
// platform.telemetrySubscription.
type PlatformTelemetrySubscription struct {
	Name  string   `json:"name"`
	State string   `json:"state"`
	Types []string `json:"types"`
}

// PlatformLogsDropped is the record of platform.logsDropped: Lambda dropped
// telemetry because the subscriber did not keep up.
type PlatformLogsDropped struct {
	Reason         string  `json:"reason"`
	DroppedRecords float64 `json:"droppedRecords"`
	DroppedBytes   float64 `json:"droppedBytes"`
}

// Invocation is the record of an otelcol.invocation event: what the extension's Runtime API
// proxy saw of one invocation, with no change to the function. The event's time is when
// the proxy received the event from Lambda.
type Invocation struct {
	RequestID string `json:"requestId"`
	// Source is the invocation's event source, classified from its event; absent when the
	// proxy could not read the event.
	Source *EventSource `json:"eventSource,omitempty"`
	// ErrorType is the errorType the function's runtime posted to invocation/{id}/error (or
	// in a streamed response's error trailer); empty when it succeeded or is not known.
	ErrorType string `json:"errorType,omitempty"`
}

// EventSource is where an invocation's event came from. Every field but Kind is optional;
// [CheckLimits] bounds each (short tokens for kind, trigger and system; names, route and ARN
// by what AWS allows them).
type EventSource struct {
	// Kind names the event's shape: sqs, sns, apigateway-rest, apigateway-http,
	// function-url, alb, kinesis, dynamodb, s3, eventbridge, schedule, kafka,
	// self-managed-kafka, cloudwatch-logs, cognito, or unknown.
	Kind string `json:"kind"`
	// Trigger is faas.trigger: http, pubsub, datasource, timer or other.
	Trigger string `json:"trigger,omitempty"`
	// MessagingSystem is messaging.system (aws_sqs, aws.sns, kafka, aws_kinesis,
	// aws_eventbridge).
	MessagingSystem string `json:"messagingSystem,omitempty"`
	// Destination is messaging.destination.name: the queue, topic, stream, bus or
	// schedule rule, never an ARN.
	Destination string `json:"destination,omitempty"`
	// Collection is faas.document.collection: the S3 bucket, DynamoDB table or log group.
	Collection string `json:"collection,omitempty"`
	// Route is http.route: the route template, never a raw path.
	Route string `json:"route,omitempty"`
	// ARN is the event source's ARN (aws.lambda.event_source.arn).
	ARN string `json:"arn,omitempty"`
	// EventTimeUnixMs is when the source took in the oldest event of the batch, in
	// milliseconds since the Unix epoch; 0 when the event does not say.
	EventTimeUnixMs int64 `json:"eventTimeUnixMs,omitempty"`
	// BatchSize is the number of records of a batch source; 0 when not a batch or not
	// known (the event was longer than what the proxy reads of it).
	BatchSize int `json:"batchSize,omitempty"`
}
