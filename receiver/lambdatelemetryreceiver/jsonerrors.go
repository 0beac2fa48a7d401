// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver // import "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver"

import (
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
)

// maxCapturedError bounds what is kept of a plain-text error before it is rewritten.
const maxCapturedError = 1024

// jsonErrors makes every error answer of the HTTP server structured, with its status kept.
// The layers confighttp puts in front of the receiver's handlers (auth with 401, content
// decoding with 400, middlewares) and the mux (404) write plain text, while a forwarder
// reads JSON, as every answer of the receiver's own handlers is. On the OTLP paths the
// answer is a google.rpc.Status in the request's encoding, as those handlers write their
// own errors; elsewhere it is {"error": "..."}.
func jsonErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		jw := &jsonErrorWriter{ResponseWriter: w}
		next.ServeHTTP(jw, req)
		jw.finish(req)
	})
}

// jsonErrorWriter passes an answer through unless it is an error without a structured
// body: then it keeps the status and the text, and finish writes them again.
type jsonErrorWriter struct {
	http.ResponseWriter
	wroteHeader bool
	rewrite     bool
	status      int
	text        []byte
}

func (w *jsonErrorWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	if code >= http.StatusBadRequest && !structured(w.Header().Get("Content-Type")) {
		w.rewrite, w.status = true, code
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *jsonErrorWriter) Write(p []byte) (int, error) {
	w.wroteHeader = true // a write without a status is a 200: passed through
	if !w.rewrite {
		return w.ResponseWriter.Write(p)
	}
	if room := maxCapturedError - len(w.text); room > 0 {
		w.text = append(w.text, p[:min(len(p), room)]...)
	}
	return len(p), nil
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *jsonErrorWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *jsonErrorWriter) finish(req *http.Request) {
	if !w.rewrite {
		return
	}
	msg := strings.TrimSpace(string(w.text))
	if msg == "" {
		msg = http.StatusText(w.status)
	}
	w.Header().Del("Content-Length")
	switch req.URL.Path {
	case tracesPath, metricsPath, logsPath:
		writeStatus(w.ResponseWriter, mediaType(req.Header.Get("Content-Type")), w.status, grpcCodeOf(w.status), msg)
	default:
		writeTelemetryError(w.ResponseWriter, w.status, msg)
	}
}

// structured reports whether an answer's body is already JSON or protobuf.
func structured(contentType string) bool {
	switch mediaType(contentType) {
	case jsonContentType, protobufContentType:
		return true
	}
	return false
}

// grpcCodeOf is the google.rpc.Status code of an HTTP error status.
func grpcCodeOf(httpStatus int) codes.Code {
	switch httpStatus {
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusNotFound:
		return codes.NotFound
	case http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return codes.Unimplemented
	case http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return codes.Unavailable
	}
	if httpStatus < http.StatusInternalServerError {
		return codes.InvalidArgument
	}
	return codes.Internal
}
