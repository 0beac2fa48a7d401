// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/metadata"
)

// Fuzz input flags.
const (
	fuzzGzip          = 1 << iota // send the body gzip-compressed
	fuzzWrongType                 // send it as text/plain
	fuzzPipelineBusy              // the traces pipeline refuses it for now
	fuzzStopClock                 // do not let a probe interval pass before the request
	fuzzFuzzedHeaders             // send the fuzzed sandbox headers instead of a valid sandbox
)

// Body shapes: how the fuzzed element becomes the body.
const (
	fuzzShapeAsIs     = iota // the element is the body
	fuzzShapeArray           // an array of the element, repeated
	fuzzShapeEnvelope        // an envelope whose events are the element, repeated
	fuzzShapes
)

const (
	// fuzzBodyLimit is the fuzzed server's max_request_body_size: repeated elements reach
	// it, and a gzip body past it is refused after decompression.
	fuzzBodyLimit = 16 << 10
	// fuzzMaxAnswer bounds every answer, whatever the body: a constant, not a function of
	// the number of bad elements. The largest answer names maxListedRejections events
	// with a bounded message each, and a bounded error.
	fuzzMaxAnswer = 16 << 10
)

// FuzzTelemetryHandler sends arbitrary bodies, repeated into arrays or envelopes, gzip or
// not, with arbitrary sandbox headers, to the telemetry path behind confighttp's layers,
// with a pipeline that may refuse. Whatever it sends, the answer must be JSON, at most
// fuzzMaxAnswer bytes, name at most maxListedRejections events, come with a status a
// forwarder knows (200, 400, 413, 415, 503), and carry a message unless it is 200; and
// nothing may panic.
func FuzzTelemetryHandler(f *testing.F) {
	valid := `[` + oneInvocation("r1", "01") + `]`
	f.Add([]byte(valid), uint16(1), uint8(fuzzShapeAsIs), uint8(0), "orders", "7", "us-east-1", "123456789012", "ext-1", "1", "", "128")
	f.Add([]byte(oneInvocation("r2", "02")), uint16(3), uint8(fuzzShapeEnvelope), uint8(0), "orders", "$LATEST", "eu-west-1", "", "x", "3", "", "")
	f.Add([]byte(`{"time":"2024-06-01T12:00:00.000Z","type":"platform.report","record":{"requestId":"r","metrics":{"durationMs":1}}}`),
		uint16(1), uint8(fuzzShapeArray), uint8(fuzzFuzzedHeaders), "f", "1", "ap-south-1", "", "ext-2", "9", "0", "")
	f.Add([]byte(`[1,2,{"time":"x"}]`), uint16(1), uint8(fuzzShapeAsIs), uint8(fuzzFuzzedHeaders), "", "", "", "", "", "x", "a,b", "")
	f.Add([]byte("0"), uint16(60000), uint8(fuzzShapeArray), uint8(0), "orders", "", "", "", "", "", "", "")
	f.Add([]byte(`"junk"`), uint16(9000), uint8(fuzzShapeArray), uint8(fuzzGzip), "orders", "", "", "", "", "", "", "")
	f.Add([]byte(`{"time":"2024-06-01T12:00:00.000Z","type":"platform.runtimeDone","record":{"requestId":"r","metrics":{"durationMs":1e308}}}`),
		uint16(100), uint8(fuzzShapeArray), uint8(0), "orders", "", "", "", "", "", "5,2", "")
	f.Add([]byte(`[[[[[[[[[[[[[[[[[[[[`), uint16(2000), uint8(fuzzShapeAsIs), uint8(0), "orders", "", "", "", "", "", "", "")
	f.Add([]byte(valid), uint16(1), uint8(fuzzShapeAsIs), uint8(fuzzPipelineBusy|fuzzWrongType), "orders", "", "", "", "", "", "", "")
	f.Add([]byte(valid), uint16(1), uint8(fuzzShapeAsIs), uint8(fuzzFuzzedHeaders), "fn\xff", "1 2", "moon", "12", "a/b", "-1", "99", "1e9")
	if scenarios, err := filepath.Glob(filepath.Join("internal", "translator", "testdata", "scenarios", "*.json")); err == nil {
		for _, path := range scenarios {
			var batches []json.RawMessage
			if data, err := os.ReadFile(path); err == nil && json.Unmarshal(data, &batches) == nil {
				for _, b := range batches {
					f.Add([]byte(b), uint16(1), uint8(fuzzShapeAsIs), uint8(0), "", "", "", "", "", "", "", "")
				}
			}
		}
	}

	var busy, probing atomic.Bool
	probeTraces, probeLogs := new(consumertest.TracesSink), new(consumertest.LogsSink)
	traces, err := consumer.NewTraces(func(ctx context.Context, td ptrace.Traces) error {
		if probing.Load() {
			return probeTraces.ConsumeTraces(ctx, td)
		}
		if busy.Load() {
			return errors.New("data refused due to high memory usage")
		}
		return consumertest.NewNop().ConsumeTraces(ctx, td)
	})
	if err != nil {
		f.Fatal(err)
	}
	logs, err := consumer.NewLogs(func(ctx context.Context, ld plog.Logs) error {
		if probing.Load() {
			return probeLogs.ConsumeLogs(ctx, ld)
		}
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
	cfg := createDefaultConfig().(*Config)
	cfg.HTTP.MaxRequestBodySize = fuzzBodyLimit
	clock := newTestClock()
	r, err := newReceiver(cfg, receivertest.NewNopSettings(metadata.Type), clock.Now)
	if err != nil {
		f.Fatal(err)
	}
	r.nextTraces, r.nextLogs = traces, logs
	server, err := cfg.HTTP.ToServer(context.Background(), nil, componenttest.NewNopTelemetrySettings(), r.handler())
	if err != nil {
		f.Fatal(err)
	}
	h := jsonErrors(server.Handler)
	// probe sends a batch that reuses what the request before left in the pooled buffers,
	// and returns what it made: always the same, whatever came before.
	probe := func(tb testing.TB) string {
		probeTraces.Reset()
		probeLogs.Reset()
		probing.Store(true)
		defer probing.Store(false)
		req := httptest.NewRequest(http.MethodPost, wire.TelemetryPath, strings.NewReader(fuzzProbeBody))
		req.Header.Set("Content-Type", jsonContentType)
		sandbox := testSandbox
		sandbox.ExtensionInstanceID = "" // a state of its own each time
		wire.Batch{Sandbox: sandbox}.SetHeaders(req.Header)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
		case http.StatusServiceUnavailable:
			return "" // the gate a busy pipeline closed before
		default:
			tb.Fatalf("the probe batch got %d: %s", rec.Code, rec.Body)
		}
		var out strings.Builder
		for _, td := range probeTraces.AllTraces() {
			b, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
			if err != nil {
				tb.Fatal(err)
			}
			out.Write(b)
		}
		for _, ld := range probeLogs.AllLogs() {
			b, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
			if err != nil {
				tb.Fatal(err)
			}
			out.Write(b)
		}
		return out.String()
	}
	wantProbe := probe(f)
	if wantProbe == "" {
		f.Fatal("the probe batch was not taken")
	}

	f.Fuzz(func(t *testing.T, element []byte, repeat uint16, shape, flags uint8,
		functionName, version, region, account, instance, sequence, reports, memory string,
	) {
		sandbox := testSandbox
		sandbox.ExtensionInstanceID = instance
		body := fuzzBody(element, int(repeat), shape%fuzzShapes, sandbox)

		if flags&fuzzGzip != 0 {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			_, _ = zw.Write(body)
			_ = zw.Close()
			body = buf.Bytes()
		}
		req := httptest.NewRequest(http.MethodPost, wire.TelemetryPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", jsonContentType)
		if flags&fuzzWrongType != 0 {
			req.Header.Set("Content-Type", "text/plain")
		}
		if flags&fuzzGzip != 0 {
			req.Header.Set("Content-Encoding", "gzip")
		}
		if flags&fuzzFuzzedHeaders != 0 {
			for header, value := range map[string]string{
				wire.HeaderFunctionName:              functionName,
				wire.HeaderFunctionVersion:           version,
				wire.HeaderRegion:                    region,
				wire.HeaderAccountID:                 account,
				wire.HeaderFunctionARN:               "arn:aws:lambda:" + region + ":" + account + ":function:" + functionName,
				wire.HeaderExtensionInstanceID:       instance,
				wire.HeaderBatchSequence:             sequence,
				wire.HeaderReportsWithoutRuntimeDone: reports,
				wire.HeaderMemorySizeMB:              memory,
				wire.HeaderDroppedEvents:             sequence,
				wire.HeaderTimeoutMs:                 memory,
			} {
				req.Header.Set(header, value)
			}
		} else {
			b := wire.Batch{Sandbox: sandbox}
			b.Sequence, _ = strconv.ParseUint(sequence, 10, 64)
			b.SetHeaders(req.Header)
			req.Header.Set(wire.HeaderReportsWithoutRuntimeDone, reports)
		}
		busy.Store(flags&fuzzPipelineBusy != 0)
		if flags&fuzzStopClock == 0 {
			clock.Add(probeInterval) // each request may probe a closed gate
		}

		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusServiceUnavailable:
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, truncated(body), rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != jsonContentType {
			t.Fatalf("status %d answered as %q: %s", rec.Code, ct, rec.Body)
		}
		if rec.Body.Len() > fuzzMaxAnswer {
			t.Fatalf("a %d-byte answer to a %d-byte body", rec.Body.Len(), len(body))
		}
		var answer telemetryResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil {
			t.Fatalf("the answer is not JSON: %v: %s", err, rec.Body)
		}
		if len(answer.Rejected) > maxListedRejections || len(answer.Rejected) > answer.RejectedCount {
			t.Fatalf("%d events named, %d counted: %s", len(answer.Rejected), answer.RejectedCount, rec.Body)
		}
		if rec.Code != http.StatusOK && answer.Error == "" {
			t.Fatalf("a %d without a message for %q", rec.Code, truncated(body))
		}
		if rec.Code == http.StatusServiceUnavailable && rec.Header().Get("Retry-After") == "" {
			t.Fatalf("a 503 without Retry-After")
		}
		if got := probe(t); got != "" && got != wantProbe {
			t.Fatalf("after %q, the probe batch made\n%.600s\nnot\n%.600s", truncated(body), got, wantProbe)
		}
	})
}

// fuzzProbeBody is sent after every fuzzed request: an invocation and a JSON log whose
// extras point into the body, both into the pooled buffers the fuzzed request used.
var fuzzProbeBody = `[` + oneInvocation("probe", "01") + `,{"time":"2024-06-01T12:00:01.010Z","type":"function",` +
	`"record":{"message":"probe","requestId":"probe","customer":"c-1","order":{"id":"o-1"}}}]`

// fuzzBody makes the body of one fuzz input: at most twice the body limit.
func fuzzBody(element []byte, repeat int, shape uint8, sandbox wire.Sandbox) []byte {
	if shape == fuzzShapeAsIs {
		return element
	}
	repeat = max(1, min(repeat, (2*fuzzBodyLimit)/(len(element)+1)))
	var b bytes.Buffer
	if shape == fuzzShapeEnvelope {
		head, _ := json.Marshal(wire.Envelope{Sandbox: sandbox, Events: json.RawMessage(`[]`)})
		b.Write(head[:bytes.LastIndex(head, []byte(`[]`))])
	}
	b.WriteString(repeatArray(string(element), repeat))
	if shape == fuzzShapeEnvelope {
		b.WriteByte('}')
	}
	return b.Bytes()
}

func truncated(b []byte) []byte { return b[:min(len(b), 200)] }
