// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdaemu // import "github.com/otelcol-lambda/otelcol-lambda/testbed/lambdaemu"

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
)

// subscriberDeliveryAttempts is how often a batch is tried before it is dropped (and a
// platform.logsDropped event tells the subscriber).
const subscriberDeliveryAttempts = 3

func (e *Emulator) routeTelemetry(mux *http.ServeMux) {
	mux.HandleFunc("PUT "+telemetryapi.SubscribePath, e.handleSubscribe)
}

func (e *Emulator) handleSubscribe(w http.ResponseWriter, r *http.Request) {
	x := e.lookup(w, r)
	if x == nil {
		return
	}
	var req telemetryapi.SubscribeRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, telemetryapi.ErrorTypeValidation, "cannot decode the subscription: "+err.Error())
		return
	}
	if err := req.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, telemetryapi.ErrorTypeValidation, strings.ReplaceAll(err.Error(), "\n", "; "))
		return
	}
	if req.Destination.Protocol != telemetryapi.ProtocolHTTP {
		writeError(w, http.StatusBadRequest, telemetryapi.ErrorTypeValidation, "this emulator delivers over HTTP only")
		return
	}
	s := newSubscriber(e, x.name, req)
	e.mu.Lock()
	// A new subscription replaces the extension's previous one.
	e.subs = slices.DeleteFunc(e.subs, func(old *subscriber) bool {
		if old.extension == x.name {
			old.stop()
			return true
		}
		return false
	})
	// Lambda delivers the sandbox's events from its start, init included.
	for _, ev := range e.events {
		s.add(ev)
	}
	e.subs = append(e.subs, s)
	e.emitLocked(telemetryapi.TypePlatformTelemetrySubscription, telemetryapi.PlatformTelemetrySubscription{
		Name: x.name, State: "Subscribed", Types: req.Types,
	})
	e.wg.Add(1)
	e.mu.Unlock()
	go func() {
		defer e.wg.Done()
		s.run()
	}()
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "OK")
}

// subscriber buffers events for one subscription and delivers them as Lambda does: a
// batch goes when it holds maxItems events or maxBytes bytes, or timeoutMs after its first
// event, never while the sandbox is frozen, one batch at a time.
type subscriber struct {
	emu       *Emulator
	extension string
	uri       string
	platform  bool
	function  bool
	ext       bool
	maxItems  int
	maxBytes  int
	timeout   time.Duration

	mu       sync.Mutex
	buf      []telemetryapi.Event
	bufBytes int
	first    time.Time // when the oldest buffered event arrived
	wakeCh   chan struct{}
	stopped  bool
	ctx      context.Context
	cancel   context.CancelFunc
	batches  int
	lastSent time.Time
}

func newSubscriber(e *Emulator, extension string, req telemetryapi.SubscribeRequest) *subscriber {
	s := &subscriber{
		emu:       e,
		extension: extension,
		uri:       req.Destination.URI,
		maxItems:  orDefault(req.Buffering.MaxItems, telemetryapi.BufferingMaxItemsDefault),
		maxBytes:  orDefault(req.Buffering.MaxBytes, telemetryapi.BufferingMaxBytesDefault),
		timeout:   time.Duration(orDefault(req.Buffering.TimeoutMs, telemetryapi.BufferingTimeoutMsDefault)) * time.Millisecond,
		wakeCh:    make(chan struct{}, 1),
	}
	s.ctx, s.cancel = context.WithCancel(e.ctx)
	for _, t := range req.Types {
		switch t {
		case telemetryapi.StreamPlatform:
			s.platform = true
		case telemetryapi.StreamFunction:
			s.function = true
		case telemetryapi.StreamExtension:
			s.ext = true
		}
	}
	return s
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func (s *subscriber) wants(typ string) bool {
	switch typ {
	case telemetryapi.TypeFunction:
		return s.function
	case telemetryapi.TypeExtension:
		return s.ext
	}
	return s.platform
}

// add buffers an event if the subscription asked for its stream.
func (s *subscriber) add(ev telemetryapi.Event) {
	if !s.wants(ev.Type) {
		return
	}
	s.mu.Lock()
	if len(s.buf) == 0 {
		s.first = time.Now()
	}
	s.buf = append(s.buf, ev)
	s.bufBytes += len(ev.Record) + 64
	s.mu.Unlock()
	s.wake()
}

func (s *subscriber) wake() {
	select {
	case s.wakeCh <- struct{}{}:
	default:
	}
}

func (s *subscriber) stop() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	s.cancel()
}

// run delivers batches until the subscription or the emulator ends.
func (s *subscriber) run() {
	for {
		batch, wait := s.next()
		if batch != nil {
			s.deliver(batch)
			continue
		}
		var timer *time.Timer
		var fire <-chan time.Time
		if wait > 0 {
			timer = time.NewTimer(wait)
			fire = timer.C
		}
		select {
		case <-s.ctx.Done():
		case <-s.wakeCh:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
		if s.ctx.Err() != nil {
			return
		}
	}
}

// next returns a batch ready to go, or how long to wait for one (0: until woken).
func (s *subscriber) next() ([]telemetryapi.Event, time.Duration) {
	s.emu.mu.Lock()
	frozen := s.emu.frozen
	s.emu.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if frozen || len(s.buf) == 0 || s.stopped {
		return nil, 0
	}
	age := time.Since(s.first)
	if len(s.buf) < s.maxItems && s.bufBytes < s.maxBytes && age < s.timeout {
		return nil, s.timeout - age
	}
	n := min(len(s.buf), s.maxItems)
	batch := append([]telemetryapi.Event(nil), s.buf[:n]...)
	s.buf = append(s.buf[:0], s.buf[n:]...)
	s.bufBytes = 0
	for _, ev := range s.buf {
		s.bufBytes += len(ev.Record) + 64
	}
	s.first = time.Now()
	return batch, 0
}

// deliver POSTs a batch, retrying a few times; a batch that cannot be delivered is
// dropped and the subscriber is told with platform.logsDropped.
func (s *subscriber) deliver(batch []telemetryapi.Event) {
	body, err := telemetryapi.AppendEvents(nil, batch)
	if err != nil {
		return
	}
	for attempt := range subscriberDeliveryAttempts {
		if attempt > 0 {
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(time.Duration(attempt) * 20 * time.Millisecond):
			}
		}
		ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.uri, bytes.NewReader(body))
		if err != nil {
			cancel()
			break
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.emu.client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
		cancel()
		if err == nil && resp.StatusCode < 300 {
			s.mu.Lock()
			s.batches++
			s.lastSent = time.Now()
			s.mu.Unlock()
			s.emu.mu.Lock()
			s.emu.delivered += len(batch)
			s.emu.notifyLocked()
			s.emu.mu.Unlock()
			return
		}
	}
	s.emu.mu.Lock()
	s.emu.dropped++
	s.emu.mu.Unlock()
	var size int
	for _, ev := range batch {
		if ev.Type == telemetryapi.TypePlatformLogsDropped {
			return // the subscriber is gone: do not tell it again and again
		}
		size += len(ev.Record)
	}
	dropped, _ := telemetryapi.NewEvent(time.Now(), telemetryapi.TypePlatformLogsDropped, telemetryapi.PlatformLogsDropped{
		Reason:         "Consumer seems to have fallen behind as it has not acknowledged receipt of logs.",
		DroppedRecords: float64(len(batch)),
		DroppedBytes:   float64(size),
	})
	if s.platform {
		s.add(dropped)
	}
}
