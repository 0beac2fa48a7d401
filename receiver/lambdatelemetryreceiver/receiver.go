// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver // import "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver"

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.uber.org/zap"
)

// OTLP/HTTP paths, as the OTel SDKs' exporters send by default.
const (
	tracesPath  = "/v1/traces"
	metricsPath = "/v1/metrics"
	logsPath    = "/v1/logs"
)

// lambdaTelemetryReceiver is one HTTP server shared by the traces, metrics and logs
// pipelines that use the same configuration.
type lambdaTelemetryReceiver struct {
	cfg      *Config
	settings receiver.Settings
	obsrep   *receiverhelper.ObsReport

	nextTraces  consumer.Traces
	nextMetrics consumer.Metrics
	nextLogs    consumer.Logs

	server     *http.Server
	addr       net.Addr // where the server listens, known after Start (port 0 in tests)
	shutdownWG sync.WaitGroup
}

func newReceiver(cfg *Config, set receiver.Settings) (*lambdaTelemetryReceiver, error) {
	obsrep, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID:             set.ID,
		Transport:              "http",
		ReceiverCreateSettings: set,
	})
	if err != nil {
		return nil, err
	}
	return &lambdaTelemetryReceiver{cfg: cfg, settings: set, obsrep: obsrep}, nil
}

// handler routes each path to the pipeline that consumes it; a signal without a pipeline
// has no route, so a client learns of the mistake with a 404 instead of losing data.
func (r *lambdaTelemetryReceiver) handler() http.Handler {
	mux := http.NewServeMux()
	if r.nextTraces != nil {
		mux.Handle(tracesPath, otlpHandler(ptraceotlp.NewExportRequest, func(ctx context.Context, req ptraceotlp.ExportRequest) error {
			td := req.Traces()
			n := td.SpanCount()
			if n == 0 {
				return nil
			}
			ctx = r.obsrep.StartTracesOp(ctx)
			err := r.nextTraces.ConsumeTraces(ctx, td)
			r.obsrep.EndTracesOp(ctx, "otlp", n, err)
			return err
		}))
	}
	if r.nextMetrics != nil {
		mux.Handle(metricsPath, otlpHandler(pmetricotlp.NewExportRequest, func(ctx context.Context, req pmetricotlp.ExportRequest) error {
			md := req.Metrics()
			n := md.DataPointCount()
			if n == 0 {
				return nil
			}
			ctx = r.obsrep.StartMetricsOp(ctx)
			err := r.nextMetrics.ConsumeMetrics(ctx, md)
			r.obsrep.EndMetricsOp(ctx, "otlp", n, err)
			return err
		}))
	}
	if r.nextLogs != nil {
		mux.Handle(logsPath, otlpHandler(plogotlp.NewExportRequest, func(ctx context.Context, req plogotlp.ExportRequest) error {
			ld := req.Logs()
			n := ld.LogRecordCount()
			if n == 0 {
				return nil
			}
			ctx = r.obsrep.StartLogsOp(ctx)
			err := r.nextLogs.ConsumeLogs(ctx, ld)
			r.obsrep.EndLogsOp(ctx, "otlp", n, err)
			return err
		}))
	}
	return mux
}

// Start listens and serves; a serve failure after start is reported as a fatal status.
func (r *lambdaTelemetryReceiver) Start(ctx context.Context, host component.Host) error {
	server, err := r.cfg.HTTP.ToServer(ctx, host.GetExtensions(), r.settings.TelemetrySettings, r.handler())
	if err != nil {
		return err
	}
	listener, err := r.cfg.HTTP.ToListener(ctx)
	if err != nil {
		return err
	}
	r.server = server
	r.addr = listener.Addr()
	r.settings.Logger.Info("Starting HTTP server", zap.String("endpoint", listener.Addr().String()))
	r.shutdownWG.Go(func() {
		if err := r.server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			componentstatus.ReportStatus(host, componentstatus.NewFatalErrorEvent(err))
		}
	})
	return nil
}

// Shutdown stops the server and waits for in-flight requests; it is safe without Start.
func (r *lambdaTelemetryReceiver) Shutdown(ctx context.Context) error {
	var err error
	if r.server != nil {
		err = r.server.Shutdown(ctx)
	}
	r.shutdownWG.Wait()
	return err
}
