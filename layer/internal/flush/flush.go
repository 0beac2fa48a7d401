// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package flush decides when the extension sends what it buffered to the gateway.
//
// A Lambda sandbox is frozen between invocations, so an extension can only send while an
// invocation runs or before it signals that it is done (/event/next); time spent after
// the runtime finished is billed to the user. Hence the strategies:
//
//   - end: after each invocation, wait for its platform.runtimeDone, flush, then call
//     next. Freshest data; costs the Telemetry API's buffering delay (25 ms) plus the
//     flush in billed post-runtime time on every invocation.
//   - periodically,<ms>: when an INVOKE arrives and the last flush is at least <ms> old,
//     flush while the function runs, then call next. Usually no billed time; data waits
//     for the next invocation after the period.
//   - end,periodically,<ms>: end, plus flushes every <ms> while a long invocation runs.
//   - adaptive (the default): end for functions invoked rarely, periodically for busy
//     ones; see [Adaptive].
package flush // import "github.com/otelcol-lambda/otelcol-lambda/layer/internal/flush"

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Adaptive rule. A function is busy when each of the last BusyInvocations gaps between
// consecutive INVOKEs was shorter than BusyGap: then another invocation, and with it a
// chance to flush without billed time, is never far away, and the extension flushes
// every AdaptivePeriod at the start of an invocation. Otherwise (the first invocations of
// a sandbox, or a function invoked less often) it flushes at the end of each invocation,
// so that data does not wait in a frozen sandbox for minutes.
const (
	BusyInvocations = 4
	BusyGap         = 2 * time.Second
	AdaptivePeriod  = 10 * time.Second
)

// Strategy says when to flush.
type Strategy struct {
	// End: flush at the end of each invocation, after its runtimeDone.
	End bool
	// Period: flush when the last flush is at least this old (0: never periodically).
	Period time.Duration
	// Adaptive: choose per invocation, see Adaptive.
	Adaptive bool
}

// Default is the adaptive strategy.
var Default = Strategy{Adaptive: true, Period: AdaptivePeriod}

func (s Strategy) String() string {
	switch {
	case s.Adaptive:
		return "adaptive"
	case s.End && s.Period > 0:
		return "end,periodically," + strconv.FormatInt(s.Period.Milliseconds(), 10)
	case s.End:
		return "end"
	}
	return "periodically," + strconv.FormatInt(s.Period.Milliseconds(), 10)
}

// Parse reads a strategy: "end", "periodically,<ms>", "end,periodically,<ms>",
// "adaptive" or "default" (or empty).
func Parse(s string) (Strategy, error) {
	s = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))
	switch s {
	case "", "default", "adaptive":
		return Default, nil
	case "end":
		return Strategy{End: true}, nil
	}
	end := false
	rest := s
	if r, ok := strings.CutPrefix(s, "end,"); ok {
		end, rest = true, r
	}
	msText, ok := strings.CutPrefix(rest, "periodically,")
	if !ok {
		return Strategy{}, fmt.Errorf("unknown flush strategy %q: want end, periodically,<ms>, end,periodically,<ms> or adaptive", s)
	}
	ms, err := strconv.Atoi(msText)
	if err != nil || ms < 1 || ms > 3_600_000 {
		return Strategy{}, fmt.Errorf("invalid flush period %q in %q: want milliseconds between 1 and 3600000", msText, s)
	}
	return Strategy{End: end, Period: time.Duration(ms) * time.Millisecond}, nil
}

// Decision is what to do for one invocation.
type Decision struct {
	// WaitForRuntimeDone: wait for the invocation's runtimeDone and flush before next.
	WaitForRuntimeDone bool
	// FlushNow: flush at once (the period is up), while the function runs.
	FlushNow bool
	// Period: while waiting for runtimeDone, flush this often (0: never).
	Period time.Duration
}

// Planner turns a strategy into a decision per invocation. It is not safe for concurrent
// use: the extension's event loop owns it.
type Planner struct {
	strategy  Strategy
	lastFlush time.Time
	lastInv   time.Time
	shortGaps int // consecutive gaps shorter than BusyGap
}

// NewPlanner returns a planner; the first periodic flush is due one period after start.
func NewPlanner(s Strategy, start time.Time) *Planner {
	return &Planner{strategy: s, lastFlush: start}
}

// Flushed records a flush.
func (p *Planner) Flushed(at time.Time) { p.lastFlush = at }

// Busy reports whether the adaptive rule considers the function busy.
func (p *Planner) Busy() bool { return p.shortGaps >= BusyInvocations }

// OnInvoke returns the decision for an INVOKE received at now.
func (p *Planner) OnInvoke(now time.Time) Decision {
	if !p.lastInv.IsZero() && now.Sub(p.lastInv) < BusyGap {
		p.shortGaps++
	} else {
		p.shortGaps = 0
	}
	p.lastInv = now
	s := p.strategy
	if s.Adaptive {
		if p.Busy() {
			s = Strategy{Period: s.Period}
		} else {
			s = Strategy{End: true}
		}
	}
	due := s.Period > 0 && now.Sub(p.lastFlush) >= s.Period
	if s.End {
		return Decision{WaitForRuntimeDone: true, Period: s.Period}
	}
	return Decision{FlushNow: due}
}
