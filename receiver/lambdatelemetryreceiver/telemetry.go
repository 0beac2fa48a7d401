// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver // import "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver"

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.uber.org/zap"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/batchlog"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/translator"
)

const telemetryFormat = "telemetryapi"

// telemetryResponse is the JSON body of every answer on the telemetry path.
type telemetryResponse struct {
	// Accepted is how many events were used.
	Accepted int `json:"accepted"`
	// Replayed says the batch was accepted before and was ignored this time.
	Replayed bool `json:"replayed,omitempty"`
	// Rejected names some of the events that could not be used (at most
	// maxListedRejections, lowest indexes first), by index in the batch; the others were
	// accepted. A forwarder must not resend them.
	Rejected []rejectedEvent `json:"rejected,omitempty"`
	// RejectedCount is how many events could not be used, named in Rejected or not: an
	// answer's size must not grow with the number of bad events.
	RejectedCount int `json:"rejectedCount,omitempty"`
	// Error says why the whole request was refused.
	Error string `json:"error,omitempty"`
}

// Bounds on what a batch may cost besides its body; see README.md, "Limits and
// validation". A 5 MB body of 2.5 million bad elements once took 1.2 GB and got a 319 MB
// answer, with an error per element.
const (
	// maxListedRejections is how many rejected events an answer names.
	maxListedRejections = translator.MaxRejections
	// maxRejectedElements is how many elements that are not Telemetry API events a batch
	// may have: past it, the batch is refused whole without reading further. Lambda writes
	// every event well-formed, so a batch with this many bad ones comes from a broken or
	// hostile forwarder, and the rest of it is not worth decoding; one or two (a
	// forwarder's bug) still cost only themselves.
	maxRejectedElements = 64
	// maxListedMessage bounds the message of one named rejection.
	maxListedMessage = 160
)

type rejectedEvent struct {
	Index int    `json:"index"`
	Error string `json:"error"`
}

// handleTelemetry takes one forwarder batch of Telemetry API events (see internal/wire).
func (r *lambdaTelemetryReceiver) handleTelemetry(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	if req.Method != http.MethodPost {
		r.refused(ctx, reasonMalformed)
		w.Header().Set("Allow", http.MethodPost)
		writeTelemetryError(w, http.StatusMethodNotAllowed, "method "+req.Method+" is not allowed, use POST")
		return
	}
	if ct := mediaType(req.Header.Get("Content-Type")); ct != jsonContentType {
		r.refused(ctx, reasonMalformed)
		writeTelemetryError(w, http.StatusUnsupportedMediaType,
			"unsupported content type "+req.Header.Get("Content-Type")+", use "+jsonContentType)
		return
	}
	// Before the body: reading it only to hear the pipeline refuse it costs the memory
	// that is short.
	if !r.gates.traces.admit(r.now) {
		r.refused(ctx, reasonPipelineBusy)
		writeTelemetryError(w, http.StatusServiceUnavailable, errPipelineBusy.Error())
		return
	}
	buffers := telemetryBufferPool.Get().(*telemetryBuffers)
	defer buffers.release()
	body, code, err := readBodyInto(buffers.body, req, r.cfg.HTTP.MaxRequestBodySize)
	buffers.body = body
	if err != nil {
		r.refused(ctx, reasonOfStatus(code))
		writeTelemetryError(w, code, err.Error())
		return
	}

	b, decoded, err := decodeBatch(req.Header, body, buffers.events)
	buffers.events = decoded.events
	if err != nil {
		r.refused(ctx, reasonOfBatchError(err))
		r.warnings.Warn("Refused a Telemetry API batch", zap.String("error", boundedMessage(err.Error(), maxErrorMessage)))
		resp := telemetryResponse{Error: err.Error()}
		if errors.Is(err, errHopelessBatch) {
			resp.Rejected, resp.RejectedCount = decoded.rejected.lowestListed(), decoded.rejected.count()
		}
		writeTelemetryResponse(w, http.StatusBadRequest, resp)
		return
	}

	code, resp := r.consumeBatch(req, body, b, decoded)
	writeTelemetryResponse(w, code, resp)
}

// telemetryBuffers are a request's body and the slice of its events, reused by later
// requests: they were a third of the bytes a request allocated. Nothing that outlives the
// request refers to them: the translator copies what it keeps, the pipelines get pdata,
// and the write-ahead log copies the body.
type telemetryBuffers struct {
	body   []byte
	events []telemetryapi.DecodedEvent
}

var telemetryBufferPool = sync.Pool{New: func() any { return new(telemetryBuffers) }}

// Larger buffers are not kept: one hostile body must not hold its size for good.
const (
	maxPooledBody   = 1 << 20
	maxPooledEvents = 4096
)

// release clears the events (their records point into the body and the decoder's arena)
// and returns the buffers to the pool, unless they grew too large to keep.
func (t *telemetryBuffers) release() {
	clear(t.events)
	t.events = t.events[:0]
	if cap(t.body) > maxPooledBody {
		t.body = nil
	}
	if cap(t.events) > maxPooledEvents {
		t.events = nil
	}
	telemetryBufferPool.Put(t)
}

// reasonOfStatus is why a request whose body could not be read was refused.
func reasonOfStatus(code int) refusalReason {
	if code == http.StatusRequestEntityTooLarge {
		return reasonTooLarge
	}
	return reasonMalformed
}

// reasonOfBatchError is why a batch whose facts or events could not be used was refused.
func reasonOfBatchError(err error) refusalReason {
	var field *wire.FieldError
	switch {
	case errors.Is(err, errUnattributed):
		return reasonUnattributed
	case errors.As(err, &field):
		return reasonInvalidSandbox
	}
	return reasonMalformed
}

// consumeBatch translates the batch under its sandbox's lock and hands it to the pipelines.
// When the traces pipeline refuses, the sandbox's state is rolled back so that the
// forwarder's retry counts exactly what this attempt would have.
//
// In the write-ahead mode the batch is logged, after its translation and before the
// pipelines see its spans, and the answer follows the log write.
func (r *lambdaTelemetryReceiver) consumeBatch(req *http.Request, body []byte, b wire.Batch, decoded decodedEvents) (int, telemetryResponse) {
	ctx := req.Context()
	events := decoded.events
	sandbox := r.sandboxFor(b)
	// Held until the pipeline answered, on purpose: when it refuses, the sandbox's state is
	// rolled back to the checkpoint, and no other batch of the sandbox may have built on it
	// meanwhile. Only the same sandbox's batches wait on it.
	sandbox.Lock()
	r.replay.Load(ctx, sandbox)
	if sandbox.Replayed(b.Sequence) {
		sandbox.Unlock()
		r.telemetry.ReceiverLambdaTelemetryBatchesReplayed.Add(ctx, 1)
		return http.StatusOK, telemetryResponse{Replayed: true}
	}
	if err := sandbox.CheckSequence(b.Sequence); err != nil {
		sandbox.Unlock()
		r.refused(ctx, reasonInvalidSandbox)
		r.warnings.Warn("Refused a Telemetry API batch", zap.String("error", err.Error()))
		return http.StatusBadRequest, telemetryResponse{Error: err.Error()}
	}
	checkpoint := sandbox.Checkpoint()
	out := translator.Translate(sandbox, b, events, r.scope)
	logged, err := r.logBatch(ctx, req.Header, body, out)
	if err != nil {
		sandbox.Restore(checkpoint)
		sandbox.Unlock()
		if errors.Is(err, batchlog.ErrFull) {
			r.refused(ctx, reasonLogFull)
		} else {
			r.refused(ctx, reasonPipelineBusy)
		}
		r.warnings.Warn("Refused a Telemetry API batch: the write-ahead log did not take it", zap.Error(err))
		return http.StatusServiceUnavailable, telemetryResponse{Error: err.Error()}
	}
	if n := out.Traces.SpanCount(); n > 0 && r.nextTraces != nil {
		opCtx := r.obsrep.StartTracesOp(ctx)
		// Marked as the receiver's own spans: lambda_correlation strips the span types and
		// platform attributes of every span that does not come this way (see lambdaconv).
		err := r.nextTraces.ConsumeTraces(lambdaconv.WithReceiverSpans(opCtx), out.Traces)
		r.obsrep.EndTracesOp(opCtx, telemetryFormat, n, err)
		r.gates.traces.observe(err, r.now)
		if err != nil {
			if logged != 0 {
				r.wal.log.Discard(ctx, logged)
			}
			sandbox.Restore(checkpoint)
			sandbox.Unlock()
			if consumererror.IsPermanent(err) {
				return http.StatusBadRequest, telemetryResponse{Error: err.Error()}
			}
			return http.StatusServiceUnavailable, telemetryResponse{Error: err.Error()}
		}
	}
	sandbox.Accepted(b.Sequence)
	r.replay.Accepted(sandbox, b.Sequence)
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

	rejected := decoded.rejected
	for _, rej := range out.Rejected {
		rejected.list(decoded.position(rej.Index), rej.Err)
	}
	r.record(ctx, b, out.Stats, decoded.rejected)
	count := rejected.count() + out.Stats.Malformed + out.Stats.OutOfRange
	listed := rejected.lowestListed()
	if count > 0 {
		r.warnings.Warn("Rejected Telemetry API events",
			zap.String("function", b.Sandbox.FunctionName), zap.Int("count", count), zap.String("first", listed[0].Error))
	}
	resp := telemetryResponse{Accepted: out.Stats.Accepted(), Rejected: listed, RejectedCount: count}
	if decoded.total > 0 && count == decoded.total {
		resp.Error = "no event of the batch could be used: every one was rejected"
		return http.StatusBadRequest, resp
	}
	return http.StatusOK, resp
}

// sandboxFor returns the state of the batch's sandbox; a batch without an extension
// instance id gets a state of its own, which nothing else will use.
func (r *lambdaTelemetryReceiver) sandboxFor(b wire.Batch) *translator.Sandbox {
	key := b.Sandbox.ExtensionInstanceID
	if key == "" {
		return translator.NewSandbox("")
	}
	return r.sandboxes.GetOrCreate(key, r.now(), func() *translator.Sandbox { return translator.NewSandbox(key) })
}

// record updates the receiver's own telemetry for one batch.
func (r *lambdaTelemetryReceiver) record(ctx context.Context, b wire.Batch, s translator.Stats, early rejections) {
	c := r.telemetry
	if n := s.Accepted(); n > 0 {
		c.ReceiverLambdaTelemetryEvents.Add(ctx, int64(n), r.outcomes.accepted)
	}
	if n := s.Malformed + early.malformed; n > 0 {
		c.ReceiverLambdaTelemetryEvents.Add(ctx, int64(n), r.outcomes.malformed)
	}
	if n := s.OutOfRange + early.outOfRange; n > 0 {
		c.ReceiverLambdaTelemetryEvents.Add(ctx, int64(n), r.outcomes.outOfRange)
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

var (
	errUnattributed = errors.New("the batch names no function: send the " + wire.HeaderFunctionName +
		" header (or sandbox.functionName in an envelope); a batch that cannot be attributed to a function is not counted")
	errHopelessBatch = fmt.Errorf("more than %d elements are not Telemetry API events", maxRejectedElements)
)

// decodedEvents are the events of a batch that could be read, and what became of the
// others.
type decodedEvents struct {
	events []telemetryapi.DecodedEvent
	// positions is each event's index in the batch; nil when no element was rejected, for
	// then they are the same.
	positions []int
	// rejected are the elements that are not events, and events with a time out of range.
	rejected rejections
	// total is how many elements the batch has.
	total int
}

// position is the index in the batch of the i-th event.
func (d *decodedEvents) position(i int) int {
	if d.positions == nil {
		return i
	}
	return d.positions[i]
}

// decodeBatch reads the batch in either form (see internal/wire). A batch that names no
// function is refused: what it counts could be attributed to nothing. An element that is
// not an event is rejected alone, up to maxRejectedElements of them.
//
// The events go into reuse when it has room for them.
func decodeBatch(header http.Header, body []byte, reuse []telemetryapi.DecodedEvent) (wire.Batch, decodedEvents, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	var b wire.Batch
	eventsJSON := trimmed
	var err error
	switch {
	case len(trimmed) == 0:
		return b, decodedEvents{}, errors.New("the body is empty: send a JSON array of Telemetry API events")
	case trimmed[0] == '[':
		if b, err = wire.BatchFromHeaders(header); err != nil {
			return b, decodedEvents{}, err
		}
	case trimmed[0] == '{':
		if b, eventsJSON, err = wire.DecodeEnvelope(trimmed); err != nil {
			return b, decodedEvents{}, err
		}
	default:
		return b, decodedEvents{}, errors.New("the body is neither a JSON array of Telemetry API events nor a batch envelope object")
	}
	if b.Sandbox.FunctionName == "" {
		return b, decodedEvents{}, errUnattributed
	}

	decoded, err := scanEvents(eventsJSON, reuse)
	if err != nil {
		return b, decoded, err
	}
	if b.ReportsWithoutRuntimeDone, err = decoded.remap(b.ReportsWithoutRuntimeDone); err != nil {
		return b, decoded, err
	}
	return b, decoded, nil
}

// scanEvents reads the events of a batch and decodes their records, in one walk over the
// body. What it allocates is bounded by what it keeps: the events and their records, which
// share the body (this request's own, not changed while they are used; nothing the
// translator keeps refers to the body), and their positions once an element was
// rejected. A rejected element costs nothing but its count, and the scan stops after
// maxRejectedElements of them.
func scanEvents(data []byte, reuse []telemetryapi.DecodedEvent) (decodedEvents, error) {
	d := decodedEvents{events: reuse[:0]}
	if expected := 1 + len(data)/bytesPerEvent; cap(reuse) < expected {
		d.events = make([]telemetryapi.DecodedEvent, 0, expected)
	}
	err := telemetryapi.ScanDecoded(data, func(index int, ev telemetryapi.DecodedEvent, err error) bool {
		d.total = index + 1
		if err != nil {
			if d.positions == nil {
				d.positions = make([]int, len(d.events), cap(d.events))
				for i := range d.positions {
					d.positions[i] = i
				}
			}
			d.rejected.add(index, err)
			return d.rejected.count() <= maxRejectedElements
		}
		d.events = appendDoubling(d.events, ev)
		if d.positions != nil {
			d.positions = appendDoubling(d.positions, index)
		}
		return true
	})
	if err != nil {
		return d, err
	}
	if d.rejected.count() > maxRejectedElements {
		first := d.rejected.listed[0]
		return d, fmt.Errorf("%w (the first at index %d: %s): the batch was refused, nothing of it was used",
			errHopelessBatch, first.Index, first.Error)
	}
	return d, nil
}

// bytesPerEvent sizes the events of a batch before it is read: Lambda's platform events
// are 250 to 500 bytes, so that a batch of them rarely grows the slice.
const bytesPerEvent = 256

// appendDoubling appends, doubling the capacity when full. append grows a large slice by a
// quarter at a time, which allocates five times the final size in all: for a body of tiny
// events, that alone was six times the body.
func appendDoubling[T any](s []T, v T) []T {
	if len(s) == cap(s) {
		grown := make([]T, len(s), 2*cap(s)+1)
		copy(grown, s)
		s = grown
	}
	return append(s, v)
}

// remap checks the batch indexes of reports without runtimeDone and turns them into
// indexes of the decoded events, sorted, dropping those of rejected elements.
func (d *decodedEvents) remap(batchIndexes []int) ([]int, error) {
	if len(batchIndexes) == 0 {
		return nil, nil
	}
	sorted := slices.Compact(slices.Sorted(slices.Values(batchIndexes)))
	if last := sorted[len(sorted)-1]; last >= d.total {
		return nil, fmt.Errorf("the reports without runtimeDone (%s) include event %d, and the batch has %d events",
			wire.HeaderReportsWithoutRuntimeDone, last, d.total)
	}
	if d.positions == nil {
		return sorted, nil
	}
	out := make([]int, 0, len(sorted))
	j := 0
	for decodedIndex, batchIndex := range d.positions {
		for j < len(sorted) && sorted[j] < batchIndex {
			j++
		}
		if j < len(sorted) && sorted[j] == batchIndex {
			out = append(out, decodedIndex)
		}
	}
	return out, nil
}

// rejections counts the rejected events of a batch, and names the first few.
type rejections struct {
	listed                []rejectedEvent
	malformed, outOfRange int
}

// add counts a rejected event and names it while there is room.
func (r *rejections) add(index int, err error) {
	if errors.Is(err, telemetryapi.ErrOutOfRange) {
		r.outOfRange++
	} else {
		r.malformed++
	}
	r.list(index, err)
}

// list names a rejected event counted elsewhere, while there is room.
func (r *rejections) list(index int, err error) {
	if len(r.listed) < 2*maxListedRejections {
		r.listed = append(r.listed, rejectedEvent{Index: index, Error: boundedMessage(err.Error(), maxListedMessage)})
	}
}

func (r *rejections) count() int { return r.malformed + r.outOfRange }

// lowestListed returns the named rejections with the lowest indexes. The scan's come in
// batch order and the translator's in time order, so up to twice the bound is kept before
// this sort.
func (r *rejections) lowestListed() []rejectedEvent {
	slices.SortFunc(r.listed, func(a, b rejectedEvent) int { return a.Index - b.Index })
	return r.listed[:min(len(r.listed), maxListedRejections)]
}

func writeTelemetryError(w http.ResponseWriter, code int, msg string) {
	writeTelemetryResponse(w, code, telemetryResponse{Error: msg})
}

func writeTelemetryResponse(w http.ResponseWriter, code int, resp telemetryResponse) {
	resp.Error = boundedMessage(resp.Error, maxErrorMessage)
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
