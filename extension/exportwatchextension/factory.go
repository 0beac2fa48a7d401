// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package exportwatchextension // import "github.com/otelcol-lambda/otelcol-lambda/extension/exportwatchextension"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"

	"github.com/otelcol-lambda/otelcol-lambda/extension/exportwatchextension/internal/metadata"
)

// NewFactory creates a factory for the export_watch extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, createDefaultConfig, createExtension, metadata.ExtensionStability)
}

func createDefaultConfig() component.Config {
	return &Config{
		// Well under Kubernetes' default 30s grace period, and long enough for a healthy
		// backend to take a full queue of batches.
		DrainTimeout: 15 * time.Second,
		LogInterval:  time.Minute,
	}
}

func createExtension(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newExportWatch(set, cfg.(*Config))
}
