// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver // import "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver"

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-lambda/otelcol-lambda/internal/warnlog"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/metadata"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/replaystore"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/sandboxcache"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/translator"
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
	cfg       *Config
	settings  receiver.Settings
	obsrep    *receiverhelper.ObsReport
	telemetry *metadata.TelemetryBuilder
	outcomes  eventOutcomes
	scope     translator.Scope

	nextTraces  consumer.Traces
	nextMetrics consumer.Metrics
	nextLogs    consumer.Logs

	// now is the receiver's clock: sandbox idle time, the pressure gates' probes, replay
	// state and write-ahead log ages. Storage takes it at Start.
	now func() time.Time

	sandboxes *sandboxcache.Cache[*translator.Sandbox]
	// gates refuse requests before reading them while a pipeline refuses data for now.
	gates    pressureGates
	refusals requestRefusals
	// replay keeps the sandboxes' replay state in storage; nil without storage.
	replay *replaystore.Store
	// wal is the write-ahead log of accepted batches; nil unless write_ahead_log is enabled.
	wal      *writeAheadLog
	warnings *warnlog.Logger

	server     *http.Server
	addr       net.Addr // where the HTTP server listens, known after Start (port 0 in tests)
	shutdownWG sync.WaitGroup
}

// eventOutcomes are the attribute sets of receiver_lambda_telemetry_events, made once.
type eventOutcomes struct {
	accepted, malformed, outOfRange, unknown, duplicate metric.MeasurementOption
}

// refusalReason is why a request was refused as a whole (receiver_lambda_telemetry_requests_refused).
type refusalReason int

const (
	reasonPipelineBusy refusalReason = iota
	reasonMalformed
	reasonTooLarge
	reasonTooManyItems
	reasonUnattributed
	reasonInvalidSandbox
	reasonLogFull
	reasonCount
)

// requestRefusals are the attribute sets of receiver_lambda_telemetry_requests_refused,
// made once, by reason.
type requestRefusals [reasonCount]metric.MeasurementOption

func newRequestRefusals() requestRefusals {
	var r requestRefusals
	for reason, name := range [reasonCount]string{
		reasonPipelineBusy:   "pipeline_busy",
		reasonMalformed:      "malformed",
		reasonTooLarge:       "too_large",
		reasonTooManyItems:   "too_many_items",
		reasonUnattributed:   "unattributed",
		reasonInvalidSandbox: "invalid_sandbox",
		reasonLogFull:        "log_full",
	} {
		r[reason] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", name)))
	}
	return r
}

// refused counts a request refused as a whole.
func (r *lambdaTelemetryReceiver) refused(ctx context.Context, reason refusalReason) {
	r.telemetry.ReceiverLambdaTelemetryRequestsRefused.Add(ctx, 1, r.refusals[reason])
}

func outcome(name string) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", name)))
}

func newReceiver(cfg *Config, set receiver.Settings, now func() time.Time) (*lambdaTelemetryReceiver, error) {
	obsrep, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID:             set.ID,
		Transport:              "http",
		ReceiverCreateSettings: set,
	})
	if err != nil {
		return nil, err
	}
	telemetry, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	r := &lambdaTelemetryReceiver{
		cfg:       cfg,
		settings:  set,
		now:       now,
		obsrep:    obsrep,
		telemetry: telemetry,
		outcomes: eventOutcomes{
			accepted:   outcome("accepted"),
			malformed:  outcome("malformed"),
			outOfRange: outcome("out_of_range"),
			unknown:    outcome("unknown"),
			duplicate:  outcome("duplicate"),
		},
		refusals: newRequestRefusals(),
		scope:    translator.Scope{Name: metadata.ScopeName, Version: set.BuildInfo.Version},
		warnings: warnlog.New(set.Logger),
	}
	r.sandboxes = sandboxcache.New[*translator.Sandbox](cfg.Sandboxes.MaxSandboxes, cfg.Sandboxes.IdleTimeout, func(n int) {
		r.telemetry.ReceiverLambdaTelemetryStateEvictions.Add(context.Background(), int64(n))
	})
	r.startAlertedCountersAtZero()
	return r, nil
}

// startAlertedCountersAtZero writes the counters that alerts watch for any increase
// (LambdaTelemetryDropped, LambdaGatewayRefusingData) at 0 from the start: in Prometheus, a
// series whose first sample is already 21 has no increase, and the first burst of drops
// or refusals would go unseen.
func (r *lambdaTelemetryReceiver) startAlertedCountersAtZero() {
	ctx := context.Background()
	r.telemetry.ReceiverLambdaTelemetryForwarderDroppedEvents.Add(ctx, 0)
	r.telemetry.ReceiverLambdaTelemetryLambdaDroppedRecords.Add(ctx, 0)
	for _, reason := range r.refusals {
		r.telemetry.ReceiverLambdaTelemetryRequestsRefused.Add(ctx, 0, reason)
	}
}

// handler routes each path to the pipeline that consumes it; a signal without a pipeline
// has no route, so a client learns of the mistake with a 404 instead of losing data.
func (r *lambdaTelemetryReceiver) handler() http.Handler {
	mux := http.NewServeMux()
	if r.nextTraces != nil || r.nextLogs != nil {
		mux.Handle(wire.TelemetryPath, http.HandlerFunc(r.handleTelemetry))
	}
	if r.nextTraces != nil {
		mux.Handle(tracesPath, otlpHandler(r, &r.gates.traces, msgTracesRequest, ptraceotlp.NewExportRequest, r.exportTraces))
	}
	if r.nextMetrics != nil {
		mux.Handle(metricsPath, otlpHandler(r, &r.gates.metrics, msgMetricsRequest, pmetricotlp.NewExportRequest, r.exportMetrics))
	}
	if r.nextLogs != nil {
		mux.Handle(logsPath, otlpHandler(r, &r.gates.logs, msgLogsRequest, plogotlp.NewExportRequest, r.exportLogs))
	}
	return mux
}

// Start listens and serves; a serve failure after start is reported as a fatal status.
func (r *lambdaTelemetryReceiver) Start(ctx context.Context, host component.Host) error {
	if err := r.startReplayStore(ctx, host); err != nil {
		return err
	}
	server, err := r.cfg.HTTP.ToServer(ctx, host.GetExtensions(), r.settings.TelemetrySettings, r.handler())
	if err != nil {
		return errors.Join(err, r.Shutdown(ctx))
	}
	// Outermost, so that the answers of confighttp's own layers (auth, decoding) are JSON too.
	server.Handler = jsonErrors(server.Handler)
	listener, err := r.cfg.HTTP.ToListener(ctx)
	if err != nil {
		return errors.Join(err, r.Shutdown(ctx))
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
	// After the server: the final checkpoint holds every batch it answered.
	err = errors.Join(err, r.replay.Shutdown(ctx))
	r.shutdownWriteAheadLog()
	r.telemetry.Shutdown()
	return err
}
