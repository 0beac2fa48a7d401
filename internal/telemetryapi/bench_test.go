// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package telemetryapi

import (
	"bytes"
	"encoding/json"
	"testing"
)

// invokeBatch returns one invocation's events (platform.start,
// platform.runtimeDone, platform.report), compact as Lambda sends them.
func invokeBatch(b *testing.B) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, readTestdata(b, "invoke.json")); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkDecodeEvents decodes one invocation's batch and its records: the
// receiver's work per invocation.
func BenchmarkDecodeEvents(b *testing.B) {
	data := invokeBatch(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		events, err := DecodeEvents(data)
		if err != nil {
			b.Fatal(err)
		}
		for _, ev := range events {
			if _, err := ev.DecodeRecord(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkScanDecoded reads the same batch as a receiver does: the events and their
// records in one walk.
func BenchmarkScanDecoded(b *testing.B) {
	data := invokeBatch(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		err := ScanDecoded(data, func(_ int, ev DecodedEvent, err error) bool {
			if err != nil || ev.DecodeErr != nil {
				b.Fatal(err, ev.DecodeErr)
			}
			return true
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeEventsEncodingJSON is BenchmarkDecodeEvents with
// encoding/json only (the fallback path), for comparison.
func BenchmarkDecodeEventsEncodingJSON(b *testing.B) {
	data := invokeBatch(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		events, err := decodeEventsSlow(data)
		if err != nil {
			b.Fatal(err)
		}
		for _, ev := range events {
			if _, err := ev.decodeRecord(false); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkDecodeEventsEnvelope decodes the batch without its records: the
// forwarder's work.
func BenchmarkDecodeEventsEnvelope(b *testing.B) {
	data := invokeBatch(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeEvents(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeLogRecord(b *testing.B) {
	for _, bc := range []struct{ name, record string }{
		{"text", `"2024-05-14T09:12:01.470Z\t8f5a3c1e-2b7d-4e9a-9c1f-3d6b8a0e5f27\tINFO\tprocessing order 4711\n"`},
		{"json", `{"timestamp":"2024-05-14T09:12:01.512Z","level":"WARN","requestId":"8f5a3c1e-2b7d-4e9a-9c1f-3d6b8a0e5f27","message":"slow downstream, retrying","orderId":4711}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ev := Event{Type: TypeFunction, Record: json.RawMessage(bc.record)}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ev.DecodeRecord(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendEvents(b *testing.B) {
	events, err := DecodeEvents(invokeBatch(b))
	if err != nil {
		b.Fatal(err)
	}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		if buf, err = AppendEvents(buf[:0], events); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseXRayTraceHeader(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseXRayTraceHeader("Root=1-6352a70e-1e2c502e358361800241fd45;Parent=35465b3a9e2f7c6a;Sampled=1"); err != nil {
			b.Fatal(err)
		}
	}
}
