// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver // import "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver"

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.uber.org/zap"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/translator"
)

const telemetryFormat = "telemetryapi"

// telemetryResponse is the JSON body of every answer on the telemetry path.
type telemetryResponse struct {
	// Accepted is how many events were used.
	Accepted int `json:"accepted"`
	// Replayed says the batch was accepted before and was ignored this time.
	Replayed bool `json:"replayed,omitempty"`
	// Rejected lists the events that could not be used, by index in the batch; the others
	// were accepted. A forwarder must not resend them.
	Rejected []rejectedEvent `json:"rejected,omitempty"`
	// Error says why the whole request was refused.
	Error string `json:"error,omitempty"`
}

type rejectedEvent struct {
	Index int    `json:"index"`
	Error string `json:"error"`
}

// handleTelemetry takes one forwarder batch of Telemetry API events (see internal/wire).
func (r *lambdaTelemetryReceiver) handleTelemetry(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeTelemetryError(w, http.StatusMethodNotAllowed, "method "+req.Method+" is not allowed, use POST")
		return
	}
	if ct := mediaType(req.Header.Get("Content-Type")); ct != jsonContentType {
		writeTelemetryError(w, http.StatusUnsupportedMediaType,
			"unsupported content type "+req.Header.Get("Content-Type")+", use "+jsonContentType)
		return
	}
	body, code, err := readBody(req)
	if err != nil {
		writeTelemetryError(w, code, err.Error())
		return
	}

	b, events, positions, rejected, err := decodeBatch(req.Header, body)
	if err != nil {
		r.warnings.Warn("Refused a malformed Telemetry API batch", zap.Error(err))
		writeTelemetryError(w, http.StatusBadRequest, err.Error())
		return
	}

	code, resp := r.consumeBatch(req, b, events, positions, rejected)
	writeTelemetryResponse(w, code, resp)
}

// consumeBatch translates the batch under its sandbox's lock and hands it to the pipelines.
// When the traces pipeline refuses, the sandbox's state is rolled back so that the
// forwarder's retry counts exactly what this attempt would have.
func (r *lambdaTelemetryReceiver) consumeBatch(req *http.Request, b wire.Batch, events []telemetryapi.Event, positions []int, rejected []rejectedEvent) (int, telemetryResponse) {
	ctx := req.Context()
	malformedEarly := len(rejected)
	var sandbox *translator.Sandbox
	if key := b.Sandbox.ExtensionInstanceID; key != "" {
		sandbox = r.sandboxes.GetOrCreate(key, time.Now(), func() *translator.Sandbox { return translator.NewSandbox(key) })
	} else {
		sandbox = translator.NewSandbox("")
	}

	sandbox.Lock()
	if sandbox.Replayed(b.Sequence) {
		sandbox.Unlock()
		r.telemetry.ReceiverLambdaTelemetryBatchesReplayed.Add(ctx, 1)
		return http.StatusOK, telemetryResponse{Replayed: true}
	}
	checkpoint := sandbox.Checkpoint()
	out := translator.Translate(sandbox, b, events, r.scope)
	if n := out.Traces.SpanCount(); n > 0 && r.nextTraces != nil {
		opCtx := r.obsrep.StartTracesOp(ctx)
		err := r.nextTraces.ConsumeTraces(opCtx, out.Traces)
		r.obsrep.EndTracesOp(opCtx, telemetryFormat, n, err)
		if err != nil {
			sandbox.Restore(checkpoint)
			sandbox.Unlock()
			if consumererror.IsPermanent(err) {
				return http.StatusBadRequest, telemetryResponse{Error: err.Error()}
			}
			return http.StatusServiceUnavailable, telemetryResponse{Error: err.Error()}
		}
	}
	sandbox.Accepted(b.Sequence)
	sandbox.Unlock()

	// Logs come second: once the spans are in, a retry would count them again, so a
	// refused log batch is reported in the receiver's refused counts, not retried.
	if n := out.Logs.LogRecordCount(); n > 0 && r.nextLogs != nil {
		opCtx := r.obsrep.StartLogsOp(ctx)
		err := r.nextLogs.ConsumeLogs(opCtx, out.Logs)
		r.obsrep.EndLogsOp(opCtx, telemetryFormat, n, err)
		if err != nil {
			r.warnings.Warn("Logs pipeline refused function logs of a Telemetry API batch", zap.Error(err))
		}
	}

	for _, rej := range out.Rejected {
		rejected = append(rejected, rejectedEvent{Index: positions[rej.Index], Error: rej.Err.Error()})
	}
	r.record(ctx, b, out.Stats, malformedEarly)
	if len(rejected) > 0 {
		r.warnings.Warn("Rejected malformed Telemetry API events",
			zap.String("function", b.Sandbox.FunctionName), zap.Int("count", len(rejected)), zap.String("first", rejected[0].Error))
	}
	resp := telemetryResponse{
		Accepted: out.Stats.Events - out.Stats.Malformed - out.Stats.Unknown - out.Stats.Duplicates,
		Rejected: rejected,
	}
	if total := len(events) + malformedEarly; total > 0 && len(rejected) == total {
		resp.Error = "no event of the batch could be decoded"
		return http.StatusBadRequest, resp
	}
	return http.StatusOK, resp
}

// record updates the receiver's own telemetry for one batch.
func (r *lambdaTelemetryReceiver) record(ctx context.Context, b wire.Batch, s translator.Stats, malformedEarly int) {
	c := r.telemetry
	if n := s.Events - s.Malformed - s.Unknown - s.Duplicates; n > 0 {
		c.ReceiverLambdaTelemetryEvents.Add(ctx, int64(n), r.outcomes.accepted)
	}
	if n := s.Malformed + malformedEarly; n > 0 {
		c.ReceiverLambdaTelemetryEvents.Add(ctx, int64(n), r.outcomes.malformed)
	}
	if s.Unknown > 0 {
		c.ReceiverLambdaTelemetryEvents.Add(ctx, int64(s.Unknown), r.outcomes.unknown)
	}
	if s.Duplicates > 0 {
		c.ReceiverLambdaTelemetryEvents.Add(ctx, int64(s.Duplicates), r.outcomes.duplicate)
	}
	if s.Evicted > 0 {
		c.ReceiverLambdaTelemetryStateEvictions.Add(ctx, int64(s.Evicted))
	}
	if b.DroppedEvents > 0 {
		c.ReceiverLambdaTelemetryForwarderDroppedEvents.Add(ctx, int64(b.DroppedEvents))
	}
	if s.LambdaDroppedRecords > 0 {
		c.ReceiverLambdaTelemetryLambdaDroppedRecords.Add(ctx, int64(s.LambdaDroppedRecords))
	}
}

// decodeBatch reads the batch in either form (see internal/wire). An event that does not
// decode is rejected alone: positions maps each returned event to its index in the batch.
func decodeBatch(header http.Header, body []byte) (wire.Batch, []telemetryapi.Event, []int, []rejectedEvent, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	var b wire.Batch
	eventsJSON := trimmed
	var err error
	switch {
	case len(trimmed) == 0:
		return b, nil, nil, nil, errors.New("the body is empty: send a JSON array of Telemetry API events")
	case trimmed[0] == '[':
		if b, err = wire.BatchFromHeaders(header); err != nil {
			return b, nil, nil, nil, err
		}
	case trimmed[0] == '{':
		if b, eventsJSON, err = wire.DecodeEnvelope(trimmed); err != nil {
			return b, nil, nil, nil, err
		}
	default:
		return b, nil, nil, nil, errors.New("the body is neither a JSON array of Telemetry API events nor a batch envelope object")
	}

	// The body is this request's own and is not changed: the events may share it. Nothing
	// the translator keeps refers to a record's bytes.
	if events, err := telemetryapi.DecodeEventsNoCopy(eventsJSON); err == nil {
		positions := make([]int, len(events))
		for i := range positions {
			positions[i] = i
		}
		return b, events, positions, nil, nil
	}
	events, positions, rejected, err := decodeEachEvent(eventsJSON)
	if err != nil {
		return b, nil, nil, nil, err
	}
	b.ReportsWithoutRuntimeDone = remapIndexes(b.ReportsWithoutRuntimeDone, positions)
	return b, events, positions, rejected, nil
}

// decodeEachEvent decodes the array element by element, so that one bad event costs only
// itself. It fails only when the body is not a JSON array at all.
func decodeEachEvent(data []byte) ([]telemetryapi.Event, []int, []rejectedEvent, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, nil, nil, errors.New("the events are not a JSON array")
	}
	var events []telemetryapi.Event
	var positions []int
	var rejected []rejectedEvent
	for i := 0; dec.More(); i++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, nil, fmt.Errorf("the events are not valid JSON (at event %d): %w", i, err)
		}
		one, err := telemetryapi.DecodeEvents(append(append([]byte{'['}, raw...), ']'))
		if err != nil || len(one) != 1 {
			if err == nil {
				err = errors.New("not a single event")
			}
			rejected = append(rejected, rejectedEvent{Index: i, Error: err.Error()})
			continue
		}
		events = append(events, one[0])
		positions = append(positions, i)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim(']') {
		return nil, nil, nil, errors.New("the events array is not closed")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, nil, nil, errors.New("unexpected data after the events array")
	}
	return events, positions, rejected, nil
}

// remapIndexes turns batch indexes into indexes of the decoded events, dropping those of
// rejected events.
func remapIndexes(batchIndexes, positions []int) []int {
	if len(batchIndexes) == 0 {
		return nil
	}
	out := make([]int, 0, len(batchIndexes))
	for decoded, batchIndex := range positions {
		for _, want := range batchIndexes {
			if want == batchIndex {
				out = append(out, decoded)
			}
		}
	}
	return out
}

func writeTelemetryError(w http.ResponseWriter, code int, msg string) {
	writeTelemetryResponse(w, code, telemetryResponse{Error: msg})
}

func writeTelemetryResponse(w http.ResponseWriter, code int, resp telemetryResponse) {
	body, err := json.Marshal(resp)
	if err != nil {
		body = []byte(`{"error":"cannot encode the response"}`)
	}
	w.Header().Set("Content-Type", jsonContentType)
	if code == http.StatusServiceUnavailable || code == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
	w.WriteHeader(code)
	_, _ = w.Write(body)
}
