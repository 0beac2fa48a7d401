// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/metadata"
)

// FuzzTelemetryHandler sends arbitrary bodies and batch headers to the telemetry path: it
// must answer 200 or 400 with a JSON body, and never panic.
func FuzzTelemetryHandler(f *testing.F) {
	f.Add([]byte(`[`+oneInvocation("r1", "01")+`]`), "1", "2", "ext-1")
	f.Add([]byte(`{"sandbox":{"functionName":"f","extensionInstanceId":"x"},"sequence":3,"events":[`+oneInvocation("r2", "02")+`]}`), "", "", "")
	f.Add([]byte(`[{"time":"2024-06-01T12:00:00.000Z","type":"platform.report","record":{"requestId":"r","metrics":{"durationMs":1}}}]`), "9", "0", "ext-2")
	f.Add([]byte(`[1,2,{"time":"x"}]`), "x", "a,b", "")
	if scenarios, err := filepath.Glob(filepath.Join("internal", "translator", "testdata", "scenarios", "*.json")); err == nil {
		for _, path := range scenarios {
			var batches []json.RawMessage
			if data, err := os.ReadFile(path); err == nil && json.Unmarshal(data, &batches) == nil {
				for _, b := range batches {
					f.Add([]byte(b), "", "", "")
				}
			}
		}
	}

	traces, logs := new(consumertest.TracesSink), new(consumertest.LogsSink)
	cfg := createDefaultConfig().(*Config)
	r, err := newReceiver(cfg, receivertest.NewNopSettings(metadata.Type))
	if err != nil {
		f.Fatal(err)
	}
	r.nextTraces, r.nextLogs = traces, logs

	f.Fuzz(func(t *testing.T, body []byte, sequence, reports, instance string) {
		req := httptest.NewRequest(http.MethodPost, wire.TelemetryPath, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(wire.HeaderBatchSequence, sequence)
		req.Header.Set(wire.HeaderReportsWithoutRuntimeDone, reports)
		req.Header.Set(wire.HeaderExtensionInstanceID, instance)
		rec := httptest.NewRecorder()
		r.handleTelemetry(rec, req)

		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Fatalf("status %d for %q", rec.Code, body)
		}
		var answer telemetryResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil {
			t.Fatalf("the answer is not JSON: %v: %s", err, rec.Body.String())
		}
		if rec.Code == http.StatusBadRequest && answer.Error == "" {
			t.Fatalf("a 400 without a message for %q", body)
		}
	})
}
