// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestHostileFindingsCostMemoryInProportion holds bodies of otelcol.invocation events,
// the smallest that decode, to the bounds of TestHostileBodiesCostMemoryInProportion: a
// finding becomes no span, its state is a fixed array per sandbox, a rejection costs an
// error value without a message, and a number that is no integer is refused without
// encoding/json (whose error cost 11.8 bytes per body byte here).
func TestHostileFindingsCostMemoryInProportion(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates some hundred MiB")
	}
	const limit = 4 << 20
	const ts = `"time":"2024-06-01T12:00:00.000Z"`
	fill := func(element string) []byte {
		var b bytes.Buffer
		b.WriteByte('[')
		for i := 0; ; i++ {
			next := strings.ReplaceAll(element, "#", strconv.Itoa(i))
			if b.Len()+len(next)+2 > limit {
				break
			}
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(next)
		}
		b.WriteByte(']')
		return b.Bytes()
	}
	h := hostileServer(t, limit)
	for i, hb := range []hostileBody{
		{name: "many tiny findings", body: fill(`{` + ts + `,"type":"otelcol.invocation","record":{"requestId":"#","eventSource":{"kind":"k"}}}`),
			events: true, wantCode: http.StatusOK},
		{name: "many findings without a request id", body: fill(`{` + ts + `,"type":"otelcol.invocation","record":{}}`),
			wantCode: http.StatusBadRequest},
		{name: "many findings of a bad kind", body: fill(`{` + ts + `,"type":"otelcol.invocation","record":{"requestId":"r","eventSource":{"kind":"K"}}}`),
			wantCode: http.StatusBadRequest},
		{name: "many malformed findings", body: fill(`{` + ts + `,"type":"otelcol.invocation","record":{"eventSource":{"batchSize":0.5}}}`),
			wantCode: http.StatusBadRequest},
	} {
		t.Run(hb.name, func(t *testing.T) {
			req := hostileRequest(t, hb, 1000+i)
			rec := httptest.NewRecorder()
			allocated := allocatedBy(func() { h.ServeHTTP(rec, req) })
			assert.Equal(t, hb.wantCode, rec.Code, "%.300s", rec.Body)
			ratio := float64(maxAllocPerBodyByte)
			if hb.events {
				ratio = maxAllocPerEventBodyByte
			}
			t.Logf("%-36s %8d body bytes, %10d allocated: %.2f per body byte", hb.name, len(hb.body), allocated, float64(allocated)/float64(len(hb.body)))
			assert.LessOrEqual(t, allocated, uint64(ratio*float64(len(hb.body)))+allocSlack)
		})
	}
}
