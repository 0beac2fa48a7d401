// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/confmap"
	"go.yaml.in/yaml/v3"

	"github.com/otelcol-lambda/otelcol-lambda/connector/lambdametricsconnector"
)

// invokeDurationBounds are the bucket boundaries of faas_invoke_duration_seconds that the
// shipped gateway writes: the connector's defaults, or what the gateway's config file sets
// in connectors::lambda_metrics::histograms. None (nil) when it writes native histograms
// only, which have no fixed boundaries.
func invokeDurationBounds(configPath string) ([]time.Duration, error) {
	cfg := lambdametricsconnector.NewFactory().CreateDefaultConfig().(*lambdametricsconnector.Config)
	data, err := os.ReadFile(configPath)
	if err != nil {
		return nil, err
	}
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", configPath, err)
	}
	hist, err := confmap.NewFromStringMap(raw).Sub("connectors::lambda_metrics::histograms")
	if err != nil {
		return nil, fmt.Errorf("%s: connectors::lambda_metrics::histograms: %w", configPath, err)
	}
	if err := hist.Unmarshal(&cfg.Histograms); err != nil {
		return nil, fmt.Errorf("%s: connectors::lambda_metrics::histograms: %w", configPath, err)
	}
	if cfg.Histograms.Exponential != nil {
		// Native histograms only: histogram_fraction takes any threshold.
		return nil, nil
	}
	return cfg.Histograms.InvokeDuration, nil
}

// leLabel is the le label value the Prometheus remote-write exporter gives a bound.
func leLabel(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}
