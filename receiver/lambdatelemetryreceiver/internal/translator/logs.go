// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package translator // import "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/translator"

import (
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
)

// logRecord turns a function or extension log line into a log record, in the trace of the
// invocation it was written during when that is known.
func (t *batch) logRecord(at time.Time, eventType string, r *telemetryapi.LogRecord) {
	lr := t.newLog(at, eventType)
	if r.Timestamp != "" { // text logs have none, and time.Parse's error costs each line
		if ts, err := time.Parse(time.RFC3339Nano, r.Timestamp); err == nil {
			lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		}
	}
	lr.Body().SetStr(r.Message)
	if r.Level != "" {
		lr.SetSeverityText(r.Level)
		lr.SetSeverityNumber(severity(r.Level))
	}
	requestID := r.RequestID
	if requestID == "" && eventType == telemetryapi.TypeFunction {
		requestID = t.st.current
	}
	if requestID != "" {
		lr.Attributes().PutStr(lambdaconv.AttrFaaSInvocationID, requestID)
		if started, ok := t.st.started[requestID]; ok {
			id := invocationIdentity(requestID, started.start, started.tracing)
			lr.SetTraceID(id.traceID)
			lr.SetSpanID(id.spanID)
		}
	}
	// Sorted, so that the same line always gives the same record.
	for _, k := range slices.Sorted(maps.Keys(r.Extras)) {
		putJSONValue(lr.Attributes(), k, r.Extras[k])
	}
	// Keys past telemetryapi.MaxLogExtras are not attributes, and the record says so.
	lr.SetDroppedAttributesCount(uint32(min(r.DroppedExtras, math.MaxUint32)))
}

// putJSONValue keeps a JSON log field's type: strings, booleans and numbers as such,
// objects and arrays as their JSON text.
func putJSONValue(attrs pcommon.Map, key string, raw []byte) {
	s := string(raw)
	switch {
	case strings.HasPrefix(s, `"`):
		if unquoted, err := strconv.Unquote(s); err == nil {
			attrs.PutStr(key, unquoted)
			return
		}
	case s == "true" || s == "false":
		attrs.PutBool(key, s == "true")
		return
	default:
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			attrs.PutInt(key, i)
			return
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			attrs.PutDouble(key, f)
			return
		}
	}
	attrs.PutStr(key, s)
}

// lambdaDropped makes Lambda's own report of dropped telemetry visible.
func (t *batch) lambdaDropped(at time.Time, r *telemetryapi.PlatformLogsDropped) {
	t.out.Stats.LambdaDroppedRecords += r.DroppedRecords
	lr := t.newLog(at, telemetryapi.TypePlatformLogsDropped)
	lr.SetSeverityNumber(plog.SeverityNumberWarn)
	lr.SetSeverityText("WARN")
	lr.Body().SetStr("Lambda dropped " + strconv.FormatFloat(r.DroppedRecords, 'f', -1, 64) +
		" telemetry records (" + strconv.FormatFloat(r.DroppedBytes, 'f', -1, 64) + " bytes): " + r.Reason)
	lr.Attributes().PutDouble("aws.lambda.dropped_records", r.DroppedRecords)
	lr.Attributes().PutDouble("aws.lambda.dropped_bytes", r.DroppedBytes)
}

// forwarderDropped makes the forwarder's own losses (gateway unreachable, buffer full)
// visible once they reach the gateway.
func (t *batch) forwarderDropped(n uint64) {
	lr := t.newLog(time.Time{}, "forwarder")
	lr.SetSeverityNumber(plog.SeverityNumberWarn)
	lr.SetSeverityText("WARN")
	lr.Body().SetStr("the forwarder dropped " + strconv.FormatUint(n, 10) + " Telemetry API events before this batch")
	lr.Attributes().PutInt("aws.lambda.forwarder.dropped_events", int64(n))
}

func (t *batch) platformLog(at time.Time, eventType, msg string) {
	lr := t.newLog(at, eventType)
	lr.SetSeverityNumber(plog.SeverityNumberInfo)
	lr.SetSeverityText("INFO")
	lr.Body().SetStr(msg)
}

// newLog appends a log record. The batch's log resource is made with the first one: most
// batches carry none, and building a resource that is then dropped costs every batch.
func (t *batch) newLog(at time.Time, eventType string) plog.LogRecord {
	if t.out.Logs.ResourceLogs().Len() == 0 {
		rl := t.out.Logs.ResourceLogs().AppendEmpty()
		lambdaconv.MergeSandboxResource(rl.Resource().Attributes(), t.sandbox)
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName(t.scope.Name)
		sl.Scope().SetVersion(t.scope.Version)
		t.logs = sl.LogRecords()
	}
	lr := t.logs.AppendEmpty()
	if !at.IsZero() {
		lr.SetTimestamp(pcommon.NewTimestampFromTime(at))
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(at))
	}
	lr.Attributes().PutStr(lambdaconv.AttrTelemetryType, eventType)
	return lr
}

// severity maps the levels Lambda's JSON log format and common loggers use.
func severity(level string) plog.SeverityNumber {
	switch strings.ToUpper(level) {
	case "TRACE":
		return plog.SeverityNumberTrace
	case "DEBUG":
		return plog.SeverityNumberDebug
	case "INFO":
		return plog.SeverityNumberInfo
	case "WARN", "WARNING":
		return plog.SeverityNumberWarn
	case "ERROR":
		return plog.SeverityNumberError
	case "FATAL", "CRITICAL":
		return plog.SeverityNumberFatal
	}
	return plog.SeverityNumberUnspecified
}
