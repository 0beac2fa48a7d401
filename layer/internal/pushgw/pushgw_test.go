// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package pushgw

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/internal/promtext"
)

func TestParseGroupingKey(t *testing.T) {
	tests := []struct {
		path       string
		wantJob    string
		wantLabels []promtext.Label
		wantErr    string
	}{
		{path: "job/orders", wantJob: "orders"},
		{path: "job/orders/region/eu/az/a", wantJob: "orders", wantLabels: []promtext.Label{{Name: "az", Value: "a"}, {Name: "region", Value: "eu"}}},
		{path: "job@base64/b3JkZXJzL2RhaWx5", wantJob: "orders/daily"},
		{path: "job/x/path@base64/L3Zhci90bXA=", wantJob: "x", wantLabels: []promtext.Label{{Name: "path", Value: "/var/tmp"}}},
		{path: "job/x/empty@base64/=", wantJob: "x", wantLabels: []promtext.Label{{Name: "empty", Value: ""}}},
		{path: "job", wantErr: "value for every label"},
		{path: "job/x/a", wantErr: "value for every label"},
		{path: "instance/x", wantErr: "must start with job"},
		{path: "job/", wantErr: "job name must not be empty"},
		{path: "job/x/bad-name/v", wantErr: `invalid label name "bad-name"`},
		{path: "job/x/__meta/v", wantErr: `invalid label name "__meta"`},
		{path: "job/x/a/1/a/2", wantErr: `label "a" appears twice`},
		{path: "job/x/job/y", wantErr: `label "job" appears twice`},
		{path: "job/x/a@base64/!!!", wantErr: "invalid base64"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			job, labels, err := ParseGroupingKey(tt.path)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantJob, job)
			assert.Equal(t, tt.wantLabels, labels)
		})
	}
}

func do(t *testing.T, h http.Handler, method, path, contentType, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func TestHandlerBadInput(t *testing.T) {
	h := Handler{Store: NewStore(3)}
	tests := []struct {
		name, method, path, contentType, body string
		wantCode                              int
		wantMsg                               string
	}{
		{"syntax", "PUT", "/metrics/job/a", "", "x{ 1\n", 400, "line 1"},
		{"timestamp", "PUT", "/metrics/job/a", "", "x 1 1700000000000\n", 400, "must not have timestamps"},
		{"label conflicts with key", "POST", "/metrics/job/a/env/prod", "", "x{env=\"dev\"} 1\n", 400, "conflicts with the grouping key"},
		{"job label conflicts", "PUT", "/metrics/job/a", "", "x{job=\"b\"} 1\n", 400, "conflicts"},
		{"too many series", "PUT", "/metrics/job/a", "", "a 1\nb 1\nc 1\nd 1\n", 400, "too many series"},
		{"protobuf", "PUT", "/metrics/job/a", "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited", "x", 415, "text exposition format"},
		{"method", "GET", "/metrics/job/a", "", "", 405, "use PUT, POST or DELETE"},
		{"path", "PUT", "/push/job/a", "", "x 1\n", 404, "/metrics/job/"},
		{"escaped slash", "PUT", "/metrics/job/a%2Fb", "", "x 1\n", 400, "must be base64 encoded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, msg := do(t, h, tt.method, tt.path, tt.contentType, tt.body)
			assert.Equal(t, tt.wantCode, code)
			assert.Contains(t, msg, tt.wantMsg)
		})
	}
	assert.Zero(t, h.Store.Groups(), "bad pushes store nothing")
}

type otlpRequest struct {
	ResourceMetrics []struct {
		ScopeMetrics []struct {
			Metrics []json.RawMessage
		}
	}
}

func encodeMetrics(t *testing.T, s *Store) map[string]string {
	t.Helper()
	body, ack := s.Encode([]KeyValue{StringAttr("faas.name", "fn")})
	if body == nil {
		return nil
	}
	ack()
	var req otlpRequest
	require.NoError(t, json.Unmarshal(body, &req))
	out := map[string]string{}
	for _, rm := range req.ResourceMetrics {
		for _, m := range rm.ScopeMetrics[0].Metrics {
			var named struct{ Name string }
			require.NoError(t, json.Unmarshal(m, &named))
			out[named.Name] = string(m)
		}
	}
	return out
}

func TestPutPostDelete(t *testing.T) {
	s := NewStore(100)
	s.now = func() time.Time { return time.Unix(100, 0) }
	h := Handler{Store: s}
	code, _ := do(t, h, "PUT", "/metrics/job/a", "", "# TYPE c counter\nc 1\n# TYPE g gauge\ng 5\n")
	require.Equal(t, 200, code)
	m := encodeMetrics(t, s)
	assert.Len(t, m, 2)
	assert.Nil(t, encodeMetrics(t, s), "nothing changed since the last ack")

	// POST replaces only c; g stays.
	s.now = func() time.Time { return time.Unix(200, 0) }
	code, _ = do(t, h, "POST", "/metrics/job/a", "", "# TYPE c counter\nc 4\n")
	require.Equal(t, 200, code)
	m = encodeMetrics(t, s)
	require.Len(t, m, 2)
	assert.JSONEq(t, `{"name":"c","sum":{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[
		{"startTimeUnixNano":"100000000000","timeUnixNano":"200000000000","asDouble":4}]}}`, m["c"])
	assert.JSONEq(t, `{"name":"g","gauge":{"dataPoints":[{"startTimeUnixNano":"0","timeUnixNano":"200000000000","asDouble":5}]}}`, m["g"])

	// PUT replaces the group.
	code, _ = do(t, h, "PUT", "/metrics/job/a", "", "# TYPE c counter\nc 6\n")
	require.Equal(t, 200, code)
	m = encodeMetrics(t, s)
	assert.Len(t, m, 1)

	code, _ = do(t, h, "DELETE", "/metrics/job/a", "", "")
	assert.Equal(t, http.StatusAccepted, code)
	assert.Zero(t, s.Groups())
}

func TestHistogramAndSummaryEncoding(t *testing.T) {
	s := NewStore(100)
	s.now = func() time.Time { return time.Unix(1, 0) }
	require.NoError(t, s.Push("j", nil, []byte(`# TYPE lat histogram
lat_bucket{le="0.1"} 2
lat_bucket{le="1"} 5
lat_bucket{le="+Inf"} 6
lat_sum 3.5
lat_count 6
# TYPE q summary
q{quantile="0.5"} 0.2
q{quantile="0.99"} NaN
q_sum 1
q_count 4
`), true))
	m := encodeMetrics(t, s)
	assert.JSONEq(t, `{"name":"lat","histogram":{"aggregationTemporality":2,"dataPoints":[{"startTimeUnixNano":"1000000000",
		"timeUnixNano":"1000000000","count":"6","sum":3.5,"bucketCounts":["2","3","1"],"explicitBounds":[0.1,1]}]}}`, m["lat"])
	assert.JSONEq(t, `{"name":"q","summary":{"dataPoints":[{"startTimeUnixNano":"1000000000","timeUnixNano":"1000000000",
		"count":"4","sum":1,"quantileValues":[{"quantile":0.5,"value":0.2},{"quantile":0.99,"value":"NaN"}]}]}}`, m["q"])
}

func TestAckDoesNotHideANewerPush(t *testing.T) {
	s := NewStore(100)
	require.NoError(t, s.Push("j", nil, []byte("c 1\n"), true))
	body, ack := s.Encode(nil)
	require.NotNil(t, body)
	require.NoError(t, s.Push("j", nil, []byte("c 2\n"), false))
	ack()
	body, _ = s.Encode(nil)
	assert.NotNil(t, body, "the push after the collection is still to be sent")
}
