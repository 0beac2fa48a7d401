// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package batchlog is lambda_telemetry's write-ahead log: the accepted Telemetry API
// batches whose spans lambda_metrics has not yet acknowledged (see internal/acklog), kept
// in a storage extension so that a kill -9 loses none of them.
//
// A batch is appended before its forwarder hears it was accepted. Each span made from it
// has a key (event index and span type); when every key was acknowledged, the batch is
// deleted. Keys acknowledged while others are outstanding are stored beside the batch, so
// that a replay after a kill -9 sends only the spans that were not counted.
package batchlog // import "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/batchlog"

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// ErrFull is returned by Append when the log holds MaxBytes already.
var ErrFull = errors.New("the write-ahead log is full: the batches logged so far were not yet acknowledged (is the metrics backend down?); retry later")

const (
	batchPrefix = "b/"
	ackPrefix   = "a/"
	// encodingVersion is the first byte of every stored batch.
	encodingVersion = 2
)

// Record is one logged batch as read back at start.
type Record struct {
	ID       uint64
	Accepted time.Time
	Header   http.Header
	Body     []byte
	// Expected are the keys of the spans the batch made when it was accepted. The replay
	// sends only those: the join state it runs with is not the one the batch met (an
	// event that was a duplicate then may not be one now).
	Expected map[string]struct{}
	// Acked are the keys of spans already acknowledged: the replay must not send them.
	Acked map[string]struct{}

	size int64
}

// Settings configure a Log.
type Settings struct {
	// Client is the storage; it must implement storage.Walker to be read at start.
	Client storage.Client
	// MaxBytes bounds the records held; Append fails with ErrFull beyond it.
	MaxBytes int64
	// Headers are the names of the headers a batch is stored with, those it is read from;
	// any other header is left out.
	Headers []string
	// Now is the receiver's clock; a batch's age is measured with it.
	Now func() time.Time
	// OnError is called for each failed storage operation after start.
	OnError func(op string, err error)
}

// Log is the write-ahead log. Its methods are safe for concurrent use.
type Log struct {
	set Settings

	mu      sync.Mutex
	next    uint64
	bytes   int64
	batches map[uint64]*entry
	closed  bool
}

// entry is what is held in memory of a logged batch.
type entry struct {
	accepted time.Time
	size     int64
	// expected is nil until Expect; then the keys not yet acknowledged.
	expected map[string]struct{}
	// early are keys acknowledged before Expect named them (a fast pipeline).
	early []string
	acked []string
}

// Open reads the log and returns it with the records to replay, oldest first.
func Open(ctx context.Context, set Settings) (*Log, []Record, error) {
	walker, ok := set.Client.(storage.Walker)
	if !ok {
		return nil, nil, errors.New("the storage extension cannot be walked, so the write-ahead log could not be read at start; use file_storage")
	}
	if set.OnError == nil {
		set.OnError = func(string, error) {}
	}
	l := &Log{set: set, batches: map[uint64]*entry{}}
	records := map[uint64]*Record{}
	acks := map[uint64][]string{}
	var dropped []*storage.Operation
	err := walker.Walk(ctx, func(key string, value []byte) ([]*storage.Operation, error) {
		switch {
		case strings.HasPrefix(key, batchPrefix):
			id, err := parseID(key, batchPrefix)
			if err != nil {
				return []*storage.Operation{storage.DeleteOperation(key)}, nil
			}
			rec, err := decodeBatch(id, value)
			if err != nil {
				// A record this version cannot read cannot be replayed either.
				dropped = append(dropped, storage.DeleteOperation(key))
				return nil, nil
			}
			records[id] = rec
		case strings.HasPrefix(key, ackPrefix):
			id, err := parseID(key, ackPrefix)
			if err != nil {
				return []*storage.Operation{storage.DeleteOperation(key)}, nil
			}
			acks[id] = decodeAcks(value)
		}
		return nil, nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("reading the write-ahead log: %w", err)
	}
	out := make([]Record, 0, len(records))
	for id, rec := range records {
		rec.Acked = make(map[string]struct{}, len(acks[id]))
		for _, k := range acks[id] {
			rec.Acked[k] = struct{}{}
		}
		out = append(out, *rec)
		size := rec.size
		l.batches[id] = &entry{accepted: rec.Accepted, size: size, acked: acks[id]}
		l.bytes += size
		l.next = max(l.next, id)
	}
	for id := range acks {
		if _, ok := records[id]; !ok {
			dropped = append(dropped, storage.DeleteOperation(ackKey(id)))
		}
	}
	if len(dropped) > 0 {
		if err := set.Client.Batch(ctx, dropped...); err != nil {
			set.OnError("cleanup", err)
		}
	}
	slices.SortFunc(out, func(a, b Record) int { return cmp.Compare(a.ID, b.ID) })
	return l, out, nil
}

// Append logs a batch with the keys of the spans it made, and returns its id. It returns
// ErrFull while the log holds MaxBytes.
func (l *Log) Append(ctx context.Context, header http.Header, body []byte, keys []string) (uint64, error) {
	now := l.set.Now()
	record := encodeBatch(now, header, l.set.Headers, body, keys)
	size := int64(len(record))
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return 0, errors.New("the write-ahead log is closed")
	}
	if l.set.MaxBytes > 0 && l.bytes+size > l.set.MaxBytes && l.bytes > 0 {
		l.mu.Unlock()
		return 0, ErrFull
	}
	l.next++
	id := l.next
	l.batches[id] = &entry{accepted: now, size: size}
	l.bytes += size
	l.mu.Unlock()

	if err := l.set.Client.Set(ctx, batchKey(id), record); err != nil {
		l.forget(id)
		return 0, fmt.Errorf("appending to the write-ahead log: %w", err)
	}
	return id, nil
}

// Expect names the keys of the spans made from batch id that are to be acknowledged. A
// batch that made no span to acknowledge is deleted at once.
func (l *Log) Expect(ctx context.Context, id uint64, keys []string) {
	l.mu.Lock()
	e := l.batches[id]
	if e == nil {
		l.mu.Unlock()
		return
	}
	e.expected = make(map[string]struct{}, len(keys))
	for _, k := range keys {
		e.expected[k] = struct{}{}
	}
	for _, k := range e.early {
		delete(e.expected, k)
	}
	e.early = nil
	done := len(e.expected) == 0
	l.mu.Unlock()
	if done {
		l.Discard(ctx, id)
	}
}

// Discard deletes a batch: the pipeline refused it (its forwarder will resend it), or
// nothing of it is left to acknowledge.
func (l *Log) Discard(ctx context.Context, id uint64) {
	if !l.forget(id) {
		return
	}
	if err := l.set.Client.Batch(ctx, deleteOps(nil, id)...); err != nil {
		l.set.OnError("truncate", err)
	}
}

// forget drops a batch from memory, and says whether it was there.
func (l *Log) forget(id uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.batches[id]
	if e == nil {
		return false
	}
	l.drop(id, e)
	return true
}

// drop removes an entry from memory. Caller holds mu.
func (l *Log) drop(id uint64, e *entry) {
	delete(l.batches, id)
	l.bytes -= e.size
}

// deleteOps appends the storage operations that delete a batch and its acknowledgements.
func deleteOps(ops []*storage.Operation, id uint64) []*storage.Operation {
	return append(ops, storage.DeleteOperation(batchKey(id)), storage.DeleteOperation(ackKey(id)))
}

// Acknowledge records acknowledged keys by batch: a batch with none left is deleted, the
// others' acknowledged keys are stored, all in one storage transaction.
func (l *Log) Acknowledge(acks map[uint64][]string) {
	var ops []*storage.Operation
	l.mu.Lock()
	for id, keys := range acks {
		e := l.batches[id]
		if e == nil {
			continue // expired, or acknowledged twice
		}
		if e.expected == nil {
			e.early = append(e.early, keys...)
			continue
		}
		for _, k := range keys {
			if _, ok := e.expected[k]; ok {
				delete(e.expected, k)
				e.acked = append(e.acked, k)
			}
		}
		if len(e.expected) == 0 {
			l.drop(id, e)
			ops = deleteOps(ops, id)
		} else {
			ops = append(ops, storage.SetOperation(ackKey(id), encodeAcks(e.acked)))
		}
	}
	closed := l.closed
	l.mu.Unlock()
	if len(ops) == 0 || closed {
		return
	}
	if err := l.set.Client.Batch(context.Background(), ops...); err != nil {
		l.set.OnError("acknowledge", err)
	}
}

// AddAcked records keys of batch id as acknowledged before its replay: those of a flush
// that lambda_metrics wrote again at start. Expect must not name them.
func (l *Log) AddAcked(ctx context.Context, id uint64, keys []string) {
	l.mu.Lock()
	e := l.batches[id]
	if e == nil || len(keys) == 0 {
		l.mu.Unlock()
		return
	}
	e.acked = append(e.acked, keys...)
	value := encodeAcks(e.acked)
	l.mu.Unlock()
	if err := l.set.Client.Set(ctx, ackKey(id), value); err != nil {
		l.set.OnError("acknowledge", err)
	}
}

// Expire deletes the batches accepted before cutoff, acknowledged or not, and returns how
// many it deleted.
func (l *Log) Expire(ctx context.Context, cutoff time.Time) int {
	var ops []*storage.Operation
	l.mu.Lock()
	for id, e := range l.batches {
		if e.accepted.Before(cutoff) {
			l.drop(id, e)
			ops = deleteOps(ops, id)
		}
	}
	l.mu.Unlock()
	if len(ops) > 0 {
		if err := l.set.Client.Batch(ctx, ops...); err != nil {
			l.set.OnError("expire", err)
		}
	}
	return len(ops) / 2
}

// Len returns how many batches and body bytes the log holds.
func (l *Log) Len() (batches int, bytes int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.batches), l.bytes
}

// Close closes the storage client; the log takes nothing after it.
func (l *Log) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	l.mu.Unlock()
	if err := l.set.Client.Close(context.Background()); err != nil {
		l.set.OnError("close", err)
	}
}

func batchKey(id uint64) string { return batchPrefix + strconv.FormatUint(id, 16) }
func ackKey(id uint64) string   { return ackPrefix + strconv.FormatUint(id, 16) }

func parseID(key, prefix string) (uint64, error) {
	return strconv.ParseUint(strings.TrimPrefix(key, prefix), 16, 64)
}

// encodeBatch writes: version, acceptance time (unix ns), the number of headers, each
// header's name and value (length-prefixed), the number of span keys, each key, then the
// body. Only the headers named in names are kept.
func encodeBatch(accepted time.Time, header http.Header, names []string, body []byte, keys []string) []byte {
	kept := make([]string, 0, len(names))
	size := 1 + binary.MaxVarintLen64*3 + len(body)
	for _, name := range names {
		if v := header.Get(name); v != "" {
			kept = append(kept, name)
			size += 2*binary.MaxVarintLen64 + len(name) + len(v)
		}
	}
	for _, k := range keys {
		size += binary.MaxVarintLen64 + len(k)
	}
	b := make([]byte, 0, size)
	b = append(b, encodingVersion)
	b = binary.AppendVarint(b, accepted.UnixNano())
	b = binary.AppendUvarint(b, uint64(len(kept)))
	for _, name := range kept {
		b = appendString(b, name)
		b = appendString(b, header.Get(name))
	}
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
	}
	return append(b, body...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errCorrupt = errors.New("corrupt write-ahead log record")

func decodeBatch(id uint64, b []byte) (*Record, error) {
	if len(b) == 0 || b[0] != encodingVersion {
		return nil, errCorrupt
	}
	size := int64(len(b))
	b = b[1:]
	ns, n := binary.Varint(b)
	if n <= 0 {
		return nil, errCorrupt
	}
	b = b[n:]
	count, n := binary.Uvarint(b)
	if n <= 0 || count > 64 {
		return nil, errCorrupt
	}
	b = b[n:]
	header := make(http.Header, count)
	for range count {
		var name, value string
		var ok bool
		if name, b, ok = readString(b); !ok {
			return nil, errCorrupt
		}
		if value, b, ok = readString(b); !ok {
			return nil, errCorrupt
		}
		header.Set(name, value)
	}
	count, n = binary.Uvarint(b)
	if n <= 0 || count > uint64(len(b)) {
		return nil, errCorrupt
	}
	b = b[n:]
	expected := make(map[string]struct{}, count)
	for range count {
		var key string
		var ok bool
		if key, b, ok = readString(b); !ok {
			return nil, errCorrupt
		}
		expected[key] = struct{}{}
	}
	// A copy: a walked value is the storage's memory, valid only during the walk.
	return &Record{ID: id, Accepted: time.Unix(0, ns), Header: header, Expected: expected, Body: bytes.Clone(b), size: size}, nil
}

func readString(b []byte) (string, []byte, bool) {
	l, n := binary.Uvarint(b)
	if n <= 0 || l > uint64(len(b)-n) {
		return "", nil, false
	}
	return string(b[n : n+int(l)]), b[n+int(l):], true
}

// Acknowledged keys are stored newline-separated: a key is an event index and a span type.
func encodeAcks(keys []string) []byte { return []byte(strings.Join(keys, "\n")) }

func decodeAcks(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	return strings.Split(string(b), "\n")
}
