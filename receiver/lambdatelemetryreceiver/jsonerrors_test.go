// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configauth"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/receiver/receivertest"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/metadata"
)

// TestErrorsOfTheHTTPLayersAreJSON: what confighttp answers in front of the receiver's
// handlers (401 from the authenticator, 400 for an unknown Content-Encoding, 413 when a
// compressed body decodes past the limit) and the mux's 404 reach the client in the
// receiver's own form, with the same status: JSON on the telemetry path, a google.rpc.Status
// in the request's encoding on the OTLP paths.
func TestErrorsOfTheHTTPLayersAreJSON(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.HTTP.NetAddr.Endpoint = "127.0.0.1:0"
	cfg.HTTP.MaxRequestBodySize = 64 << 10
	cfg.HTTP.Auth = configoptional.Some(confighttp.AuthConfig{Config: configauth.Config{AuthenticatorID: component.MustNewID("tokenauth")}})
	traces := new(consumertest.TracesSink)
	r, err := NewFactory().CreateTraces(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, traces)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), hostWithAuth{componenttest.NewNopHost()}))
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
	base := "http://" + sharedReceiver(t, cfg).addr.String()

	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	_, err = zw.Write(bytes.Repeat([]byte(" "), 1<<20)) // 1 MiB of spaces in about 1 KiB
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	otlpBody, err := ptraceotlp.NewExportRequestFromTraces(testTraces()).MarshalProto()
	require.NoError(t, err)

	authorized := func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cret") }
	tests := []struct {
		name        string
		path        string
		contentType string
		body        []byte
		mutate      func(*http.Request)
		wantCode    int
		wantGRPC    codes.Code // on OTLP paths
		wantMessage string
	}{
		{name: "telemetry without a token", path: wire.TelemetryPath, contentType: jsonContentType, body: []byte("[]"),
			wantCode: http.StatusUnauthorized, wantMessage: "a valid bearer token is required"},
		{name: "OTLP protobuf without a token", path: tracesPath, contentType: protobufContentType, body: otlpBody,
			wantCode: http.StatusUnauthorized, wantGRPC: codes.Unauthenticated, wantMessage: "a valid bearer token is required"},
		{name: "OTLP JSON without a token", path: tracesPath, contentType: jsonContentType, body: []byte("{}"),
			wantCode: http.StatusUnauthorized, wantGRPC: codes.Unauthenticated, wantMessage: "a valid bearer token is required"},
		{name: "unknown content encoding", path: wire.TelemetryPath, contentType: jsonContentType, body: []byte("[]"),
			mutate:   func(r *http.Request) { authorized(r); r.Header.Set("Content-Encoding", "br0tli") },
			wantCode: http.StatusBadRequest, wantMessage: "unsupported Content-Encoding"},
		{name: "gzip bomb", path: wire.TelemetryPath, contentType: jsonContentType, body: bomb.Bytes(),
			mutate:   func(r *http.Request) { authorized(r); r.Header.Set("Content-Encoding", "gzip") },
			wantCode: http.StatusRequestEntityTooLarge, wantMessage: "request body too large"},
		{name: "gzip bomb on OTLP", path: tracesPath, contentType: protobufContentType, body: bomb.Bytes(),
			mutate:   func(r *http.Request) { authorized(r); r.Header.Set("Content-Encoding", "gzip") },
			wantCode: http.StatusRequestEntityTooLarge, wantGRPC: codes.InvalidArgument, wantMessage: "request body too large"},
		{name: "unknown path", path: "/v1/nothing", contentType: jsonContentType, body: []byte("[]"), mutate: authorized,
			wantCode: http.StatusNotFound, wantMessage: "404 page not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, base+tt.path, bytes.NewReader(tt.body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", tt.contentType)
			testSandbox.SetHeaders(req.Header)
			if tt.mutate != nil {
				tt.mutate(req)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)

			assert.Equal(t, tt.wantCode, resp.StatusCode)
			if tt.path == tracesPath {
				assert.Equal(t, tt.contentType, resp.Header.Get("Content-Type"))
				st := decodeStatus(t, tt.contentType, body)
				assert.Equal(t, int32(tt.wantGRPC), st.GetCode())
				assert.Contains(t, st.GetMessage(), tt.wantMessage)
				return
			}
			assert.Equal(t, jsonContentType, resp.Header.Get("Content-Type"))
			var answer telemetryResponse
			require.NoError(t, json.Unmarshal(body, &answer), "the answer is JSON: %s", body)
			assert.Contains(t, answer.Error, tt.wantMessage)
		})
	}
	assert.Zero(t, traces.SpanCount())
}

// TestJSONErrorsKeepsStructuredAnswers: answers the handlers write themselves pass as
// they are, errors included.
func TestJSONErrorsKeepsStructuredAnswers(t *testing.T) {
	tests := []struct {
		name        string
		handler     http.HandlerFunc
		wantCode    int
		wantBody    string
		wantContent string
	}{
		{name: "success", handler: func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) },
			wantCode: http.StatusOK, wantBody: "ok", wantContent: "text/plain; charset=utf-8"},
		{name: "JSON error", handler: func(w http.ResponseWriter, _ *http.Request) {
			writeTelemetryError(w, http.StatusBadRequest, "bad")
		}, wantCode: http.StatusBadRequest, wantBody: `{"accepted":0,"error":"bad"}`, wantContent: jsonContentType},
		{name: "plain error", handler: func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, strings.Repeat("x", 3*maxCapturedError), http.StatusForbidden)
		}, wantCode: http.StatusForbidden, wantContent: jsonContentType,
			wantBody: `{"accepted":0,"error":"` + strings.Repeat("x", maxErrorMessage) + `…"}`},
		{name: "error without a body", handler: func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) },
			wantCode: http.StatusTeapot, wantContent: jsonContentType, wantBody: `{"accepted":0,"error":"I'm a teapot"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			jsonErrors(tt.handler).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, wire.TelemetryPath, nil))
			assert.Equal(t, tt.wantCode, rec.Code)
			assert.Equal(t, tt.wantContent, rec.Header().Get("Content-Type"))
			assert.Equal(t, tt.wantBody, rec.Body.String())
		})
	}
}

// TestOTLPErrorWithBytesThatAreNotUTF8: a message quoting a request's raw bytes (pdata's
// errors do) is still answered as a google.rpc.Status in the request's encoding.
func TestOTLPErrorWithBytesThatAreNotUTF8(t *testing.T) {
	for _, contentType := range []string{jsonContentType, protobufContentType} {
		t.Run(contentType, func(t *testing.T) {
			rec := httptest.NewRecorder()
			writeStatus(rec, contentType, http.StatusBadRequest, codes.InvalidArgument, "bad value \xff\xfe in startTimeUnixNano")
			assert.Equal(t, http.StatusBadRequest, rec.Code)
			assert.Equal(t, contentType, rec.Header().Get("Content-Type"))
			st := &spb.Status{}
			if contentType == jsonContentType {
				require.NoError(t, protojson.Unmarshal(rec.Body.Bytes(), st))
			} else {
				require.NoError(t, proto.Unmarshal(rec.Body.Bytes(), st))
			}
			assert.Equal(t, "bad value \uFFFD in startTimeUnixNano", st.GetMessage())
		})
	}
}
