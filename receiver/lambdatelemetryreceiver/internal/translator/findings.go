// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package translator // import "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/translator"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
)

// maxFindingsPerSandbox bounds the otelcol.invocation findings a sandbox keeps while their
// invocation span is not made. The extension writes a finding just before its
// invocation's runtimeDone, so one waits across a batch boundary at most, and a few more
// with the concurrent invocations of Managed Instances; a finding whose invocation never
// comes (its runtimeDone was lost, or came before it) waits until newer ones push it out.
const maxFindingsPerSandbox = 8

// finding is what the extension's Runtime API proxy saw of one invocation (the record of
// an otelcol.invocation event), kept until the invocation span is made. It holds copies,
// never the batch's records.
type finding struct {
	requestID string // "" for a free slot: CheckLimits refuses an empty one
	hasSource bool
	source    telemetryapi.EventSource
	errorType string
	added     uint64 // the order findings came in, to drop the oldest
}

// findings holds a sandbox's findings in a fixed array: the state is copied whole for each
// batch's checkpoint, and a few entries are looked through faster than a map is hashed.
type findings struct {
	slots [maxFindingsPerSandbox]finding
	added uint64
}

// add keeps a finding, in place of an older one of the same request (an asynchronous
// retry reuses the request id: the newest finding is the retry's). It reports whether a
// finding of another invocation was dropped to make room.
func (f *findings) add(r *telemetryapi.Invocation) (evicted bool) {
	f.added++
	kept := finding{requestID: r.RequestID, errorType: r.ErrorType, added: f.added}
	if r.Source != nil {
		kept.hasSource, kept.source = true, *r.Source
	}
	free, oldest := -1, -1
	for i := range f.slots {
		switch s := &f.slots[i]; {
		case s.requestID == r.RequestID:
			f.slots[i] = kept
			return false
		case s.requestID == "":
			if free < 0 {
				free = i
			}
		case oldest < 0 || s.added < f.slots[oldest].added:
			oldest = i
		}
	}
	if free < 0 { // every slot is taken, so oldest is one
		free, evicted = oldest, true
	}
	f.slots[free] = kept
	return evicted
}

// take removes the finding of a request and returns it.
func (f *findings) take(requestID string) (finding, bool) {
	for i := range f.slots {
		if f.slots[i].requestID == requestID {
			found := f.slots[i]
			f.slots[i] = finding{}
			return found, true
		}
	}
	return finding{}, false
}

// failed reports whether Lambda's status says the invocation did not succeed; an absent
// status says nothing.
func failed(status string) bool {
	return status != "" && status != telemetryapi.StatusSuccess
}

// errorTypeOf is the errorType an invocation span reports: Lambda's own when it gave one,
// else, for an invocation that failed, what the function's runtime posted to the proxy.
func (f *finding) errorTypeOf(status, lambdaErrorType string) string {
	if lambdaErrorType != "" || !failed(status) {
		return lambdaErrorType
	}
	return f.errorType
}

// attributes is how many attributes put adds.
func (f *finding) attributes() int {
	if !f.hasSource {
		return 0
	}
	s := &f.source
	return sourceAttributes(s) + boolInt(s.EventTimeUnixMs != 0) + boolInt(s.BatchSize > 0)
}

// put writes the event source on the invocation span, under the keys a function's own
// instrumentation uses (lambda_correlation lets those win where both exist), with the
// source's time (for the event age) and the batch size. The kind is not written:
// faas.trigger and messaging.system say what it says, in the conventions' terms.
func (f *finding) put(attrs pcommon.Map) {
	if !f.hasSource {
		return
	}
	s := &f.source
	putSource(attrs, s)
	if s.EventTimeUnixMs != 0 {
		attrs.PutInt(lambdaconv.AttrEventTimeUnixMs, s.EventTimeUnixMs)
	}
	if s.BatchSize > 0 {
		attrs.PutInt(lambdaconv.AttrBatchMessageCount, int64(s.BatchSize))
	}
}

// sourceRef is the finding's event source for the invocation's report span, nil without
// one. It is a copy: the state keeps it past the finding.
func (f *finding) sourceRef() *telemetryapi.EventSource {
	if !f.hasSource {
		return nil
	}
	s := f.source
	return &s
}

// sourceValues are the event source's attributes that name it (what lambda_metrics' default
// dimensions read), in the order put writes them.
func sourceValues(s *telemetryapi.EventSource) [6]struct{ key, value string } {
	return [...]struct{ key, value string }{
		{lambdaconv.AttrFaaSTrigger, s.Trigger},
		{lambdaconv.AttrMessagingSystem, s.MessagingSystem},
		{lambdaconv.AttrMessagingDestinationName, s.Destination},
		{lambdaconv.AttrFaaSDocumentCollection, s.Collection},
		{lambdaconv.AttrHTTPRoute, s.Route},
		{lambdaconv.AttrEventSourceARN, s.ARN},
	}
}

// sourceAttributes is how many attributes putSource adds.
func sourceAttributes(s *telemetryapi.EventSource) int {
	if s == nil {
		return 0
	}
	n := 0
	for _, a := range sourceValues(s) {
		n += boolInt(a.value != "")
	}
	return n
}

// putSource writes the attributes that name an event source: on the invocation span, and
// on its report span, whose billed duration, memory and cost then split by event source as
// its invocation does. A nil source writes nothing.
func putSource(attrs pcommon.Map, s *telemetryapi.EventSource) {
	if s == nil {
		return
	}
	for _, a := range sourceValues(s) {
		if a.value != "" {
			attrs.PutStr(a.key, a.value)
		}
	}
}
