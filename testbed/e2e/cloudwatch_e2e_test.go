// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-lambda/otelcol-lambda/internal/cloudwatch/cloudwatchtest"
)

const firehoseAccessKey = "e2e-firehose-key"

// firehoseAnswer is the body of the receiver's answer, as Firehose reads it.
type firehoseAnswer struct {
	RequestID    string `json:"requestId"`
	Timestamp    int64  `json:"timestamp"`
	ErrorMessage string `json:"errorMessage"`
}

// deliver sends req to the cloudwatch_metric_stream receiver at url as Firehose does, and
// returns the status and the answer, whose request id must be the request's.
func deliver(t *testing.T, url string, req cloudwatchtest.Request, accessKey string, gzipped bool) (int, firehoseAnswer) {
	t.Helper()
	httpReq, err := req.HTTPRequest(url, accessKey, gzipped)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(httpReq)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var answer firehoseAnswer
	require.NoError(t, json.Unmarshal(raw, &answer), "%s", raw)
	assert.Equal(t, req.RequestID, answer.RequestID)
	return resp.StatusCode, answer
}

// TestCloudWatchMetricStreamInPrometheus delivers a CloudWatch metric stream as Firehose
// does (several records per request, gzip, a malformed record among good ones, a bad
// access key) through the gateway with overlays/cloudwatch.yaml into make run's Prometheus:
// every statistic of the Lambda and SQS metrics is exact there, with the period's
// timestamp, a period delivered after a later one is taken (out_of_order_time_window), and
// the series join faas_invocations_total by faas_name, cloud_region and cloud_account_id.
func TestCloudWatchMetricStreamInPrometheus(t *testing.T) {
	cloudwatchAddr := loopbackAddr(t)
	s := startStack(t,
		"OTELCOL_LAMBDA_OVERLAYS=distribution/overlays/cloudwatch.yaml",
		"OTELCOL_LAMBDA_CLOUDWATCH_ENDPOINT="+cloudwatchAddr,
		"OTELCOL_LAMBDA_FIREHOSE_ACCESS_KEY="+firehoseAccessKey,
	)
	url := "http://" + cloudwatchAddr + "/"

	// The function's invocations, as the extension forwards them, in the stream's region and
	// account.
	fn := lambdaFn{name: "e2e-cw-orders", region: "us-east-1", arch: "arm64", memMiB: 256, timeoutMs: 3000, sandbox: "sandbox-cw-1"}
	start := time.Now().Add(-30 * time.Second).Truncate(time.Millisecond)
	sb := newLambdaSandbox(t, fn, start)
	for i := range 4 {
		sb.invocation(invocationSpec{seq: byte(40 + i), requestID: "cw-" + string(rune('a'+i)), dur: 100 * time.Millisecond, cold: i == 0})
	}
	sb.post(s.URL)

	// CloudWatch's periods are minutes behind; the second-to-last one is delivered last.
	latest := time.Now().Truncate(time.Minute).Add(-2 * time.Minute)
	earlier := latest.Add(-time.Minute)
	stream := cloudwatchtest.Stream{AccountID: "123456789012", Region: fn.region, Name: "e2e"}
	function := map[string]string{"FunctionName": fn.name}
	queue := map[string]string{"QueueName": "e2e-cw-queue"}
	point := func(ns, name, unit string, dims map[string]string, sum float64, count uint64, lo, hi float64, end time.Time) cloudwatchtest.Point {
		return cloudwatchtest.Point{Namespace: ns, MetricName: name, Unit: unit, Dimensions: dims, Sum: sum, Count: count, Min: lo, Max: hi, End: end}
	}
	lambda := func(name, unit string, dims map[string]string, sum float64, count uint64, lo, hi float64) pmetric.Metrics {
		return cloudwatchtest.Metrics(stream, point("AWS/Lambda", name, unit, dims, sum, count, lo, hi, latest))
	}
	throttles := lambda("Throttles", "Count", function, 5, 3, 1, 3)
	concurrency := cloudwatchtest.Metrics(stream,
		point("AWS/Lambda", "ConcurrentExecutions", "Count", function, 12, 4, 2, 5, latest),
		point("AWS/Lambda", "UnreservedConcurrentExecutions", "Count", nil, 160, 4, 38, 42, latest))
	async := cloudwatchtest.Metrics(stream,
		point("AWS/Lambda", "AsyncEventAge", "Milliseconds", function, 4500, 3, 500, 2500, latest),
		point("AWS/Lambda", "AsyncEventsDropped", "Count", function, 2, 2, 1, 1, latest),
		point("AWS/Lambda", "DeadLetterErrors", "Count", function, 1, 1, 1, 1, latest))
	streams := cloudwatchtest.Metrics(stream,
		point("AWS/Lambda", "IteratorAge", "Milliseconds", function, 90000, 3, 20000, 40000, latest),
		point("AWS/Lambda", "ProvisionedConcurrencySpilloverInvocations", "Count", function, 6, 2, 2, 4, latest))
	sqs := cloudwatchtest.Metrics(stream,
		point("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Count", queue, 300, 5, 40, 80, latest),
		point("AWS/SQS", "ApproximateAgeOfOldestMessage", "Seconds", queue, 600, 5, 60, 180, latest))

	// A wrong key is refused and its data never arrives.
	refused := cloudwatchtest.Request{RequestID: "cw-refused", Timestamp: time.Now(), Records: [][]byte{
		cloudwatchtest.Record(lambda("Throttles", "Count", map[string]string{"FunctionName": "e2e-cw-refused"}, 9, 9, 1, 1)),
	}}
	status, answer := deliver(t, url, refused, "not-the-key", true)
	require.Equal(t, http.StatusUnauthorized, status, answer.ErrorMessage)
	status, answer = deliver(t, url, refused, "", true)
	require.Equal(t, http.StatusUnauthorized, status, answer.ErrorMessage)

	// Several records per request, gzip, one record of two requests, and a record cut short
	// among good ones: the good ones are delivered and the answer is 200, as a retry
	// would deliver them twice.
	truncated := cloudwatchtest.Record(throttles)
	status, answer = deliver(t, url, cloudwatchtest.Request{RequestID: "cw-1", Timestamp: time.Now(), Records: [][]byte{
		cloudwatchtest.Record(throttles), truncated[:len(truncated)/2], cloudwatchtest.Record(concurrency, async),
	}}, firehoseAccessKey, true)
	require.Equal(t, http.StatusOK, status, answer.ErrorMessage)
	require.Empty(t, answer.ErrorMessage)
	status, answer = deliver(t, url, cloudwatchtest.Request{RequestID: "cw-2", Timestamp: time.Now(), Records: [][]byte{
		cloudwatchtest.Record(streams), cloudwatchtest.Record(sqs),
	}}, firehoseAccessKey, false)
	require.Equal(t, http.StatusOK, status, answer.ErrorMessage)

	fnLabels := `faas_name="` + fn.name + `",cloud_region="us-east-1",cloud_account_id="123456789012"`
	s.eventually(t, `{__name__=~"aws_lambda_.+",`+fnLabels+`}`, map[string]float64{
		"__name__=aws_lambda_throttles_sum":                                              5,
		"__name__=aws_lambda_throttles_sample_count":                                     3,
		"__name__=aws_lambda_throttles_minimum":                                          1,
		"__name__=aws_lambda_throttles_maximum":                                          3,
		"__name__=aws_lambda_concurrent_executions_sum":                                  12,
		"__name__=aws_lambda_concurrent_executions_sample_count":                         4,
		"__name__=aws_lambda_concurrent_executions_minimum":                              2,
		"__name__=aws_lambda_concurrent_executions_maximum":                              5,
		"__name__=aws_lambda_async_event_age_seconds_sum":                                4.5,
		"__name__=aws_lambda_async_event_age_seconds_sample_count":                       3,
		"__name__=aws_lambda_async_event_age_seconds_minimum":                            0.5,
		"__name__=aws_lambda_async_event_age_seconds_maximum":                            2.5,
		"__name__=aws_lambda_async_events_dropped_sum":                                   2,
		"__name__=aws_lambda_async_events_dropped_sample_count":                          2,
		"__name__=aws_lambda_async_events_dropped_minimum":                               1,
		"__name__=aws_lambda_async_events_dropped_maximum":                               1,
		"__name__=aws_lambda_dead_letter_errors_sum":                                     1,
		"__name__=aws_lambda_dead_letter_errors_sample_count":                            1,
		"__name__=aws_lambda_dead_letter_errors_minimum":                                 1,
		"__name__=aws_lambda_dead_letter_errors_maximum":                                 1,
		"__name__=aws_lambda_iterator_age_seconds_sum":                                   90,
		"__name__=aws_lambda_iterator_age_seconds_sample_count":                          3,
		"__name__=aws_lambda_iterator_age_seconds_minimum":                               20,
		"__name__=aws_lambda_iterator_age_seconds_maximum":                               40,
		"__name__=aws_lambda_provisioned_concurrency_spillover_invocations_sum":          6,
		"__name__=aws_lambda_provisioned_concurrency_spillover_invocations_sample_count": 2,
		"__name__=aws_lambda_provisioned_concurrency_spillover_invocations_minimum":      2,
		"__name__=aws_lambda_provisioned_concurrency_spillover_invocations_maximum":      4,
	}, "__name__")
	s.eventually(t, `{__name__=~"aws_lambda_unreserved_concurrent_executions_.+",cloud_account_id="123456789012",cloud_region="us-east-1"}`, map[string]float64{
		"__name__=aws_lambda_unreserved_concurrent_executions_sum":          160,
		"__name__=aws_lambda_unreserved_concurrent_executions_sample_count": 4,
		"__name__=aws_lambda_unreserved_concurrent_executions_minimum":      38,
		"__name__=aws_lambda_unreserved_concurrent_executions_maximum":      42,
	}, "__name__")
	s.eventually(t, `{__name__=~"aws_sqs_.+",messaging_destination_name="e2e-cw-queue"}`, map[string]float64{
		"__name__=aws_sqs_approximate_number_of_messages_visible_sum":             300,
		"__name__=aws_sqs_approximate_number_of_messages_visible_sample_count":    5,
		"__name__=aws_sqs_approximate_number_of_messages_visible_minimum":         40,
		"__name__=aws_sqs_approximate_number_of_messages_visible_maximum":         80,
		"__name__=aws_sqs_approximate_age_of_oldest_message_seconds_sum":          600,
		"__name__=aws_sqs_approximate_age_of_oldest_message_seconds_sample_count": 5,
		"__name__=aws_sqs_approximate_age_of_oldest_message_seconds_minimum":      60,
		"__name__=aws_sqs_approximate_age_of_oldest_message_seconds_maximum":      180,
	}, "__name__")

	// The samples carry the period's time, not the delivery's.
	s.eventually(t, `timestamp(aws_lambda_throttles_sum{`+fnLabels+`})`,
		map[string]float64{"faas_name=" + fn.name: float64(latest.Unix())}, "faas_name")

	// The earlier period arrives after the later one, as a retried delivery can: Prometheus
	// takes it within its out_of_order_time_window, beside the later one.
	status, answer = deliver(t, url, cloudwatchtest.Request{RequestID: "cw-late", Timestamp: time.Now(), Records: [][]byte{
		cloudwatchtest.Record(cloudwatchtest.Metrics(stream, point("AWS/Lambda", "Throttles", "Count", function, 2, 2, 1, 1, earlier))),
	}}, firehoseAccessKey, true)
	require.Equal(t, http.StatusOK, status, answer.ErrorMessage)
	s.eventually(t, `sum_over_time(aws_lambda_throttles_sum{`+fnLabels+`}[10m])`,
		map[string]float64{"faas_name=" + fn.name: 5 + 2}, "faas_name")

	// The join with our RED series: throttles per invocation, by function.
	s.eventually(t, `sum by (faas_name) (faas_invocations_total{`+fnLabels+`})`,
		map[string]float64{"faas_name=" + fn.name: 4}, "faas_name")
	s.eventually(t, `aws_lambda_throttles_sum{`+fnLabels+`} / on (faas_name, cloud_region, cloud_account_id) group_left sum by (faas_name, cloud_region, cloud_account_id) (faas_invocations_total)`,
		map[string]float64{"faas_name=" + fn.name: 5.0 / 4}, "faas_name")
	// Both come from the same gateway replica: the same job and instance.
	s.eventually(t, `count by (job, instance) (aws_lambda_throttles_sum{`+fnLabels+`}) and on (job, instance) count by (job, instance) (faas_invocations_total{`+fnLabels+`})`,
		map[string]float64{"": 1})

	// Nothing of the refused request arrived.
	series, err := s.query(t.Context(), `{__name__=~"aws_.+",faas_name="e2e-cw-refused"}`)
	require.NoError(t, err)
	assert.Empty(t, series)
}
