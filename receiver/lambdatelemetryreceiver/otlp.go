// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver // import "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver"

import (
	"context"
	"net/http"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	grpcmetadata "google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/translator"
)

const otlpFormat = "otlp"

// The export functions serve OTLP over HTTP and gRPC alike. Data a forwarder sends on a
// sandbox's behalf gets the sandbox's resource attributes where the SDK did not set them,
// and a request it numbered is taken once: a resend of an accepted one is acknowledged and
// ignored, as Telemetry API batches are.

// once hands a request to consume unless the same forwarder's request with the same
// sequence number was accepted before; a replay is counted and succeeds. A request the
// pipeline refused for good counts as accepted: what it could take it took, and a resend
// must not count that twice.
func (r *lambdaTelemetryReceiver) once(ctx context.Context, b wire.Batch, consume func() error) error {
	key := b.Sandbox.ExtensionInstanceID
	if b.Sequence == 0 || key == "" {
		return consume()
	}
	sandbox := r.sandboxes.GetOrCreate(key, time.Now(), func() *translator.Sandbox { return translator.NewSandbox(key) })
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
		translator.MergeSandboxResource(td.ResourceSpans().At(i).Resource().Attributes(), b.Sandbox)
	}
	return r.once(ctx, b, func() error {
		opCtx := r.obsrep.StartTracesOp(ctx)
		err := r.nextTraces.ConsumeTraces(opCtx, td)
		r.obsrep.EndTracesOp(opCtx, otlpFormat, n, err)
		r.gates.traces.observe(err)
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
		translator.MergeSandboxResource(md.ResourceMetrics().At(i).Resource().Attributes(), b.Sandbox)
	}
	return r.once(ctx, b, func() error {
		opCtx := r.obsrep.StartMetricsOp(ctx)
		err := r.nextMetrics.ConsumeMetrics(opCtx, md)
		r.obsrep.EndMetricsOp(opCtx, otlpFormat, n, err)
		r.gates.metrics.observe(err)
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
		translator.MergeSandboxResource(ld.ResourceLogs().At(i).Resource().Attributes(), b.Sandbox)
	}
	return r.once(ctx, b, func() error {
		opCtx := r.obsrep.StartLogsOp(ctx)
		err := r.nextLogs.ConsumeLogs(opCtx, ld)
		r.obsrep.EndLogsOp(opCtx, otlpFormat, n, err)
		r.gates.logs.observe(err)
		return err
	})
}

// gRPC services: the same exports, errors as gRPC statuses (retryable: Unavailable).

type grpcTraces struct {
	ptraceotlp.UnimplementedGRPCServer
	r *lambdaTelemetryReceiver
}

func (g *grpcTraces) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	b, err := g.r.batchFromGRPC(ctx)
	if err == nil {
		err = g.r.exportTraces(ctx, req, b)
	}
	return ptraceotlp.NewExportResponse(), grpcError(err)
}

type grpcMetrics struct {
	pmetricotlp.UnimplementedGRPCServer
	r *lambdaTelemetryReceiver
}

func (g *grpcMetrics) Export(ctx context.Context, req pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	b, err := g.r.batchFromGRPC(ctx)
	if err == nil {
		err = g.r.exportMetrics(ctx, req, b)
	}
	return pmetricotlp.NewExportResponse(), grpcError(err)
}

type grpcLogs struct {
	plogotlp.UnimplementedGRPCServer
	r *lambdaTelemetryReceiver
}

func (g *grpcLogs) Export(ctx context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	b, err := g.r.batchFromGRPC(ctx)
	if err == nil {
		err = g.r.exportLogs(ctx, req, b)
	}
	return plogotlp.NewExportResponse(), grpcError(err)
}

// batchFromGRPC reads the sandbox and the sequence number from request metadata, as HTTP
// reads them from headers.
func (r *lambdaTelemetryReceiver) batchFromGRPC(ctx context.Context) (wire.Batch, error) {
	md, _ := grpcmetadata.FromIncomingContext(ctx)
	h := http.Header{}
	for k, vs := range md {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	b, err := wire.BatchFromHeaders(h)
	if err != nil {
		r.refused(ctx, reasonOfBatchError(err))
		return wire.Batch{}, status.Error(codes.InvalidArgument, err.Error())
	}
	return b, nil
}

// OTLP/gRPC methods, by the gate of their signal.
const (
	grpcTracesExport  = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
	grpcMetricsExport = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
	grpcLogsExport    = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
)

// tapPressure refuses an OTLP/gRPC call with Unavailable, and a retry delay, while its
// signal's pipeline refuses data for now (see pressureGate). A tap runs when the call's
// headers arrive, before its message is read and decoded: the interceptors come too late
// for that.
func (r *lambdaTelemetryReceiver) tapPressure(ctx context.Context, info *tap.Info) (context.Context, error) {
	var gate *pressureGate
	switch info.FullMethodName {
	case grpcTracesExport:
		gate = &r.gates.traces
	case grpcMetricsExport:
		gate = &r.gates.metrics
	case grpcLogsExport:
		gate = &r.gates.logs
	default:
		return ctx, nil
	}
	if gate.admit() {
		return ctx, nil
	}
	r.refused(ctx, reasonPipelineBusy)
	return ctx, busyStatus.Err()
}

// busyStatus is a closed gate's gRPC answer; RetryInfo is how OTLP exporters learn when to
// come back.
var busyStatus = func() *status.Status {
	st := status.New(codes.Unavailable, errPipelineBusy.Error())
	if withRetry, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(probeInterval)}); err == nil {
		return withRetry
	}
	return st
}()

func grpcError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	if consumererror.IsPermanent(err) {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return status.Error(codes.Unavailable, err.Error())
}
