// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package pushgw

import (
	"encoding/json"
	"fmt"
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
		{path: "job/x/empty@base64/=", wantJob: "x"}, // an empty value is no label, as in Prometheus
		{path: "job", wantErr: "value for every label"},
		{path: "job/x/a", wantErr: "value for every label"},
		{path: "instance/x", wantErr: "must start with job"},
		{path: "job/", wantErr: "job name must not be empty"},
		{path: "job/x/bad-name/v", wantErr: `invalid label name "bad-name"`},
		{path: "job/x/__meta/v", wantErr: `invalid label name "__meta"`},
		{path: "job/x/a/1/a/2", wantErr: `label "a" appears twice`},
		{path: "job/x/job/y", wantErr: `label "job" appears twice`},
		{path: "job/x/a@base64/!!!", wantErr: "invalid base64"},
		// 0xff and 0xfe separate a series key's parts: a value holding them would collide.
		{path: "job/x/a@base64/Mf95_jI", wantErr: `label "a" in the grouping key is not valid UTF-8`},
		{path: "job@base64/Yf94_jE", wantErr: `label "job" in the grouping key is not valid UTF-8`},
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
	h := Handler{Store: NewStore(3, time.Now)}
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
	assert.Zero(t, h.Store.Len(), "bad pushes store nothing")
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
	body := s.Collect([]KeyValue{StringAttr("faas.name", "fn")})
	if body == nil {
		return nil
	}
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

func at(s *Store, sec int64) { s.now = func() time.Time { return time.Unix(sec, 0) } }

func TestCollectHandsOverIncrementsSinceTheLastCollect(t *testing.T) {
	s := NewStore(100, time.Now)
	at(s, 100)
	h := Handler{Store: s}
	code, _ := do(t, h, "PUT", "/metrics/job/a", "", "# TYPE c counter\nc 1\n# TYPE g gauge\ng 5\n")
	require.Equal(t, 200, code)
	m := encodeMetrics(t, s)
	assert.JSONEq(t, `{"name":"c","sum":{"aggregationTemporality":1,"isMonotonic":true,"dataPoints":[
		{"startTimeUnixNano":"100000000000","timeUnixNano":"100000000000","asDouble":1}]}}`, m["c"])
	assert.JSONEq(t, `{"name":"g","gauge":{"dataPoints":[{"timeUnixNano":"100000000000","asDouble":5}]}}`, m["g"])
	assert.Nil(t, encodeMetrics(t, s), "nothing pushed since the last collect")

	// The running total went from 1 to 4: 3 is owed, from the last collect on. POST and
	// PUT take the series in the body alike; g was not pushed, so it is not sent.
	at(s, 200)
	code, _ = do(t, h, "POST", "/metrics/job/a", "", "# TYPE c counter\nc 4\n")
	require.Equal(t, 200, code)
	m = encodeMetrics(t, s)
	require.Len(t, m, 1)
	assert.JSONEq(t, `{"name":"c","sum":{"aggregationTemporality":1,"isMonotonic":true,"dataPoints":[
		{"startTimeUnixNano":"100000000000","timeUnixNano":"200000000000","asDouble":3}]}}`, m["c"])

	code, _ = do(t, h, "DELETE", "/metrics/job/a", "", "")
	assert.Equal(t, http.StatusAccepted, code)
	assert.Nil(t, encodeMetrics(t, s), "a DELETE owes nothing")
}

// counterOwed pushes the running totals in turn, collecting after those marked, and
// returns the increments handed over.
func counterOwed(t *testing.T, totals []float64, collectAfter map[int]bool) []float64 {
	t.Helper()
	s := NewStore(10, time.Now)
	var got []float64
	collect := func() {
		var req struct {
			ResourceMetrics []struct {
				ScopeMetrics []struct {
					Metrics []struct {
						Sum struct {
							DataPoints []struct{ AsDouble float64 }
						}
					}
				}
			}
		}
		body := s.Collect(nil)
		if body == nil {
			return
		}
		require.NoError(t, json.Unmarshal(body, &req))
		got = append(got, req.ResourceMetrics[0].ScopeMetrics[0].Metrics[0].Sum.DataPoints[0].AsDouble)
	}
	for i, v := range totals {
		require.NoError(t, s.Push("j", nil, fmt.Appendf(nil, "# TYPE c counter\nc %v\n", v)))
		if collectAfter[i] {
			collect()
		}
	}
	collect()
	return got
}

func TestCounterIncrements(t *testing.T) {
	tests := []struct {
		name         string
		totals       []float64
		collectAfter map[int]bool
		want         []float64
	}{
		{"one collect", []float64{1, 2, 5}, nil, []float64{5}},
		{"a collect between pushes", []float64{1, 2, 5}, map[int]bool{0: true}, []float64{1, 4}},
		{"the same total again owes 0", []float64{3, 3}, map[int]bool{0: true}, []float64{3, 0}},
		{"a reset counts from zero", []float64{10, 3, 5}, map[int]bool{0: true}, []float64{10, 5}},
		{"a reset between collects", []float64{10, 12, 2}, map[int]bool{0: true}, []float64{10, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, counterOwed(t, tt.totals, tt.collectAfter))
		})
	}
}

func TestHistogramAndSummaryIncrements(t *testing.T) {
	s := NewStore(100, time.Now)
	at(s, 1)
	push := func(count, b1, b2 int, sum float64) {
		require.NoError(t, s.Push("j", nil, fmt.Appendf(nil, `# TYPE lat histogram
lat_bucket{le="0.1"} %d
lat_bucket{le="1"} %d
lat_bucket{le="+Inf"} %d
lat_sum %v
lat_count %d
# TYPE q summary
q{quantile="0.5"} 0.2
q_sum %v
q_count %d
`, b1, b2, count, sum, count, sum, count)))
	}
	push(6, 2, 5, 3.5)
	m := encodeMetrics(t, s)
	assert.JSONEq(t, `{"name":"lat","histogram":{"aggregationTemporality":1,"dataPoints":[{"startTimeUnixNano":"1000000000",
		"timeUnixNano":"1000000000","count":"6","sum":3.5,"bucketCounts":["2","3","1"],"explicitBounds":[0.1,1]}]}}`, m["lat"])
	assert.JSONEq(t, `{"name":"q","histogram":{"aggregationTemporality":1,"dataPoints":[{"startTimeUnixNano":"1000000000",
		"timeUnixNano":"1000000000","count":"6","sum":3.5,"bucketCounts":["6"],"explicitBounds":[]}]}}`, m["q"])

	at(s, 2)
	push(9, 3, 7, 5)
	m = encodeMetrics(t, s)
	assert.JSONEq(t, `{"name":"lat","histogram":{"aggregationTemporality":1,"dataPoints":[{"startTimeUnixNano":"1000000000",
		"timeUnixNano":"2000000000","count":"3","sum":1.5,"bucketCounts":["1","1","1"],"explicitBounds":[0.1,1]}]}}`, m["lat"])

	push(1, 1, 1, 0.05) // the runtime started again: all of it is owed
	m = encodeMetrics(t, s)
	assert.JSONEq(t, `{"name":"lat","histogram":{"aggregationTemporality":1,"dataPoints":[{"startTimeUnixNano":"2000000000",
		"timeUnixNano":"2000000000","count":"1","sum":0.05,"bucketCounts":["1","0","0"],"explicitBounds":[0.1,1]}]}}`, m["lat"])
}

func TestPushesThatCannotBeTotals(t *testing.T) {
	tests := []struct{ name, first, second, wantMsg string }{
		{"type changes", "# TYPE x counter\nx 1\n", "# TYPE x gauge\nx 1\n", "was pushed as a counter before"},
		{"negative counter", "", "# TYPE x counter\nx -1\n", "a counter is a finite total"},
		{"NaN counter", "", "# TYPE x counter\nx NaN\n", "a counter is a finite total"},
		{"NaN histogram sum", "", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum NaN\nh_count 1\n", "must be finite"},
		{"buckets not cumulative", "", "# TYPE h histogram\nh_bucket{le=\"1\"} 5\nh_bucket{le=\"2\"} 3\nh_bucket{le=\"+Inf\"} 5\nh_sum 1\nh_count 5\n", "never go down"},
		{"count below +Inf", "", "# TYPE h histogram\nh_bucket{le=\"1\"} 5\nh_bucket{le=\"+Inf\"} 9\nh_sum 1\nh_count 2\n", "they are the same number"},
		{"NaN bound", "", "# TYPE h histogram\nh_bucket{le=\"NaN\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", "increasing order"},
		{"a bound twice", "", "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"1.0\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", "increasing order"},
		{"a fractional count", "", "# TYPE s summary\ns_sum 1\ns_count 0.4\n", "a whole number"},
		{"a series twice through the grouping key", "", "# TYPE c counter\nc{job=\"b\"} 5\nc 5\n", "a series twice"},
		{"bounds change", "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
			"# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", "changed its bucket bounds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := Handler{Store: NewStore(10, time.Now)}
			if tt.first != "" {
				code, msg := do(t, h, "PUT", "/metrics/job/a", "", tt.first)
				require.Equal(t, 200, code, msg)
			}
			path := "/metrics/job/b" // types hold across groups
			if tt.name == "bounds change" {
				path = "/metrics/job/a" // bounds, per series
			}
			code, msg := do(t, h, "PUT", path, "", tt.second)
			assert.Equal(t, http.StatusBadRequest, code)
			assert.Contains(t, msg, tt.wantMsg)
		})
	}
}
