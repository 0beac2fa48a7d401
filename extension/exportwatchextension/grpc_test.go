// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package exportwatchextension

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/otelcol-lambda/otelcol-lambda/extension/exportwatchextension/internal/metadatatest"
)

// traceServer is an OTLP/gRPC trace receiver that answers with export, counting calls.
type traceServer struct {
	ptraceotlp.UnimplementedGRPCServer
	calls  atomic.Int64
	export func(ctx context.Context) error
}

func (s *traceServer) Export(ctx context.Context, _ ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	s.calls.Add(1)
	return ptraceotlp.NewExportResponse(), s.export(ctx)
}

// startTraceServer serves s on loopback and returns its address.
func startTraceServer(t *testing.T, s *traceServer) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(srv, s)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return l.Addr().String()
}

// traceClient is the OTLP exporter's client, with the extension's dial options, as
// configgrpc builds it from `middlewares: [{id: export_watch}]`.
func traceClient(t *testing.T, w *exportWatch, addr string) ptraceotlp.GRPCClient {
	opts, err := w.GetGRPCClientOptions(context.Background())
	require.NoError(t, err)
	cc, err := grpc.NewClient(addr, append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cc.Close() })
	return ptraceotlp.NewGRPCClient(cc)
}

func traceRequest() ptraceotlp.ExportRequest {
	td := ptrace.NewTraces()
	td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName("invocation")
	return ptraceotlp.NewExportRequestFromTraces(td)
}

func TestGRPCOutcomes(t *testing.T) {
	var fail atomic.Bool
	s := &traceServer{export: func(context.Context) error {
		if fail.Load() {
			return status.Error(codes.InvalidArgument, "span without a name")
		}
		return nil
	}}
	addr := startTraceServer(t, s)
	tw := newTestWatch(t, nil)
	client := traceClient(t, tw.exportWatch, addr)
	ctx := context.Background()

	_, err := client.Export(ctx, traceRequest())
	require.NoError(t, err)
	fail.Store(true)
	_, err = client.Export(ctx, traceRequest())
	require.Error(t, err)
	assert.Equal(t, codes.InvalidArgument, status.Code(err), "the exporter sees the backend's own status")
	require.Equal(t, 1, tw.logs.Len())
	assert.Equal(t, msgFailed, tw.logs.All()[0].Message)
	assert.Contains(t, tw.logs.All()[0].ContextMap()["reason"], "span without a name")
	assert.Equal(t, addr, tw.logs.All()[0].ContextMap()["endpoint"])

	metadatatest.AssertEqualExtensionExportWatchRequests(t, tw.tel, []metricdata.DataPoint[int64]{
		requestsPoint(addr, outcomeSuccess, 1),
		requestsPoint(addr, outcomeErrorResponse, 1),
	}, metricdatatest.IgnoreTimestamp())
	require.NoError(t, tw.Shutdown(ctx))
}

func TestGRPCBackendDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	tw := newTestWatch(t, nil)
	client := traceClient(t, tw.exportWatch, addr)
	_, err = client.Export(context.Background(), traceRequest())
	require.Error(t, err)
	assert.Equal(t, codes.Unavailable, status.Code(err))
	require.Equal(t, 1, tw.logs.Len())
	assert.Contains(t, tw.logs.All()[0].ContextMap()["reason"], "Unavailable")
	metadatatest.AssertEqualExtensionExportWatchRequests(t, tw.tel,
		[]metricdata.DataPoint[int64]{requestsPoint(addr, outcomeTransportError, 1)}, metricdatatest.IgnoreTimestamp())
	require.NoError(t, tw.Shutdown(context.Background()))
}

// TestGRPCDrainTimeout: the same bounded drain for the OTLP/gRPC exporter. The errors carry
// no gRPC status (Unknown), which the OTLP exporter treats as permanent.
func TestGRPCDrainTimeout(t *testing.T) {
	arrived := make(chan struct{}, 1)
	s := &traceServer{export: func(ctx context.Context) error {
		arrived <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	}}
	addr := startTraceServer(t, s)
	tw := newTestWatch(t, func(cfg *Config) { cfg.DrainTimeout = 100 * time.Millisecond })
	client := traceClient(t, tw.exportWatch, addr)
	req := traceRequest()

	inFlight := make(chan error, 1)
	go func() {
		_, err := client.Export(context.Background(), req)
		inFlight <- err
	}()
	<-arrived
	require.NoError(t, tw.NotReady())
	var err error
	select {
	case err = <-inFlight:
	case <-time.After(30 * time.Second):
		t.Fatal("the call in flight was not canceled after drain_timeout")
	}
	assert.ErrorIs(t, err, errDrainTimeout)
	assert.Equal(t, codes.Unknown, status.Code(err))

	_, err = client.Export(context.Background(), req)
	assert.ErrorIs(t, err, errDrainTimeout)
	assert.Equal(t, codes.Unknown, status.Code(err))
	assert.Equal(t, int64(1), s.calls.Load(), "a call after drain_timeout never reaches the backend")

	require.NoError(t, tw.Shutdown(context.Background()))
	lines := tw.logs.FilterMessageSnippet("not written at shutdown").All()
	require.Len(t, lines, 1)
	assert.Equal(t, zapcore.WarnLevel, lines[0].Level)
	assert.Equal(t, int64(1), lines[0].ContextMap()["canceled_requests"])
	assert.Equal(t, int64(1), lines[0].ContextMap()["refused_requests"])
	size, err := req.MarshalProto()
	require.NoError(t, err)
	assert.Equal(t, int64(2*len(size)), lines[0].ContextMap()["unwritten_bytes"])
}
