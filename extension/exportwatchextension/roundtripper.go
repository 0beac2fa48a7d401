// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package exportwatchextension // import "github.com/otelcol-lambda/otelcol-lambda/extension/exportwatchextension"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cenkalti/backoff/v7"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/extension/extensionmiddleware"
)

// maxExcerpt bounds what of an error answer's body goes into the log: enough for
// Prometheus' "out of order sample" or a proxy's error page title, never a whole page.
const maxExcerpt = 256

// GetHTTPRoundTripper makes the middleware of an HTTP exporter (confighttp's
// `middlewares`): every request of its client goes through a watchedTransport.
func (w *exportWatch) GetHTTPRoundTripper(context.Context) (extensionmiddleware.WrapHTTPRoundTripperFunc, error) {
	return func(_ context.Context, next http.RoundTripper) (http.RoundTripper, error) {
		return &watchedTransport{w: w, next: next}, nil
	}, nil
}

// watchedTransport watches the requests of one exporter's HTTP client.
type watchedTransport struct {
	w    *exportWatch
	next http.RoundTripper
}

// RoundTrip sends req unless drain_timeout passed, under a context that drain_timeout
// cancels, and records the outcome. Errors it makes stop every retry (see stopRetrying):
// no exporter may retry a request that the shutdown ended.
func (t *watchedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	w := t.w
	name := endpointOfURL(req.URL)
	if w.drained.Load() {
		if req.Body != nil {
			// A RoundTripper closes the body, even when it fails.
			req.Body.Close()
		}
		w.record(req.Context(), name, outcomeRefused, "", req.ContentLength)
		return nil, stopRetrying(w.errRefuse)
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	stop := context.AfterFunc(w.drainCtx, func() { cancel(context.Cause(w.drainCtx)) })
	release := func() {
		stop()
		cancel(nil)
	}
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		release()
		if errors.Is(context.Cause(ctx), errDrainTimeout) {
			w.record(req.Context(), name, outcomeCanceled, "", req.ContentLength)
			return nil, stopRetrying(w.errCanceled)
		}
		w.record(req.Context(), name, outcomeTransportError, truncate(err.Error()), req.ContentLength)
		return nil, err
	}
	if resp.Body == nil {
		release()
		resp.Body = http.NoBody
	}
	// The caller reads the body after RoundTrip returned: the context lives until it
	// closes it (drain_timeout still cancels a body that never ends).
	body := &releasingBody{ReadCloser: resp.Body, release: release}
	resp.Body = body
	// Below 400 the backend took the request, or redirected it: http.Client follows a
	// redirect with another request through here, which counts where it leads.
	if resp.StatusCode < http.StatusBadRequest {
		w.record(req.Context(), name, outcomeSuccess, "", req.ContentLength)
		return resp, nil
	}
	reason := ""
	if w.wantReason(name) {
		reason = body.describe(resp)
	}
	w.record(req.Context(), name, outcomeErrorResponse, reason, req.ContentLength)
	return resp, nil
}

// stopRetrying marks an error that drain_timeout made as one that no retry loop retries:
// permanent for the exporterhelper (consumererror.IsPermanent) and for cenkalti/backoff v7
// (backoff.Permanent), with which prometheus_remote_write retries by itself. Without its
// queue the exporter retries in the goroutine of the flush that feeds it, and the
// pipelines' shutdown waits for that flush: the refused attempts would otherwise go on
// until retry_on_failure's max_elapsed_time (5 minutes by default).
func stopRetrying(err error) error {
	return backoff.Permanent(consumererror.NewPermanent(err))
}

// releasingBody releases the request's context when the caller closes the body.
type releasingBody struct {
	io.ReadCloser
	release func()
	// excerpt is what describe read; Read serves it before the rest.
	excerpt *bytes.Reader
}

func (b *releasingBody) Read(p []byte) (int, error) {
	if b.excerpt != nil && b.excerpt.Len() > 0 {
		return b.excerpt.Read(p)
	}
	return b.ReadCloser.Read(p)
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}

// describe says why an answer is a failure: its status and the start of its body, which
// stays readable for the caller (the exporters read it too, to log or decode it).
func (b *releasingBody) describe(resp *http.Response) string {
	buf := make([]byte, maxExcerpt)
	n, _ := io.ReadFull(b.ReadCloser, buf)
	b.excerpt = bytes.NewReader(buf[:n])
	reason := resp.Status
	if reason == "" {
		reason = fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	if excerpt := printable(buf[:n]); excerpt != "" {
		reason += ": " + excerpt
	}
	return reason
}

// endpointOfURL names an HTTP endpoint: scheme, host and path. Never the user info or the
// query, which may hold credentials.
func endpointOfURL(u *url.URL) string {
	if u == nil {
		return otherEndpoint
	}
	return u.Scheme + "://" + u.Host + u.EscapedPath()
}

// printable makes b fit for one log field: valid UTF-8, control characters and runs of
// white space as one space, at most maxExcerpt bytes.
func printable(b []byte) string {
	var sb strings.Builder
	space := false
	for len(b) > 0 && sb.Len() < maxExcerpt {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		if r == utf8.RuneError && size <= 1 {
			r = unicode.ReplacementChar
		}
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			space = sb.Len() > 0
			continue
		}
		if space {
			sb.WriteByte(' ')
			space = false
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

// truncate bounds an error message for the log.
func truncate(s string) string {
	if len(s) <= maxExcerpt {
		return s
	}
	return strings.ToValidUTF8(s[:maxExcerpt], "") + "..."
}
