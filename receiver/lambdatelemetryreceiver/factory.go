// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver // import "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/otelcol-lambda/otelcol-lambda/internal/sharedcomponent"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/metadata"
)

// The endpoint is loopback by default: exposing the gateway is the operator's choice.
const (
	defaultEndpoint = "localhost:4318"

	// A sandbox lives minutes to hours; 50 000 of them is a large fleet's worth, at about
	// 5 KiB of live heap each (9 KiB of RSS; testbed/results/capacity.md).
	defaultMaxSandboxes = 50_000
	defaultIdleTimeout  = time.Hour

	// A kill -9 may count again what was accepted within one interval before it; a
	// checkpoint is one small storage write of the sandboxes active since the last one.
	defaultCheckpointInterval = time.Second
	// A backend outage longer than this loses to a kill -9 what it kept from being written.
	defaultWALMaxAge     = 15 * time.Minute
	defaultWALMaxSizeMiB = 1024
)

// NewFactory creates a factory for the lambda_telemetry receiver.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(
		metadata.Type,
		createDefaultConfig,
		receiver.WithTraces(createTraces, metadata.TracesStability),
		receiver.WithMetrics(createMetrics, metadata.MetricsStability),
		receiver.WithLogs(createLogs, metadata.LogsStability),
	)
}

func createDefaultConfig() component.Config {
	httpCfg := confighttp.NewDefaultServerConfig()
	httpCfg.NetAddr.Endpoint = defaultEndpoint
	return &Config{
		HTTP: httpCfg,
		Sandboxes: SandboxesConfig{
			MaxSandboxes: defaultMaxSandboxes,
			IdleTimeout:  defaultIdleTimeout,
		},
		CheckpointInterval: defaultCheckpointInterval,
		WriteAheadLog:      WriteAheadLogConfig{MaxAge: defaultWALMaxAge, MaxSizeMiB: defaultWALMaxSizeMiB},
	}
}

// receivers makes the traces, metrics and logs receivers of one configuration a single
// server on one port.
var receivers = sharedcomponent.NewMap[*Config, *lambdaTelemetryReceiver]()

func loadOrCreate(cfg component.Config, set receiver.Settings) (*sharedcomponent.Component[*lambdaTelemetryReceiver], error) {
	rCfg := cfg.(*Config)
	return receivers.LoadOrStore(rCfg, func() (*lambdaTelemetryReceiver, error) {
		return newReceiver(rCfg, set, time.Now)
	})
}

func createTraces(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Traces) (receiver.Traces, error) {
	r, err := loadOrCreate(cfg, set)
	if err != nil {
		return nil, err
	}
	r.Unwrap().nextTraces = next
	return r, nil
}

func createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	r, err := loadOrCreate(cfg, set)
	if err != nil {
		return nil, err
	}
	r.Unwrap().nextMetrics = next
	return r, nil
}

func createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	r, err := loadOrCreate(cfg, set)
	if err != nil {
		return nil, err
	}
	r.Unwrap().nextLogs = next
	return r, nil
}
