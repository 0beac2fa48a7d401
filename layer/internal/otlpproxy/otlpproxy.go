// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package otlpproxy serves OTLP/HTTP inside the sandbox (localhost:4318, the default of
// the Node and Python SDKs) and queues each request's body as it was received, encoding
// and compression included, for the gateway: nothing is decoded or re-encoded here.
//
// It answers at once with an empty success, so that a function's exporter (and a
// ForceFlush at the end of its handler) never waits for the gateway.
package otlpproxy // import "github.com/otelcol-lambda/otelcol-lambda/layer/internal/otlpproxy"

import (
	"io"
	"mime"
	"net/http"

	"github.com/otelcol-lambda/otelcol-lambda/layer/internal/forward"
	"github.com/otelcol-lambda/otelcol-lambda/layer/internal/queue"
)

// MaxBodyBytes bounds one request.
const MaxBodyBytes = 8 << 20

// Signal paths.
const (
	PathTraces  = "/v1/traces"
	PathMetrics = "/v1/metrics"
	PathLogs    = "/v1/logs"
)

const (
	contentTypeProtobuf = "application/x-protobuf"
	contentTypeJSON     = "application/json"
)

// Handler queues OTLP requests.
type Handler struct {
	Queue *queue.Queue[forward.Payload]
}

func (h Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case PathTraces, PathMetrics, PathLogs:
	default:
		http.Error(w, "not found: OTLP/HTTP paths are /v1/traces, /v1/metrics and /v1/logs", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed: use POST", http.StatusMethodNotAllowed)
		return
	}
	contentType := r.Header.Get("Content-Type")
	mediaType, _, _ := mime.ParseMediaType(contentType)
	if mediaType != contentTypeProtobuf && mediaType != contentTypeJSON {
		http.Error(w, "unsupported content type "+contentType+": use application/x-protobuf or application/json", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		http.Error(w, "the body is too large", http.StatusRequestEntityTooLarge)
		return
	}
	h.Queue.Push(forward.Payload{
		Path:            r.URL.Path,
		ContentType:     contentType,
		ContentEncoding: r.Header.Get("Content-Encoding"),
		Body:            body,
	})
	// An empty Export*ServiceResponse: zero bytes in protobuf, {} in JSON.
	w.Header().Set("Content-Type", mediaType)
	w.WriteHeader(http.StatusOK)
	if mediaType == contentTypeJSON {
		_, _ = io.WriteString(w, "{}")
	}
}
