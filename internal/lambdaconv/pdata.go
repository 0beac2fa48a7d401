// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdaconv // import "github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
)

// The receiver writes a sandbox's resource and a span's outcome with these, and so do the
// tests' spans (lambdaconvtest), which must look exactly like the receiver's.

// MergeSandboxResource adds the sandbox's semantic-convention resource attributes to attrs,
// keeping any the data already has: a function's SDK knows its own resource best.
func MergeSandboxResource(attrs pcommon.Map, s wire.Sandbox) {
	put := func(key, value string) {
		if value == "" {
			return
		}
		if _, ok := attrs.Get(key); !ok {
			attrs.PutStr(key, value)
		}
	}
	if s.FunctionName == "" && s.ExtensionInstanceID == "" && s.Region == "" {
		return // nothing known about the sandbox
	}
	put(AttrCloudProvider, CloudProviderAWS)
	put(AttrCloudPlatform, CloudPlatformLambda)
	put(AttrServiceName, s.FunctionName)
	put(AttrFaaSName, s.FunctionName)
	put(AttrFaaSVersion, s.FunctionVersion)
	put(AttrFaaSInstance, s.ExtensionInstanceID)
	if s.ExtensionInstanceID != "" {
		// The forwarder's headers say it, whatever the data claimed.
		attrs.PutStr(AttrExtensionInstanceID, s.ExtensionInstanceID)
	}
	put(AttrCloudRegion, s.Region)
	put(AttrCloudAccountID, s.AccountID)
	put(AttrCloudResourceID, s.FunctionARN)
	put(AttrHostArch, HostArch(s.Architecture))
	put(AttrRuntime, s.Runtime)
	if _, ok := attrs.Get(AttrFaaSMaxMemory); !ok && s.MemorySizeMB > 0 {
		attrs.PutInt(AttrFaaSMaxMemory, int64(telemetryapi.MBToBytes(s.MemorySizeMB)))
	}
	if _, ok := attrs.Get(AttrTimeoutMs); !ok && s.TimeoutMs > 0 {
		attrs.PutDouble(AttrTimeoutMs, s.TimeoutMs)
	}
}

// OutcomeAttributes is how many attributes SetOutcome puts for status and lambdaErrorType,
// so that a span's attributes can be sized once, to what it gets.
func OutcomeAttributes(status, lambdaErrorType string) int {
	n := 0
	if status != "" {
		n++
	}
	if ErrorType(status, lambdaErrorType) != "" {
		n++
		if lambdaErrorType != "" {
			n++
		}
	}
	return n
}

// SetOutcome records Lambda's status and, on failure, the span status and the error
// class: errClass when given, else the class of Lambda's errorType.
func SetOutcome(span ptrace.Span, attrs pcommon.Map, status, lambdaErrorType, errClass string) {
	if status != "" {
		attrs.PutStr(AttrStatus, status)
	}
	errType := ErrorType(status, lambdaErrorType)
	if errType == "" {
		return
	}
	if errClass != "" {
		errType = errClass
	}
	attrs.PutStr(AttrErrorType, errType)
	if lambdaErrorType != "" {
		attrs.PutStr(AttrLambdaErrorType, lambdaErrorType)
	}
	span.Status().SetCode(ptrace.StatusCodeError)
	msg := lambdaErrorType
	if msg == "" {
		msg = status
	}
	span.Status().SetMessage(msg)
}
