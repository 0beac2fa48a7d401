// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdametricsconnector

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-lambda/otelcol-lambda/connector/lambdametricsconnector/internal/metadatatest"
)

// TestSelfMetrics: what went to the overflow series, what expired and which flushes failed
// are counted, not only logged.
func TestSelfMetrics(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	h := newHarnessWithSettings(t, metadatatest.NewSettings(tt), func(cfg *Config) {
		cfg.CardinalityLimit = 1
		cfg.MetricsExpiration = time.Minute
	})

	// One function fits; the second function's two spans go to the overflow series.
	h.send(newBatch(fnA).Invocation(inv{RequestID: "a1", Duration: time.Second}),
		newBatch(fnB).Invocation(inv{RequestID: "b1", Duration: time.Second}).Report(report{RequestID: "b1", Duration: 100 * time.Millisecond, MaxMemoryUsedMB: 60}))
	h.flush()
	// The backend refuses one flush.
	h.sink.err = errors.New("backend down")
	h.clock.Add(10 * time.Second)
	require.Error(t, h.c.flush(context.Background()))
	h.sink.err = nil
	// Past metrics_expiration without data, every series expires.
	h.clock.Add(2 * time.Minute)
	h.flush()

	opts := []metricdatatest.Option{metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars()}
	metadatatest.AssertEqualConnectorLambdaMetricsOverflow(t, tt, []metricdata.DataPoint[int64]{{Value: 2}}, opts...)
	metadatatest.AssertEqualConnectorLambdaMetricsFlushFailures(t, tt, []metricdata.DataPoint[int64]{{Value: 1}}, opts...)
	got, err := tt.GetMetric("otelcol_connector_lambda_metrics_series_expired")
	require.NoError(t, err)
	points := got.Data.(metricdata.Sum[int64]).DataPoints
	require.Len(t, points, 1)
	require.Positive(t, points[0].Value, "the function's series expired")
}
