// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/metadata"
)

// poolTestLimit is the body limit of the pooled-buffer tests: above the largest buffer the
// pool keeps, so that bodies larger than it pass, and below the bodies refused with 413.
const poolTestLimit = 2 << 20

// pooledRequest is one request of a sandbox's sequence in TestPooledBuffersGiveEachBodyItsOwnOutput.
type pooledRequest struct {
	body     []byte
	gzip     bool
	broken   bool // the client goes away half-way through the body
	wantCode int
}

// sandboxRequests is what one forwarder sends, in order: batches whose invocations span two
// requests (the start in one, its runtimeDone and report in the next, whose trace context
// comes from the sandbox's state), JSON logs whose extras point into the body, a body
// larger than the pool keeps, then small ones reusing buffers, refused bodies in between.
func sandboxRequests(sandbox int) []pooledRequest {
	tracing := func(inv int) string {
		return fmt.Sprintf(`{"type":"X-Amzn-Trace-Id","value":"Root=1-5759e988-bd862e3fe1be46a9%08x;Parent=53995c3f%08x;Sampled=1","spanId":"%016x"}`,
			sandbox*1000+inv, inv, sandbox*1000+inv)
	}
	at := func(inv, ms int) string {
		return fmt.Sprintf(`"time":"2024-06-01T12:%02d:%02d.%03dZ"`, inv/60, inv%60, ms)
	}
	requestID := func(inv int) string { return fmt.Sprintf("s%d-r%d", sandbox, inv) }
	// batch ends invocation inv-1 and starts inv, with logs of pad bytes each.
	batch := func(inv, logs, pad int) []byte {
		var b strings.Builder
		b.WriteString("[")
		if inv > 0 {
			prev := inv - 1
			b.WriteString(`{` + at(prev, 900) + `,"type":"platform.runtimeDone","record":{"requestId":"` + requestID(prev) +
				`","status":"success","metrics":{"durationMs":12.5,"producedBytes":7},"spans":[{"name":"responseLatency","start":"2024-06-01T12:00:00.100Z","durationMs":1}]}},`)
			b.WriteString(`{` + at(prev, 950) + `,"type":"platform.report","record":{"requestId":"` + requestID(prev) +
				`","status":"success","metrics":{"durationMs":13,"billedDurationMs":13,"memorySizeMB":128,"maxMemoryUsedMB":60}}},`)
		}
		b.WriteString(`{` + at(inv, 0) + `,"type":"platform.start","record":{"requestId":"` + requestID(inv) + `","version":"$LATEST","tracing":` + tracing(inv) + `}}`)
		for i := range logs {
			fmt.Fprintf(&b, `,{%s,"type":"function","record":{"message":"m%d-%d-%d","level":"INFO","sandbox":%d,"extra":"%s","nested":{"i":[%d]}}}`,
				at(inv, 100+i%800), sandbox, inv, i, sandbox, strings.Repeat(string(rune('a'+(sandbox+inv+i)%26)), pad), i)
		}
		b.WriteString("]")
		return []byte(b.String())
	}
	large := batch(1, 4000, 300) // some 1.4 MB: larger than a pooled buffer
	return []pooledRequest{
		{body: batch(0, 3, 40), wantCode: http.StatusOK},
		{body: large, wantCode: http.StatusOK},
		{body: batch(2, 2, 10), wantCode: http.StatusOK},
		{body: batch(3, 5000, 500), wantCode: http.StatusRequestEntityTooLarge},
		{body: batch(3, 20, 100), broken: true, wantCode: http.StatusBadRequest},
		{body: batch(3, 1, 5), wantCode: http.StatusOK},
		{body: batch(4, 200, 60), gzip: true, wantCode: http.StatusOK},
		{body: batch(5, 0, 0), wantCode: http.StatusOK},
	}
}

// brokenBody returns part of a body, then fails: a client that went away.
type brokenBody struct{ r io.Reader }

func (b *brokenBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if errors.Is(err, io.EOF) {
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

// pooledServer is the telemetry path behind confighttp's layers, its output in sinks.
func pooledServer(t *testing.T) (http.Handler, *consumertest.TracesSink, *consumertest.LogsSink) {
	cfg := createDefaultConfig().(*Config)
	cfg.HTTP.MaxRequestBodySize = poolTestLimit
	now := func() time.Time { return time.Date(2024, 6, 1, 13, 0, 0, 0, time.UTC) }
	r, err := newReceiver(cfg, receivertest.NewNopSettings(metadata.Type), now)
	require.NoError(t, err)
	traces, logs := new(consumertest.TracesSink), new(consumertest.LogsSink)
	r.nextTraces, r.nextLogs = traces, logs
	server, err := cfg.HTTP.ToServer(context.Background(), nil, componenttest.NewNopTelemetrySettings(), r.handler())
	require.NoError(t, err)
	return jsonErrors(server.Handler), traces, logs
}

// sendPooled sends one request of a sandbox and checks its status.
func sendPooled(t *testing.T, h http.Handler, sandbox, sequence int, pr pooledRequest) {
	body := pr.body
	if pr.gzip {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(body)
		_ = zw.Close()
		body = buf.Bytes()
	}
	var reader io.Reader = bytes.NewReader(body)
	if pr.broken {
		reader = &brokenBody{io.LimitReader(bytes.NewReader(body), int64(len(body)/2))}
	}
	req := httptest.NewRequest(http.MethodPost, wire.TelemetryPath, reader)
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", jsonContentType)
	if pr.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	sb := testSandbox
	sb.ExtensionInstanceID = fmt.Sprintf("pooled-%d", sandbox)
	wire.Batch{Sandbox: sb, Sequence: uint64(sequence)}.SetHeaders(req.Header)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	assert.Equal(t, pr.wantCode, w.Code, "sandbox %d request %d: %.300s", sandbox, sequence, w.Body)
}

// outputBySandbox is each sandbox's output, every payload as JSON, in the order consumed.
func outputBySandbox(t *testing.T, traces *consumertest.TracesSink, logs *consumertest.LogsSink) map[string][]string {
	out := map[string][]string{}
	for _, td := range traces.AllTraces() {
		id, _ := td.ResourceSpans().At(0).Resource().Attributes().Get(lambdaconv.AttrExtensionInstanceID)
		b, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
		require.NoError(t, err)
		out[id.Str()] = append(out[id.Str()], "traces "+string(b))
	}
	for _, ld := range logs.AllLogs() {
		id, _ := ld.ResourceLogs().At(0).Resource().Attributes().Get(lambdaconv.AttrExtensionInstanceID)
		b, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
		require.NoError(t, err)
		out[id.Str()] = append(out[id.Str()], "logs "+string(b))
	}
	return out
}

// TestPooledBuffersGiveEachBodyItsOwnOutput: requests of many sandboxes at once, sharing
// the pooled body buffers and event slices, make exactly what each body makes served
// alone, one request at a time: the same spans (with trace contexts kept from an earlier
// request of the sandbox) and log records, whatever bodies came before (larger than a
// pooled buffer, refused half-read, gzip). Run it with -race.
func TestPooledBuffersGiveEachBodyItsOwnOutput(t *testing.T) {
	const sandboxes = 8
	requests := make([][]pooledRequest, sandboxes)
	for s := range requests {
		requests[s] = sandboxRequests(s)
	}

	// Alone: a fresh receiver, one request at a time.
	h, traces, logs := pooledServer(t)
	for s := range requests {
		for i, pr := range requests[s] {
			sendPooled(t, h, s, i+1, pr)
		}
	}
	want := outputBySandbox(t, traces, logs)
	require.Len(t, want, sandboxes)

	// At once: a sandbox's requests in order, the sandboxes concurrently, twice over so
	// that buffers go round the pool.
	h, traces, logs = pooledServer(t)
	var wg sync.WaitGroup
	for s := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, pr := range requests[s] {
				sendPooled(t, h, s, i+1, pr)
			}
		}()
	}
	wg.Wait()
	got := outputBySandbox(t, traces, logs)
	for id, payloads := range want {
		require.Len(t, got[id], len(payloads), id)
		for i := range payloads {
			if got[id][i] != payloads[i] {
				t.Fatalf("%s payload %d differs:\n got %.400s\nwant %.400s", id, i, got[id][i], payloads[i])
			}
		}
	}
}

// TestWriteAheadLogKeepsEachBodyWhileThePoolReusesIt: in the write-ahead mode each batch is
// logged from the request's pooled body. Batches of many sandboxes at once, none
// acknowledged, are replayed after a kill into the very spans they made: what was logged is
// each body as it was sent, not what a later request wrote into the reused buffer.
func TestWriteAheadLogKeepsEachBodyWhileThePoolReusesIt(t *testing.T) {
	dir := t.TempDir()
	running := startDurable(t, storageHost{storageID: newFileStorage(t, dir)}, receivertest.NewNopSettings(metadata.Type), withWriteAheadLog)
	const sandboxes, batches = 6, 4
	var wg sync.WaitGroup
	for s := range sandboxes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := telemetryClient{t: t, url: running.url}
			for i := range batches {
				// Bodies of different sizes, so that a reused buffer holds another's tail.
				body := `[` + oneInvocation(fmt.Sprintf("s%d-b%d-%s", s, i, strings.Repeat("x", (s*7+i*13)%50)), fmt.Sprintf("%02d", i)) + `]`
				code, answer, _ := client.post(batch(fmt.Sprintf("wal-%d", s), uint64(i+1)), body)
				assert.Equal(t, http.StatusOK, code)
				assert.Equal(t, 3, answer.Accepted)
			}
		}()
	}
	wg.Wait()
	sent := spanIdentities(running.traces.AllTraces())
	require.Len(t, sent, 2*sandboxes*batches, "an invocation and a report span per batch")
	killed := copyStorage(t, dir)
	running.stop()

	restarted := startDurable(t, storageHost{storageID: newFileStorage(t, killed)}, receivertest.NewNopSettings(metadata.Type), withWriteAheadLog)
	assert.Equal(t, sent, spanIdentities(restarted.traces.AllTraces()))
}

// spanIdentities are the spans' type, invocation id, trace and span ids, and times, sorted.
func spanIdentities(traces []ptrace.Traces) []string {
	var out []string
	for _, td := range traces {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, span := range ss.Spans().All() {
					spanType, _ := span.Attributes().Get(lambdaconv.AttrSpanType)
					id, _ := span.Attributes().Get(lambdaconv.AttrFaaSInvocationID)
					out = append(out, fmt.Sprintf("%s %s %s %s %d-%d", spanType.Str(), id.Str(), span.TraceID(), span.SpanID(), span.StartTimestamp(), span.EndTimestamp()))
				}
			}
		}
	}
	slices.Sort(out)
	return out
}
