// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver // import "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
)

const (
	protobufContentType = "application/x-protobuf"
	jsonContentType     = "application/json"

	// retryAfterSeconds tells a client refused by a busy pipeline when to come back; the
	// extension honours it within the time Lambda gives it.
	retryAfterSeconds = "1"
)

// otlpRequest is an OTLP export request of any signal.
type otlpRequest interface {
	UnmarshalProto(data []byte) error
	UnmarshalJSON(data []byte) error
}

// otlpHandler serves one OTLP/HTTP signal path as the OTLP specification asks: protobuf or
// JSON in, the same encoding out, errors as a google.rpc.Status, 400 for a body that does
// not decode or data the pipeline refuses for good, 503 with Retry-After when it refuses
// for now.
func otlpHandler[R otlpRequest](newRequest func() R, consume func(context.Context, R, wire.Batch) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeStatus(w, jsonContentType, http.StatusMethodNotAllowed, codes.Unimplemented, "method "+req.Method+" is not allowed, use POST")
			return
		}
		contentType := mediaType(req.Header.Get("Content-Type"))
		if contentType != protobufContentType && contentType != jsonContentType {
			writeStatus(w, jsonContentType, http.StatusUnsupportedMediaType, codes.InvalidArgument,
				"unsupported content type "+req.Header.Get("Content-Type")+", use "+protobufContentType+" or "+jsonContentType)
			return
		}
		body, code, err := readBody(req)
		if err != nil {
			writeStatus(w, contentType, code, codes.InvalidArgument, err.Error())
			return
		}

		otlpReq := newRequest()
		if contentType == protobufContentType {
			err = otlpReq.UnmarshalProto(body)
		} else {
			err = otlpReq.UnmarshalJSON(body)
		}
		if err != nil {
			writeStatus(w, contentType, http.StatusBadRequest, codes.InvalidArgument, "cannot decode the OTLP request: "+err.Error())
			return
		}

		b, err := wire.BatchFromHeaders(req.Header)
		if err != nil {
			writeStatus(w, contentType, http.StatusBadRequest, codes.InvalidArgument, err.Error())
			return
		}
		if err := consume(req.Context(), otlpReq, b); err != nil {
			// A permanent error is about the data (a metric whose type conflicts, say):
			// resending the same cannot help, and the rest of the request was taken.
			if consumererror.IsPermanent(err) {
				writeStatus(w, contentType, http.StatusBadRequest, codes.InvalidArgument, err.Error())
				return
			}
			w.Header().Set("Retry-After", retryAfterSeconds)
			writeStatus(w, contentType, http.StatusServiceUnavailable, codes.Unavailable, err.Error())
			return
		}

		// An empty export response: no partial success to report.
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(http.StatusOK)
		if contentType == jsonContentType {
			_, _ = w.Write([]byte("{}"))
		}
	})
}

// maxBodyPreallocation bounds what a request's Content-Length makes readBody allocate before
// the bytes arrive; a larger body grows the buffer as it is read.
const maxBodyPreallocation = 1 << 20

// readBody reads a request body; when it cannot, it returns the HTTP status to answer:
// 413 over max_request_body_size (confighttp's MaxBytesReader), 400 otherwise.
//
// The buffer is sized from Content-Length: io.ReadAll does not know the length, and for a
// 100 kB batch allocates some 2.5 times the body in growing chunks, then copies them into
// one more buffer.
func readBody(req *http.Request) ([]byte, int, error) {
	var buf bytes.Buffer
	if n := req.ContentLength; n > 0 {
		// ReadFrom wants MinRead spare bytes to see the end of the body without growing.
		buf.Grow(int(min(n, maxBodyPreallocation)) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(req.Body)
	if err == nil {
		return buf.Bytes(), http.StatusOK, nil
	}
	code := http.StatusBadRequest
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		code = http.StatusRequestEntityTooLarge
	}
	return nil, code, fmt.Errorf("cannot read the request body: %w", err)
}

func mediaType(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	return mt
}

// writeStatus answers with a google.rpc.Status in the request's encoding, as OTLP/HTTP
// clients expect to find the error message there.
func writeStatus(w http.ResponseWriter, contentType string, httpCode int, code codes.Code, msg string) {
	st := status.New(code, msg).Proto()
	var body []byte
	var err error
	if contentType == protobufContentType {
		body, err = proto.Marshal(st)
	} else {
		contentType = jsonContentType
		body, err = protojson.Marshal(st)
	}
	if err != nil {
		contentType, body = "text/plain; charset=utf-8", []byte(msg)
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(httpCode)
	_, _ = w.Write(body)
}
