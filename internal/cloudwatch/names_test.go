// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package cloudwatch

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSnakeCase(t *testing.T) {
	for in, want := range map[string]string{
		"Throttles":                      "throttles",
		"ConcurrentExecutions":           "concurrent_executions",
		"UnreservedConcurrentExecutions": "unreserved_concurrent_executions",
		"ApproximateAgeOfOldestMessage":  "approximate_age_of_oldest_message",
		"CPUUtilization":                 "cpu_utilization",
		"EventSourceMappingUUID":         "event_source_mapping_uuid",
		"5XXError":                       "5xx_error",
		"HTTPCode_Target_2XX_Count":      "http_code_target_2xx_count",
		"Ec2Instance":                    "ec2_instance",
		"DynamoDB":                       "dynamo_db",
		"SQS":                            "sqs",
		"MyApp/Orders":                   "my_app_orders",
		"order.latency--p":               "order_latency_p",
		"_Leading and trailing_ ":        "leading_and_trailing",
		"lower":                          "lower",
		"":                               "",
		"/-.":                            "",
	} {
		assert.Equal(t, want, string(appendSnake(nil, in)), in)
	}
}

func TestBaseName(t *testing.T) {
	tests := []struct {
		namespace, metric string
		seconds           bool
		want              string
		ok                bool
	}{
		{"AWS/Lambda", "Throttles", false, "aws_lambda_throttles", true},
		{"AWS/Lambda", "IteratorAge", true, "aws_lambda_iterator_age_seconds", true},
		{"AWS/SQS", "ApproximateAgeOfOldestMessage", true, "aws_sqs_approximate_age_of_oldest_message_seconds", true},
		{"AWS/ApplicationELB", "TargetResponseTime", true, "aws_application_elb_target_response_time_seconds", true},
		{"CWAgent", "mem_used_percent", false, "aws_cw_agent_mem_used_percent", true},
		{"MyApp", "LatencySeconds", true, "aws_my_app_latency_seconds", true},
		{"AWS/", "Throttles", false, "", false},
		{"AWS/Lambda", "--", false, "", false},
	}
	for _, tt := range tests {
		got, ok := appendBaseName(nil, tt.namespace, tt.metric, tt.seconds)
		assert.Equal(t, tt.ok, ok, tt.namespace+" "+tt.metric)
		if tt.ok {
			assert.Equal(t, tt.want, string(got))
		}
	}
}

func TestPercentileSuffix(t *testing.T) {
	for q, want := range map[float64]string{0.99: "p99", 0.999: "p99_9", 0.95: "p95", 0.5: "p50", 0.9999: "p99_99", 0.001: "p0_1"} {
		assert.Equal(t, want, string(appendPercentile(nil, q)))
	}
}

func TestLabelOf(t *testing.T) {
	for in, want := range map[string]string{
		"FunctionName":           "faas.name",
		"QueueName":              "messaging.destination.name",
		"Resource":               "resource",
		"ExecutedVersion":        "executed_version",
		"EventSourceMappingUUID": "event_source_mapping_uuid",
		"TableName":              "table_name",
		"Job":                    "dimension_job",
		"instance":               "dimension_instance",
		"CloudRegion":            "dimension_cloud_region",
		"faas_name":              "dimension_faas_name",
		"le":                     "dimension_le",
		"Quantile":               "dimension_quantile",
		"OtelScopeName":          "dimension_otel_scope_name",
		"otel_scope_schema_url":  "dimension_otel_scope_schema_url",
		"Level":                  "level",
		"--":                     "dimension",
	} {
		assert.Equal(t, want, string(appendLabelOf(nil, in)), in)
	}
}
