// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver // import "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver"

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/otelcol-lambda/otelcol-lambda/internal/acklog"
	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/storageclient"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/batchlog"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/translator"
)

// writeAheadLog is the receiver's side of the write-ahead mode: the log, its name in
// acklog, and the loop that expires batches never acknowledged.
type writeAheadLog struct {
	log  *batchlog.Log
	name string
	stop chan struct{}
	done chan struct{}
}

// startWriteAheadLog opens the log in its own storage client, replays what it holds
// through the pipeline, and registers it for acknowledgements. It runs after the replay
// state was opened and before the servers start.
func (r *lambdaTelemetryReceiver) startWriteAheadLog(ctx context.Context, host component.Host) error {
	client, err := storageclient.Open(ctx, host, *r.cfg.Storage, component.KindReceiver, r.settings.ID, "write_ahead_log")
	if err != nil {
		return fmt.Errorf("write_ahead_log: %w", err)
	}
	log, records, err := batchlog.Open(ctx, batchlog.Settings{
		Client:   client,
		MaxBytes: r.cfg.WriteAheadLog.MaxSizeMiB << 20,
		Headers:  wire.Headers(),
		Now:      r.now,
		OnError: func(op string, err error) {
			r.telemetry.ReceiverLambdaTelemetryWalStorageErrors.Add(context.Background(), 1)
			r.warnings.Warn("Write-ahead log storage operation failed", zap.String("operation", op), zap.Error(err))
		},
	})
	if err != nil {
		return errors.Join(fmt.Errorf("write_ahead_log: %w", err), client.Close(ctx))
	}
	w := &writeAheadLog{
		log: log,
		// The tokens of a flush written again at start name the log of the process before:
		// the name is the same in every process.
		name: r.settings.ID.String(),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	r.wal = w
	// Acknowledged at lambda_metrics' start: the flush a kill -9 interrupted, written again.
	early := acklog.Register(w.name, log)
	for i := range records {
		if keys := early[records[i].ID]; len(keys) > 0 {
			for _, k := range keys {
				records[i].Acked[k] = struct{}{}
			}
			log.AddAcked(ctx, records[i].ID, keys)
		}
	}
	replayed, spans := r.replayLog(ctx, records)
	r.settings.Logger.Info("Keeping accepted batches in a write-ahead log until their counts are written",
		zap.Duration("max_age", r.cfg.WriteAheadLog.MaxAge), zap.Int64("max_size_mib", r.cfg.WriteAheadLog.MaxSizeMiB),
		zap.Int("replayed_batches", replayed), zap.Int("replayed_spans", spans))
	go r.expireLoop(w)
	return nil
}

// replayLog sends again the spans of logged batches that were not acknowledged, oldest
// batch first so that each sandbox's join state is rebuilt in order. Their function logs
// are not sent again, and their events are not counted again in the receiver's telemetry.
func (r *lambdaTelemetryReceiver) replayLog(ctx context.Context, records []batchlog.Record) (batches, spans int) {
	for _, rec := range records {
		b, decoded, err := decodeBatch(rec.Header, rec.Body, nil)
		if err != nil {
			// It was decoded when it was accepted: only another version could fail here.
			r.wal.log.Discard(ctx, rec.ID)
			r.warnings.Warn("Dropped a logged batch that cannot be decoded", zap.Uint64("batch", rec.ID), zap.Error(err))
			continue
		}
		sandbox := r.sandboxFor(b)
		sandbox.Lock()
		r.replay.Load(ctx, sandbox)
		out := translator.Translate(sandbox, b, decoded.events, r.scope)
		keys := r.tagLogged(out, rec.ID, func(key string) bool {
			_, expected := rec.Expected[key]
			_, acked := rec.Acked[key]
			return expected && !acked
		})
		r.wal.log.Expect(ctx, rec.ID, keys)
		if n := out.Traces.SpanCount(); n > 0 && r.nextTraces != nil {
			opCtx := r.obsrep.StartTracesOp(ctx)
			err = r.nextTraces.ConsumeTraces(lambdaconv.WithReceiverSpans(opCtx), out.Traces)
			r.obsrep.EndTracesOp(opCtx, telemetryFormat, n, err)
			if err != nil {
				// It stays in the log, for the next start.
				r.warnings.Warn("The pipeline refused a replayed batch of the write-ahead log", zap.Uint64("batch", rec.ID), zap.Error(err))
			}
			spans += n
		}
		sandbox.Accepted(b.Sequence)
		r.replay.Accepted(sandbox, b.Sequence)
		sandbox.Unlock()
		batches++
	}
	if batches > 0 {
		r.telemetry.ReceiverLambdaTelemetryWalBatchesReplayed.Add(ctx, int64(batches))
	}
	return batches, spans
}

// logBatch appends an accepted batch to the log and tags its spans; the caller sends them
// on and, if the pipeline refuses them, discards the batch. A batch without spans is not
// logged: it has nothing to count.
func (r *lambdaTelemetryReceiver) logBatch(ctx context.Context, header http.Header, body []byte, out translator.Output) (uint64, error) {
	if r.wal == nil || out.Traces.SpanCount() == 0 || r.nextTraces == nil {
		return 0, nil
	}
	id, err := r.wal.log.Append(ctx, header, body, spanKeys(out))
	if err != nil {
		if !errors.Is(err, batchlog.ErrFull) {
			r.telemetry.ReceiverLambdaTelemetryWalStorageErrors.Add(ctx, 1)
		}
		return 0, err
	}
	r.wal.log.Expect(ctx, id, r.tagLogged(out, id, func(string) bool { return true }))
	return id, nil
}

// spans returns the spans of a translated batch (one resource, one scope).
func spans(out translator.Output) ptrace.SpanSlice {
	if out.Traces.ResourceSpans().Len() == 0 {
		return ptrace.NewSpanSlice()
	}
	return out.Traces.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
}

// spanKey is the key of the i-th span of a translated batch: the event that made it and
// its type.
func spanKey(out translator.Output, i int, span ptrace.Span) string {
	spanType, _ := span.Attributes().Get(lambdaconv.AttrSpanType)
	return acklog.Key(out.SpanEvents[i], spanType.Str())
}

// spanKeys returns the keys of a translated batch's spans.
func spanKeys(out translator.Output) []string {
	all := spans(out)
	keys := make([]string, all.Len())
	for i := range all.Len() {
		keys[i] = spanKey(out, i, all.At(i))
	}
	return keys
}

// tagLogged gives each span of a logged batch that keep accepts its acknowledgement token,
// drops the others (in a replay: those acknowledged already, and those the batch did not
// make when it was accepted), and returns the keys of the spans kept.
func (r *lambdaTelemetryReceiver) tagLogged(out translator.Output, id uint64, keep func(key string) bool) []string {
	all := spans(out)
	keys := make([]string, 0, all.Len())
	i := 0
	all.RemoveIf(func(span ptrace.Span) bool {
		key := spanKey(out, i, span)
		i++
		if !keep(key) {
			return true
		}
		span.Attributes().PutStr(lambdaconv.AttrAckToken, acklog.Token(r.wal.name, id, key))
		keys = append(keys, key)
		return false
	})
	if all.Len() == 0 && out.Traces.ResourceSpans().Len() > 0 {
		// An empty resource would still be counted as a request by the pipeline.
		out.Traces.ResourceSpans().RemoveIf(func(ptrace.ResourceSpans) bool { return true })
	}
	return keys
}

// expireLoop drops batches older than max_age, acknowledged or not, so that a pipeline
// without lambda_metrics, or a backend down for longer, does not fill the disk.
func (r *lambdaTelemetryReceiver) expireLoop(w *writeAheadLog) {
	defer close(w.done)
	maxAge := r.cfg.WriteAheadLog.MaxAge
	t := time.NewTicker(min(max(maxAge/10, time.Second), time.Minute))
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			if n := w.log.Expire(context.Background(), r.now().Add(-maxAge)); n > 0 {
				r.telemetry.ReceiverLambdaTelemetryWalBatchesExpired.Add(context.Background(), int64(n))
				r.warnings.Warn("Dropped batches from the write-ahead log whose counts were not written within max_age; a kill -9 now loses them",
					zap.Int("batches", n), zap.Duration("max_age", maxAge))
			}
		}
	}
}

// shutdownWriteAheadLog stops the expiry and hands the log to acklog, which closes it once
// lambda_metrics' last flush was acknowledged.
func (r *lambdaTelemetryReceiver) shutdownWriteAheadLog() {
	if r.wal == nil {
		return
	}
	close(r.wal.stop)
	<-r.wal.done
	acklog.Retire(r.wal.name)
	r.wal = nil
}
