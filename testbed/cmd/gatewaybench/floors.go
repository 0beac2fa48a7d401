// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"runtime"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
)

// floors are the cost of only decoding the payloads the gateways received.
type floors struct {
	perSpan, perInvocation time.Duration
}

// measureFloors decodes the same payloads on one core, as many times as it takes to
// measure, and nothing else.
func measureFloors(o options) floors {
	runtime.GC()
	spans := otlpRequests(o.spans, o.functions, "floor", "load", false)
	batches := telemetryBatches(o.invocations, o.functions, "floor", "load")
	var f floors
	f.perSpan = cpuPer(o.spans, func() {
		for _, body := range spans {
			if err := ptraceotlp.NewExportRequest().UnmarshalProto(body); err != nil {
				panic(err)
			}
		}
	})
	f.perInvocation = cpuPer(o.invocations, func() {
		for _, b := range batches {
			events, err := telemetryapi.DecodeEvents(b.body)
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
	return f
}

// cpuPer runs work three times and returns this process's CPU time per item of the
// fastest run (garbage collection included, as a gateway pays it too).
func cpuPer(items int, work func()) time.Duration {
	best := time.Duration(1<<63 - 1)
	for range 3 {
		before := processCPU()
		work()
		runtime.GC()
		if d := processCPU() - before; d < best {
			best = d
		}
	}
	return best / time.Duration(items)
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
