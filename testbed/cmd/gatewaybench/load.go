// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
)

// spansPerRequest is what one forwarder flush carries.
const spansPerRequest = 100

// otlpRequests encodes n invocation spans (as the lambda_telemetry receiver makes them, so
// that both pipelines count them) over the given number of functions named
// <runID>-fn<i> (request ids also carry batchID), spansPerRequest to a request, one
// function per request. With
// perSandbox, each request's resource also names its sandbox (faas.instance), as
// forwarded data from many sandboxes of one function does.
func otlpRequests(n, functions int, runID, batchID string, perSandbox bool) [][]byte {
	var out [][]byte
	end := time.Now()
	for sent, req := 0, 0; sent < n; req++ {
		size := min(spansPerRequest, n-sent)
		fn := fmt.Sprintf("%s-fn%d", runID, req%functions)
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		res := rs.Resource().Attributes()
		res.PutStr(lambdaconv.AttrServiceName, fn)
		res.PutStr(lambdaconv.AttrFaaSName, fn)
		res.PutStr(lambdaconv.AttrFaaSVersion, "$LATEST")
		res.PutStr(lambdaconv.AttrCloudRegion, "eu-west-1")
		if perSandbox {
			res.PutStr(lambdaconv.AttrFaaSInstance, fmt.Sprintf("%s-sandbox%d", runID, req))
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
			a.PutStr(lambdaconv.AttrSpanType, lambdaconv.SpanTypeInvocation)
			a.PutStr(lambdaconv.AttrFaaSInvocationID, fmt.Sprintf("%s-%s-%d-%d", runID, batchID, req, i))
			a.PutBool(lambdaconv.AttrFaaSColdstart, false)
			a.PutStr(lambdaconv.AttrStatus, telemetryapi.StatusSuccess)
		}
		body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		if err != nil {
			panic(err) // pdata built above always marshals
		}
		out = append(out, body)
		sent += size
	}
	return out
}

type telemetryBatch struct {
	header http.Header
	body   []byte
}

// invocationsPerBatch is a busy sandbox's flush.
const invocationsPerBatch = 100

// telemetryBatches writes n invocations as the extension forwards them: Telemetry API
// events verbatim (start, runtimeDone, report), one sandbox per batch.
func telemetryBatches(n, functions int, runID, batchID string) []telemetryBatch {
	var out []telemetryBatch
	t0 := time.Now().Add(-time.Hour).UTC()
	for sent, b := 0, 0; sent < n; b++ {
		size := min(invocationsPerBatch, n-sent)
		var sb strings.Builder
		sb.WriteByte('[')
		for i := range size {
			if i > 0 {
				sb.WriteByte(',')
			}
			start := t0.Add(time.Duration(sent+i) * time.Millisecond)
			ts := func(d time.Duration) string { return start.Add(d).Format(telemetryapi.TimeLayout) }
			id := fmt.Sprintf("%s-%s-%d-%d", runID, batchID, b, i)
			fmt.Fprintf(&sb, `{"time":%q,"type":"platform.start","record":{"requestId":%q,"version":"$LATEST"}},`, ts(0), id)
			fmt.Fprintf(&sb, `{"time":%q,"type":"platform.runtimeDone","record":{"requestId":%q,"status":"success","metrics":{"durationMs":41.6,"producedBytes":512},"spans":[{"name":"responseLatency","start":%q,"durationMs":40.1},{"name":"responseDuration","start":%q,"durationMs":1.5}]}},`,
				ts(42*time.Millisecond), id, ts(0), ts(40*time.Millisecond))
			fmt.Fprintf(&sb, `{"time":%q,"type":"platform.report","record":{"requestId":%q,"status":"success","metrics":{"durationMs":43.2,"billedDurationMs":44,"memorySizeMB":512,"maxMemoryUsedMB":87}}}`,
				ts(44*time.Millisecond), id)
		}
		sb.WriteByte(']')
		h := http.Header{}
		wire.Batch{
			Sandbox: wire.Sandbox{
				FunctionName: fmt.Sprintf("%s-fn%d", runID, b%functions), FunctionVersion: "$LATEST",
				Region: "eu-west-1", MemorySizeMB: 512, Architecture: "arm64",
				ExtensionInstanceID: fmt.Sprintf("%s-%s-sandbox%d", runID, batchID, b),
			},
			Sequence: 1,
		}.SetHeaders(h)
		out = append(out, telemetryBatch{header: h, body: []byte(sb.String())})
		sent += size
	}
	return out
}

func batchHeaders(batches []telemetryBatch) []http.Header {
	out := make([]http.Header, len(batches))
	for i, b := range batches {
		out[i] = b.header
	}
	return out
}

func bodies(batches []telemetryBatch) [][]byte {
	out := make([][]byte, len(batches))
	for i, b := range batches {
		out[i] = b.body
	}
	return out
}
