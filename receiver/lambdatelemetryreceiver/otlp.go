// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver // import "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver"

import (
	"context"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/translator"
)

const otlpFormat = "otlp"

// The export functions serve OTLP/HTTP (OTLP/gRPC is the stock otlp receiver's). Data a
// forwarder sends on a sandbox's behalf gets the sandbox's resource attributes where the
// SDK did not set them, and a request it numbered is taken once: a resend of an accepted
// one is acknowledged and ignored, as Telemetry API batches are.

// once hands a request to consume unless the same forwarder's request with the same
// sequence number was accepted before; a replay is counted and succeeds. A request the
// pipeline refused for good counts as accepted: what it could take it took, and a resend
// must not count that twice.
func (r *lambdaTelemetryReceiver) once(ctx context.Context, b wire.Batch, consume func() error) error {
	key := b.Sandbox.ExtensionInstanceID
	if b.Sequence == 0 || key == "" {
		return consume()
	}
	sandbox := r.sandboxes.GetOrCreate(key, r.now(), func() *translator.Sandbox { return translator.NewSandbox(key) })
	sandbox.Lock()
	defer sandbox.Unlock()
	r.replay.Load(ctx, sandbox)
	if sandbox.Replayed(b.Sequence) {
		r.telemetry.ReceiverLambdaTelemetryBatchesReplayed.Add(ctx, 1)
		return nil
	}
	if err := sandbox.CheckSequence(b.Sequence); err != nil {
		r.refused(ctx, reasonInvalidSandbox)
		return consumererror.NewPermanent(err)
	}
	err := consume()
	if err == nil || consumererror.IsPermanent(err) {
		sandbox.Accepted(b.Sequence)
		r.replay.Accepted(sandbox, b.Sequence)
	}
	return err
}

func (r *lambdaTelemetryReceiver) exportTraces(ctx context.Context, req ptraceotlp.ExportRequest, b wire.Batch) error {
	td := req.Traces()
	n := td.SpanCount()
	if n == 0 {
		return nil
	}
	for i := range td.ResourceSpans().Len() {
		lambdaconv.MergeSandboxResource(td.ResourceSpans().At(i).Resource().Attributes(), b.Sandbox)
	}
	return r.once(ctx, b, func() error {
		opCtx := r.obsrep.StartTracesOp(ctx)
		err := r.nextTraces.ConsumeTraces(opCtx, td)
		r.obsrep.EndTracesOp(opCtx, otlpFormat, n, err)
		r.gates.traces.observe(err, r.now)
		return err
	})
}

func (r *lambdaTelemetryReceiver) exportMetrics(ctx context.Context, req pmetricotlp.ExportRequest, b wire.Batch) error {
	md := req.Metrics()
	n := md.DataPointCount()
	if n == 0 {
		return nil
	}
	for i := range md.ResourceMetrics().Len() {
		lambdaconv.MergeSandboxResource(md.ResourceMetrics().At(i).Resource().Attributes(), b.Sandbox)
	}
	return r.once(ctx, b, func() error {
		opCtx := r.obsrep.StartMetricsOp(ctx)
		err := r.nextMetrics.ConsumeMetrics(opCtx, md)
		r.obsrep.EndMetricsOp(opCtx, otlpFormat, n, err)
		r.gates.metrics.observe(err, r.now)
		return err
	})
}

func (r *lambdaTelemetryReceiver) exportLogs(ctx context.Context, req plogotlp.ExportRequest, b wire.Batch) error {
	ld := req.Logs()
	n := ld.LogRecordCount()
	if n == 0 {
		return nil
	}
	for i := range ld.ResourceLogs().Len() {
		lambdaconv.MergeSandboxResource(ld.ResourceLogs().At(i).Resource().Attributes(), b.Sandbox)
	}
	return r.once(ctx, b, func() error {
		opCtx := r.obsrep.StartLogsOp(ctx)
		err := r.nextLogs.ConsumeLogs(opCtx, ld)
		r.obsrep.EndLogsOp(opCtx, otlpFormat, n, err)
		r.gates.logs.observe(err, r.now)
		return err
	})
}
