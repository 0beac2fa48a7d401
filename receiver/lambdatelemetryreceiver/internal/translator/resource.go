// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package translator // import "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/translator"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
)

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
	put(lambdaconv.AttrCloudProvider, lambdaconv.CloudProviderAWS)
	put(lambdaconv.AttrCloudPlatform, lambdaconv.CloudPlatformLambda)
	put(lambdaconv.AttrServiceName, s.FunctionName)
	put(lambdaconv.AttrFaaSName, s.FunctionName)
	put(lambdaconv.AttrFaaSVersion, s.FunctionVersion)
	put(lambdaconv.AttrFaaSInstance, s.ExtensionInstanceID)
	put(lambdaconv.AttrCloudRegion, s.Region)
	put(lambdaconv.AttrCloudAccountID, s.AccountID)
	put(lambdaconv.AttrCloudResourceID, s.FunctionARN)
	put(lambdaconv.AttrHostArch, lambdaconv.HostArch(s.Architecture))
	put(lambdaconv.AttrRuntime, s.Runtime)
	if _, ok := attrs.Get(lambdaconv.AttrFaaSMaxMemory); !ok && s.MemorySizeMB > 0 {
		attrs.PutInt(lambdaconv.AttrFaaSMaxMemory, int64(telemetryapi.MBToBytes(s.MemorySizeMB)))
	}
	if _, ok := attrs.Get(lambdaconv.AttrTimeoutMs); !ok && s.TimeoutMs > 0 {
		attrs.PutDouble(lambdaconv.AttrTimeoutMs, s.TimeoutMs)
	}
}
