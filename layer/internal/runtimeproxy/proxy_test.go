// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package runtimeproxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/lambdaemu"
)

const (
	testTimeout  = 10 * time.Second
	pollInterval = 2 * time.Millisecond
)

type validationError struct{ field string }

func (e *validationError) Error() string { return "invalid " + e.field }

// emulatedSandbox is a lambdaemu sandbox whose runtime (goRuntime running handler) talks
// to the Runtime API through a proxy.
func emulatedSandbox(t *testing.T, cfg Config, handler goHandler, readEvent func(io.Reader) ([]byte, error)) (*lambdaemu.Emulator, *Proxy) {
	t.Helper()
	var proxyAddr string
	emu, err := lambdaemu.New(lambdaemu.Config{
		Runtime: goRuntime(func() string { return proxyAddr }, handler, readEvent),
		Timeout: testTimeout,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = emu.Close() })
	cfg.Upstream = emu.RuntimeAPI()
	p, addr := startProxy(t, cfg)
	proxyAddr = addr
	_, err = emu.Start(context.Background())
	require.NoError(t, err)
	return emu, p
}

func TestProxyWithEmulator(t *testing.T) {
	tests := []struct {
		name          string
		handler       goHandler
		wantStatus    string
		wantKind      OutcomeKind
		wantErrorType string
	}{
		{
			name:       "success",
			handler:    func(_ context.Context, event []byte) ([]byte, error) { return event, nil },
			wantStatus: telemetryapi.StatusSuccess,
			wantKind:   OutcomeResponse,
		},
		{
			name:          "function error",
			handler:       func(context.Context, []byte) ([]byte, error) { return nil, errors.New("boom") },
			wantStatus:    telemetryapi.StatusError,
			wantKind:      OutcomeError,
			wantErrorType: "errorString",
		},
		{
			name: "function error of its own type",
			handler: func(context.Context, []byte) ([]byte, error) {
				return nil, &validationError{field: "orderId"}
			},
			wantStatus:    telemetryapi.StatusError,
			wantKind:      OutcomeError,
			wantErrorType: "validationError",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder()
			emu, p := emulatedSandbox(t, Config{OnInvocation: rec.onInvocation, OnOutcome: rec.onOutcome}, tt.handler, nil)
			payload := []byte(`{"Records":[{"eventSource":"aws:sqs","body":"hello"}]}`)
			const traceHeader = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
			res, err := emu.Invoke(context.Background(), lambdaemu.InvokeRequest{Payload: payload, TraceHeader: traceHeader})
			require.NoError(t, err)
			assert.Equal(t, tt.wantStatus, res.Status)
			assert.Equal(t, tt.wantErrorType, res.ErrorType, "Lambda sees the error as without the proxy")

			invocations, outcomes := rec.waitFor(t, 1, 1)
			require.Len(t, invocations, 1)
			inv := invocations[0]
			assert.Equal(t, res.RequestID, inv.RequestID)
			assert.Equal(t, traceHeader, inv.TraceID)
			assert.Equal(t, emu.Config().FunctionARN(), inv.FunctionARN)
			assert.Positive(t, inv.DeadlineMs)
			assert.Equal(t, payload, inv.Prefix)
			assert.False(t, inv.Truncated)
			assert.Equal(t, int64(len(payload)), inv.Size)
			assert.False(t, inv.Received.IsZero())

			require.Len(t, outcomes, 1)
			out := outcomes[0]
			assert.Equal(t, tt.wantKind, out.Kind)
			assert.Equal(t, res.RequestID, out.RequestID)
			assert.Equal(t, tt.wantErrorType, out.ErrorType)
			assert.Equal(t, http.StatusAccepted, out.Status)
			assert.Equal(t, int64(len(res.Response)), out.Size)
			assert.False(t, out.Streaming)
			assert.False(t, out.Done.Before(out.Received))
			assert.Equal(t, Stats{}, p.Stats())
		})
	}
}

func TestInitErrorWithEmulator(t *testing.T) {
	rec := newRecorder()
	var proxyAddr string
	initFails := func(ctx context.Context, _ string) error {
		body := `{"errorMessage":"Cannot find module 'index'","errorType":"Runtime.ImportModuleError","stackTrace":[]}`
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+proxyAddr+PathInitError, strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set(HeaderErrorType, "Runtime.ImportModuleError")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		<-ctx.Done()
		return nil
	}
	emu, err := lambdaemu.New(lambdaemu.Config{Runtime: initFails})
	require.NoError(t, err)
	defer func() { _ = emu.Close() }()
	_, proxyAddr = startProxy(t, Config{Upstream: emu.RuntimeAPI(), OnOutcome: rec.onOutcome})
	res, err := emu.Start(context.Background())
	require.ErrorContains(t, err, "init failed")
	assert.Equal(t, "Runtime.ImportModuleError", res.Error, "Lambda sees the init error as without the proxy")

	_, outcomes := rec.waitFor(t, 0, 1)
	assert.Equal(t, OutcomeInitError, outcomes[0].Kind)
	assert.Equal(t, "Runtime.ImportModuleError", outcomes[0].ErrorType)
	assert.Empty(t, outcomes[0].RequestID)
	assert.Equal(t, http.StatusAccepted, outcomes[0].Status)
	http.DefaultClient.CloseIdleConnections()
}

// countEvent reads an event without keeping it, into a buffer made once, so that the
// runtime's side of the measurement allocates nothing per invocation.
func countEvent(counted *int64) func(io.Reader) ([]byte, error) {
	buf := make([]byte, 32<<10)
	return func(r io.Reader) ([]byte, error) {
		*counted = 0
		for {
			n, err := r.Read(buf)
			*counted += int64(n)
			if err == io.EOF {
				return nil, nil
			}
			if err != nil {
				return nil, err
			}
		}
	}
}

// A 6 MB event streams through the emulated sandbox: the runtime gets all of it and the
// callback its first ClassifyWindow bytes. (What the proxy allocates for it is measured in
// TestLargeEventMemory, without the emulator's own bookkeeping in the figures.)
func TestLargeEventWithEmulator(t *testing.T) {
	const window = 64 << 10
	payload := bytes.Repeat([]byte(`{"k":"0123456789abcdef"},`), (6<<20)/25)
	require.Greater(t, len(payload), 6<<20-32)
	var counted int64
	ok := func(context.Context, []byte) ([]byte, error) { return []byte(`{"ok":true}`), nil }
	rec := newRecorder()
	emu, p := emulatedSandbox(t, Config{ClassifyWindow: window, OnInvocation: rec.onInvocation}, ok, countEvent(&counted))
	for range 2 {
		res, err := emu.Invoke(context.Background(), lambdaemu.InvokeRequest{Payload: payload})
		require.NoError(t, err)
		require.Equal(t, telemetryapi.StatusSuccess, res.Status)
		assert.Equal(t, int64(len(payload)), counted, "the runtime gets the whole event")
	}
	invocations, _ := rec.waitFor(t, 2, 0)
	for _, inv := range invocations {
		assert.Equal(t, payload[:window], inv.Prefix)
		assert.True(t, inv.Truncated)
		assert.Equal(t, int64(len(payload)), inv.Size)
	}
	assert.Equal(t, Stats{}, p.Stats())
}

// The proxy allocates about one ClassifyWindow for a 6 MB event, never the event: the
// process's TotalAlloc over the same invocations/next, direct and through the proxy, from a
// Runtime API that serves the event from a small buffer to a runtime that counts it.
func TestLargeEventMemory(t *testing.T) {
	const (
		window    = 64 << 10
		eventSize = 6 << 20
		rounds    = 8
	)
	pattern := bytes.Repeat([]byte("0123456789abcdef"), 2<<10) // 32 KB
	tests := []struct {
		name          string
		contentLength bool
	}{
		{name: "with Content-Length", contentLength: true},
		{name: "chunked", contentLength: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set(HeaderRequestID, "big-1")
				if tt.contentLength {
					w.Header().Set("Content-Length", "6291456")
				}
				for sent := 0; sent < eventSize; sent += len(pattern) {
					if _, err := w.Write(pattern); err != nil {
						return
					}
				}
			}))
			defer upstream.Close()
			var invocations atomic.Int64
			_, addr := startProxy(t, Config{Upstream: upstream.Listener.Addr().String(), ClassifyWindow: window,
				OnInvocation: func(inv Invocation) {
					if inv.Truncated && len(inv.Prefix) == window && inv.Size == eventSize {
						invocations.Add(1)
					}
				}})
			client := &http.Client{}
			defer client.CloseIdleConnections()
			var counted int64
			read := countEvent(&counted)
			next := func(api string) {
				resp, err := client.Get("http://" + api + PathNext)
				require.NoError(t, err)
				_, err = read(resp.Body)
				require.NoError(t, err)
				_ = resp.Body.Close()
				require.Equal(t, int64(eventSize), counted)
			}
			allocated := func(api string) uint64 {
				next(api) // warm: connections, pools
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				for range rounds {
					next(api)
				}
				runtime.ReadMemStats(&after)
				return (after.TotalAlloc - before.TotalAlloc) / rounds
			}
			direct := allocated(upstream.Listener.Addr().String())
			proxied := allocated(addr)
			added := int64(proxied) - int64(direct)
			t.Logf("per 6 MB invocation: direct %d B, through the proxy %d B, added %d B (window %d B)", direct, proxied, added, window)
			assert.Less(t, added, int64(2*window), "the proxy must not hold the event")
			require.Eventually(t, func() bool { return invocations.Load() == rounds+1 }, testTimeout, pollInterval)
		})
	}
}

// recordedRequest is what a stub Runtime API received.
type recordedRequest struct {
	method, uri      string
	header, trailer  http.Header
	transferEncoding []string
	body             []byte
}

// stubRuntimeAPI answers with respond and records each request.
type stubRuntimeAPI struct {
	mu       sync.Mutex
	requests []recordedRequest
	respond  http.HandlerFunc
}

func (s *stubRuntimeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.requests = append(s.requests, recordedRequest{
		method: r.Method, uri: r.RequestURI, header: r.Header.Clone(), trailer: r.Trailer.Clone(),
		transferEncoding: r.TransferEncoding, body: body,
	})
	s.mu.Unlock()
	s.respond(w, r)
}

func (s *stubRuntimeAPI) last(t *testing.T) recordedRequest {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	require.NotEmpty(t, s.requests)
	return s.requests[len(s.requests)-1]
}

var stubEventHeaders = map[string]string{
	HeaderRequestID:     "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
	HeaderDeadlineMs:    "1542409706888",
	HeaderFunctionARN:   "arn:aws:lambda:us-east-2:123456789012:function:custom-runtime",
	HeaderTraceID:       "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
	HeaderClientContext: `{"client":{"app_title":"shop"},"custom":{},"env":{}}`,
	HeaderCognitoID:     `{"cognitoIdentityId":"us-east-2:1234","cognitoIdentityPoolId":"us-east-2:5678"}`,
	"Content-Type":      "application/json",
}

func TestPassThrough(t *testing.T) {
	event := []byte(`{"version":"2.0","routeKey":"GET /","rawPath":"/"}`)
	stub := &stubRuntimeAPI{respond: func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == PathNext:
			for k, v := range stubEventHeaders {
				w.Header().Set(k, v)
			}
			_, _ = w.Write(event)
		case strings.HasSuffix(r.URL.Path, "/late/response"):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"errorMessage":"no invocation in progress","errorType":"InvalidRequestID"}`)
		case strings.HasPrefix(r.URL.Path, "/2018-06-01/runtime/invocation/") || r.URL.Path == PathInitError:
			w.WriteHeader(http.StatusAccepted)
			_, _ = io.WriteString(w, `{"status":"OK"}`)
		default:
			w.Header().Set("X-Stub", "unknown")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, "no route "+r.URL.Path)
		}
	}}
	upstream := httptest.NewServer(stub)
	defer upstream.Close()
	rec := newRecorder()
	p, addr := startProxy(t, Config{Upstream: upstream.Listener.Addr().String(), OnInvocation: rec.onInvocation, OnOutcome: rec.onOutcome})
	client := &http.Client{}
	defer client.CloseIdleConnections()

	tests := []struct {
		name, method, uri string
		header            map[string]string
		body              string
		wantStatus        int
		wantBody          string
		wantHeader        map[string]string
		wantOutcome       *Outcome // Kind, RequestID, ErrorType, Status
	}{
		{
			name: "next passes every header and the event", method: http.MethodGet, uri: PathNext,
			header:     map[string]string{"User-Agent": "aws-lambda-go/go1.26"},
			wantStatus: http.StatusOK, wantBody: string(event), wantHeader: stubEventHeaders,
		},
		{
			name: "unknown path, query and status pass unchanged", method: http.MethodGet, uri: "/2018-06-01/runtime/other?x=1&y=%2F",
			wantStatus: http.StatusNotFound, wantBody: "no route /2018-06-01/runtime/other", wantHeader: map[string]string{"X-Stub": "unknown"},
		},
		{
			name: "error type from the body", method: http.MethodPost, uri: "/2018-06-01/runtime/invocation/id-1/error",
			header:     map[string]string{HeaderErrorType: "Unhandled", "Content-Type": "application/vnd.aws.lambda.error+json"},
			body:       `{"errorMessage":"Task timed out","errorType":"TimeoutError","stackTrace":["at a","at b"]}`,
			wantStatus: http.StatusAccepted, wantBody: `{"status":"OK"}`,
			wantOutcome: &Outcome{Kind: OutcomeError, RequestID: "id-1", ErrorType: "TimeoutError", Status: http.StatusAccepted},
		},
		{
			name: "error type from the header when the body has none", method: http.MethodPost, uri: "/2018-06-01/runtime/invocation/id-2/error",
			header: map[string]string{HeaderErrorType: "Runtime.ExitError"}, body: "exit status 2",
			wantStatus: http.StatusAccepted, wantBody: `{"status":"OK"}`,
			wantOutcome: &Outcome{Kind: OutcomeError, RequestID: "id-2", ErrorType: "Runtime.ExitError", Status: http.StatusAccepted},
		},
		{
			name: "Lambda's refusal reaches the runtime", method: http.MethodPost, uri: "/2018-06-01/runtime/invocation/late/response",
			body: `{}`, wantStatus: http.StatusBadRequest, wantBody: `{"errorMessage":"no invocation in progress","errorType":"InvalidRequestID"}`,
			wantOutcome: &Outcome{Kind: OutcomeResponse, RequestID: "late", Status: http.StatusBadRequest},
		},
		{
			name: "init error", method: http.MethodPost, uri: PathInitError,
			body:       `{"errorMessage":"bad handler","errorType":"Runtime.HandlerNotFound"}`,
			wantStatus: http.StatusAccepted, wantBody: `{"status":"OK"}`,
			wantOutcome: &Outcome{Kind: OutcomeInitError, ErrorType: "Runtime.HandlerNotFound", Status: http.StatusAccepted},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, before := rec.snapshot()
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req, err := http.NewRequest(tt.method, "http://"+addr+tt.uri, body)
			require.NoError(t, err)
			req.Header.Set("User-Agent", "") // none, unless the case sets one
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := client.Do(req)
			require.NoError(t, err)
			got, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			_ = resp.Body.Close()
			assert.Equal(t, tt.wantStatus, resp.StatusCode)
			assert.Equal(t, tt.wantBody, string(got))
			for k, v := range tt.wantHeader {
				assert.Equal(t, v, resp.Header.Get(k), k)
			}

			// Lambda got the request as the runtime sent it.
			sent := stub.last(t)
			assert.Equal(t, tt.method, sent.method)
			assert.Equal(t, tt.uri, sent.uri)
			assert.Equal(t, tt.body, string(sent.body))
			for k, v := range tt.header {
				assert.Equal(t, v, sent.header.Get(k), k)
			}
			if _, ok := tt.header["User-Agent"]; !ok {
				assert.Empty(t, sent.header.Get("User-Agent"), "no User-Agent of the proxy's own")
			}

			if tt.wantOutcome != nil {
				_, outcomes := rec.waitFor(t, 0, len(before)+1)
				o := outcomes[len(outcomes)-1]
				assert.Equal(t, *tt.wantOutcome, Outcome{Kind: o.Kind, RequestID: o.RequestID, ErrorType: o.ErrorType, Status: o.Status})
				assert.Equal(t, int64(len(tt.body)), o.Size)
			}
		})
	}
	invocations, _ := rec.snapshot()
	require.Len(t, invocations, 1)
	assert.Equal(t, Invocation{
		RequestID: stubEventHeaders[HeaderRequestID], TraceID: stubEventHeaders[HeaderTraceID],
		FunctionARN: stubEventHeaders[HeaderFunctionARN], DeadlineMs: 1542409706888,
		Received: invocations[0].Received, Prefix: event, Size: int64(len(event)),
	}, invocations[0])
	assert.Equal(t, Stats{}, p.Stats())
}

// A streamed response (chunked, with the error trailers) reaches Lambda as the runtime
// sent it, chunk by chunk: the second chunk is only written once Lambda read the first.
func TestStreamingResponsePassesThrough(t *testing.T) {
	tests := []struct {
		name          string
		trailer       map[string]string // values set after the last chunk
		wantKind      OutcomeKind
		wantErrorType string
	}{
		{name: "streamed to the end", wantKind: OutcomeResponse},
		{
			name: "failed mid-stream",
			trailer: map[string]string{
				HeaderErrorType: "Runtime.StreamError",
				HeaderErrorBody: "eyJlcnJvck1lc3NhZ2UiOiJsb3N0In0=", // base64 of an error body
			},
			wantKind: OutcomeError, wantErrorType: "Runtime.StreamError",
		},
	}
	chunks := []string{"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\n\r\n<p>first", "</p><p>second</p>"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			firstChunk := make(chan struct{})
			var got recordedRequest
			upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				buf := make([]byte, len(chunks[0]))
				_, err := io.ReadFull(r.Body, buf)
				if err == nil {
					close(firstChunk)
				}
				rest, _ := io.ReadAll(r.Body)
				got = recordedRequest{
					header: r.Header.Clone(), trailer: r.Trailer.Clone(), transferEncoding: r.TransferEncoding,
					body: append(buf, rest...),
				}
				w.WriteHeader(http.StatusAccepted)
			}))
			defer upstream.Close()
			rec := newRecorder()
			_, addr := startProxy(t, Config{Upstream: upstream.Listener.Addr().String(), OnOutcome: rec.onOutcome})

			pr, pw := io.Pipe()
			req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/2018-06-01/runtime/invocation/s-1/response", pr)
			require.NoError(t, err)
			req.Header.Set(HeaderResponseMode, ResponseModeStreamed)
			req.Header.Set("Content-Type", "application/vnd.awslambda.http-integration-response")
			req.Trailer = http.Header{HeaderErrorType: nil, HeaderErrorBody: nil}
			go func() {
				_, _ = io.WriteString(pw, chunks[0])
				select {
				case <-firstChunk:
				case <-time.After(testTimeout):
					pw.CloseWithError(errors.New("the first chunk did not reach Lambda on its own"))
					return
				}
				_, _ = io.WriteString(pw, chunks[1])
				for k, v := range tt.trailer {
					req.Trailer.Set(k, v)
				}
				_ = pw.Close()
			}()
			client := &http.Client{}
			defer client.CloseIdleConnections()
			resp, err := client.Do(req)
			require.NoError(t, err)
			_ = resp.Body.Close()
			assert.Equal(t, http.StatusAccepted, resp.StatusCode)

			assert.Equal(t, strings.Join(chunks, ""), string(got.body))
			assert.Equal(t, []string{"chunked"}, got.transferEncoding)
			assert.Equal(t, ResponseModeStreamed, got.header.Get(HeaderResponseMode))
			assert.Equal(t, "application/vnd.awslambda.http-integration-response", got.header.Get("Content-Type"))
			for _, k := range []string{HeaderErrorType, HeaderErrorBody} {
				assert.Equal(t, tt.trailer[k], got.trailer.Get(k), k)
			}

			_, outcomes := rec.waitFor(t, 0, 1)
			o := outcomes[0]
			assert.Equal(t, tt.wantKind, o.Kind)
			assert.Equal(t, tt.wantErrorType, o.ErrorType)
			assert.True(t, o.Streaming)
			assert.Equal(t, int64(len(strings.Join(chunks, ""))), o.Size)
		})
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func TestUpstreamDown(t *testing.T) {
	upstream := closedAddr(t)
	rec := newRecorder()
	p, addr := startProxy(t, Config{Upstream: upstream, OnOutcome: rec.onOutcome})
	client := &http.Client{}
	defer client.CloseIdleConnections()
	tests := []struct {
		method, path string
		wantKind     OutcomeKind
	}{
		{http.MethodGet, PathNext, 0},
		{http.MethodPost, "/2018-06-01/runtime/invocation/id-1/response", OutcomeResponse},
		{http.MethodPost, "/2018-06-01/runtime/invocation/id-1/error", OutcomeError},
		{http.MethodPost, PathInitError, OutcomeInitError},
		{http.MethodGet, "/2018-06-01/runtime/other", 0},
	}
	for i, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, "http://"+addr+tt.path, strings.NewReader(`{"errorType":"E"}`))
			require.NoError(t, err)
			resp, err := client.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			var body struct{ ErrorType, ErrorMessage string }
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
			assert.Equal(t, ErrorTypeUpstreamUnavailable, body.ErrorType)
			assert.Contains(t, body.ErrorMessage, upstream)
			assert.Equal(t, uint64(i+1), p.Stats().UpstreamErrors)
		})
	}
	// The outcomes are still told, as not delivered (status 0).
	_, outcomes := rec.waitFor(t, 0, 3)
	for _, o := range outcomes {
		assert.Zero(t, o.Status)
	}
	assert.Equal(t, []OutcomeKind{OutcomeResponse, OutcomeError, OutcomeInitError},
		[]OutcomeKind{outcomes[0].Kind, outcomes[1].Kind, outcomes[2].Kind})
}

// Callbacks that panic or block never reach the runtime: every invocation completes.
func TestCallbacksNeverHoldTheRuntime(t *testing.T) {
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	defer unblock()
	var mu sync.Mutex
	var delivered []string
	note := func(s string) {
		mu.Lock()
		delivered = append(delivered, s)
		mu.Unlock()
	}
	tests := []struct {
		name          string
		cfg           Config
		afterInvokes  func()
		wantPanics    uint64
		wantDropped   bool
		wantDelivered int
	}{
		{
			name: "OnInvocation panics",
			cfg: Config{
				OnInvocation: func(Invocation) { panic("classifier bug") },
				OnOutcome:    func(o Outcome) { note(o.RequestID) },
			},
			wantPanics: 3, wantDelivered: 3,
		},
		{
			name: "OnOutcome panics",
			cfg: Config{
				OnInvocation: func(inv Invocation) { note(inv.RequestID) },
				OnOutcome:    func(Outcome) { panic(errors.New("exporter bug")) },
			},
			wantPanics: 3, wantDelivered: 3,
		},
		{
			name: "OnInvocation blocks",
			cfg: Config{
				QueueSize:    1,
				OnInvocation: func(Invocation) { <-release },
				OnOutcome:    func(o Outcome) { note(o.RequestID) },
			},
			afterInvokes: unblock,
			wantDropped:  true,
		},
	}
	echo := func(_ context.Context, event []byte) ([]byte, error) { return event, nil }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			delivered = nil
			mu.Unlock()
			emu, p := emulatedSandbox(t, tt.cfg, echo, nil)
			for range 3 {
				res, err := emu.Invoke(context.Background(), lambdaemu.InvokeRequest{Payload: []byte(`{}`)})
				require.NoError(t, err)
				assert.Equal(t, telemetryapi.StatusSuccess, res.Status)
			}
			if tt.afterInvokes != nil {
				tt.afterInvokes()
			}
			if tt.wantDropped {
				// Blocked on the first invocation, with one slot: of 5 events, some were dropped.
				assert.Positive(t, p.Stats().DroppedEvents)
			}
			require.Eventually(t, func() bool { return p.Stats().CallbackPanics == tt.wantPanics }, testTimeout, pollInterval)
			require.Eventually(t, func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(delivered) >= tt.wantDelivered
			}, testTimeout, pollInterval)
		})
	}
}

func TestLifecycle(t *testing.T) {
	_, err := New(Config{Upstream: "no-port"})
	require.Error(t, err)
	_, err = New(Config{Upstream: "127.0.0.1:9001", ClassifyWindow: -1})
	require.Error(t, err)

	p, err := New(Config{Upstream: "127.0.0.1:9001", Listen: "127.0.0.1:-1"})
	require.NoError(t, err)
	_, err = p.Start(context.Background())
	require.Error(t, err, "a proxy that cannot listen says so, and the runtime talks to Lambda directly")
	p.Close()

	p, err = New(Config{Upstream: "127.0.0.1:9001"})
	require.NoError(t, err)
	p.Close() // before Start
	p.Close()
	_, err = p.Start(context.Background())
	require.Error(t, err)

	// Close cuts a runtime waiting in invocation/next and returns.
	hold := make(chan struct{})
	arrived := make(chan struct{}, 1)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-hold:
		case <-r.Context().Done():
		}
	}))
	defer upstream.Close()
	defer close(hold)
	p, err = New(Config{Upstream: upstream.Listener.Addr().String()})
	require.NoError(t, err)
	addr, err := p.Start(context.Background())
	require.NoError(t, err)
	_, err = p.Start(context.Background())
	require.Error(t, err)
	done := make(chan error, 1)
	go func() {
		resp, err := http.Get("http://" + addr + PathNext)
		if err == nil {
			_ = resp.Body.Close()
		}
		done <- err
	}()
	select {
	case <-arrived:
	case <-time.After(testTimeout):
		t.Fatal("invocation/next did not reach upstream")
	}
	p.Close()
	require.Error(t, <-done)
	http.DefaultClient.CloseIdleConnections()
}

// A runtime may send trailers it did not declare in a Trailer header; they reach Lambda too.
func TestUndeclaredTrailerPassesThrough(t *testing.T) {
	var got recordedRequest
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got = recordedRequest{trailer: r.Trailer.Clone(), body: body}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer upstream.Close()
	rec := newRecorder()
	_, addr := startProxy(t, Config{Upstream: upstream.Listener.Addr().String(), OnOutcome: rec.onOutcome})

	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "POST /2018-06-01/runtime/invocation/s-2/response HTTP/1.1\r\nHost: "+addr+"\r\n"+
		HeaderResponseMode+": streaming\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"5\r\nhello\r\n0\r\n"+HeaderErrorType+": Runtime.StreamError\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusAccepted, resp.StatusCode)
	assert.Equal(t, "hello", string(got.body))
	assert.Equal(t, "Runtime.StreamError", got.trailer.Get(HeaderErrorType))
	_, outcomes := rec.waitFor(t, 0, 1)
	assert.Equal(t, OutcomeError, outcomes[0].Kind)
	assert.Equal(t, "Runtime.StreamError", outcomes[0].ErrorType)
}

// An event that breaks off mid-body is not passed off as whole: the runtime's connection
// is cut, and no invocation is told.
func TestUpstreamCutMidEvent(t *testing.T) {
	for _, contentLength := range []bool{true, false} {
		t.Run("Content-Length "+strconv.FormatBool(contentLength), func(t *testing.T) {
			upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set(HeaderRequestID, "cut-1")
				if contentLength {
					w.Header().Set("Content-Length", "100000")
				}
				_, _ = w.Write(bytes.Repeat([]byte("a"), 50000))
				_ = http.NewResponseController(w).Flush()
				panic(http.ErrAbortHandler) // drops the connection
			}))
			defer upstream.Close()
			upstream.Config.ErrorLog = log.New(io.Discard, "", 0)
			rec := newRecorder()
			p, addr := startProxy(t, Config{Upstream: upstream.Listener.Addr().String(), OnInvocation: rec.onInvocation})
			client := &http.Client{}
			defer client.CloseIdleConnections()
			resp, err := client.Get("http://" + addr + PathNext)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				_ = resp.Body.Close()
			}
			require.Error(t, err, "the runtime sees a broken event, not a short one")
			require.Eventually(t, func() bool { return p.Stats().UpstreamErrors == 1 }, testTimeout, pollInterval)
			invocations, _ := rec.snapshot()
			assert.Empty(t, invocations)
		})
	}
}
