// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package loadgen // import "github.com/otelcol-lambda/otelcol-lambda/testbed/loadgen"

import (
	"fmt"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv/lambdaconvtest"
	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
)

// Where batches go, and their media types.
const (
	// TracesPath is the OTLP/HTTP traces path of the gateway, where function spans go.
	TracesPath = "/v1/traces"

	ContentTypeJSON     = "application/json"       // telemetry batches
	ContentTypeProtobuf = "application/x-protobuf" // OTLP batches
)

// The instrumentation scope of the function spans: Go's otellambda.
const (
	otellambdaScope   = "go.opentelemetry.io/contrib/instrumentation/github.com/aws/aws-lambda-go/otellambda"
	otellambdaVersion = "0.63.0"
	attrInvokedARN    = "aws.lambda.invoked_arn"
)

// xrayIDs are the trace identity of one invocation with active tracing: Lambda's X-Ray
// trace (Root and Parent of the trace header), the span id Lambda gives the invocation
// (the receiver's invocation span id), and the function's own root span id.
type xrayIDs struct {
	traceID  [16]byte
	parentID [8]byte
	lambdaID [8]byte
	spanID   [8]byte
}

// newXRayIDs draws the ids of an invocation starting at start: an X-Ray Root is the epoch
// second followed by 96 random bits.
func newXRayIDs(rng *rand.Rand, start time.Time) xrayIDs {
	var ids xrayIDs
	putUint := func(b []byte, v uint64) {
		for i := range b {
			b[i] = byte(v >> (8 * (len(b) - 1 - i)))
		}
	}
	putUint(ids.traceID[:4], uint64(uint32(start.Unix())))
	putUint(ids.traceID[4:8], rng.Uint64())
	putUint(ids.traceID[8:], rng.Uint64())
	for _, id := range []*[8]byte{&ids.parentID, &ids.lambdaID, &ids.spanID} {
		putUint(id[:], rng.Uint64()|1) // never all zero
	}
	return ids
}

// tracing is the platform events' trace context: what Lambda writes with active tracing.
func (ids xrayIDs) tracing() *telemetryapi.TraceContext {
	return lambdaconvtest.Trace{TraceID: ids.traceID, ParentSpanID: ids.parentID, SpanID: ids.lambdaID}.TraceContext()
}

// functionSpan is one invocation's root span of the function's own instrumentation.
type functionSpan struct {
	ids        xrayIDs
	requestID  string
	start, end time.Time
	event      eventSource
}

// functionResource is what the function's SDK says about itself (the resource of gofn and
// of the AWS Lambda resource detectors); the receiver adds the rest from the forwarder's
// headers, keeping these.
type functionResource struct {
	name      string
	logStream string // faas.instance: the sandbox's log stream, as the detectors set it
}

// newLogStream names a sandbox's log stream as Lambda does: date/[version]id.
func newLogStream(rng *rand.Rand, t time.Time) string {
	return fmt.Sprintf("%s/[$LATEST]%016x%016x", t.UTC().Format("2006/01/02"), rng.Uint64(), rng.Uint64())
}

// tracesBody is the OTLP/protobuf ExportTraceServiceRequest of one sandbox's flush: one
// resource, the otellambda scope, one SERVER span per invocation, as otellambda with
// instrumentation/go/lambdaevents writes it (no span status: otellambda v0.63 sets none).
func tracesBody(res functionResource, trigger Trigger, spans []functionSpan) ([]byte, error) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	ra := rs.Resource().Attributes()
	ra.PutStr(lambdaconv.AttrServiceName, res.name)
	ra.PutStr(lambdaconv.AttrCloudProvider, lambdaconv.CloudProviderAWS)
	ra.PutStr(lambdaconv.AttrCloudPlatform, lambdaconv.CloudPlatformLambda)
	ra.PutStr(lambdaconv.AttrCloudRegion, region)
	ra.PutStr(lambdaconv.AttrFaaSName, res.name)
	ra.PutStr(lambdaconv.AttrFaaSVersion, "$LATEST")
	ra.PutStr(lambdaconv.AttrFaaSInstance, res.logStream)
	ra.PutInt(lambdaconv.AttrFaaSMaxMemory, memorySizeMB*telemetryapi.BytesPerMB)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName(otellambdaScope)
	ss.Scope().SetVersion(otellambdaVersion)
	ss.Spans().EnsureCapacity(len(spans))
	invokedARN := fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", region, accountID, res.name)
	for _, fs := range spans {
		span := ss.Spans().AppendEmpty()
		span.SetName(res.name)
		span.SetKind(ptrace.SpanKindServer)
		span.SetTraceID(fs.ids.traceID)
		span.SetSpanID(fs.ids.spanID)
		// The SDK continues Lambda's X-Ray trace (xray propagator): its parent is Lambda's.
		span.SetParentSpanID(fs.ids.parentID)
		span.SetStartTimestamp(pcommon.NewTimestampFromTime(fs.start))
		span.SetEndTimestamp(pcommon.NewTimestampFromTime(fs.end))
		a := span.Attributes()
		a.EnsureCapacity(11)
		a.PutStr(lambdaconv.AttrFaaSInvocationID, fs.requestID)
		a.PutStr(attrInvokedARN, invokedARN)
		a.PutStr(lambdaconv.AttrCloudAccountID, accountID)
		putSourceAttributes(a, trigger, fs.event)
	}
	return ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
}

// spanRuns tells whether an invocation's handler returned, so that the function's
// instrumentation ended its span and flushed it. Out-of-memory kills and runtime failures
// (Runtime.*) end the runtime process first; on a timeout Lambda stops the sandbox before
// the handler returns, and the instrumentations (otellambda, the Node and Python ones) end
// the span only when it does. A function error (Handled) and an extension's crash leave the
// handler's return intact.
func spanRuns(status, errorType string, oom bool) bool {
	switch {
	case oom, status == telemetryapi.StatusTimeout:
		return false
	case status == telemetryapi.StatusSuccess:
		return true
	}
	return errorType == "Handled" || errorType == "Extension.Crash"
}
