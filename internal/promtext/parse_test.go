// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package promtext

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []Family
	}{
		{
			name: "counter and gauge with help",
			text: "# HELP jobs_total Jobs done.\n# TYPE jobs_total counter\njobs_total{queue=\"a\"} 3\njobs_total{queue=\"b\"} 4 1700000000000\n" +
				"# TYPE temp gauge\ntemp -1.5e3\n",
			want: []Family{
				{Name: "jobs_total", Help: "Jobs done.", Type: Counter, Metrics: []Metric{
					{Labels: []Label{{"queue", "a"}}, Value: 3},
					{Labels: []Label{{"queue", "b"}}, Value: 4, TimestampMs: 1700000000000, HasTimestamp: true},
				}},
				{Name: "temp", Type: Gauge, Metrics: []Metric{{Value: -1500}}},
			},
		},
		{
			name: "untyped without TYPE line, comments and blank lines",
			text: "# a comment\n\nup 1\r\n  other:metric{a=\"x\",} 2\n",
			want: []Family{
				{Name: "up", Metrics: []Metric{{Value: 1}}},
				{Name: "other:metric", Metrics: []Metric{{Labels: []Label{{"a", "x"}}, Value: 2}}},
			},
		},
		{
			name: "histogram grouped per label set, buckets sorted",
			text: "# TYPE lat histogram\nlat_bucket{le=\"1\",op=\"r\"} 2\nlat_bucket{op=\"r\",le=\"+Inf\"} 5\nlat_bucket{op=\"r\",le=\"0.5\"} 1\n" +
				"lat_sum{op=\"r\"} 7.5\nlat_count{op=\"r\"} 5\nlat_count{op=\"w\"} 0\n",
			want: []Family{{Name: "lat", Type: Histogram, Metrics: []Metric{
				{
					Labels:  []Label{{"op", "r"}},
					Buckets: []Bucket{{0.5, 1}, {1, 2}, {math.Inf(1), 5}},
					Sum:     7.5, HasSum: true, Count: 5, HasCount: true,
				},
				{Labels: []Label{{"op", "w"}}, Count: 0, HasCount: true},
			}}},
		},
		{
			name: "summary",
			text: "# TYPE rpc summary\nrpc{quantile=\"0.99\"} 9\nrpc{quantile=\"0.5\"} 1\nrpc_sum 20\nrpc_count 10\n",
			want: []Family{{Name: "rpc", Type: Summary, Metrics: []Metric{{
				Quantiles: []Quantile{{0.5, 1}, {0.99, 9}},
				Sum:       20, HasSum: true, Count: 10, HasCount: true,
			}}}},
		},
		{
			name: "escapes in label values and help",
			text: "# HELP m a \\\\ b\\nc\nm{path=\"C:\\\\x\",q=\"say \\\"hi\\\"\",nl=\"a\\nb\"} 1\n",
			want: []Family{{Name: "m", Help: "a \\ b\nc", Metrics: []Metric{{
				Labels: []Label{{"nl", "a\nb"}, {"path", `C:\x`}, {"q", `say "hi"`}}, Value: 1,
			}}}},
		},
		{
			name: "special values",
			text: "a +Inf\nb -Inf\n",
			want: []Family{
				{Name: "a", Metrics: []Metric{{Value: math.Inf(1)}}},
				{Name: "b", Metrics: []Metric{{Value: math.Inf(-1)}}},
			},
		},
		{
			name: "HELP and TYPE without samples are dropped",
			text: "# HELP lonely nothing here\n# TYPE lonely counter\n",
			want: []Family{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.text))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseNaN(t *testing.T) {
	got, err := Parse([]byte("x NaN\n"))
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.True(t, math.IsNaN(got[0].Metrics[0].Value))
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		wantErr string
	}{
		{"bad name", "9x 1\n", "line 1: invalid metric name"},
		{"no value", "x\n", "line 1: expected a value after metric x"},
		{"bad value", "x one\n", `invalid value "one"`},
		{"bad timestamp", "x 1 soon\n", `invalid timestamp "soon"`},
		{"trailing text", "x 1 2 3\n", "unexpected text after the value"},
		{"unterminated label", "x{a=\"b} 1\n", `unterminated value of label "a"`},
		{"label without quotes", "x{a=b} 1\n", `expected '"' to start the value of label "a"`},
		{"missing comma", "x{a=\"1\" b=\"2\"} 1\n", `expected ',' or '}'`},
		{"reserved label", "x{__name__=\"y\"} 1\n", "reserved"},
		{"duplicate label", "x{a=\"1\",a=\"2\"} 1\n", `duplicate label "a"`},
		{"duplicate sample", "x{a=\"1\"} 1\nx{a=\"1\"} 2\n", "line 2: duplicate sample"},
		{"second TYPE", "# TYPE x counter\n# TYPE x gauge\n", "second TYPE line"},
		{"TYPE after samples", "x 1\n# TYPE x counter\n", "TYPE reported after samples"},
		{"unknown type", "# TYPE x meter\n", `unknown metric type "meter"`},
		{"second HELP", "# HELP x a\n# HELP x b\n", "second HELP line"},
		{"bucket without le", "# TYPE h histogram\nh_bucket 1\n", `has no "le" label`},
		{"bad le", "# TYPE h histogram\nh_bucket{le=\"big\"} 1\n", "invalid le label value"},
		{"histogram plain sample", "# TYPE h histogram\nh 1\n", "without _bucket, _sum or _count"},
		{"quantile missing", "# TYPE s summary\ns 1\n", `has no "quantile" label`},
		{"bad escape in label", "x{a=\"\\q\"} 1\n", "invalid escape sequence"},
		{"value glued to labels", "x{a=\"1\"}1\n", "unexpected text"},
		{"label value not UTF-8", "x{a=\"1\xffy\"} 1\n", `the value of label "a" is not valid UTF-8`},
		{"empty label is no label", "x{a=\"\"} 1\nx 2\n", "line 2: duplicate sample"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.text))
			require.Error(t, err)
			var perr *ParseError
			require.ErrorAs(t, err, &perr)
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestValidNames(t *testing.T) {
	assert.True(t, ValidMetricName("a:b_c9"))
	assert.False(t, ValidMetricName("9a"))
	assert.False(t, ValidMetricName(""))
	assert.True(t, ValidLabelName("_x9"))
	assert.False(t, ValidLabelName("a:b"))
}
