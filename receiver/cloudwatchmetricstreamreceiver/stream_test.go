// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package cloudwatchmetricstreamreceiver

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-lambda/otelcol-lambda/internal/cloudwatch/cloudwatchtest"
)

// periodEnd is the end of the one-minute period the test points describe.
var periodEnd = time.Date(2026, 11, 30, 12, 1, 0, 0, time.UTC)

// receivedAt is the receiver's clock in tests: the period is as late as a metric stream's
// usually are, well within max_age.
var receivedAt = periodEnd.Add(3 * time.Minute)

// lambdaStatistics is one metric stream request as CloudWatch writes it: one Lambda metric's
// statistics for each function.
func lambdaStatistics(metricName string, functions ...string) pmetric.Metrics {
	return lambdaStatisticsEnding(periodEnd, metricName, functions...)
}

// lambdaStatisticsEnding is lambdaStatistics for the period that ends at end.
func lambdaStatisticsEnding(end time.Time, metricName string, functions ...string) pmetric.Metrics {
	points := make([]cloudwatchtest.Point, len(functions))
	for i, fn := range functions {
		points[i] = cloudwatchtest.Point{
			Namespace: "AWS/Lambda", MetricName: metricName, Unit: "Count",
			Dimensions: map[string]string{"FunctionName": fn},
			Sum:        7, Count: 3, Min: 1, Max: 4, End: end,
		}
	}
	return cloudwatchtest.Metrics(cloudwatchtest.ExampleStream, points...)
}

// deliveryBody is a delivery request body holding records (their data before base64).
func deliveryBody(requestID string, records ...[]byte) []byte {
	return cloudwatchtest.Request{RequestID: requestID, Timestamp: periodEnd.Add(2 * time.Minute), Records: records}.Body()
}
