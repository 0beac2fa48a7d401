// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/metadata"
)

// The memory a request may cost, as a ratio to its body (for a compressed body, to what it
// decompresses to, which max_request_body_size bounds): what the receiver allocates while
// it serves the request, from reading the body to the answer, consumers excluded. Bytes
// allocated bound the peak heap growth from above, whatever the garbage collector does, and
// are the same on every run. README.md, "Limits and validation", gives the figures per
// shape; these bounds leave room above the worst of them.
const (
	// maxAllocPerBodyByte holds for every body that is refused or rejected: the receiver
	// keeps little of it but the body itself (measured: 1.5 to 4.7).
	maxAllocPerBodyByte = 6
	// maxAllocPerEventBodyByte holds for bodies of valid events, whose spans and log
	// records the receiver builds for the pipeline: pdata costs some times the JSON it
	// comes from, most for the smallest events (measured: up to 10.1, for the smallest
	// platform.runtimeDone events Lambda could write, each an invocation span).
	maxAllocPerEventBodyByte = 14
	// allocSlack covers what a request costs whatever its body: the answer, the request's
	// own structures.
	allocSlack = 256 << 10
)

// hostileBody is one of the worst bodies we know for the telemetry path.
type hostileBody struct {
	name string
	body []byte
	// gzip sends the body compressed; size is then what it decompresses to.
	gzip bool
	// events: the body is valid events that become spans and logs.
	events   bool
	wantCode int
}

// hostileBodies fills size bytes with each shape.
func hostileBodies(size int) []hostileBody {
	const ts = `"time":"2024-06-01T12:00:00.000Z"`
	fill := func(prefix, element, suffix string) []byte {
		var b bytes.Buffer
		b.Grow(size)
		b.WriteString(prefix)
		for i := 0; ; i++ {
			next := strings.ReplaceAll(element, "#", strconv.Itoa(i))
			if b.Len()+len(next)+len(suffix)+1 > size {
				break
			}
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(next)
		}
		b.WriteString(suffix)
		return b.Bytes()
	}
	huge := func(prefix, char, suffix string) []byte {
		return []byte(prefix + strings.Repeat(char, (size-len(prefix)-len(suffix))/len(char)) + suffix)
	}
	depth := size / 2
	return []hostileBody{
		{name: "tiny invalid elements", body: fill("[", "0", "]"), wantCode: http.StatusBadRequest},
		{name: "junk strings", body: fill("[", `"`+strings.Repeat("x", 98)+`"`, "]"), wantCode: http.StatusBadRequest},
		{name: "empty objects", body: fill("[", "{}", "]"), wantCode: http.StatusBadRequest},
		{name: "deep nesting", body: []byte(strings.Repeat("[", depth) + strings.Repeat("]", depth)), wantCode: http.StatusBadRequest},
		{name: "deep records", body: fill("[", `{`+ts+`,"type":"function","record":`+strings.Repeat("[", 5000)+strings.Repeat("]", 5000)+`}`, "]"),
			wantCode: http.StatusBadRequest},
		{name: "huge time", body: huge(`[{"type":"function","record":"x","time":"`, "9", `Z"}]`), wantCode: http.StatusBadRequest},
		{name: "huge log line", body: huge(`[{`+ts+`,"type":"function","record":"`, "x", `"}]`), events: true, wantCode: http.StatusOK},
		{name: "huge escaped log line", body: huge(`[{`+ts+`,"type":"function","record":"`, `\n`, `"}]`), events: true, wantCode: http.StatusOK},
		{name: "huge unicode-escaped log line", body: huge(`[{`+ts+`,"type":"function","record":"`, `\u00e9`, `"}]`), events: true, wantCode: http.StatusOK},
		{name: "many keys in a JSON log", body: fill(`[{`+ts+`,"type":"function","record":{`, `"k#":0`, `}}]`), events: true, wantCode: http.StatusOK},
		{name: "many keys in an event", body: fill(`[{`+ts+`,"type":"function","record":"x",`, `"k#":0`, `}]`), events: true, wantCode: http.StatusOK},
		{name: "many tiny log events", body: fill("[", `{`+ts+`,"type":"function","record":""}`, "]"), events: true, wantCode: http.StatusOK},
		{name: "many tiny invocations", body: fill("[", `{`+ts+`,"type":"platform.runtimeDone","record":{"requestId":"#"}}`, "]"),
			events: true, wantCode: http.StatusOK},
		{name: "many unknown events", body: fill("[", `{`+ts+`,"type":"platform.x","record":0}`, "]"), events: true, wantCode: http.StatusOK},
		{name: "many events of no Lambda type", body: fill("[", `{`+ts+`,"type":"x","record":0}`, "]"), wantCode: http.StatusBadRequest},
		{name: "many malformed records", body: fill("[", `{`+ts+`,"type":"platform.start","record":0}`, "]"), wantCode: http.StatusBadRequest},
		{name: "many out-of-range records", body: fill("[", `{`+ts+`,"type":"platform.runtimeDone","record":{"requestId":"r","metrics":{"durationMs":-1}}}`, "]"),
			wantCode: http.StatusBadRequest},
		// Lists that decode into slices: an element of 3 bytes ({}, "") cost 16 to 48, a
		// list as long as the body, however its key is spelled.
		{name: "a record of body-many spans", body: fill(`[{`+ts+`,"type":"platform.runtimeDone","record":{"requestId":"r","spans":[`, "{}", `]}}]`),
			wantCode: http.StatusBadRequest},
		{name: "a record of body-many Spans", body: fill(`[{`+ts+`,"type":"platform.report","record":{"requestId":"r","Spans":[`, "{}", `]}}]`),
			wantCode: http.StatusBadRequest},
		{name: "an extension of body-many events", body: fill(`[{`+ts+`,"type":"platform.extension","record":{"name":"x","state":"Ready","events":[`, `""`, `]}}]`),
			wantCode: http.StatusBadRequest},
		{name: "records of the most spans", body: fill("[", `{`+ts+`,"type":"platform.runtimeDone","record":{"requestId":"#","spans":[`+
			strings.TrimSuffix(strings.Repeat("{},", telemetryapi.MaxRecordListLen), ",")+`]}}`, "]"), wantCode: http.StatusBadRequest},
		{name: "envelope of tiny invalid elements", body: fill(`{"sandbox":{"functionName":"f"},"events":[`, "0", "]}"), wantCode: http.StatusBadRequest},
		{name: "gzip bomb", body: fill("[", "0", "]"), gzip: true, wantCode: http.StatusBadRequest},
		{name: "gzip bomb past the limit", body: bytes.Repeat([]byte(" "), 4*size), gzip: true, wantCode: http.StatusRequestEntityTooLarge},
	}
}

// hostileServer is the telemetry path behind confighttp's layers (decompression, the body
// limit), as the receiver serves it, with consumers that keep nothing.
func hostileServer(tb testing.TB, limit int64) http.Handler {
	cfg := createDefaultConfig().(*Config)
	cfg.HTTP.MaxRequestBodySize = limit
	r, err := newReceiver(cfg, receivertest.NewNopSettings(metadata.Type), time.Now)
	require.NoError(tb, err)
	r.nextTraces, r.nextLogs = consumertest.NewNop(), consumertest.NewNop()
	server, err := cfg.HTTP.ToServer(context.Background(), nil, componenttest.NewNopTelemetrySettings(), r.handler())
	require.NoError(tb, err)
	return jsonErrors(server.Handler)
}

func hostileRequest(tb testing.TB, hb hostileBody, sequence int) *http.Request {
	body := hb.body
	if hb.gzip {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, err := zw.Write(body)
		require.NoError(tb, err)
		require.NoError(tb, zw.Close())
		body = buf.Bytes()
	}
	req := httptest.NewRequest(http.MethodPost, wire.TelemetryPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", jsonContentType)
	if hb.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	sandbox := testSandbox
	sandbox.ExtensionInstanceID = "hostile-" + strconv.Itoa(sequence) // a fresh sandbox: no replay, no duplicates
	wire.Batch{Sandbox: sandbox, Sequence: 1}.SetHeaders(req.Header)
	return req
}

// allocatedBy returns the bytes allocated while f ran.
func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestHostileBodiesCostMemoryInProportion sends each hostile shape at the body size limit
// (4 MiB here, the 20 MiB default scaled down) and checks what serving it allocates, as a
// ratio to the body: the answer is always small JSON, and the memory proportional.
func TestHostileBodiesCostMemoryInProportion(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates some hundred MiB")
	}
	const limit = 4 << 20
	h := hostileServer(t, limit)
	for i, hb := range hostileBodies(limit) {
		t.Run(hb.name, func(t *testing.T) {
			req := hostileRequest(t, hb, i)
			rec := httptest.NewRecorder()
			allocated := allocatedBy(func() { h.ServeHTTP(rec, req) })

			assert.Equal(t, hb.wantCode, rec.Code, "%.300s", rec.Body)
			assert.Less(t, rec.Body.Len(), 16<<10, "the answer is bounded")
			var answer telemetryResponse
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &answer), "%.300s", rec.Body)

			ratio := float64(maxAllocPerBodyByte)
			if hb.events {
				ratio = maxAllocPerEventBodyByte
			}
			size := min(len(hb.body), limit) // a bomb is read up to the limit
			bound := uint64(ratio*float64(size)) + allocSlack
			t.Logf("%-34s %8d body bytes, %10d allocated: %.2f per body byte; %d: a %d-byte answer",
				hb.name, size, allocated, float64(allocated)/float64(size), rec.Code, rec.Body.Len())
			assert.LessOrEqual(t, allocated, bound, "%.2f bytes allocated per body byte", float64(allocated)/float64(size))
		})
	}
}

// BenchmarkHostileBodies reports what each hostile shape allocates per body byte at the
// default body size limit (20 MiB), through the telemetry path behind confighttp:
//
//	go test -run '^$' -bench BenchmarkHostileBodies -benchtime 3x ./receiver/lambdatelemetryreceiver/
func BenchmarkHostileBodies(b *testing.B) {
	const limit = 20 << 20
	h := hostileServer(b, limit)
	for i, hb := range hostileBodies(limit) {
		b.Run(strings.ReplaceAll(hb.name, " ", "_"), func(b *testing.B) {
			size := min(len(hb.body), limit)
			var allocated uint64
			for n := 0; b.Loop(); n++ {
				req := hostileRequest(b, hb, i*1_000_000+n)
				rec := httptest.NewRecorder()
				allocated += allocatedBy(func() { h.ServeHTTP(rec, req) })
				if rec.Code != hb.wantCode {
					b.Fatalf("status %d: %.300s", rec.Code, rec.Body)
				}
			}
			b.ReportMetric(float64(allocated)/float64(b.N)/float64(size), "alloc-B/body-B")
			b.ReportMetric(float64(size), "body-B")
		})
	}
}

// TestReadBodyWithinTheLimit: readBody refuses a body over the limit itself when nothing in
// front of it does, and allocates the announced body once, not in doubling chunks.
func TestReadBodyWithinTheLimit(t *testing.T) {
	tests := []struct {
		name          string
		size          int
		contentLength int64 // -1: unknown
		limit         int64
		wantCode      int
	}{
		{name: "at the limit", size: 100, contentLength: 100, limit: 100, wantCode: http.StatusOK},
		{name: "at the limit, length unknown", size: 100, contentLength: -1, limit: 100, wantCode: http.StatusOK},
		{name: "one past", size: 101, contentLength: 101, limit: 100, wantCode: http.StatusRequestEntityTooLarge},
		{name: "one past, length unknown", size: 101, contentLength: -1, limit: 100, wantCode: http.StatusRequestEntityTooLarge},
		{name: "far past, length unknown", size: 1 << 20, contentLength: -1, limit: 4096, wantCode: http.StatusRequestEntityTooLarge},
		{name: "announced short of what comes", size: 5000, contentLength: 10, limit: 4096, wantCode: http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		// Into a new buffer, and into a reused one larger than the limit (a telemetry
		// request's, from the pool), which must not let more than the limit in.
		for _, reuse := range [][]byte{nil, make([]byte, 0, 2<<20)} {
			t.Run(fmt.Sprintf("%s, reusing %d bytes", tt.name, cap(reuse)), func(t *testing.T) {
				body := bytes.Repeat([]byte("x"), tt.size)
				sent := bytes.NewReader(body)
				req := httptest.NewRequest(http.MethodPost, wire.TelemetryPath, sent)
				req.ContentLength = tt.contentLength
				got, code, err := readBodyInto(reuse, req, tt.limit)
				assert.Equal(t, tt.wantCode, code)
				if tt.wantCode == http.StatusOK {
					require.NoError(t, err)
					assert.Equal(t, body, got)
				} else {
					assert.ErrorIs(t, err, errBodyTooLarge)
					assert.LessOrEqual(t, sent.Size()-int64(sent.Len()), tt.limit+1, "read past the limit")
				}
			})
		}
	}

	const size = 8 << 20
	body := bytes.Repeat([]byte("x"), size)
	req := httptest.NewRequest(http.MethodPost, wire.TelemetryPath, bytes.NewReader(body))
	var got []byte
	allocated := allocatedBy(func() { got, _, _ = readBody(req, 20<<20) })
	assert.Len(t, got, size)
	assert.LessOrEqual(t, allocated, uint64(size+maxBodyPreallocation+64<<10), "the first MiB, then the rest at once")
}
