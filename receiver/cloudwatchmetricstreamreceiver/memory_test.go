// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package cloudwatchmetricstreamreceiver

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otelcol-lambda/otelcol-lambda/internal/cloudwatch/cloudwatchtest"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/cloudwatchmetricstreamreceiver/internal/metadata"
)

// memoryTestBodyBytes is the size of the bodies the memory tests send: large enough that
// the request's own costs dominate the receiver's fixed ones.
const memoryTestBodyBytes = 2 << 20

// heapAtConsume records the live heap when the pipeline is handed a request's output: the
// body, its records and the output are all held then, so it is the request's peak.
type heapAtConsume struct{ live uint64 }

func (h *heapAtConsume) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (h *heapAtConsume) ConsumeMetrics(_ context.Context, md pmetric.Metrics) error {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(md)
	h.live = ms.HeapAlloc
	return nil
}

// requestCost is what one request cost the receiver, per byte of its body.
type requestCost struct {
	status int
	// allocatedPerByte is every byte allocated while serving it.
	allocatedPerByte float64
	// livePerByte is the heap held when the output was handed to the pipeline, above what
	// was held before; 0 when nothing was.
	livePerByte float64
}

func serveMeasured(t *testing.T, body []byte) requestCost {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.AccessKey = testAccessKey
	next := &heapAtConsume{}
	r, err := newReceiver(cfg, receivertest.NewNopSettings(metadata.Type), next)
	require.NoError(t, err)
	r.now = func() time.Time { return receivedAt }
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("Content-Type", jsonContentType)
	req.Header.Set(headerAccessKey, testAccessKey)
	w := httptest.NewRecorder()

	runtime.GC() // twice: what sync.Pools held (encoding/json's buffers) is freed by the second
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r.ServeHTTP(w, req)
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(body) // held before, so held at consume too: only the request's own cost counts
	cost := requestCost{status: w.Code, allocatedPerByte: float64(after.TotalAlloc-before.TotalAlloc) / float64(len(body))}
	if next.live > before.HeapAlloc {
		cost.livePerByte = float64(next.live-before.HeapAlloc) / float64(len(body))
	}
	t.Logf("%d-byte body: %d, %.1f bytes allocated and %.1f held per byte", len(body), cost.status, cost.allocatedPerByte, cost.livePerByte)
	return cost
}

// recordsOf splits a record's worth of bytes to fill memoryTestBodyBytes.
func recordsOf(record []byte) [][]byte {
	records := make([][]byte, memoryTestBodyBytes*3/4/len(record)+1)
	for i := range records {
		records[i] = record
	}
	return records
}

// realisticBody is a request as a metric stream sends it: Lambda statistics, one
// FunctionName dimension each, 500 data points a record.
func realisticBody() []byte {
	var records [][]byte
	size, function := 0, 0
	for size < memoryTestBodyBytes*3/4 {
		points := make([]cloudwatchtest.Point, 500)
		for i := range points {
			function++
			points[i] = cloudwatchtest.Point{Namespace: "AWS/Lambda", MetricName: "Throttles", Unit: "Count",
				Dimensions: map[string]string{"FunctionName": fmt.Sprintf("fn-%07d", function)}, Sum: 1, Count: 1, Max: 1, End: periodEnd}
		}
		record := cloudwatchtest.Record(cloudwatchtest.Metrics(cloudwatchtest.ExampleStream, points...))
		records = append(records, record)
		size += len(record)
	}
	return deliveryBody("realistic", records...)
}

// manyQuantiles is one data point with 30 dimensions and as many quantiles as a record
// holds: each quantile would become a sample with all 30 labels.
func manyQuantiles() []byte {
	md := pmetric.NewMetrics()
	dp := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptySummary().DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.NewTimestampFromTime(periodEnd))
	dp.SetCount(1)
	dp.Attributes().PutStr("Namespace", "N")
	dp.Attributes().PutStr("MetricName", "M")
	dims := dp.Attributes().PutEmptyMap("Dimensions")
	for i := range 30 {
		dims.PutStr(fmt.Sprintf("D%02d", i), "v")
	}
	n := memoryTestBodyBytes * 3 / 4 / 20 // a quantile is about 20 bytes of protobuf
	for i := range n {
		q := dp.QuantileValues().AppendEmpty()
		q.SetQuantile(float64(i) / float64(n))
		q.SetValue(1)
	}
	return deliveryBody("quantiles", cloudwatchtest.Record(md))
}

// The shapes that made a few KiB of gzip take gigabytes cost a bounded multiple of what a
// metric stream's own requests cost per byte: zero-length messages are refused, messages
// per record and quantiles per point are bounded, and the whole request is converted into
// one output. The heap a shape holds at its peak is measured only when it reaches the
// pipeline; the others hold at most the body, its records and one record's messages.
// Messages that each hold an empty resource are the costliest shape left in allocations
// (about 5 times a realistic request, measured), none of which is held.
func TestAttackShapesCostNoMoreThanARealisticRequest(t *testing.T) {
	realistic := serveMeasured(t, realisticBody())
	require.Equal(t, http.StatusOK, realistic.status)
	require.Positive(t, realistic.livePerByte)

	emptyMessage := []byte{0x00}
	tinyMessage := []byte{0x02, 0x0a, 0x00} // one empty ResourceMetrics: the smallest message that is not empty
	shapes := map[string][]byte{
		"zero-length messages":           deliveryBody("zeros", make([]byte, memoryTestBodyBytes*3/4)),
		"a zero-length message a record": deliveryBody("tiny records", recordsOf(emptyMessage)[:memoryTestBodyBytes/len(`{"data":"AA=="},`)]...),
		"tiny messages":                  bytes.Repeat(tinyMessage, 1), // replaced below
		"many quantiles":                 manyQuantiles(),
	}
	shapes["tiny messages"] = deliveryBody("tiny", recordsOf(bytes.Repeat(tinyMessage, maxMessagesPerRecord))...)
	for name, body := range shapes {
		t.Run(name, func(t *testing.T) {
			cost := serveMeasured(t, body)
			assert.LessOrEqual(t, cost.allocatedPerByte, 8*realistic.allocatedPerByte, "allocated per byte, against a realistic request")
			assert.LessOrEqual(t, cost.livePerByte, realistic.livePerByte, "held per byte, against a realistic request")
		})
	}
}
