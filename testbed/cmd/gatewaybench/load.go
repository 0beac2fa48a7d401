// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/loadgen"
)

// spansPerRequest is what one forwarder flush carries.
const spansPerRequest = 100

// otlpRequests encodes n spans of functions' own SDKs over the given number of functions
// named <prefix>-fn<i>, spansPerRequest to a request, one function per request, as loadgen
// batches for the OTLP/HTTP traces path: one SERVER span per invocation, what a function
// that sends only SDK traces exports. Pipeline A counts them with lambda_metrics' sdk_spans
// (testbed/bench/sdk-spans.yaml), B as spanmetrics calls. Invocation spans as the
// lambda_telemetry receiver makes them would count nothing over OTLP: only its Telemetry API
// path makes those (the Telemetry API load is that path).
//
// The spans carry no request id: with one, lambda_correlation would hold each for its window
// waiting for the platform's invocation span, which an SDK-only function never sends, and
// the benchmark would measure that wait instead of the pipeline (a generic HTTP
// instrumentation's SERVER span has none either). With perSandbox, each request's resource
// also names its own process (process.pid, as the SDKs' process detectors set it), as many
// sandboxes of one function do. The spans end now.
func otlpRequests(n, functions int, prefix string, perSandbox bool) []loadgen.Batch {
	var out []loadgen.Batch
	end := time.Now()
	for sent, req := 0, 0; sent < n; req++ {
		size := min(spansPerRequest, n-sent)
		fn := fmt.Sprintf("%s-fn%d", prefix, req%functions)
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		res := rs.Resource().Attributes()
		res.PutStr(lambdaconv.AttrServiceName, fn)
		res.PutStr(lambdaconv.AttrFaaSName, fn)
		res.PutStr(lambdaconv.AttrFaaSVersion, "$LATEST")
		res.PutStr(lambdaconv.AttrCloudRegion, "eu-west-1")
		res.PutStr(lambdaconv.AttrCloudProvider, lambdaconv.CloudProviderAWS)
		res.PutStr(lambdaconv.AttrCloudPlatform, lambdaconv.CloudPlatformLambda)
		if perSandbox {
			res.PutInt("process.pid", int64(1000+req))
		}
		spans := rs.ScopeSpans().AppendEmpty().Spans()
		for i := range size {
			s := spans.AppendEmpty()
			var tid [16]byte
			copy(tid[:], fmt.Sprintf("%08d%08d", req, i))
			s.SetTraceID(tid)
			s.SetSpanID(pcommon.SpanID{byte(req >> 8), byte(req), byte(i), 1, 2, 3, 4, 5})
			s.SetName(fn)
			s.SetKind(ptrace.SpanKindServer)
			start := end.Add(-time.Duration(20+i%200) * time.Millisecond)
			s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
			s.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
			a := s.Attributes()
			a.PutStr(lambdaconv.AttrFaaSTrigger, lambdaconv.TriggerHTTP)
			a.PutBool(lambdaconv.AttrFaaSColdstart, false)
		}
		body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		if err != nil {
			panic(err) // pdata built above always marshals
		}
		out = append(out, loadgen.Batch{Function: fn, Slot: req, Path: loadgen.TracesPath,
			ContentType: loadgen.ContentTypeProtobuf, Body: body, Spans: size})
		sent += size
	}
	return out
}

// sendAll sends the batches as fast as the workers go (loadgen's max mode), retrying
// refusals: nothing is dropped client-side.
func sendAll(url string, workers int, batches []loadgen.Batch) (loadgen.Stats, error) {
	return loadgen.Send(context.Background(), loadgen.SendConfig{URL: url, Workers: workers, Timeout: 10 * time.Minute,
		Client: client(workers)}, batches)
}

// client keeps a connection per worker alive between requests, as each forwarder does;
// http.DefaultTransport keeps two per host, so more workers would open and close
// connections all the time, and the gateway would pay for it.
func client(workers int) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
}

// benchMix is the Telemetry API load's light mix: a few cold starts and errors besides
// each sandbox's first invocation, nothing that changes how an invocation is counted.
var benchMix = loadgen.Mix{ColdStart: 0.002, Error: 0.01}

// invocationsPerBatch is a busy sandbox's flush in the benchmark.
const invocationsPerBatch = 100

// telemetryFleet is the benchmark's Telemetry API load: Telemetry API events as the
// extension forwards them, one sandbox per batch, over prefix-fn<i>.
func telemetryFleet(o options, prefix string) loadgen.Config {
	return loadgen.Config{Prefix: prefix, Functions: o.functions, Sandboxes: o.sandboxes, Invocations: o.invocations,
		PerBatch: invocationsPerBatch, Mix: benchMix, Seed: 1}
}

// splitWarm returns the fleet's first batches, up to at least warm invocations and at
// least one batch of each of the functions, and the rest. A slot's batches stay in order:
// the warm-up sends its first ones.
func splitWarm(batches []loadgen.Batch, warm, functions int) (head, tail []loadgen.Batch, headInvocations int) {
	seen := map[string]bool{}
	i := 0
	for ; i < len(batches) && (headInvocations < warm || len(seen) < functions); i++ {
		headInvocations += batches[i].Invocations
		seen[batches[i].Function] = true
	}
	return batches[:i], batches[i:], headInvocations
}
