// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"runtime"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/loadgen"
)

// floors are the cost of only decoding the payloads the gateways received.
type floors struct {
	perSpan, perInvocation time.Duration
}

// measureFloors decodes the same payloads on one core, as many times as it takes to
// measure, and nothing else: the OTLP requests of the span load, and the Telemetry API
// batches of a fleet generated as the load's (same configuration and seed).
func measureFloors(o options) (floors, error) {
	var f floors
	fleet, err := loadgen.Generate(telemetryFleet(o, "A1-tapi"))
	if err != nil {
		return f, err
	}
	invocations := fleet.Total().Invocations
	spans := otlpRequests(o.spans, o.functions, "A1", false)
	runtime.GC()
	f.perSpan = cpuPer(o.spans, func() {
		for _, b := range spans {
			if err := ptraceotlp.NewExportRequest().UnmarshalProto(b.Body); err != nil {
				panic(err)
			}
		}
	})
	f.perInvocation = cpuPer(invocations, func() {
		for _, b := range fleet.Batches {
			events, err := telemetryapi.DecodeEventsNoCopy(b.Body) // as the receiver decodes: the body is its own
			if err != nil {
				panic(err)
			}
			for _, ev := range events {
				if _, err := ev.DecodeRecord(); err != nil {
					panic(err)
				}
			}
		}
	})
	return f, nil
}

// cpuPer runs work three times and returns this process's CPU time per item of the
// fastest run (garbage collection included, as a gateway pays it too).
func cpuPer(items int, work func()) time.Duration {
	best := time.Duration(1<<63 - 1)
	for range 3 {
		before := harness.OwnCPU()
		work()
		runtime.GC()
		if d := harness.OwnCPU() - before; d < best {
			best = d
		}
	}
	return best / time.Duration(items)
}
