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

// floors are the cost of only decoding the payloads the gateways received, per request
// size: the functions' OTLP spans, and the extension's Telemetry API batches.
type floors map[int]floor

type floor struct {
	perSpan, perInvocation time.Duration
}

// measureFloors decodes the same payloads on one core, as many times as it takes to
// measure, and nothing else: at each request size, the OTLP requests of the SDK-only
// traffic, and the Telemetry API batches of the extension-only traffic (the measured
// loads, generated again from the same configuration and seed).
func measureFloors(o options) (floors, error) {
	out := floors{}
	for _, size := range o.sizes {
		var f floor
		sdk, err := makeTraffic(mixSDK, "floor", o.shape(size))
		if err != nil {
			return nil, err
		}
		ext, err := makeTraffic(mixExtension, "floor", o.shape(size))
		if err != nil {
			return nil, err
		}
		runtime.GC()
		f.perSpan = cpuPer(sdk.spans, func() {
			for _, b := range sdk.a.load {
				if err := ptraceotlp.NewExportRequest().UnmarshalProto(b.Body); err != nil {
					panic(err)
				}
			}
		})
		f.perInvocation = cpuPer(ext.invocations, func() {
			for _, b := range ext.a.load {
				decodeTelemetryBatch(b.Body)
			}
		})
		out[size] = f
	}
	return out, nil
}

// decodeTelemetryBatch decodes a batch as the receiver does, and nothing else.
// telemetryFloorDecoder names the floor's decoder in the report.
const telemetryFloorDecoder = "internal/telemetryapi.ScanDecoded, the fastest decoder we have: each event validated and its record decoded in one walk"

// decodeTelemetryBatch decodes a batch as the receiver does, and nothing else.
func decodeTelemetryBatch(body []byte) {
	err := telemetryapi.ScanDecoded(body, func(_ int, ev telemetryapi.DecodedEvent, err error) bool {
		if err == nil {
			err = ev.DecodeErr
		}
		if err != nil {
			panic(err) // loadgen's events always decode
		}
		return true
	})
	if err != nil {
		panic(err)
	}
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
