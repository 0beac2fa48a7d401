// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package cloudwatchtest

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
)

var end = time.Date(2026, 12, 1, 12, 1, 0, 0, time.UTC)

func throttles() Point {
	return Point{Namespace: "AWS/Lambda", MetricName: "Throttles", Unit: "Count",
		Dimensions: map[string]string{"Resource": "orders:live", "FunctionName": "orders"},
		Sum:        7, Count: 5, Min: 0, Max: 3, Percentiles: map[float64]float64{0.999: 2.9, 0.99: 2.5}, End: end}
}

func TestMetricsShape(t *testing.T) {
	md := Metrics(ExampleStream, throttles())

	require.Equal(t, 1, md.ResourceMetrics().Len())
	rm := md.ResourceMetrics().At(0)
	assert.Equal(t, map[string]any{
		"cloud.provider":   "aws",
		"cloud.account.id": "123456789012",
		"cloud.region":     "us-east-1",
		"aws.exporter.arn": "arn:aws:cloudwatch:us-east-1:123456789012:metric-stream/otelcol-lambda",
	}, rm.Resource().Attributes().AsRaw())
	m := rm.ScopeMetrics().At(0).Metrics().At(0)
	assert.Equal(t, "amazonaws.com/AWS/Lambda/Throttles", m.Name())
	assert.Equal(t, "{Count}", m.Unit())
	require.Equal(t, pmetric.MetricTypeSummary, m.Type())
	dp := m.Summary().DataPoints().At(0)
	assert.Equal(t, end.Add(-time.Minute), dp.StartTimestamp().AsTime())
	assert.Equal(t, end, dp.Timestamp().AsTime())
	assert.Equal(t, uint64(5), dp.Count())
	assert.Equal(t, 7.0, dp.Sum())
	var quantiles [][2]float64
	for _, q := range dp.QuantileValues().All() {
		quantiles = append(quantiles, [2]float64{q.Quantile(), q.Value()})
	}
	assert.Equal(t, [][2]float64{{0, 0}, {0.99, 2.5}, {0.999, 2.9}, {1, 3}}, quantiles)
	assert.Equal(t, map[string]any{
		"Namespace":  "AWS/Lambda",
		"MetricName": "Throttles",
		"Dimensions": map[string]any{"FunctionName": "orders", "Resource": "orders:live"},
	}, dp.Attributes().AsRaw())
	dims, _ := dp.Attributes().Get("Dimensions")
	var order []string
	for k := range dims.Map().All() {
		order = append(order, k)
	}
	assert.Equal(t, []string{"FunctionName", "Resource"}, order, "sorted, so that requests are reproducible")
}

func TestOTelUnit(t *testing.T) {
	for cw, want := range map[string]string{
		"Seconds": "s", "Milliseconds": "ms", "Microseconds": "us", "Count": "{Count}", "None": "1",
		"Percent": "%", "Bytes": "By", "Kilobits": "kbit", "Bytes/Second": "By/s", "Count/Second": "{Count}/s",
		"Furlongs": "Furlongs",
	} {
		assert.Equal(t, want, OTelUnit(cw), cw)
	}
}

// decodeRecord reads a record the way the receiver must: requests, each after its length.
func decodeRecord(t *testing.T, data []byte) []pmetric.Metrics {
	t.Helper()
	var out []pmetric.Metrics
	for len(data) > 0 {
		n, size := binary.Uvarint(data)
		require.Positive(t, size)
		data = data[size:]
		require.LessOrEqual(t, n, uint64(len(data)))
		req := pmetricotlp.NewExportRequest()
		require.NoError(t, req.UnmarshalProto(data[:n]))
		out = append(out, req.Metrics())
		data = data[n:]
	}
	return out
}

func TestRecordRoundTrip(t *testing.T) {
	first := Metrics(ExampleStream, throttles())
	second := Metrics(Stream{AccountID: "210987654321", Region: "eu-west-1", Name: "other"},
		Point{Namespace: "AWS/SQS", MetricName: "ApproximateAgeOfOldestMessage", Unit: "Seconds",
			Dimensions: map[string]string{"QueueName": "q"}, Sum: 30, Count: 1, Min: 30, Max: 30, End: end})

	got := decodeRecord(t, Record(first, second))
	require.Len(t, got, 2)
	assert.Equal(t, first, got[0])
	assert.Equal(t, second, got[1])
	assert.Empty(t, Record(), "a record of no requests is empty")
}

func TestRequestBody(t *testing.T) {
	records := [][]byte{Record(Metrics(ExampleStream, throttles())), {0xff, 0x00, 'x'}}
	r := Request{RequestID: "ed4acda5-034f-9f42-bba1-f29aea6d7d8f", Timestamp: end, Records: records}

	var body struct {
		RequestID string `json:"requestId"`
		Timestamp int64  `json:"timestamp"`
		Records   []struct {
			Data string `json:"data"`
		} `json:"records"`
	}
	require.NoError(t, json.Unmarshal(r.Body(), &body))
	assert.Equal(t, r.RequestID, body.RequestID)
	assert.Equal(t, end.UnixMilli(), body.Timestamp)
	require.Len(t, body.Records, 2)
	for i, rec := range body.Records {
		data, err := base64.StdEncoding.DecodeString(rec.Data)
		require.NoError(t, err)
		assert.Equal(t, records[i], data)
	}
	assert.Equal(t, Metrics(ExampleStream, throttles()), decodeRecord(t, records[0])[0])
}

func TestHTTPRequest(t *testing.T) {
	r := Request{RequestID: "id-1", Timestamp: end, Records: [][]byte{Record(Metrics(ExampleStream, throttles()))}}
	for _, gzipped := range []bool{false, true} {
		req, err := r.HTTPRequest("http://127.0.0.1:4320/", "secret", gzipped)
		require.NoError(t, err)
		assert.Equal(t, "POST", req.Method)
		assert.Equal(t, "application/json", req.Header.Get("Content-Type"))
		assert.Equal(t, "1.0", req.Header.Get(HeaderProtocolVersion))
		assert.Equal(t, "id-1", req.Header.Get(HeaderRequestID))
		assert.Equal(t, "secret", req.Header.Get(HeaderAccessKey))
		assert.Equal(t, ExampleDeliveryStreamARN, req.Header.Get(HeaderSourceARN))
		body, err := io.ReadAll(req.Body)
		require.NoError(t, err)
		if gzipped {
			assert.Equal(t, "gzip", req.Header.Get("Content-Encoding"))
			zr, err := gzip.NewReader(bytes.NewReader(body))
			require.NoError(t, err)
			body, err = io.ReadAll(zr)
			require.NoError(t, err)
		} else {
			_, set := req.Header["Content-Encoding"]
			assert.False(t, set, "Firehose sends no Content-Encoding without compression")
		}
		assert.Equal(t, r.Body(), body)
	}
	req, err := r.HTTPRequest("http://127.0.0.1:4320/", "", false)
	require.NoError(t, err)
	_, set := req.Header[HeaderAccessKey]
	assert.False(t, set, "no key configured, no header")
}
