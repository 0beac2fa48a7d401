// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package cloudwatch

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-lambda/otelcol-lambda/internal/cloudwatch/cloudwatchtest"
)

var periodEnd = time.Date(2026, 12, 1, 12, 1, 0, 0, time.UTC)

// region and account of cloudwatchtest.ExampleStream, as every converted series carries them.
const regionAccount = "cloud.account.id=123456789012,cloud.region=us-east-1"

// samples flattens md into "name{k=v,...}" -> value, checking on the way that each name is
// one gauge without unit, and that every point has the period's timestamps.
func samples(t *testing.T, md pmetric.Metrics) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			seen := map[string]bool{}
			for _, m := range sm.Metrics().All() {
				require.Equal(t, pmetric.MetricTypeGauge, m.Type(), m.Name())
				require.False(t, seen[m.Name()], "one metric per name: %s", m.Name())
				seen[m.Name()] = true
				assert.Empty(t, m.Unit(), "the unit is in the name already")
				for _, dp := range m.Gauge().DataPoints().All() {
					assert.Equal(t, periodEnd, dp.Timestamp().AsTime(), m.Name())
					assert.Equal(t, periodEnd.Add(-time.Minute), dp.StartTimestamp().AsTime(), m.Name())
					labels := make([]string, 0, dp.Attributes().Len())
					for k, v := range dp.Attributes().All() {
						labels = append(labels, k+"="+v.AsString())
					}
					slices.Sort(labels)
					key := m.Name() + "{" + strings.Join(labels, ",") + "}"
					require.NotContains(t, out, key)
					out[key] = dp.DoubleValue()
				}
			}
		}
	}
	return out
}

func point(namespace, metric, unit string, dims map[string]string, sum float64, count uint64, minimum, maximum float64) cloudwatchtest.Point {
	return cloudwatchtest.Point{Namespace: namespace, MetricName: metric, Unit: unit, Dimensions: dims,
		Sum: sum, Count: count, Min: minimum, Max: maximum, End: periodEnd}
}

func fn(name string) map[string]string { return map[string]string{"FunctionName": name} }

func TestConvert(t *testing.T) {
	tests := []struct {
		name   string
		points []cloudwatchtest.Point
		want   map[string]float64
	}{
		{
			name:   "every statistic of a function's metric",
			points: []cloudwatchtest.Point{point("AWS/Lambda", "Throttles", "Count", fn("orders"), 7, 5, 0, 3)},
			want: map[string]float64{
				"aws_lambda_throttles_sum{" + regionAccount + ",faas.name=orders}":          7,
				"aws_lambda_throttles_sample_count{" + regionAccount + ",faas.name=orders}": 5,
				"aws_lambda_throttles_minimum{" + regionAccount + ",faas.name=orders}":      0,
				"aws_lambda_throttles_maximum{" + regionAccount + ",faas.name=orders}":      3,
			},
		},
		{
			name:   "milliseconds become seconds, the count stays",
			points: []cloudwatchtest.Point{point("AWS/Lambda", "AsyncEventAge", "Milliseconds", fn("orders"), 1500, 4, 20, 900)},
			want: map[string]float64{
				"aws_lambda_async_event_age_seconds_sum{" + regionAccount + ",faas.name=orders}":          1.5,
				"aws_lambda_async_event_age_seconds_sample_count{" + regionAccount + ",faas.name=orders}": 4,
				"aws_lambda_async_event_age_seconds_minimum{" + regionAccount + ",faas.name=orders}":      0.02,
				"aws_lambda_async_event_age_seconds_maximum{" + regionAccount + ",faas.name=orders}":      0.9,
			},
		},
		{
			name:   "microseconds become seconds",
			points: []cloudwatchtest.Point{point("AWS/Custom", "Wait", "Microseconds", nil, 2_000_000, 2, 500_000, 1_500_000)},
			want: map[string]float64{
				"aws_custom_wait_seconds_sum{" + regionAccount + "}":          2,
				"aws_custom_wait_seconds_sample_count{" + regionAccount + "}": 2,
				"aws_custom_wait_seconds_minimum{" + regionAccount + "}":      0.5,
				"aws_custom_wait_seconds_maximum{" + regionAccount + "}":      1.5,
			},
		},
		{
			name: "seconds stay seconds: a queue's oldest message, and its depth without a unit",
			points: []cloudwatchtest.Point{
				point("AWS/SQS", "ApproximateAgeOfOldestMessage", "Seconds", map[string]string{"QueueName": "orders-queue"}, 600, 5, 100, 140),
				point("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Count", map[string]string{"QueueName": "orders-queue"}, 50, 5, 8, 12),
			},
			want: map[string]float64{
				"aws_sqs_approximate_age_of_oldest_message_seconds_sum{" + regionAccount + ",messaging.destination.name=orders-queue}":          600,
				"aws_sqs_approximate_age_of_oldest_message_seconds_sample_count{" + regionAccount + ",messaging.destination.name=orders-queue}": 5,
				"aws_sqs_approximate_age_of_oldest_message_seconds_minimum{" + regionAccount + ",messaging.destination.name=orders-queue}":      100,
				"aws_sqs_approximate_age_of_oldest_message_seconds_maximum{" + regionAccount + ",messaging.destination.name=orders-queue}":      140,
				"aws_sqs_approximate_number_of_messages_visible_sum{" + regionAccount + ",messaging.destination.name=orders-queue}":             50,
				"aws_sqs_approximate_number_of_messages_visible_sample_count{" + regionAccount + ",messaging.destination.name=orders-queue}":    5,
				"aws_sqs_approximate_number_of_messages_visible_minimum{" + regionAccount + ",messaging.destination.name=orders-queue}":         8,
				"aws_sqs_approximate_number_of_messages_visible_maximum{" + regionAccount + ",messaging.destination.name=orders-queue}":         12,
			},
		},
		{
			name: "other units keep their values and get no suffix",
			points: []cloudwatchtest.Point{
				point("AWS/Lambda", "Errors", "None", fn("orders"), 1, 1, 1, 1),
				point("AWS/Kinesis", "IncomingBytes", "Bytes", map[string]string{"StreamName": "s"}, 2048, 2, 1000, 1048),
				point("AWS/Kinesis", "Throughput", "Bytes/Second", nil, 10, 1, 10, 10),
			},
			want: map[string]float64{
				"aws_lambda_errors_sum{" + regionAccount + ",faas.name=orders}":                1,
				"aws_lambda_errors_sample_count{" + regionAccount + ",faas.name=orders}":       1,
				"aws_lambda_errors_minimum{" + regionAccount + ",faas.name=orders}":            1,
				"aws_lambda_errors_maximum{" + regionAccount + ",faas.name=orders}":            1,
				"aws_kinesis_incoming_bytes_sum{" + regionAccount + ",stream_name=s}":          2048,
				"aws_kinesis_incoming_bytes_sample_count{" + regionAccount + ",stream_name=s}": 2,
				"aws_kinesis_incoming_bytes_minimum{" + regionAccount + ",stream_name=s}":      1000,
				"aws_kinesis_incoming_bytes_maximum{" + regionAccount + ",stream_name=s}":      1048,
				"aws_kinesis_throughput_sum{" + regionAccount + "}":                            10,
				"aws_kinesis_throughput_sample_count{" + regionAccount + "}":                   1,
				"aws_kinesis_throughput_minimum{" + regionAccount + "}":                        10,
				"aws_kinesis_throughput_maximum{" + regionAccount + "}":                        10,
			},
		},
		{
			name: "dimensions: alias, executed version and event source mapping",
			points: []cloudwatchtest.Point{
				point("AWS/Lambda", "Invocations", "Count",
					map[string]string{"FunctionName": "orders", "Resource": "orders:live", "ExecutedVersion": "7"}, 3, 3, 1, 1),
				point("AWS/Lambda", "PolledEventCount", "Count",
					map[string]string{"FunctionName": "orders", "EventSourceMappingUUID": "a1b2"}, 9, 1, 9, 9),
			},
			want: map[string]float64{
				"aws_lambda_invocations_sum{" + regionAccount + ",executed_version=7,faas.name=orders,resource=orders:live}":          3,
				"aws_lambda_invocations_sample_count{" + regionAccount + ",executed_version=7,faas.name=orders,resource=orders:live}": 3,
				"aws_lambda_invocations_minimum{" + regionAccount + ",executed_version=7,faas.name=orders,resource=orders:live}":      1,
				"aws_lambda_invocations_maximum{" + regionAccount + ",executed_version=7,faas.name=orders,resource=orders:live}":      1,
				"aws_lambda_polled_event_count_sum{" + regionAccount + ",event_source_mapping_uuid=a1b2,faas.name=orders}":            9,
				"aws_lambda_polled_event_count_sample_count{" + regionAccount + ",event_source_mapping_uuid=a1b2,faas.name=orders}":   1,
				"aws_lambda_polled_event_count_minimum{" + regionAccount + ",event_source_mapping_uuid=a1b2,faas.name=orders}":        9,
				"aws_lambda_polled_event_count_maximum{" + regionAccount + ",event_source_mapping_uuid=a1b2,faas.name=orders}":        9,
			},
		},
		{
			name: "account-level metrics have no faas.name",
			points: []cloudwatchtest.Point{
				point("AWS/Lambda", "ConcurrentExecutions", "Count", nil, 120, 3, 30, 50),
				point("AWS/Lambda", "UnreservedConcurrentExecutions", "Count", nil, 90, 3, 20, 40),
				point("AWS/Lambda", "ConcurrentExecutions", "Count", fn("orders"), 12, 3, 3, 5),
			},
			want: map[string]float64{
				"aws_lambda_concurrent_executions_sum{" + regionAccount + "}":                           120,
				"aws_lambda_concurrent_executions_sample_count{" + regionAccount + "}":                  3,
				"aws_lambda_concurrent_executions_minimum{" + regionAccount + "}":                       30,
				"aws_lambda_concurrent_executions_maximum{" + regionAccount + "}":                       50,
				"aws_lambda_unreserved_concurrent_executions_sum{" + regionAccount + "}":                90,
				"aws_lambda_unreserved_concurrent_executions_sample_count{" + regionAccount + "}":       3,
				"aws_lambda_unreserved_concurrent_executions_minimum{" + regionAccount + "}":            20,
				"aws_lambda_unreserved_concurrent_executions_maximum{" + regionAccount + "}":            40,
				"aws_lambda_concurrent_executions_sum{" + regionAccount + ",faas.name=orders}":          12,
				"aws_lambda_concurrent_executions_sample_count{" + regionAccount + ",faas.name=orders}": 3,
				"aws_lambda_concurrent_executions_minimum{" + regionAccount + ",faas.name=orders}":      3,
				"aws_lambda_concurrent_executions_maximum{" + regionAccount + ",faas.name=orders}":      5,
			},
		},
		{
			name:   "a namespace we know nothing of follows the same rule",
			points: []cloudwatchtest.Point{point("AWS/DynamoDB", "ConsumedReadCapacityUnits", "Count", map[string]string{"TableName": "orders"}, 1, 1, 1, 1)},
			want: map[string]float64{
				"aws_dynamo_db_consumed_read_capacity_units_sum{" + regionAccount + ",table_name=orders}":          1,
				"aws_dynamo_db_consumed_read_capacity_units_sample_count{" + regionAccount + ",table_name=orders}": 1,
				"aws_dynamo_db_consumed_read_capacity_units_minimum{" + regionAccount + ",table_name=orders}":      1,
				"aws_dynamo_db_consumed_read_capacity_units_maximum{" + regionAccount + ",table_name=orders}":      1,
			},
		},
		{
			name: "percentiles, when the stream is configured to send them",
			points: []cloudwatchtest.Point{{Namespace: "AWS/Lambda", MetricName: "Duration", Unit: "Milliseconds", Dimensions: fn("orders"),
				Sum: 3000, Count: 10, Min: 100, Max: 900, Percentiles: map[float64]float64{0.99: 880, 0.999: 899}, End: periodEnd}},
			want: map[string]float64{
				"aws_lambda_duration_seconds_sum{" + regionAccount + ",faas.name=orders}":          3,
				"aws_lambda_duration_seconds_sample_count{" + regionAccount + ",faas.name=orders}": 10,
				"aws_lambda_duration_seconds_minimum{" + regionAccount + ",faas.name=orders}":      0.1,
				"aws_lambda_duration_seconds_maximum{" + regionAccount + ",faas.name=orders}":      0.9,
				"aws_lambda_duration_seconds_p99{" + regionAccount + ",faas.name=orders}":          0.88,
				"aws_lambda_duration_seconds_p99_9{" + regionAccount + ",faas.name=orders}":        0.899,
			},
		},
		{
			name: "a dimension named like a label of ours is prefixed",
			points: []cloudwatchtest.Point{point("MyApp", "Jobs", "Count",
				map[string]string{"Job": "nightly", "Instance": "i-1", "Empty": ""}, 1, 1, 1, 1)},
			want: map[string]float64{
				"aws_my_app_jobs_sum{" + regionAccount + ",dimension_instance=i-1,dimension_job=nightly}":          1,
				"aws_my_app_jobs_sample_count{" + regionAccount + ",dimension_instance=i-1,dimension_job=nightly}": 1,
				"aws_my_app_jobs_minimum{" + regionAccount + ",dimension_instance=i-1,dimension_job=nightly}":      1,
				"aws_my_app_jobs_maximum{" + regionAccount + ",dimension_instance=i-1,dimension_job=nightly}":      1,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, stats := Convert(cloudwatchtest.Metrics(cloudwatchtest.ExampleStream, tt.points...))
			got := samples(t, out)
			require.Len(t, got, len(tt.want), "got %v", slices.Sorted(maps.Keys(got)))
			for k, v := range tt.want {
				require.Contains(t, got, k)
				assert.InDelta(t, v, got[k], 1e-12, k)
			}
			assert.Equal(t, ConvertStats{DataPoints: len(tt.points), Samples: len(tt.want)}, stats)
		})
	}
}

// TestConvertNamedSeries holds the series names issue #18 promises (alerting rules and
// dashboards use them), each from its metric with the unit CloudWatch documents.
func TestConvertNamedSeries(t *testing.T) {
	lambda := func(metric, unit string, dims map[string]string) cloudwatchtest.Point {
		return point("AWS/Lambda", metric, unit, dims, 1, 1, 1, 1)
	}
	queue := map[string]string{"QueueName": "orders-queue"}
	out, _ := Convert(cloudwatchtest.Metrics(cloudwatchtest.ExampleStream,
		lambda("Throttles", "Count", fn("orders")),
		lambda("ConcurrentExecutions", "Count", fn("orders")),
		lambda("UnreservedConcurrentExecutions", "Count", nil),
		lambda("ProvisionedConcurrencySpilloverInvocations", "Count", fn("orders")),
		lambda("AsyncEventAge", "Milliseconds", fn("orders")),
		lambda("AsyncEventsDropped", "Count", fn("orders")),
		lambda("DeadLetterErrors", "Count", fn("orders")),
		lambda("IteratorAge", "Milliseconds", fn("orders")),
		point("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Count", queue, 1, 1, 1, 1),
		point("AWS/SQS", "ApproximateAgeOfOldestMessage", "Seconds", queue, 1, 1, 1, 1),
	))
	names := map[string]bool{}
	for _, m := range out.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().All() {
		names[m.Name()] = true
	}
	for _, want := range []string{
		"aws_lambda_throttles_sum",
		"aws_lambda_concurrent_executions_maximum",
		"aws_lambda_unreserved_concurrent_executions_maximum",
		"aws_lambda_provisioned_concurrency_spillover_invocations_sum",
		"aws_lambda_async_event_age_seconds_maximum",
		"aws_lambda_async_events_dropped_sum",
		"aws_lambda_dead_letter_errors_sum",
		"aws_lambda_iterator_age_seconds_maximum",
		"aws_sqs_approximate_number_of_messages_visible_maximum",
		"aws_sqs_approximate_age_of_oldest_message_seconds_maximum",
	} {
		assert.True(t, names[want], want)
	}
	assert.Len(t, names, 10*4, "four statistics of each")
}

func TestConvertSkips(t *testing.T) {
	good := point("AWS/Lambda", "Throttles", "Count", fn("orders"), 1, 1, 1, 1)
	md := cloudwatchtest.Metrics(cloudwatchtest.ExampleStream,
		good,
		point("", "Throttles", "Count", fn("a"), 1, 1, 1, 1),                     // no namespace
		point("AWS/Lambda", "", "Count", fn("b"), 1, 1, 1, 1),                    // no metric name
		point("AWS/Lambda", "Throttles", "Count", fn("c"), math.NaN(), 1, 1, 1),  // NaN sum
		point("AWS/Lambda", "Throttles", "Count", fn("d"), 1, 1, 1, math.Inf(1)), // infinite maximum
		point("AWS/Lambda", "Throttles", "Count", fn("e"), 0, 0, 0, 0),           // no samples
		point("AWS/Lambda", "-", "Count", fn("f"), 1, 1, 1, 1),                   // no name left
	)
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	ms.At(6).Summary().DataPoints().At(0).SetTimestamp(0) // no timestamp (point "f" is skipped for its name already)
	noTime := ms.AppendEmpty()
	cloudwatchtest.Metrics(cloudwatchtest.ExampleStream, point("AWS/Lambda", "Throttles", "Count", fn("g"), 1, 1, 1, 1)).
		ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).CopyTo(noTime)
	noTime.Summary().DataPoints().At(0).SetTimestamp(0)
	badQuantile := ms.AppendEmpty()
	noTime.CopyTo(badQuantile)
	badQuantile.Summary().DataPoints().At(0).SetTimestamp(pcommon.NewTimestampFromTime(periodEnd))
	badQuantile.Summary().DataPoints().At(0).QuantileValues().At(0).SetQuantile(1.5)
	repeated := ms.AppendEmpty()
	badQuantile.CopyTo(repeated)
	repeated.Summary().DataPoints().At(0).QuantileValues().At(0).SetQuantile(1) // two maxima
	tooManyQuantiles := ms.AppendEmpty()
	badQuantile.CopyTo(tooManyQuantiles)
	qs := tooManyQuantiles.Summary().DataPoints().At(0).QuantileValues()
	qs.RemoveIf(func(pmetric.SummaryDataPointValueAtQuantile) bool { return true })
	for i := 0; i <= MaxQuantiles; i++ { // valid otherwise: increasing, from 0 to 1
		q := qs.AppendEmpty()
		q.SetQuantile(float64(i) / MaxQuantiles)
		q.SetValue(1)
	}
	gauge := ms.AppendEmpty() // CloudWatch writes only summaries
	gauge.SetName("amazonaws.com/AWS/Lambda/Throttles")
	gauge.SetEmptyGauge().DataPoints().AppendEmpty().SetDoubleValue(1)
	gauge.Gauge().DataPoints().AppendEmpty().SetDoubleValue(2)

	out, stats := Convert(md)
	assert.Equal(t, ConvertStats{DataPoints: 1, Skipped: 12, Samples: 4}, stats)
	got := samples(t, out)
	assert.Len(t, got, 4)
	assert.Contains(t, got, "aws_lambda_throttles_sum{"+regionAccount+",faas.name=orders}")

	out, stats = Convert(cloudwatchtest.Metrics(cloudwatchtest.ExampleStream, point("", "", "", nil, 1, 1, 1, 1)))
	assert.Equal(t, ConvertStats{Skipped: 1}, stats)
	assert.Equal(t, 0, out.ResourceMetrics().Len(), "nothing converted, nothing to send")
}

func TestConvertGroupsByName(t *testing.T) {
	other := cloudwatchtest.Stream{AccountID: "210987654321", Region: "eu-west-1", Name: "s"}
	md := cloudwatchtest.Metrics(cloudwatchtest.ExampleStream,
		point("AWS/Lambda", "Throttles", "Count", fn("a"), 1, 1, 1, 1),
		point("AWS/Lambda", "Throttles", "Count", fn("b"), 2, 2, 1, 1))
	cloudwatchtest.Metrics(other, point("AWS/Lambda", "Throttles", "Count", fn("a"), 3, 3, 1, 1)).
		ResourceMetrics().MoveAndAppendTo(md.ResourceMetrics())

	out, stats := Convert(md)
	assert.Equal(t, ConvertStats{DataPoints: 3, Samples: 12}, stats)
	require.Equal(t, 1, out.ResourceMetrics().Len())
	ms := out.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	require.Equal(t, 4, ms.Len(), "one gauge per statistic")
	for _, m := range ms.All() {
		assert.Equal(t, 3, m.Gauge().DataPoints().Len(), m.Name())
	}
	got := samples(t, out)
	assert.Equal(t, 3.0, got["aws_lambda_throttles_sum{cloud.account.id=210987654321,cloud.region=eu-west-1,faas.name=a}"])
	assert.Equal(t, 1.0, got["aws_lambda_throttles_sum{"+regionAccount+",faas.name=a}"])
}

func TestConvertLeavesSourceAlone(t *testing.T) {
	md := cloudwatchtest.Metrics(cloudwatchtest.ExampleStream, point("AWS/Lambda", "IteratorAge", "Milliseconds", fn("a"), 1000, 1, 1000, 1000))
	before := pmetric.NewMetrics()
	md.CopyTo(before)
	md.MarkReadOnly() // a receiver's request may be shared; reading it must not panic
	before.MarkReadOnly()
	Convert(md)
	assert.Equal(t, before, md)
}

func TestConverterResource(t *testing.T) {
	collector := pcommon.NewResource()
	collector.Attributes().PutStr("service.name", "gateway")
	collector.Attributes().PutStr("service.instance.id", "replica-1")
	collector.Attributes().PutStr("service.version", "1.2.3")
	md := cloudwatchtest.Metrics(cloudwatchtest.ExampleStream, point("AWS/Lambda", "Throttles", "Count", fn("a"), 1, 1, 1, 1))

	out, _ := NewConverter(collector, "scope/x").Convert(md)
	rm := out.ResourceMetrics().At(0)
	assert.Equal(t, map[string]any{"service.name": "gateway", "service.instance.id": "replica-1"}, rm.Resource().Attributes().AsRaw(),
		"job and instance as lambda_metrics has them, and nothing that would make a target_info")
	assert.Equal(t, "scope/x", rm.ScopeMetrics().At(0).Scope().Name())

	out, _ = NewConverter(pcommon.NewResource(), "").Convert(md)
	attrs := out.ResourceMetrics().At(0).Resource().Attributes().AsRaw()
	assert.Equal(t, "otelcol-lambda", attrs["service.name"])
	assert.NotEmpty(t, attrs["service.instance.id"])
}

func BenchmarkConvert(b *testing.B) {
	// A request as a stream sends them: many functions, a few metrics each.
	var points []cloudwatchtest.Point
	for i := range 50 {
		for _, m := range []struct{ name, unit string }{{"Throttles", "Count"}, {"ConcurrentExecutions", "Count"}, {"Duration", "Milliseconds"}} {
			points = append(points, point("AWS/Lambda", m.name, m.unit, fn(fmt.Sprintf("function-%d", i)), 10, 5, 1, 4))
		}
	}
	md := cloudwatchtest.Metrics(cloudwatchtest.ExampleStream, points...)
	conv := NewConverter(pcommon.NewResource(), "")
	b.ReportAllocs()
	for b.Loop() {
		conv.Convert(md)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(points)), "ns/point")
}

func TestBatch(t *testing.T) {
	first := cloudwatchtest.Metrics(cloudwatchtest.ExampleStream,
		point("AWS/Lambda", "Throttles", "Count", fn("a"), 1, 1, 1, 1),
		point("", "Throttles", "Count", fn("a"), 1, 1, 1, 1))
	second := cloudwatchtest.Metrics(cloudwatchtest.ExampleStream,
		point("AWS/Lambda", "Throttles", "Count", fn("b"), 2, 2, 1, 1))

	b := NewConverter(pcommon.NewResource(), "").NewBatch()
	assert.Equal(t, ConvertStats{DataPoints: 1, Skipped: 1, Samples: 4}, b.Add(first))
	assert.Equal(t, ConvertStats{DataPoints: 1, Samples: 4}, b.Add(second))
	out, stats := b.Metrics()
	assert.Equal(t, ConvertStats{DataPoints: 2, Skipped: 1, Samples: 8}, stats)
	require.Equal(t, 1, out.ResourceMetrics().Len())
	ms := out.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	require.Equal(t, 4, ms.Len(), "the records of a request share their gauges")
	got := samples(t, out)
	assert.Equal(t, 1.0, got["aws_lambda_throttles_sum{"+regionAccount+",faas.name=a}"])
	assert.Equal(t, 2.0, got["aws_lambda_throttles_sum{"+regionAccount+",faas.name=b}"])
}

// A data point that would lose a dimension, or repeat a series at a timestamp, is skipped
// and counted rather than dropped silently: the first because the label's value would be
// arbitrary, the second because Prometheus refuses a whole write with two samples of one
// series at one timestamp.
func TestBatchSkipsCollidingLabelsAndRepeatedSeries(t *testing.T) {
	stages := map[string]string{"FunctionName": "a", "Stage": "prod", "stage": "dev"}
	first := cloudwatchtest.Metrics(cloudwatchtest.ExampleStream,
		point("AWS/Lambda", "Throttles", "Count", fn("a"), 1, 1, 1, 1),
		point("Custom", "Throttles", "Count", stages, 1, 1, 1, 1))
	// The same series and period again: a retried record, or a metric whose name makes
	// the same series name (throttles, Throttles).
	again := cloudwatchtest.Metrics(cloudwatchtest.ExampleStream,
		point("AWS/Lambda", "throttles", "Count", fn("a"), 5, 5, 1, 1),
		point("AWS/Lambda", "Throttles", "Count", fn("b"), 2, 2, 1, 1))

	b := NewConverter(pcommon.NewResource(), "").NewBatch()
	assert.Equal(t, ConvertStats{DataPoints: 1, Skipped: 1, Samples: 4, LabelCollisions: 1}, b.Add(first))
	assert.Equal(t, ConvertStats{DataPoints: 1, Skipped: 1, Samples: 4, DuplicateSeries: 1}, b.Add(again))
	out, _ := b.Metrics()
	got := samples(t, out)
	assert.Len(t, got, 8)
	assert.Equal(t, 1.0, got["aws_lambda_throttles_sum{"+regionAccount+",faas.name=a}"], "the first one is kept")
	assert.Equal(t, 2.0, got["aws_lambda_throttles_sum{"+regionAccount+",faas.name=b}"])
}
