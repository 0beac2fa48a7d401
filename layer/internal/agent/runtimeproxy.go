// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package agent // import "github.com/otelcol-lambda/otelcol-lambda/layer/internal/agent"

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/otelcol-lambda/otelcol-lambda/instrumentation/go/lambdatrigger"
	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/layer/internal/config"
	"github.com/otelcol-lambda/otelcol-lambda/layer/internal/runtimeproxy"
)

// wrapperName is the layer's wrapper script (layer/wrapper): the runtime reaches the
// proxy only when Lambda starts it through that script.
const wrapperName = "otelcol-lambda-wrapper"

// usesWrapper says whether the function starts its runtime through the layer's wrapper.
func usesWrapper(getenv func(string) string) bool {
	return strings.HasSuffix(getenv("AWS_LAMBDA_EXEC_WRAPPER"), wrapperName)
}

// proxyWanted says whether to start the Runtime API proxy.
func proxyWanted(mode config.ProxyMode, wrapped bool) bool {
	return mode == config.ProxyOn || (mode == config.ProxyAuto && wrapped)
}

// removeStaleAddress removes an address file that a previous extension in this sandbox
// may have left (/tmp outlives a reset): the wrapper would point the runtime at a proxy
// that is gone. Only when the wrapper may read it, so that nothing else is touched.
func (a *Agent) removeStaleAddress() {
	if a.cfg.RuntimeProxy != config.ProxyOn && !usesWrapper(a.opts.Getenv) {
		return
	}
	if err := os.Remove(a.cfg.RuntimeAPIFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		a.opts.Logf("runtime API proxy: cannot remove %s: %v", a.cfg.RuntimeAPIFile, err)
	}
}

// startRuntimeProxy starts the proxy and publishes its address for the wrapper script;
// it must run before registering, since Lambda starts the runtime once every extension
// registered. On any failure nothing is published and the runtime talks to Lambda.
func (a *Agent) startRuntimeProxy(ctx context.Context) {
	if !proxyWanted(a.cfg.RuntimeProxy, usesWrapper(a.opts.Getenv)) {
		return
	}
	p, addr, err := startProxy(ctx, runtimeproxy.Config{
		Upstream:     a.opts.RuntimeAPI,
		Listen:       a.opts.RuntimeProxyListen,
		OnInvocation: a.onProxyInvocation,
		OnOutcome:    a.onProxyOutcome,
	}, a.cfg.RuntimeAPIFile)
	if err != nil {
		a.opts.Logf("runtime API proxy: %v; the runtime talks to Lambda directly, with no event sources", err)
		return
	}
	a.proxy, a.proxyAddr = p, addr
}

// startProxy starts a proxy and writes its address to file, or leaves nothing running.
func startProxy(ctx context.Context, cfg runtimeproxy.Config, file string) (*runtimeproxy.Proxy, string, error) {
	p, err := runtimeproxy.New(cfg)
	if err != nil {
		return nil, "", err
	}
	addr, err := p.Start(ctx)
	if err != nil {
		return nil, "", err
	}
	if err := publishAddress(file, addr); err != nil {
		p.Close()
		return nil, "", err
	}
	return p, addr, nil
}

// publishAddress writes addr to file atomically (a temporary file renamed over it), so
// that the wrapper reads the whole address or no file.
func publishAddress(file, addr string) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), filepath.Base(file)+".*")
	if err != nil {
		return err
	}
	_, err = tmp.WriteString(addr + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// The runtime may run as another user than the extension.
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	return nil
}

// closeRuntimeProxy stops the proxy and withdraws its address; safe to call again.
func (a *Agent) closeRuntimeProxy() {
	if a.proxy == nil || a.proxyClosed {
		return
	}
	a.proxyClosed = true
	a.proxy.Close()
	_ = os.Remove(a.cfg.RuntimeAPIFile)
}

// onProxyInvocation classifies an invocation's event (on the proxy's goroutine, off the
// runtime's path) and notes what it found for the gateway.
func (a *Agent) onProxyInvocation(inv runtimeproxy.Invocation) {
	src := lambdatrigger.Classify(inv.Prefix, !inv.Truncated)
	found := a.withinBounds(telemetryapi.Invocation{Source: eventSource(src)})
	a.listener.NoteInvocation(inv.RequestID, inv.Received, found.Source)
}

// onProxyOutcome notes the errorType of an invocation that failed, as Lambda took it.
func (a *Agent) onProxyOutcome(o runtimeproxy.Outcome) {
	if o.Kind == runtimeproxy.OutcomeError && o.RequestID != "" && o.ErrorType != "" && o.Status/100 == 2 {
		if errorType := a.withinBounds(telemetryapi.Invocation{ErrorType: o.ErrorType}).ErrorType; errorType != "" {
			a.listener.NoteErrorType(o.RequestID, errorType)
		}
	}
}

// withinBounds drops, and counts, each field of a finding the gateway would refuse: the
// event's values are chosen by whoever invokes the function, and the gateway refuses a
// whole record for one field out of bounds, the function's real errorType with it.
func (a *Agent) withinBounds(rec telemetryapi.Invocation) telemetryapi.Invocation {
	a.listener.CountDroppedFields(rec.DropOutOfBounds())
	return rec
}

// eventSource is the classifier's finding as the gateway reads it.
func eventSource(s lambdatrigger.Source) *telemetryapi.EventSource {
	es := &telemetryapi.EventSource{
		Kind:            string(s.Kind),
		Trigger:         s.Trigger,
		MessagingSystem: s.System,
		Destination:     s.Destination,
		Collection:      s.Collection,
		Route:           s.Route,
		ARN:             s.ARN,
		BatchSize:       s.BatchSize,
	}
	if !s.Time.IsZero() {
		es.EventTimeUnixMs = s.Time.UnixMilli()
	}
	return es
}
