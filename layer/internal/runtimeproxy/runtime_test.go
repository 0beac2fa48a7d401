// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package runtimeproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/lambdaemu"
)

// goHandler is a function's handler: the event in, the response out.
type goHandler func(ctx context.Context, event []byte) ([]byte, error)

// goRuntime is a runtime client that speaks the Runtime API as aws-lambda-go's lambda.Start
// does (aws-lambda-go is not a dependency of this module, so its loop is written out here):
// an http.Client without timeout, User-Agent aws-lambda-go/<go version>, the event read
// whole into a reused buffer, the result POSTed as application/json with 202 expected,
// and a handler's error as {"errorMessage", "errorType": the error's type name} without
// the Lambda-Runtime-Function-Error-Type header.
//
// api is where it connects; readEvent, if set, replaces reading the event whole (the 6 MB
// test counts the bytes instead, so that only the proxy's memory is measured).
func goRuntime(api func() string, handler goHandler, readEvent func(io.Reader) ([]byte, error)) lambdaemu.RuntimeFunc {
	return func(ctx context.Context, _ string) error {
		client := &http.Client{Timeout: 0}
		defer client.CloseIdleConnections()
		userAgent := "aws-lambda-go/" + runtime.Version()
		var buffer bytes.Buffer
		for ctx.Err() == nil {
			base := "http://" + api() + "/2018-06-01/runtime"
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/invocation/next", nil)
			if err != nil {
				return err
			}
			req.Header.Set("User-Agent", userAgent)
			resp, err := client.Do(req)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			var event []byte
			if resp.StatusCode == http.StatusOK {
				if readEvent != nil {
					event, err = readEvent(resp.Body)
				} else {
					buffer.Reset()
					_, err = buffer.ReadFrom(resp.Body)
					event = buffer.Bytes()
				}
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("invocation/next: status %d", resp.StatusCode)
			}
			if err != nil {
				return err
			}
			id := resp.Header.Get(HeaderRequestID)
			out, herr := handler(ctx, event)
			path := "/invocation/" + id + "/response"
			if herr != nil {
				path = "/invocation/" + id + "/error"
				out, _ = json.Marshal(map[string]string{"errorMessage": herr.Error(), "errorType": errorTypeName(herr)})
			}
			post, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(out))
			if err != nil {
				return err
			}
			post.Header.Set("User-Agent", userAgent)
			post.Header.Set("Content-Type", "application/json")
			presp, err := client.Do(post)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			_, _ = io.Copy(io.Discard, presp.Body)
			_ = presp.Body.Close()
			if presp.StatusCode != http.StatusAccepted {
				return fmt.Errorf("%s: status %d", path, presp.StatusCode)
			}
		}
		return nil
	}
}

// errorTypeName names an error as aws-lambda-go does: its type's name, pointer or not.
func errorTypeName(err error) string {
	t := reflect.TypeOf(err)
	if t.Kind() == reflect.Pointer {
		return t.Elem().Name()
	}
	return t.Name()
}

// recorder collects what the callbacks are given.
type recorder struct {
	mu          sync.Mutex
	invocations []Invocation
	outcomes    []Outcome
	changed     chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 1)} }

func (r *recorder) onInvocation(inv Invocation) {
	r.mu.Lock()
	r.invocations = append(r.invocations, inv)
	r.mu.Unlock()
	r.notify()
}

func (r *recorder) onOutcome(o Outcome) {
	r.mu.Lock()
	r.outcomes = append(r.outcomes, o)
	r.mu.Unlock()
	r.notify()
}

func (r *recorder) notify() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recorder) snapshot() ([]Invocation, []Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Invocation(nil), r.invocations...), append([]Outcome(nil), r.outcomes...)
}

// waitFor waits until the recorder holds at least invocations and outcomes.
func (r *recorder) waitFor(t *testing.T, invocations, outcomes int) ([]Invocation, []Outcome) {
	t.Helper()
	require.Eventually(t, func() bool {
		inv, out := r.snapshot()
		return len(inv) >= invocations && len(out) >= outcomes
	}, testTimeout, pollInterval)
	return r.snapshot()
}

// startProxy starts a proxy to upstream and closes it at the end of the test.
func startProxy(t testing.TB, cfg Config) (*Proxy, string) {
	t.Helper()
	p, err := New(cfg)
	require.NoError(t, err)
	addr, err := p.Start(context.Background())
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p, addr
}
