// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package storageclient opens a component's client of a configured storage extension, with
// the errors an operator can act on. A missing or wrong extension fails the component's
// start: the operator asked for durability and must not silently get none.
package storageclient // import "github.com/otelcol-lambda/otelcol-lambda/internal/storageclient"

import (
	"context"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// Open returns the client named name of the storage extension id for the component owner
// of kind kind.
func Open(ctx context.Context, host component.Host, id component.ID, kind component.Kind, owner component.ID, name string) (storage.Client, error) {
	ext, ok := host.GetExtensions()[id]
	if !ok {
		return nil, fmt.Errorf("storage: extension %q not found (is it listed in service::extensions?)", id)
	}
	storageExt, ok := ext.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("storage: extension %q is not a storage extension", id)
	}
	client, err := storageExt.GetClient(ctx, kind, owner, name)
	if err != nil {
		// file_storage locks its file: the usual cause is a second gateway process on the
		// same directory.
		return nil, fmt.Errorf("storage: getting a client of %q (is another gateway process using its directory, or is the file damaged? file_storage's recreate: true moves a damaged file aside): %w", id, err)
	}
	return client, nil
}
