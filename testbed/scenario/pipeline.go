// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package scenario // import "github.com/otelcol-lambda/otelcol-lambda/testbed/scenario"

import (
	"path/filepath"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
)

// Pipeline is a gateway configuration whose invocation counts the testbed compares:
// otelcol-lambda's own (Ours) or the stock Collector pipeline that counts spans (Stock).
// The comparison scenario (Scenario.Stock) and the gateway benchmark
// (testbed/cmd/gatewaybench, testbed/results/bench.md) both run them from here, so that
// they compare the same two things.
type Pipeline struct {
	// Configs are the gateway's --config files, relative to the repository root.
	Configs []string
	// Count is the counter of invocations the pipeline writes, and Function the label that
	// names the function on it.
	Count, Function string
	// Telemetry says the pipeline takes Telemetry API batches (only otelcol-lambda's does);
	// the stock pipeline sees only the functions' own spans.
	Telemetry bool
}

var (
	// Ours is the distribution as shipped: lambda_telemetry -> lambda_correlation ->
	// lambda_metrics -> prometheus_remote_write.
	Ours = Pipeline{
		Configs: []string{filepath.Join("distribution", "config.yaml")},
		Count:   "faas_invocations_total", Function: "faas_name", Telemetry: true,
	}
	// Stock is the stock pipeline of the same collector release: otlp -> batch ->
	// spanmetrics -> prometheusremotewrite (testbed/bench/stock-pipeline.yaml).
	Stock = Pipeline{
		Configs: []string{filepath.Join("testbed", "bench", "stock-pipeline.yaml")},
		Count:   "traces_span_metrics_calls_total", Function: "service_name",
	}
)

// stockErrorStatus is the status_code label of the stock pipeline's calls of failed spans.
const stockErrorStatus = "STATUS_CODE_ERROR"

// ConfigPaths are the pipeline's configurations under root, then the overlays (paths
// relative to root, or absolute).
func (p Pipeline) ConfigPaths(root string, overlays ...string) []string {
	paths := make([]string, 0, len(p.Configs)+len(overlays))
	for _, c := range append(p.Configs[:len(p.Configs):len(p.Configs)], overlays...) {
		if !filepath.IsAbs(c) {
			c = filepath.Join(root, c)
		}
		paths = append(paths, c)
	}
	return paths
}

// Start starts a gateway of the pipeline: cfg with its Configs set to the pipeline's under
// root and the overlays.
func (p Pipeline) Start(root string, cfg harness.GatewayConfig, overlays ...string) (*harness.Gateway, error) {
	cfg.Configs = p.ConfigPaths(root, overlays...)
	return harness.StartGateway(cfg)
}
