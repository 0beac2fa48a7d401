// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdametricsconnector

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/connector/spanmetricsconnector"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-lambda/otelcol-lambda/connector/lambdametricsconnector/internal/metadata"
	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv/lambdaconvtest"
	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
)

// benchSpans is what the receiver sends: per request, resourceSpans of `fns` functions (one
// sandbox each) with `perFn` invocation spans each, over 4 routes, 10% errors, 5% cold.
func benchSpans(fns, perFn int) ptrace.Traces {
	td := ptrace.NewTraces()
	routes := []string{"/orders", "/orders/{id}", "/carts", "/carts/{id}"}
	for f := range fns {
		name := fmt.Sprintf("fn-%d", f)
		b := lambdaconvtest.NewBatch(wire.Sandbox{FunctionName: name, FunctionVersion: "12", Region: "eu-west-1", AccountID: "123456789012",
			FunctionARN: "arn:aws:lambda:eu-west-1:123456789012:function:" + name, Architecture: "arm64", MemorySizeMB: 1024,
			TimeoutMs: 30000, ExtensionInstanceID: fmt.Sprintf("2026/11/24/[12]%032x", f)}, t0)
		for i := range perFn {
			span := inv{
				RequestID:  fmt.Sprintf("%08x-0000-4000-8000-%012x", f, i),
				Duration:   time.Duration(i%97+1) * time.Millisecond,
				Attributes: map[string]any{lambdaconv.AttrFaaSTrigger: lambdaconv.TriggerHTTP, lambdaconv.AttrHTTPRoute: routes[i%len(routes)]},
			}
			if i%20 == 0 {
				span.ColdStart = telemetryapi.InitTypeOnDemand
			}
			if i%10 == 3 {
				span.Outcome = lambdaconvtest.FunctionError
			}
			b.Invocation(span)
		}
		b.Traces.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	}
	return td
}

// spanMetricsConfig configures the contrib spanmetrics connector to derive what it can of
// the same metrics: calls and a duration histogram with the same buckets and exemplars, by
// the same span dimensions, cumulative.
func spanMetricsConfig(cardinality int) component.Config {
	cfg := spanmetricsconnector.NewFactory().CreateDefaultConfig().(*spanmetricsconnector.Config)
	for _, d := range []string{lambdaconv.AttrFaaSTrigger, lambdaconv.AttrHTTPRoute, lambdaconv.AttrMessagingSystem,
		lambdaconv.AttrMessagingDestinationName, lambdaconv.AttrErrorType, lambdaconv.AttrFaaSColdstart} {
		cfg.Dimensions = append(cfg.Dimensions, spanmetricsconnector.Dimension{Name: d})
	}
	cfg.Histogram.Explicit = configoptional.Some(spanmetricsconnector.ExplicitHistogramConfig{Buckets: createDefaultConfig().(*Config).Histograms.InvokeDuration})
	cfg.Exemplars.Enabled = true
	cfg.MetricsFlushInterval = time.Hour
	cfg.AggregationCardinalityLimit = cardinality
	return cfg
}

func newSpanMetrics(b *testing.B) connector.Traces {
	set := connectortest.NewNopSettings(spanmetricsconnector.NewFactory().Type())
	set.Resource.Attributes().PutStr("service.instance.id", "bench")
	c, err := spanmetricsconnector.NewFactory().CreateTracesToMetrics(context.Background(), set, spanMetricsConfig(10000), consumertest.NewNop())
	require.NoError(b, err)
	require.NoError(b, c.Start(context.Background(), componenttest.NewNopHost()))
	return c
}

func newLambdaMetrics(b *testing.B) connector.Traces {
	cfg := createDefaultConfig().(*Config)
	cfg.MetricsFlushInterval = time.Hour
	c, err := NewFactory().CreateTracesToMetrics(context.Background(), connectortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	require.NoError(b, err)
	require.NoError(b, c.Start(context.Background(), componenttest.NewNopHost()))
	return c
}

// comparedConnectors are lambda_metrics and contrib's spanmetrics, set to derive what it can
// of the same metrics; make returns one started, which the caller shuts down.
var comparedConnectors = []struct {
	name string
	make func(*testing.B) connector.Traces
}{
	{"lambda_metrics", newLambdaMetrics},
	{"span_metrics", newSpanMetrics},
}

// BenchmarkConsumeTraces compares the cost per span of ConsumeTraces: 10 functions x 100
// invocation spans per request.
func BenchmarkConsumeTraces(b *testing.B) {
	const fns, perFn = 10, 100
	for _, bc := range comparedConnectors {
		b.Run(bc.name, func(b *testing.B) {
			c := bc.make(b)
			b.Cleanup(func() { require.NoError(b, c.Shutdown(context.Background())) })
			td := benchSpans(fns, perFn)
			require.NoError(b, c.ConsumeTraces(context.Background(), td)) // warm: series exist
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := c.ConsumeTraces(context.Background(), td); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*fns*perFn), "ns/span")
		})
	}
}

// BenchmarkFlush is lambda_metrics' flush with the series of 1000 functions x 4 routes live
// and every one of them updated in the interval (the worst case).
func BenchmarkFlush(b *testing.B) {
	h := newHarness(b, nil)
	td := benchSpans(1000, 8)
	b.ReportAllocs()
	for b.Loop() {
		require.NoError(b, h.c.ConsumeTraces(context.Background(), td))
		h.clock.Add(time.Second)
		require.NoError(b, h.c.flush(context.Background()))
	}
}

// BenchmarkMemoryPerSeries measures the heap kept per live invocation key (function x route
// x error x cold start: the series of faas.invocations, faas.errors, faas.invoke_duration
// and faas.coldstarts that key feeds), after a flush for lambda_metrics.
func BenchmarkMemoryPerSeries(b *testing.B) {
	const fns = 2000
	// benchSpans(fns, 40) gives 7 keys per function: 4 routes ok and warm, 1 cold, 2 with errors.
	keys := fns * 7
	for _, bc := range comparedConnectors {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				td := benchSpans(fns, 40)
				c := bc.make(b)
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				require.NoError(b, c.ConsumeTraces(context.Background(), td))
				if lm, ok := c.(*lambdaMetrics); ok {
					require.NoError(b, lm.flush(context.Background()))
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(keys), "B/key")
				runtime.KeepAlive(c)
				// Shut down now, not at the end: a hundred connectors of 14,000 keys each
				// would be held, and each runtime.GC above would scan them all.
				require.NoError(b, c.Shutdown(context.Background()))
				runtime.KeepAlive(td) // the spans were alive before too: only the connector's state counts
			}
		})
	}
}
