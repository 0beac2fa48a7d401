// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package exportwatchextension // import "github.com/otelcol-lambda/otelcol-lambda/extension/exportwatchextension"

import (
	"context"
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// GetGRPCClientOptions makes the middleware of a gRPC exporter (configgrpc's
// `middlewares`): an interceptor of its unary calls, which is how the OTLP exporter
// exports. It is chained, so that it keeps the interceptors the client has already.
func (w *exportWatch) GetGRPCClientOptions(context.Context) ([]grpc.DialOption, error) {
	return []grpc.DialOption{grpc.WithChainUnaryInterceptor(w.intercept)}, nil
}

// intercept is watchedTransport.RoundTrip for a gRPC call. Its own errors carry no gRPC
// status on purpose: the OTLP exporter takes a status-less error as permanent, so it does
// not retry a call that the shutdown ended.
func (w *exportWatch) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	name := cc.Target()
	if w.drained.Load() {
		w.record(ctx, name, outcomeRefused, "", messageSize(req))
		return w.errRefuse
	}
	callCtx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(w.drainCtx, func() { cancel(context.Cause(w.drainCtx)) })
	err := invoker(callCtx, method, req, reply, cc, opts...)
	stop()
	canceledByDrain := errors.Is(context.Cause(callCtx), errDrainTimeout)
	cancel(nil)
	switch {
	case err == nil:
		w.record(ctx, name, outcomeSuccess, "", -1)
		return nil
	case canceledByDrain:
		w.record(ctx, name, outcomeCanceled, "", messageSize(req))
		// Not err, whose status (Canceled) would make the exporter retry.
		return w.errCanceled
	}
	outcome := outcomeErrorResponse
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		// No answer: no connection, or none within the exporter's timeout.
		outcome = outcomeTransportError
	}
	reason := ""
	if w.wantReason(name) {
		reason = truncate(err.Error())
	}
	w.record(ctx, name, outcome, reason, -1)
	return err
}

// messageSize is the encoded size of a request message, -1 when unknown. Only a request
// that the drain ends pays for it.
func messageSize(req any) int64 {
	switch m := req.(type) {
	case interface{ SizeProto() int }:
		// pdata's own OTLP messages, which the OTLP exporter sends.
		return int64(m.SizeProto())
	case proto.Message:
		return int64(proto.Size(m))
	}
	return -1
}
