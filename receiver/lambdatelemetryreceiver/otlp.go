// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver // import "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver"

import (
	"context"
	"net/http"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc/codes"
	grpcmetadata "google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/translator"
)

const otlpFormat = "otlp"

// The export functions serve OTLP over HTTP and gRPC alike. Data a forwarder sends on a
// sandbox's behalf gets the sandbox's resource attributes where the SDK did not set them.

func (r *lambdaTelemetryReceiver) exportTraces(ctx context.Context, req ptraceotlp.ExportRequest, sandbox wire.Sandbox) error {
	td := req.Traces()
	n := td.SpanCount()
	if n == 0 {
		return nil
	}
	for i := range td.ResourceSpans().Len() {
		translator.MergeSandboxResource(td.ResourceSpans().At(i).Resource().Attributes(), sandbox)
	}
	ctx = r.obsrep.StartTracesOp(ctx)
	err := r.nextTraces.ConsumeTraces(ctx, td)
	r.obsrep.EndTracesOp(ctx, otlpFormat, n, err)
	return err
}

func (r *lambdaTelemetryReceiver) exportMetrics(ctx context.Context, req pmetricotlp.ExportRequest, sandbox wire.Sandbox) error {
	md := req.Metrics()
	n := md.DataPointCount()
	if n == 0 {
		return nil
	}
	for i := range md.ResourceMetrics().Len() {
		translator.MergeSandboxResource(md.ResourceMetrics().At(i).Resource().Attributes(), sandbox)
	}
	ctx = r.obsrep.StartMetricsOp(ctx)
	err := r.nextMetrics.ConsumeMetrics(ctx, md)
	r.obsrep.EndMetricsOp(ctx, otlpFormat, n, err)
	return err
}

func (r *lambdaTelemetryReceiver) exportLogs(ctx context.Context, req plogotlp.ExportRequest, sandbox wire.Sandbox) error {
	ld := req.Logs()
	n := ld.LogRecordCount()
	if n == 0 {
		return nil
	}
	for i := range ld.ResourceLogs().Len() {
		translator.MergeSandboxResource(ld.ResourceLogs().At(i).Resource().Attributes(), sandbox)
	}
	ctx = r.obsrep.StartLogsOp(ctx)
	err := r.nextLogs.ConsumeLogs(ctx, ld)
	r.obsrep.EndLogsOp(ctx, otlpFormat, n, err)
	return err
}

// gRPC services: the same exports, errors as gRPC statuses (retryable: Unavailable).

type grpcTraces struct {
	ptraceotlp.UnimplementedGRPCServer
	r *lambdaTelemetryReceiver
}

func (g *grpcTraces) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	sandbox, err := sandboxFromGRPC(ctx)
	if err == nil {
		err = g.r.exportTraces(ctx, req, sandbox)
	}
	return ptraceotlp.NewExportResponse(), grpcError(err)
}

type grpcMetrics struct {
	pmetricotlp.UnimplementedGRPCServer
	r *lambdaTelemetryReceiver
}

func (g *grpcMetrics) Export(ctx context.Context, req pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	sandbox, err := sandboxFromGRPC(ctx)
	if err == nil {
		err = g.r.exportMetrics(ctx, req, sandbox)
	}
	return pmetricotlp.NewExportResponse(), grpcError(err)
}

type grpcLogs struct {
	plogotlp.UnimplementedGRPCServer
	r *lambdaTelemetryReceiver
}

func (g *grpcLogs) Export(ctx context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	sandbox, err := sandboxFromGRPC(ctx)
	if err == nil {
		err = g.r.exportLogs(ctx, req, sandbox)
	}
	return plogotlp.NewExportResponse(), grpcError(err)
}

// sandboxFromGRPC reads the sandbox from request metadata, as HTTP reads it from headers.
func sandboxFromGRPC(ctx context.Context) (wire.Sandbox, error) {
	md, _ := grpcmetadata.FromIncomingContext(ctx)
	h := http.Header{}
	for k, vs := range md {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	s, err := wire.SandboxFromHeaders(h)
	if err != nil {
		return wire.Sandbox{}, status.Error(codes.InvalidArgument, err.Error())
	}
	return s, nil
}

func grpcError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	if consumererror.IsPermanent(err) {
		return status.Error(codes.Internal, err.Error())
	}
	return status.Error(codes.Unavailable, err.Error())
}
