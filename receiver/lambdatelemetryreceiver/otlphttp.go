// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver // import "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

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
// for now. While the signal's pipeline refuses data for now, requests are answered 503
// before their body is read (see pressureGate).
//
// A body is weighed before it is decoded (checkOTLPBudget for protobuf, checkOTLPJSONBudget
// for JSON, as the root message): one that declares more items than its size carries is
// refused with 400.
func otlpHandler[R otlpRequest](r *lambdaTelemetryReceiver, gate *pressureGate, root otlpMessage, newRequest func() R, consume func(context.Context, R, wire.Batch) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ctx := req.Context()
		if req.Method != http.MethodPost {
			r.refused(ctx, reasonMalformed)
			w.Header().Set("Allow", http.MethodPost)
			writeStatus(w, jsonContentType, http.StatusMethodNotAllowed, codes.Unimplemented, "method "+req.Method+" is not allowed, use POST")
			return
		}
		contentType := mediaType(req.Header.Get("Content-Type"))
		if contentType != protobufContentType && contentType != jsonContentType {
			r.refused(ctx, reasonMalformed)
			writeStatus(w, jsonContentType, http.StatusUnsupportedMediaType, codes.InvalidArgument,
				"unsupported content type "+req.Header.Get("Content-Type")+", use "+protobufContentType+" or "+jsonContentType)
			return
		}
		if !gate.admit(r.now) {
			r.refused(ctx, reasonPipelineBusy)
			w.Header().Set("Retry-After", retryAfterSeconds)
			writeStatus(w, contentType, http.StatusServiceUnavailable, codes.Unavailable, errPipelineBusy.Error())
			return
		}
		body, code, err := readBody(req, r.cfg.HTTP.MaxRequestBodySize)
		if err != nil {
			r.refused(ctx, reasonOfStatus(code))
			writeStatus(w, contentType, code, codes.InvalidArgument, err.Error())
			return
		}

		check, unmarshal := checkOTLPBudget, R.UnmarshalProto
		if contentType == jsonContentType {
			check, unmarshal = checkOTLPJSONBudget, R.UnmarshalJSON
		}
		if err = check(root, body); err != nil {
			r.refused(ctx, reasonOfBudgetError(err))
			writeStatus(w, contentType, http.StatusBadRequest, codes.InvalidArgument, "cannot decode the OTLP request: "+err.Error())
			return
		}
		otlpReq := newRequest()
		if err = unmarshal(otlpReq, body); err != nil {
			r.refused(ctx, reasonMalformed)
			writeStatus(w, contentType, http.StatusBadRequest, codes.InvalidArgument, "cannot decode the OTLP request: "+err.Error())
			return
		}

		b, err := wire.BatchFromHeaders(req.Header)
		if err != nil {
			r.refused(ctx, reasonOfBatchError(err))
			writeStatus(w, contentType, http.StatusBadRequest, codes.InvalidArgument, err.Error())
			return
		}
		if err := consume(ctx, otlpReq, b); err != nil {
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
// the bytes arrive: a client that announces 20 MiB and sends nothing costs this much.
const maxBodyPreallocation = 1 << 20

// minBodyBuffer is the first buffer of a body of unknown length.
const minBodyBuffer = 4 << 10

// errBodyTooLarge is readBody's own refusal of a body over the limit, for handlers not
// behind confighttp's MaxBytesReader (tests, benchmarks).
var errBodyTooLarge = errors.New("the body is larger than max_request_body_size")

// readBody reads a request body of at most limit bytes (0: no limit known); when it
// cannot, it returns the HTTP status to answer: 413 over the limit (confighttp's
// MaxBytesReader, or readBody's own check), 400 otherwise.
//
// What it allocates is bounded by the body: io.ReadAll does not know the length, and for a
// 100 kB batch allocates some 2.5 times the body in growing chunks, then copies them into
// one more buffer. With a Content-Length, the buffer is sized from it in two steps: up to
// maxBodyPreallocation first, then, once that much has arrived, the rest at once (within
// the limit), so a 20 MiB body costs 21 MiB, not the 63 MiB of doubling. Without one (a
// chunked or a decompressed body) the buffer doubles, never past the limit.
func readBody(req *http.Request, limit int64) ([]byte, int, error) {
	return readBodyInto(nil, req, limit)
}

// readBodyInto is readBody reading into buf when the body fits in it, so that a handler
// can reuse the buffers of earlier requests.
func readBodyInto(buf []byte, req *http.Request, limit int64) ([]byte, int, error) {
	announced := req.ContentLength
	size := int64(minBodyBuffer)
	if announced >= 0 {
		size = min(announced, maxBodyPreallocation)
	}
	if limit > 0 {
		size = min(size, limit)
	}
	switch {
	case int64(cap(buf)) < size+1:
		buf = make([]byte, 0, size+1) // one spare byte sees the end without growing
	case limit > 0 && int64(cap(buf)) > limit+1:
		buf = buf[: 0 : limit+1] // the limit is checked when the buffer is full
	default:
		buf = buf[:0]
	}
	for {
		if len(buf) == cap(buf) {
			next := int64(2 * cap(buf))
			if announced > int64(len(buf)) {
				next = announced + 1
			}
			if limit > 0 {
				if int64(len(buf)) > limit {
					return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("cannot read the request body: %w", errBodyTooLarge)
				}
				next = min(next, limit+1)
			}
			grown := make([]byte, len(buf), next)
			copy(grown, buf)
			buf = grown
		}
		n, err := req.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		switch {
		case errors.Is(err, io.EOF):
			if limit > 0 && int64(len(buf)) > limit {
				return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("cannot read the request body: %w", errBodyTooLarge)
			}
			return buf, http.StatusOK, nil
		case err != nil:
			code := http.StatusBadRequest
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				code = http.StatusRequestEntityTooLarge
			}
			return nil, code, fmt.Errorf("cannot read the request body: %w", err)
		}
	}
}

// maxErrorMessage bounds an error message in an answer: messages may quote what the
// client sent (a time, a header), and an answer must not grow with the request.
const maxErrorMessage = 512

// boundedMessage cuts msg to at most max bytes, on a rune boundary, marking the cut.
func boundedMessage(msg string, max int) string {
	if len(msg) <= max {
		return msg
	}
	i := max
	for i > 0 && !utf8.RuneStart(msg[i]) {
		i--
	}
	return msg[:i] + "…"
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
	// The message may quote the request's bytes, or be cut inside a character; protobuf
	// strings must be UTF-8, or the answer could not be encoded.
	st := status.New(code, strings.ToValidUTF8(boundedMessage(msg, maxErrorMessage), "\uFFFD")).Proto()
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
