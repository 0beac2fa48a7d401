// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"runtime"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
)

// floorKey names a measured load: a mix at a request size.
type floorKey struct {
	kind mixKind
	size int
}

// floors are the cost of only decoding what each pipeline got in a measured load, per
// invocation: [0] A's requests (the extension's Telemetry API batches and the OTLP spans
// it forwards or the functions send), [1] B's (OTLP spans only). Each pipeline's CPU over
// its own floor says how much it spends beyond reading its input; A's floor over B's, how
// much more A's input costs to read.
type floors map[floorKey][2]time.Duration

// measureFloors decodes, on one goroutine and doing nothing else, the payloads of every
// measured load (generated again from the same configuration and seed, under another
// function prefix), five times, and keeps the fastest.
func measureFloors(o options) (floors, error) {
	out := floors{}
	for _, size := range o.sizes {
		for _, kind := range o.mixes {
			t, err := makeTraffic(kind, "floor", o.shape(size))
			if err != nil {
				return nil, err
			}
			var f [2]time.Duration
			for i, s := range []side{t.a, t.b} {
				f[i] = cpuPer(t.invocations, func() {
					for _, b := range s.load {
						decodeBatch(b.Body, b.IsTraces())
					}
				})
			}
			out[floorKey{kind, size}] = f
		}
	}
	return out, nil
}

// telemetryFloorDecoder names the floor's decoders in the report.
const telemetryFloorDecoder = "Telemetry API batches with internal/telemetryapi.ScanDecoded, the fastest decoder we have " +
	"(each event validated and its record decoded in one walk); OTLP/protobuf requests with pdata"

// decodeBatch decodes a request's body as the gateway does, and nothing else.
func decodeBatch(body []byte, otlp bool) {
	if otlp {
		if err := ptraceotlp.NewExportRequest().UnmarshalProto(body); err != nil {
			panic(err) // the load's requests always decode
		}
		return
	}
	err := telemetryapi.ScanDecoded(body, func(_ int, ev telemetryapi.DecodedEvent, err error) bool {
		if err == nil {
			err = ev.DecodeErr
		}
		if err != nil {
			panic(err)
		}
		return true
	})
	if err != nil {
		panic(err)
	}
}

// cpuPer runs work five times and returns this process's CPU time per item of the fastest
// run. The collections that work's garbage sets off during a run count, as a gateway pays
// them too; a collection is forced before each run, outside the timing, so that no run pays
// for the garbage of the one before nor for marking the rest of this process's heap.
func cpuPer(items int, work func()) time.Duration {
	best := time.Duration(1<<63 - 1)
	for range 5 {
		runtime.GC()
		before := harness.OwnCPU()
		work()
		if d := harness.OwnCPU() - before; d < best {
			best = d
		}
	}
	return best / time.Duration(items)
}
