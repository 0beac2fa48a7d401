// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver // import "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.uber.org/zap"

	"github.com/otelcol-lambda/otelcol-lambda/internal/storageclient"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/replaystore"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/translator"
)

// startReplayStore opens the configured storage for the replay state and starts the
// checkpoints. It runs before the servers, so that no batch is taken before a sandbox's
// stored state can be read. A missing or wrong extension fails the start: the operator
// asked for durability and must not silently get none.
func (r *lambdaTelemetryReceiver) startReplayStore(ctx context.Context, host component.Host) error {
	if r.cfg.Storage == nil {
		return nil
	}
	id := *r.cfg.Storage
	client, err := storageclient.Open(ctx, host, id, component.KindReceiver, r.settings.ID, "")
	if err != nil {
		return err
	}
	r.replay = replaystore.New(replaystore.Settings{
		Client:      client,
		Logger:      r.settings.Logger,
		Telemetry:   r.telemetry,
		IdleTimeout: r.cfg.Sandboxes.IdleTimeout,
		Now:         r.now,
		Live:        r.sandboxes.Contains,
	})
	r.sandboxes.OnRemove(func(key string, sb *translator.Sandbox) { r.replay.Forget(key, sb) })
	r.replay.Start(r.cfg.CheckpointInterval)
	r.settings.Logger.Info("Keeping the replay state in storage",
		zap.Stringer("storage", id), zap.Stringer("checkpoint_interval", r.cfg.CheckpointInterval))
	if r.cfg.WriteAheadLog.Enabled {
		return r.startWriteAheadLog(ctx, host)
	}
	return nil
}
