// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdametricsconnector // import "github.com/otelcol-lambda/otelcol-lambda/connector/lambdametricsconnector"

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
)

// function is one Lambda function version: the identity every series carries. Identity
// fields never change after creation; the rest is guarded by mu.
type function struct {
	id                             uint32
	key                            string
	name, version, account, region string
	overflow                       bool

	updated   pcommon.Timestamp
	memBytes  int64
	timeoutMs int64
	arch      string
	priced    bool
	perReq    float64
	perGBs    float64
	// restoreCharged: AWS charges this function's SnapStart restores, per GB restored
	// (Python and .NET; Java's are free).
	restoreCharged bool
	perGBRestored  float64

	// sources are the event sources (dimension values, keyed by appendKey) the function has
	// series for, at most max_event_sources_per_function (sources.go).
	sources map[string]*eventSource
	// oldestSource is at most the time the least recently seen source was last seen: no
	// source can have expired before it.
	oldestSource pcommon.Timestamp
}

// resourceAttrs is what one pass over a resource's attributes collects.
type resourceAttrs struct {
	name, service, version, account, region, arch string
	runtime                                       string
	maxMem, timeoutMs                             int64
	// forwarded is set on the resources the otelcol-lambda extension forwarded
	// (aws.lambda.extension.instance_id).
	forwarded bool
}

func (r *resourceAttrs) scan(attrs pcommon.Map) {
	for k, v := range attrs.All() {
		switch k {
		case lambdaconv.AttrFaaSName:
			r.name = v.Str()
		case lambdaconv.AttrServiceName:
			r.service = v.Str()
		case lambdaconv.AttrFaaSVersion:
			r.version = str(v)
		case lambdaconv.AttrCloudAccountID:
			r.account = str(v)
		case lambdaconv.AttrCloudRegion:
			r.region = v.Str()
		case lambdaconv.AttrHostArch:
			r.arch = v.Str()
		case lambdaconv.AttrRuntime:
			r.runtime = v.Str()
		case lambdaconv.AttrFaaSMaxMemory:
			r.maxMem = num(v)
		case lambdaconv.AttrTimeoutMs:
			r.timeoutMs = num(v)
		case lambdaconv.AttrExtensionInstanceID:
			r.forwarded = true
		}
	}
}

// function finds (or creates) the function of a resource and records its configuration. sdk
// tells whether generic spans of this resource may count as invocations. Caller holds mu.
func (c *lambdaMetrics) function(res pcommon.Resource, now pcommon.Timestamp) (fn *function, sdk bool) {
	var r resourceAttrs
	r.scan(res.Attributes())
	sdk = c.cfg.SDKSpans.Enabled && r.name != "" && !r.forwarded
	if r.name == "" {
		r.name = r.service
	}
	key := c.functionKey(r.name, r.version, r.account, r.region)
	fn = c.fns[string(key)]
	if fn == nil {
		if len(c.fns) >= c.cfg.CardinalityLimit {
			return c.overflowFn, sdk
		}
		c.nextFnID++
		fn = &function{
			id: c.nextFnID, key: string(key),
			name: strings.Clone(r.name), version: strings.Clone(r.version),
			account: strings.Clone(r.account), region: strings.Clone(r.region),
		}
		c.fns[fn.key] = fn
	}
	fn.updated = now
	if r.maxMem > 0 {
		fn.memBytes = r.maxMem
	}
	if r.timeoutMs > 0 {
		fn.timeoutMs = r.timeoutMs
	}
	if !fn.priced || fn.arch != r.arch {
		c.price(fn, r.arch)
	}
	// Each resource says its own runtime: one that says none is not charged as the last.
	fn.restoreCharged = restoreCharged(r.runtime)
	return fn, sdk
}

// restoreCharged reports whether AWS charges the SnapStart restores of a runtime, named
// as Lambda names it (python3.13, dotnet8) or as AWS_EXECUTION_ENV does
// (AWS_Lambda_python3.13): for Python and .NET it does, for Java it does not.
func restoreCharged(runtime string) bool {
	runtime = strings.TrimPrefix(runtime, "AWS_Lambda_")
	return familyVersion(runtime, "python") || familyVersion(runtime, "dotnet")
}

// familyVersion reports whether runtime is the family followed by its version, as Lambda
// writes it (python3.13, python:3.13.v19, dotnet8).
func familyVersion(runtime, family string) bool {
	rest, ok := strings.CutPrefix(runtime, family)
	rest = strings.TrimPrefix(rest, ":")
	return ok && rest != "" && '0' <= rest[0] && rest[0] <= '9'
}

// price picks the price of fn's region and architecture, else of its architecture.
func (c *lambdaMetrics) price(fn *function, arch string) {
	fn.arch, fn.priced, fn.perReq, fn.perGBs, fn.perGBRestored = strings.Clone(arch), false, 0, 0, 0
	for _, p := range c.cfg.Prices {
		if p.Architecture != arch || (p.Region != "" && p.Region != fn.region) {
			continue
		}
		if !fn.priced || p.Region != "" {
			fn.priced, fn.perReq, fn.perGBs, fn.perGBRestored = true, p.PerRequest, p.PerGBSecond, p.PerGBRestored
		}
	}
}
