// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package filestoragetest starts the real file_storage extension for tests: the storage the
// gateway runs with, so that what a test writes and a "killed" process leaves on disk is
// what production would.
package filestoragetest // import "github.com/otelcol-lambda/otelcol-lambda/internal/filestoragetest"

import (
	"context"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// ID is the id the extension is started with, as the distribution names it.
var ID = component.MustNewID("file_storage")

// New starts file_storage on dir and shuts it down when the test ends.
func New(t testing.TB, dir string) storage.Extension {
	t.Helper()
	factory := filestorage.NewFactory()
	cfg := factory.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory, cfg.Compaction.Directory = dir, dir
	ext, err := factory.Create(context.Background(), extension.Settings{
		ID: ID, TelemetrySettings: componenttest.NewNopTelemetrySettings(), BuildInfo: component.NewDefaultBuildInfo(),
	}, cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	return ext.(storage.Extension)
}

// Host offers extensions to a component's Start.
type Host map[component.ID]component.Component

// GetExtensions returns the extensions.
func (h Host) GetExtensions() map[component.ID]component.Component { return h }
