// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package runtimeproxy // import "github.com/otelcol-lambda/otelcol-lambda/layer/internal/runtimeproxy"

import (
	"sync/atomic"
	"time"
)

// Invocation is what the proxy saw of one event handed to the runtime by invocation/next.
// It is told once the event was read whole from Lambda, before the runtime has all of it
// (so before the runtime can post its outcome); an event that broke off, or that the
// runtime stopped reading, is not told.
type Invocation struct {
	RequestID   string
	TraceID     string // Lambda-Runtime-Trace-Id
	FunctionARN string // Lambda-Runtime-Invoked-Function-Arn
	DeadlineMs  int64  // Lambda-Runtime-Deadline-Ms, 0 when absent or malformed
	// Received is when Lambda's answer to invocation/next reached the proxy.
	Received time.Time
	// Prefix is the first ClassifyWindow bytes of the event; the callback may keep it.
	Prefix []byte
	// Truncated is true when the event was longer than Prefix.
	Truncated bool
	// Size is the event's size, read whole from Lambda.
	Size int64
}

// OutcomeKind says which Runtime API call ended an invocation (or the init phase).
type OutcomeKind uint8

const (
	OutcomeResponse  OutcomeKind = iota + 1 // invocation/{id}/response
	OutcomeError                            // invocation/{id}/error
	OutcomeInitError                        // init/error
)

func (k OutcomeKind) String() string {
	switch k {
	case OutcomeResponse:
		return "response"
	case OutcomeError:
		return "error"
	case OutcomeInitError:
		return "init_error"
	}
	return "unknown"
}

// Outcome is what the runtime reported for one invocation, or for the init phase.
type Outcome struct {
	Kind      OutcomeKind
	RequestID string // empty for OutcomeInitError
	// ErrorType is the errorType of the error body, else the Lambda-Runtime-Function-Error-Type
	// header. For a streamed response it is the trailer of that name: the function failed
	// after it began to stream, and Kind is then OutcomeError.
	ErrorType string
	// Streaming is true for Lambda-Runtime-Function-Response-Mode: streaming.
	Streaming bool
	// Size is how many bytes of the body went to Lambda.
	Size int64
	// Status is Lambda's HTTP status (202 when accepted), 0 when Lambda could not be reached.
	Status int
	// Received is when the runtime's request reached the proxy; Done when Lambda answered it.
	Received, Done time.Time
}

// Stats are the proxy's own counters.
type Stats struct {
	// DroppedEvents counts invocations and outcomes not handed to a callback because
	// the queue was full (a callback too slow); the runtime never waits for a callback.
	DroppedEvents uint64
	// CallbackPanics counts panics recovered from OnInvocation and OnOutcome.
	CallbackPanics uint64
	// UpstreamErrors counts requests answered 502 (or cut) because Lambda's Runtime API
	// could not be reached or failed mid-body.
	UpstreamErrors uint64
}

// event is one queued callback; exactly one of the two is set (by kind).
type event struct {
	isOutcome  bool
	invocation Invocation
	outcome    Outcome
}

// dispatcher calls the callbacks from one goroutine, so that they see an invocation before
// its outcome, and so that the proxy's handlers only ever do a non-blocking send.
type dispatcher struct {
	onInvocation func(Invocation)
	onOutcome    func(Outcome)
	queue        chan event
	quit         chan struct{}
	dropped      atomic.Uint64
	panics       atomic.Uint64
}

func newDispatcher(size int, onInvocation func(Invocation), onOutcome func(Outcome)) *dispatcher {
	return &dispatcher{
		onInvocation: onInvocation,
		onOutcome:    onOutcome,
		queue:        make(chan event, size),
		quit:         make(chan struct{}),
	}
}

func (d *dispatcher) invocation(inv Invocation) {
	if d.onInvocation != nil {
		d.offer(event{invocation: inv})
	}
}

func (d *dispatcher) outcome(out Outcome) {
	if d.onOutcome != nil {
		d.offer(event{isOutcome: true, outcome: out})
	}
}

func (d *dispatcher) offer(ev event) {
	select {
	case d.queue <- ev:
	default:
		d.dropped.Add(1)
	}
}

// run delivers until quit, then delivers what is still queued and returns.
func (d *dispatcher) run() {
	for {
		select {
		case ev := <-d.queue:
			d.deliver(ev)
		case <-d.quit:
			for {
				select {
				case ev := <-d.queue:
					d.deliver(ev)
				default:
					return
				}
			}
		}
	}
}

func (d *dispatcher) deliver(ev event) {
	defer func() {
		if recover() != nil {
			d.panics.Add(1)
		}
	}()
	if ev.isOutcome {
		d.onOutcome(ev.outcome)
	} else {
		d.onInvocation(ev.invocation)
	}
}
