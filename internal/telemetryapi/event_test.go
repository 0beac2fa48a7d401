// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package telemetryapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const (
	testTimeJSON = "2022-10-12T00:00:15.064Z"
	testRequest  = "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa"
	testXRay     = "Root=1-62e900b2-710d76f009d6e7785905449a;Parent=0efbd19962d95b05;Sampled=1"
	testRuntime  = "arn:aws:lambda:us-east-1::runtime:8eeff65f6809a3ce81507fe733fe09b835899b99481ba22fd75b5a7338290ec1"
)

var testTracing = &TraceContext{SpanID: "54565fb41ac79632", Type: TracingTypeXRay, Value: testXRay}

func f64(v float64) *float64 { return &v }

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// decodeOne decodes a single event written with the test time.
func decodeOne(t *testing.T, typ, record string) Event {
	t.Helper()
	data := `[{"time":"` + testTimeJSON + `","type":"` + typ + `","record":` + record + `}]`
	events, err := DecodeEvents([]byte(data))
	if err != nil {
		t.Fatalf("DecodeEvents(%s): %v", data, err)
	}
	if len(events) != 1 {
		t.Fatalf("DecodeEvents: got %d events, want 1", len(events))
	}
	return events[0]
}

type recordCase struct {
	name   string
	typ    string
	record string
	want   any
}

// recordCases covers every event type, modelled on AWS's documented examples
// and captures.
func recordCases(t testing.TB) []recordCase {
	return []recordCase{
		{
			name: "initStart on-demand",
			typ:  TypePlatformInitStart,
			record: `{"initializationType":"on-demand","phase":"init","runtimeVersion":"nodejs-14.v3",
				"runtimeVersionArn":"` + testRuntime + `","functionName":"my-function","functionVersion":"$LATEST"}`,
			want: &PlatformInitStart{
				InitializationType: InitTypeOnDemand, Phase: PhaseInit, RuntimeVersion: "nodejs-14.v3",
				RuntimeVersionARN: testRuntime, FunctionName: "my-function", FunctionVersion: "$LATEST",
			},
		},
		{
			name:   "initStart minimal, suppressed init",
			typ:    TypePlatformInitStart,
			record: `{"initializationType":"provisioned-concurrency","phase":"invoke"}`,
			want:   &PlatformInitStart{InitializationType: InitTypeProvisionedConcurrency, Phase: PhaseInvoke},
		},
		{
			name: "initStart managed instances",
			typ:  TypePlatformInitStart,
			record: `{"initializationType":"lambda-managed-instances","phase":"init","functionName":"f","functionVersion":"3",
				"instanceId":"i-0abc123","instanceMaxMemory":4294967296}`,
			want: &PlatformInitStart{
				InitializationType: InitTypeLambdaManagedInstances, Phase: PhaseInit, FunctionName: "f",
				FunctionVersion: "3", InstanceID: "i-0abc123", InstanceMaxMemory: 4294967296,
			},
		},
		{
			name: "initRuntimeDone with spans",
			typ:  TypePlatformInitRuntimeDone,
			record: `{"initializationType":"snap-start","phase":"init","status":"success",
				"spans":[{"name":"someTimeSpan","start":"2022-06-02T12:02:33.913Z","durationMs":70.5}]}`,
			want: &PlatformInitRuntimeDone{
				InitializationType: InitTypeSnapStart, Phase: PhaseInit, Status: StatusSuccess,
				Spans: []Span{{Name: "someTimeSpan", Start: mustTime(t, "2022-06-02T12:02:33.913Z"), DurationMs: 70.5}},
			},
		},
		{
			name:   "initRuntimeDone failure",
			typ:    TypePlatformInitRuntimeDone,
			record: `{"initializationType":"on-demand","phase":"invoke","status":"failure","errorType":"Runtime.ExitError"}`,
			want: &PlatformInitRuntimeDone{
				InitializationType: InitTypeOnDemand, Phase: PhaseInvoke, Status: StatusFailure, ErrorType: "Runtime.ExitError",
			},
		},
		{
			name: "initReport",
			typ:  TypePlatformInitReport,
			record: `{"initializationType":"on-demand","phase":"init","status":"success","metrics":{"durationMs":125.33},
				"spans":[{"name":"someTimeSpan","start":"2022-06-02T12:02:33.913Z","durationMs":90.1}]}`,
			want: &PlatformInitReport{
				InitializationType: InitTypeOnDemand, Phase: PhaseInit, Status: StatusSuccess,
				Metrics: InitReportMetrics{DurationMs: 125.33},
				Spans:   []Span{{Name: "someTimeSpan", Start: mustTime(t, "2022-06-02T12:02:33.913Z"), DurationMs: 90.1}},
			},
		},
		{
			name:   "initReport timeout",
			typ:    TypePlatformInitReport,
			record: `{"initializationType":"on-demand","phase":"init","status":"timeout","errorType":"Sandbox.Timedout","metrics":{"durationMs":10000.0}}`,
			want: &PlatformInitReport{
				InitializationType: InitTypeOnDemand, Phase: PhaseInit, Status: StatusTimeout, ErrorType: "Sandbox.Timedout",
				Metrics: InitReportMetrics{DurationMs: 10000},
			},
		},
		{
			name: "start with tracing",
			typ:  TypePlatformStart,
			record: `{"requestId":"` + testRequest + `","version":"$LATEST",
				"tracing":{"spanId":"54565fb41ac79632","type":"X-Amzn-Trace-Id","value":"` + testXRay + `"}}`,
			want: &PlatformStart{RequestID: testRequest, Version: "$LATEST", Tracing: testTracing},
		},
		{
			name:   "start minimal",
			typ:    TypePlatformStart,
			record: `{"requestId":"` + testRequest + `"}`,
			want:   &PlatformStart{RequestID: testRequest},
		},
		{
			name: "runtimeDone with spans and tracing",
			typ:  TypePlatformRuntimeDone,
			record: `{"requestId":"` + testRequest + `","status":"success",
				"tracing":{"spanId":"54565fb41ac79632","type":"X-Amzn-Trace-Id","value":"` + testXRay + `"},
				"spans":[
					{"name":"responseLatency","start":"2022-08-02T12:01:23.521Z","durationMs":23.02},
					{"name":"responseDuration","start":"2022-08-02T12:01:23.544Z","durationMs":20},
					{"name":"runtimeOverhead","start":"2022-08-02T12:01:23.564Z","durationMs":1.5}],
				"metrics":{"durationMs":140.0,"producedBytes":16}}`,
			want: &PlatformRuntimeDone{
				RequestID: testRequest, Status: StatusSuccess, Tracing: testTracing,
				Spans: []Span{
					{Name: SpanResponseLatency, Start: mustTime(t, "2022-08-02T12:01:23.521Z"), DurationMs: 23.02},
					{Name: SpanResponseDuration, Start: mustTime(t, "2022-08-02T12:01:23.544Z"), DurationMs: 20},
					{Name: SpanRuntimeOverhead, Start: mustTime(t, "2022-08-02T12:01:23.564Z"), DurationMs: 1.5},
				},
				Metrics: &RuntimeDoneMetrics{DurationMs: 140, ProducedBytes: f64(16)},
			},
		},
		{
			name:   "runtimeDone timeout",
			typ:    TypePlatformRuntimeDone,
			record: `{"requestId":"` + testRequest + `","status":"timeout","errorType":"Sandbox.Timedout","metrics":{"durationMs":3000.0}}`,
			want: &PlatformRuntimeDone{
				RequestID: testRequest, Status: StatusTimeout, ErrorType: "Sandbox.Timedout",
				Metrics: &RuntimeDoneMetrics{DurationMs: 3000},
			},
		},
		{
			name:   "runtimeDone out of memory, producedBytes zero",
			typ:    TypePlatformRuntimeDone,
			record: `{"requestId":"` + testRequest + `","status":"error","errorType":"Runtime.OutOfMemory","metrics":{"durationMs":842.3,"producedBytes":0}}`,
			want: &PlatformRuntimeDone{
				RequestID: testRequest, Status: StatusError, ErrorType: "Runtime.OutOfMemory",
				Metrics: &RuntimeDoneMetrics{DurationMs: 842.3, ProducedBytes: f64(0)},
			},
		},
		{
			name:   "runtimeDone without metrics, unknown keys ignored",
			typ:    TypePlatformRuntimeDone,
			record: `{"requestId":"` + testRequest + `","status":"failure","errorType":"Runtime.Unknown","futureField":{"a":[1,2]}}`,
			want:   &PlatformRuntimeDone{RequestID: testRequest, Status: StatusFailure, ErrorType: "Runtime.Unknown"},
		},
		{
			name: "report cold start",
			typ:  TypePlatformReport,
			record: `{"metrics":{"billedDurationMs":694,"durationMs":693.92,"initDurationMs":397.68,"maxMemoryUsedMB":84,"memorySizeMB":128},
				"requestId":"` + testRequest + `","status":"success",
				"tracing":{"spanId":"54565fb41ac79632","type":"X-Amzn-Trace-Id","value":"` + testXRay + `"}}`,
			want: &PlatformReport{
				RequestID: testRequest, Status: StatusSuccess, Tracing: testTracing,
				Metrics: ReportMetrics{
					DurationMs: 693.92, BilledDurationMs: 694, MemorySizeMB: 128, MaxMemoryUsedMB: 84, InitDurationMs: f64(397.68),
				},
			},
		},
		{
			name: "report warm, floats in integer fields",
			typ:  TypePlatformReport,
			record: `{"requestId":"` + testRequest + `","status":"success",
				"metrics":{"durationMs":100.25,"billedDurationMs":101.0,"memorySizeMB":128.0,"maxMemoryUsedMB":70.0}}`,
			want: &PlatformReport{
				RequestID: testRequest, Status: StatusSuccess,
				Metrics: ReportMetrics{DurationMs: 100.25, BilledDurationMs: 101, MemorySizeMB: 128, MaxMemoryUsedMB: 70},
			},
		},
		{
			name: "report SnapStart restore",
			typ:  TypePlatformReport,
			record: `{"requestId":"` + testRequest + `","status":"success",
				"metrics":{"durationMs":171.77,"billedDurationMs":521,"memorySizeMB":1024,"maxMemoryUsedMB":212,"restoreDurationMs":329.5}}`,
			want: &PlatformReport{
				RequestID: testRequest, Status: StatusSuccess,
				Metrics: ReportMetrics{
					DurationMs: 171.77, BilledDurationMs: 521, MemorySizeMB: 1024, MaxMemoryUsedMB: 212, RestoreDurationMs: f64(329.5),
				},
			},
		},
		{
			// The figures of a real REPORT line (Python SnapStart): billed 313 = ceil(149.53) + 163.
			name: "report SnapStart restore with billed restore",
			typ:  TypePlatformReport,
			record: `{"requestId":"` + testRequest + `","status":"success",
				"metrics":{"durationMs":149.53,"billedDurationMs":313,"memorySizeMB":3538,"maxMemoryUsedMB":163,"restoreDurationMs":789.64,"billedRestoreDurationMs":163}}`,
			want: &PlatformReport{
				RequestID: testRequest, Status: StatusSuccess,
				Metrics: ReportMetrics{
					DurationMs: 149.53, BilledDurationMs: 313, MemorySizeMB: 3538, MaxMemoryUsedMB: 163,
					RestoreDurationMs: f64(789.64), BilledRestoreDurationMs: f64(163),
				},
			},
		},
		{
			name: "report out of memory with spans",
			typ:  TypePlatformReport,
			record: `{"requestId":"` + testRequest + `","status":"error","errorType":"Runtime.OutOfMemory",
				"metrics":{"durationMs":842.3,"billedDurationMs":843,"memorySizeMB":128,"maxMemoryUsedMB":128},
				"spans":[{"name":"responseLatency","start":"2022-08-02T12:01:23.521Z","durationMs":842.1}]}`,
			want: &PlatformReport{
				RequestID: testRequest, Status: StatusError, ErrorType: "Runtime.OutOfMemory",
				Metrics: ReportMetrics{DurationMs: 842.3, BilledDurationMs: 843, MemorySizeMB: 128, MaxMemoryUsedMB: 128},
				Spans:   []Span{{Name: SpanResponseLatency, Start: mustTime(t, "2022-08-02T12:01:23.521Z"), DurationMs: 842.1}},
			},
		},
		{
			name:   "restoreStart",
			typ:    TypePlatformRestoreStart,
			record: `{"runtimeVersion":"java:21.v14","runtimeVersionArn":"` + testRuntime + `","functionName":"payments","functionVersion":"7"}`,
			want: &PlatformRestoreStart{
				RuntimeVersion: "java:21.v14", RuntimeVersionARN: testRuntime, FunctionName: "payments", FunctionVersion: "7",
			},
		},
		{
			name: "restoreRuntimeDone",
			typ:  TypePlatformRestoreRuntimeDone,
			record: `{"status":"success",
				"spans":[{"name":"restoreHooks","start":"2024-03-02T17:40:11.100Z","durationMs":12.5}]}`,
			want: &PlatformRestoreRuntimeDone{
				Status: StatusSuccess,
				Spans:  []Span{{Name: "restoreHooks", Start: mustTime(t, "2024-03-02T17:40:11.100Z"), DurationMs: 12.5}},
			},
		},
		{
			name:   "restoreRuntimeDone failure",
			typ:    TypePlatformRestoreRuntimeDone,
			record: `{"status":"failure","errorType":"Runtime.RestoreHookUserException"}`,
			want:   &PlatformRestoreRuntimeDone{Status: StatusFailure, ErrorType: "Runtime.RestoreHookUserException"},
		},
		{
			name:   "restoreReport",
			typ:    TypePlatformRestoreReport,
			record: `{"status":"success","metrics":{"durationMs":329.5}}`,
			want:   &PlatformRestoreReport{Status: StatusSuccess, Metrics: InitReportMetrics{DurationMs: 329.5}},
		},
		{
			name:   "extension",
			typ:    TypePlatformExtension,
			record: `{"events":["INVOKE","SHUTDOWN"],"name":"my-telemetry-extension","state":"Ready"}`,
			want:   &PlatformExtension{Name: "my-telemetry-extension", State: "Ready", Events: []string{"INVOKE", "SHUTDOWN"}},
		},
		{
			name:   "telemetrySubscription",
			typ:    TypePlatformTelemetrySubscription,
			record: `{"name":"my-telemetry-extension","state":"Subscribed","types":["platform","function"]}`,
			want:   &PlatformTelemetrySubscription{Name: "my-telemetry-extension", State: "Subscribed", Types: []string{"platform", "function"}},
		},
		{
			name: "logsDropped",
			typ:  TypePlatformLogsDropped,
			record: `{"droppedBytes":12345,"droppedRecords":123,
				"reason":"Consumer seems to have fallen behind as it has not acknowledged receipt of logs."}`,
			want: &PlatformLogsDropped{
				Reason:         "Consumer seems to have fallen behind as it has not acknowledged receipt of logs.",
				DroppedRecords: 123, DroppedBytes: 12345,
			},
		},
		{
			name:   "function text",
			typ:    TypeFunction,
			record: `"2022-10-12T00:03:50.000Z\t` + testRequest + `\tINFO\tHello world, I am a function!\n"`,
			want:   &LogRecord{Message: "2022-10-12T00:03:50.000Z\t" + testRequest + "\tINFO\tHello world, I am a function!\n"},
		},
		{
			name: "function JSON",
			typ:  TypeFunction,
			record: `{"timestamp":"2022-10-12T00:03:50.000Z","level":"INFO","requestId":"` + testRequest + `",
				"message":"Hello world, I am a function!","logger":"app","ctx":{"orderId":4711,"tags":["a","b"]}}`,
			want: &LogRecord{
				Format: LogFormatJSON, Timestamp: "2022-10-12T00:03:50.000Z", Level: "INFO", RequestID: testRequest,
				Message: "Hello world, I am a function!",
				Extras: map[string]json.RawMessage{
					"logger": json.RawMessage(`"app"`), "ctx": json.RawMessage(`{"orderId":4711,"tags":["a","b"]}`),
				},
			},
		},
		{
			name:   "function JSON, non-string message and level, null requestId",
			typ:    TypeFunction,
			record: `{"time":1665533030000,"level":30,"requestId":null,"message":{"event":"order","id":4711}}`,
			want: &LogRecord{
				Format: LogFormatJSON, Level: "30", Message: `{"event":"order","id":4711}`,
				Extras: map[string]json.RawMessage{"time": json.RawMessage(`1665533030000`)},
			},
		},
		{
			name:   "function JSON without message",
			typ:    TypeFunction,
			record: `{"level":"ERROR","errorType":"TypeError","stackTrace":["at a","at b"]}`,
			want: &LogRecord{
				Format: LogFormatJSON, Level: "ERROR",
				Extras: map[string]json.RawMessage{
					"errorType": json.RawMessage(`"TypeError"`), "stackTrace": json.RawMessage(`["at a","at b"]`),
				},
			},
		},
		{
			name:   "extension text",
			typ:    TypeExtension,
			record: `"[INFO] Hello world, I am an extension!"`,
			want:   &LogRecord{Message: "[INFO] Hello world, I am an extension!"},
		},
		{
			name:   "extension JSON",
			typ:    TypeExtension,
			record: `{"timestamp":"2022-10-12T00:03:50.000Z","level":"DEBUG","message":"flushed \"3\" events \u00e9"}`,
			want: &LogRecord{
				Format: LogFormatJSON, Timestamp: "2022-10-12T00:03:50.000Z", Level: "DEBUG", Message: `flushed "3" events é`,
			},
		},
	}
}

func TestDecodeRecord(t *testing.T) {
	wantTime := time.Date(2022, 10, 12, 0, 0, 15, 64e6, time.UTC)
	for _, tc := range recordCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			ev := decodeOne(t, tc.typ, tc.record)
			if !ev.Time.Equal(wantTime) || ev.Type != tc.typ {
				t.Errorf("event = %v %q, want %v %q", ev.Time, ev.Type, wantTime, tc.typ)
			}
			got, err := ev.DecodeRecord()
			if err != nil {
				t.Fatalf("DecodeRecord: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("DecodeRecord:\n got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestDecodeRecordErrors(t *testing.T) {
	tests := []struct {
		name    string
		event   Event
		unknown bool   // want ErrUnknownEventType
		errText string // the error must contain it
	}{
		{name: "unknown type", event: Event{Type: "platform.fault", Record: json.RawMessage(`{}`)}, unknown: true, errText: `"platform.fault"`},
		{name: "empty type", event: Event{Record: json.RawMessage(`{}`)}, unknown: true},
		{name: "wrong field type", event: Event{Type: TypePlatformRuntimeDone, Record: json.RawMessage(`{"requestId":5,"status":"success"}`)}, errText: "platform.runtimeDone"},
		{name: "metric as string", event: Event{Type: TypePlatformReport, Record: json.RawMessage(`{"requestId":"r","metrics":{"durationMs":"1"}}`)}, errText: "platform.report"},
		// The error names the record's field, within the 160 bytes a rejection lists.
		{name: "wrong field type names the field", event: Event{Type: TypePlatformRuntimeDone, Record: json.RawMessage(`{"requestId":true}`)}, errText: "PlatformRuntimeDone.requestId of type string"},
		{name: "report field names the field", event: Event{Type: TypePlatformReport, Record: json.RawMessage(`{"requestId":"r","status":1}`)}, errText: "PlatformReport.status of type string"},
		{name: "bad span start", event: Event{Type: TypePlatformRuntimeDone, Record: json.RawMessage(`{"requestId":"r","spans":[{"name":"x","start":"2022-08-02T12:01:23:521Z"}]}`)}, errText: "platform.runtimeDone"},
		{name: "record is an array", event: Event{Type: TypePlatformStart, Record: json.RawMessage(`[]`)}, errText: "platform.start"},
		{name: "record null", event: Event{Type: TypePlatformStart, Record: json.RawMessage(`null`)}, errText: "platform.start"},
		{name: "record missing", event: Event{Type: TypePlatformReport}, errText: "platform.report"},
		{name: "record not JSON", event: Event{Type: TypePlatformInitStart, Record: json.RawMessage(`{"phase":`)}, errText: "platform.initStart"},
		{name: "log record number", event: Event{Type: TypeFunction, Record: json.RawMessage(`42`)}, errText: "function"},
		{name: "log record null", event: Event{Type: TypeExtension, Record: json.RawMessage(`null`)}, errText: "extension"},
		{name: "log record bad string", event: Event{Type: TypeFunction, Record: json.RawMessage(`"\x"`)}, errText: "function"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := tc.event.DecodeRecord()
			if err == nil {
				t.Fatalf("DecodeRecord = %#v, want an error", rec)
			}
			if got := errors.Is(err, ErrUnknownEventType); got != tc.unknown {
				t.Errorf("errors.Is(%v, ErrUnknownEventType) = %v, want %v", err, got, tc.unknown)
			}
			var recErr *RecordError
			if got := errors.As(err, &recErr); got == tc.unknown {
				t.Errorf("errors.As(%v, *RecordError) = %v, want %v", err, got, !tc.unknown)
			} else if got && recErr.Type != tc.event.Type {
				t.Errorf("RecordError.Type = %q, want %q", recErr.Type, tc.event.Type)
			}
			if !strings.Contains(err.Error(), tc.errText) {
				t.Errorf("error %q does not contain %q", err, tc.errText)
			}
		})
	}
}

func TestDecodeEvents(t *testing.T) {
	tests := []struct {
		file      string
		wantTypes []string
	}{
		{"invoke.json", []string{TypePlatformStart, TypePlatformRuntimeDone, TypePlatformReport}},
		{"cold_start.json", []string{
			TypePlatformInitStart, TypePlatformTelemetrySubscription, TypeExtension, TypePlatformInitRuntimeDone,
			TypePlatformExtension, TypePlatformInitReport, TypePlatformStart, TypeFunction, TypeFunction,
			TypePlatformRuntimeDone, TypePlatformReport,
		}},
		{"snapstart.json", []string{
			TypePlatformRestoreStart, TypePlatformRestoreRuntimeDone, TypePlatformRestoreReport,
			TypePlatformStart, TypePlatformRuntimeDone, TypePlatformReport,
		}},
		{"failures.json", []string{
			TypePlatformInitRuntimeDone, TypePlatformInitReport, TypePlatformInitStart, TypePlatformRuntimeDone,
			TypePlatformReport, TypePlatformRuntimeDone, TypePlatformReport, TypePlatformLogsDropped,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			data := readTestdata(t, tc.file)
			events, err := DecodeEvents(data)
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for i, ev := range events {
				types = append(types, ev.Type)
				if ev.Time.IsZero() || ev.Time.Location() != time.UTC {
					t.Errorf("event %d: time %v, want a UTC time", i, ev.Time)
				}
				if _, err := ev.DecodeRecord(); err != nil {
					t.Errorf("event %d: %v", i, err)
				}
				if !json.Valid(ev.Record) || !bytes.Contains(data, ev.Record) {
					t.Errorf("event %d: record %s is not a verbatim part of the input", i, ev.Record)
				}
			}
			if !reflect.DeepEqual(types, tc.wantTypes) {
				t.Errorf("types = %q, want %q", types, tc.wantTypes)
			}
		})
	}
}

func TestDecodeEventsFixtureValues(t *testing.T) {
	// Spot checks on values that the per-type table does not cover: the
	// fixture's order and its float-formatted integers.
	events, err := DecodeEvents(readTestdata(t, "snapstart.json"))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := events[5].DecodeRecord()
	if err != nil {
		t.Fatal(err)
	}
	want := &PlatformReport{
		RequestID: "c0ffee00-1111-4222-8333-444455556666", Status: StatusSuccess,
		Metrics: ReportMetrics{
			DurationMs: 171.77, BilledDurationMs: 521, MemorySizeMB: 1024, MaxMemoryUsedMB: 212, RestoreDurationMs: f64(329.5),
		},
	}
	if !reflect.DeepEqual(rec, want) {
		t.Errorf("report = %#v, want %#v", rec, want)
	}
	if got, want := events[5].Time, time.Date(2024, 3, 2, 17, 40, 11, 520e6, time.UTC); !got.Equal(want) {
		t.Errorf("time = %v, want %v", got, want)
	}
}

func TestDecodeEventsEdges(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		wantLen int
		wantErr bool
	}{
		{name: "empty array", data: `[]`, wantLen: 0},
		{name: "empty array with space", data: " [ \n ] ", wantLen: 0},
		{name: "unknown type decodes", data: `[{"time":"2022-10-12T00:00:15.064Z","type":"platform.fault","record":{"x":1}}]`, wantLen: 1},
		{name: "unknown envelope key ignored", data: `[{"time":"2022-10-12T00:00:15.064Z","type":"function","record":"x","extra":1}]`, wantLen: 1},
		{name: "empty input", data: ``, wantErr: true},
		{name: "truncated", data: `[{"time":"2022-10-12T00:00:15.064Z","type":"function","record":"x"}`, wantErr: true},
		{name: "not an array", data: `{"time":"2022-10-12T00:00:15.064Z","type":"function","record":"x"}`, wantErr: true},
		{name: "array of strings", data: `["platform.start"]`, wantErr: true},
		{name: "bad time", data: `[{"time":"yesterday","type":"function","record":"x"}]`, wantErr: true},
		{name: "time not a string", data: `[{"time":1665533015,"type":"function","record":"x"}]`, wantErr: true},
		{name: "type not a string", data: `[{"time":"2022-10-12T00:00:15.064Z","type":7,"record":"x"}]`, wantErr: true},
		{name: "trailing garbage", data: `[]x`, wantErr: true},
		{name: "invalid record JSON", data: `[{"time":"2022-10-12T00:00:15.064Z","type":"function","record":{"a":}}]`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			events, err := DecodeEvents([]byte(tc.data))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("DecodeEvents = %v, want an error", events)
				}
				if !strings.HasPrefix(err.Error(), "telemetryapi: ") {
					t.Errorf("error %q lacks the package prefix", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != tc.wantLen {
				t.Errorf("got %d events, want %d", len(events), tc.wantLen)
			}
		})
	}
}

func TestRecordIsACopy(t *testing.T) {
	data := []byte(`[{"time":"2022-10-12T00:00:15.064Z","type":"function","record":"hello"}]`)
	events, err := DecodeEvents(data)
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = 'x'
	}
	if got := string(events[0].Record); got != `"hello"` {
		t.Errorf("record = %s after the input changed, want a copy", got)
	}
}

// TestRoundTrip encodes every typed record of the decode table with NewEvent
// and AppendEvents, decodes it, and wants the same record back.
func TestRoundTrip(t *testing.T) {
	at := time.Date(2022, 10, 12, 0, 0, 15, 64e6, time.FixedZone("CEST", 2*3600))
	for _, tc := range recordCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := NewEvent(at, tc.typ, tc.want)
			if err != nil {
				t.Fatal(err)
			}
			data, err := AppendEvents(nil, []Event{ev})
			if err != nil {
				t.Fatal(err)
			}
			events, err := DecodeEvents(data)
			if err != nil {
				t.Fatalf("DecodeEvents(%s): %v", data, err)
			}
			if len(events) != 1 || !reflect.DeepEqual(events[0], ev) {
				t.Fatalf("decoded %#v, want %#v", events, ev)
			}
			got, err := events[0].DecodeRecord()
			if err != nil {
				t.Fatalf("DecodeRecord(%s): %v", events[0].Record, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("round trip of %s:\n got %#v\nwant %#v", data, got, tc.want)
			}
		})
	}
}

func TestNewEvent(t *testing.T) {
	at := time.Date(2022, 10, 12, 2, 0, 15, 64_999_999, time.FixedZone("CEST", 2*3600))
	ev, err := NewEvent(at, TypePlatformStart, PlatformStart{RequestID: "r"})
	if err != nil {
		t.Fatal(err)
	}
	want := Event{
		Time:   time.Date(2022, 10, 12, 0, 0, 15, 64e6, time.UTC),
		Type:   TypePlatformStart,
		Record: json.RawMessage(`{"requestId":"r"}`),
	}
	if !reflect.DeepEqual(ev, want) {
		t.Errorf("NewEvent = %#v, want %#v", ev, want)
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"time":"2022-10-12T00:00:15.064Z","type":"platform.start","record":{"requestId":"r"}}`; got != want {
		t.Errorf("json.Marshal = %s, want %s", got, want)
	}

	for _, tc := range []struct {
		name   string
		typ    string
		record any
		ok     bool
	}{
		{"text log", TypeFunction, "line", true},
		{"log record as extension", TypeExtension, &LogRecord{Message: "m"}, true},
		{"raw record, any type", "platform.fault", json.RawMessage(`{"x":1}`), true},
		{"mismatched type", TypePlatformStart, &PlatformReport{}, false},
		{"log record as platform event", TypePlatformReport, LogRecord{}, false},
		{"invalid raw record", TypePlatformStart, json.RawMessage(`{`), false},
		{"unencodable record", "custom", func() {}, false},
	} {
		_, err := NewEvent(at, tc.typ, tc.record)
		if (err == nil) != tc.ok {
			t.Errorf("%s: NewEvent error = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestSpanMarshalJSON(t *testing.T) {
	s := Span{Name: "responseLatency", Start: time.Date(2022, 8, 2, 14, 1, 23, 521_400_000, time.FixedZone("", 7200)), DurationMs: 23.02}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"name":"responseLatency","start":"2022-08-02T12:01:23.521Z","durationMs":23.02}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if got, want := s.End(), s.Start.Add(23020*time.Microsecond); !got.Equal(want) {
		t.Errorf("End = %v, want %v", got, want)
	}
}

func TestAppendEventsVerbatim(t *testing.T) {
	// Whitespace, HTML characters, escapes and unknown keys must survive a
	// decode-encode trip byte for byte.
	records := []string{
		`{ "requestId" : "r",  "status":"success", "newKey": [1, 2.50, "<&>"] }`,
		`"a < b && c \u003e d\n\"quoted\""`,
		`{"message":"ü \ud83d\ude00","level":"INFO"}`,
	}
	var in bytes.Buffer
	in.WriteString("[")
	types := []string{TypePlatformRuntimeDone, TypeFunction, TypeExtension}
	for i, r := range records {
		if i > 0 {
			in.WriteString(",")
		}
		in.WriteString(`{"time":"2022-10-12T00:00:15.064Z","type":"` + types[i] + `","record":` + r + `}`)
	}
	in.WriteString("]")
	events, err := DecodeEvents(in.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	out, err := AppendEvents([]byte("prefix:"), events)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), "prefix:"+in.String(); got != want {
		t.Errorf("AppendEvents:\n got %s\nwant %s", got, want)
	}

	if out, err := AppendEvents([]byte("keep"), []Event{{Type: TypeFunction, Record: json.RawMessage(`1`)}, {Type: TypeFunction}}); err == nil || string(out) != "keep" {
		t.Errorf("AppendEvents of an event without record = %q, %v; want the input back and an error", out, err)
	}
	if _, err := AppendEvents(nil, []Event{{Type: TypeFunction, Record: json.RawMessage(`"x`)}}); err == nil {
		t.Error("AppendEvents of an invalid record: want an error")
	}
	out, err = AppendEvents(nil, []Event{{Type: "odd\"type\u2028", Record: json.RawMessage(`1`)}})
	if err != nil {
		t.Fatal(err)
	}
	if events, err := DecodeEvents(out); err != nil || events[0].Type != "odd\"type\u2028" {
		t.Errorf("odd type: DecodeEvents(%s) = %v, %v", out, events, err)
	}
	// Times are written as AWS writes them, whatever their zone and precision.
	at := time.Date(2022, 10, 12, 2, 0, 15, 60_999_000, time.FixedZone("CEST", 2*3600))
	out, err = AppendEvents(nil, []Event{{Time: at, Type: TypeFunction, Record: json.RawMessage(`"x"`)}})
	if want := `[{"time":"2022-10-12T00:00:15.060Z","type":"function","record":"x"}]`; err != nil || string(out) != want {
		t.Errorf("AppendEvents = %s, %v; want %s", out, err, want)
	}
	if out, err := AppendEvents(nil, nil); err != nil || string(out) != "[]" {
		t.Errorf("AppendEvents(nil) = %s, %v; want []", out, err)
	}
}

func TestHelpers(t *testing.T) {
	m := ReportMetrics{MemorySizeMB: 128, MaxMemoryUsedMB: 84.5}
	if got := m.MemorySizeBytes(); got != 134217728 {
		t.Errorf("MemorySizeBytes = %v, want 134217728", got)
	}
	if got := m.MaxMemoryUsedBytes(); got != 88604672 {
		t.Errorf("MaxMemoryUsedBytes = %v, want 88604672", got)
	}
	for _, tc := range []struct {
		ms   float64
		want time.Duration
	}{
		{693.92, 693920 * time.Microsecond},
		{0.001, time.Microsecond},
		{2599.4, 2599400 * time.Microsecond},
		{0, 0},
	} {
		if got := MillisToDuration(tc.ms); got != tc.want {
			t.Errorf("MillisToDuration(%v) = %v, want %v", tc.ms, got, tc.want)
		}
	}
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
