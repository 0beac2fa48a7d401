// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-lambda/otelcol-lambda/internal/acklog"
	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/testclock"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/metadata"
	"github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver/internal/metadatatest"
)

func withWriteAheadLog(cfg *Config) {
	cfg.WriteAheadLog.Enabled = true
	cfg.CheckpointInterval = time.Hour // the log alone must restore what a kill forgets
}

// spanTokens returns the acknowledgement token of each span, by span type.
func spanTokens(t *testing.T, traces []ptrace.Traces) map[string][]string {
	t.Helper()
	tokens := map[string][]string{}
	for _, td := range traces {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, span := range ss.Spans().All() {
					spanType, _ := span.Attributes().Get(lambdaconv.AttrSpanType)
					token, ok := span.Attributes().Get(lambdaconv.AttrAckToken)
					require.True(t, ok, "a logged batch's %s span has no token", spanType.Str())
					tokens[spanType.Str()] = append(tokens[spanType.Str()], token.Str())
				}
			}
		}
	}
	return tokens
}

func TestWriteAheadLogReplaysWhatWasNotAcknowledgedAfterKill(t *testing.T) {
	dir := t.TempDir()
	running := startDurable(t, storageHost{storageID: newFileStorage(t, dir)}, receivertest.NewNopSettings(metadata.Type), withWriteAheadLog)
	one, two := `[`+oneInvocation("r1", "01")+`]`, `[`+oneInvocation("r2", "02")+`]`
	require.Equal(t, 3, running.post(batch("ext-1", 1), one).Accepted)
	require.Equal(t, 3, running.post(batch("ext-1", 2), two).Accepted)
	tokens := spanTokens(t, running.traces.AllTraces())
	require.Len(t, tokens[lambdaconv.SpanTypeInvocation], 2)
	require.Len(t, tokens[lambdaconv.SpanTypeReport], 2)
	// lambda_metrics wrote the first batch's counts and the second's invocation, not its report.
	acklog.Acknowledge([]string{tokens[lambdaconv.SpanTypeInvocation][0], tokens[lambdaconv.SpanTypeReport][0], tokens[lambdaconv.SpanTypeInvocation][1]})
	killed := copyStorage(t, dir)

	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	restarted := startDurable(t, storageHost{storageID: newFileStorage(t, killed)}, metadatatest.NewSettings(tt), withWriteAheadLog)
	replayed := spanTokens(t, restarted.traces.AllTraces())
	assert.Empty(t, replayed[lambdaconv.SpanTypeInvocation], "acknowledged spans are not sent again")
	require.Len(t, replayed[lambdaconv.SpanTypeReport], 1, "the second batch's report is sent again")
	metadatatest.AssertEqualReceiverLambdaTelemetryWalBatchesReplayed(t, tt,
		[]metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())

	// The replay restored the sandbox's accepted batches, though no checkpoint was written.
	assert.True(t, restarted.post(batch("ext-1", 2), two).Replayed, "a resend of a logged batch is recognised")
	// The first batch left the log with its last acknowledgement; its resend is the
	// checkpoint's concern (an hour here), so it is taken again: what the log holds is only
	// what was not counted.
	acklog.Acknowledge(replayed[lambdaconv.SpanTypeReport])
	restarted.stop()

	again := startDurable(t, storageHost{storageID: newFileStorage(t, killed)}, receivertest.NewNopSettings(metadata.Type), withWriteAheadLog)
	assert.Empty(t, again.traces.AllTraces(), "every span acknowledged: nothing to replay")
}

func TestWriteAheadLogDropsWhatThePipelineRefused(t *testing.T) {
	dir := t.TempDir()
	host := storageHost{storageID: newFileStorage(t, dir)}
	set := receivertest.NewNopSettings(metadata.Type)
	set.ID = component.NewID(metadata.Type)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.HTTP.NetAddr.Endpoint = "127.0.0.1:0"
	id := storageID
	cfg.Storage = &id
	withWriteAheadLog(cfg)
	r, err := NewFactory().CreateTraces(context.Background(), set, cfg, consumertest.NewErr(errors.New("memory limit")))
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), host))
	code, _, _ := telemetryClient{t: t, url: "http://" + sharedReceiver(t, cfg).addr.String()}.post(batch("ext-1", 1), `[`+oneInvocation("r1", "01")+`]`)
	require.Equal(t, http.StatusServiceUnavailable, code)
	killed := copyStorage(t, dir)
	require.NoError(t, r.Shutdown(context.Background()))

	restarted := startDurable(t, storageHost{storageID: newFileStorage(t, killed)}, receivertest.NewNopSettings(metadata.Type), withWriteAheadLog)
	assert.Empty(t, restarted.traces.AllTraces(), "a refused batch is the forwarder's to resend, not the log's")
	assert.Equal(t, 3, restarted.post(batch("ext-1", 1), `[`+oneInvocation("r1", "01")+`]`).Accepted)
}

func TestWriteAheadLogFullRefusesWith503(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	d := startDurable(t, storageHost{storageID: newFileStorage(t, t.TempDir())}, metadatatest.NewSettings(tt), func(cfg *Config) {
		withWriteAheadLog(cfg)
		cfg.WriteAheadLog.MaxSizeMiB = 1
	})
	// Nothing acknowledges: the log fills. The first batch always fits.
	big := func(requestID, second string) string {
		return `[` + oneInvocation(requestID, second) + `,{"time":"2024-06-01T12:00:` + second + `.060Z","type":"function","record":"` + strings.Repeat("x", 600<<10) + `"}]`
	}
	client := telemetryClient{t: t, url: d.url}
	code, _, _ := client.post(batch("ext-1", 1), big("r1", "01"))
	require.Equal(t, http.StatusOK, code)
	code, answer, header := client.post(batch("ext-1", 2), big("r2", "02"))
	require.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, answer.Error, "write-ahead log is full")
	assert.NotEmpty(t, header.Get("Retry-After"))
	metadatatest.AssertEqualReceiverLambdaTelemetryRequestsRefused(t, tt,
		refusedPoints(map[string]int64{"log_full": 1}),
		metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())

	// Once the first is acknowledged there is room again, and the refused batch is taken.
	acklog.Acknowledge(slices.Concat(slices.Collect(maps.Values(spanTokens(t, d.traces.AllTraces())))...))
	code, _, _ = client.post(batch("ext-1", 2), big("r2", "02"))
	assert.Equal(t, http.StatusOK, code)
}

// TestWriteAheadLogOutlivesTheReceiverForTheLastFlush: the Collector shuts receivers down
// before connectors, whose last flush acknowledges what the log holds.
func TestWriteAheadLogOutlivesTheReceiverForTheLastFlush(t *testing.T) {
	dir := t.TempDir()
	release := acklog.Hold()
	defer release()
	running := startDurable(t, storageHost{storageID: newFileStorage(t, dir)}, receivertest.NewNopSettings(metadata.Type), withWriteAheadLog)
	require.Equal(t, 3, running.post(batch("ext-1", 1), `[`+oneInvocation("r1", "01")+`]`).Accepted)
	running.stop()
	var tokens []string
	for _, ts := range spanTokens(t, running.traces.AllTraces()) {
		tokens = append(tokens, ts...)
	}
	acklog.Acknowledge(tokens) // the connector's last flush, after the receiver's shutdown
	release()

	restarted := startDurable(t, storageHost{storageID: newFileStorage(t, dir)}, receivertest.NewNopSettings(metadata.Type), withWriteAheadLog)
	assert.Empty(t, restarted.traces.AllTraces(), "the acknowledgement after the receiver's shutdown reached the log")
}

func TestWriteAheadLogNeedsStorage(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.WriteAheadLog.Enabled = true
	assert.ErrorContains(t, cfg.Validate(), "write_ahead_log::enabled needs storage")
}

// BenchmarkTelemetryHandlerWriteAheadLog is the cost of the write-ahead log on the
// telemetry path: a new batch per iteration (each is accepted and logged), with a real
// file_storage, and the acknowledgements of a flush every 100 batches, as lambda_metrics
// gives them. "off" is the same path without the log.
func BenchmarkTelemetryHandlerWriteAheadLog(b *testing.B) {
	for _, enabled := range []bool{false, true} {
		b.Run(map[bool]string{false: "off", true: "on"}[enabled], func(b *testing.B) {
			body, header := benchBatch(), benchHeader()
			header.Set("Content-Type", jsonContentType)
			cfg := createDefaultConfig().(*Config)
			cfg.HTTP.NetAddr.Endpoint = "127.0.0.1:0"
			id := storageID
			cfg.Storage = &id
			cfg.WriteAheadLog.Enabled = enabled
			set := receivertest.NewNopSettings(metadata.Type)
			set.ID = component.NewID(metadata.Type)
			r, err := newReceiver(cfg, set, time.Now)
			require.NoError(b, err)
			var pending []string
			next, err := consumer.NewTraces(func(_ context.Context, td ptrace.Traces) error {
				for _, rs := range td.ResourceSpans().All() {
					for _, ss := range rs.ScopeSpans().All() {
						for _, span := range ss.Spans().All() {
							if v, ok := span.Attributes().Get(lambdaconv.AttrAckToken); ok {
								pending = append(pending, v.Str())
							}
						}
					}
				}
				return nil
			})
			require.NoError(b, err)
			r.nextTraces = next
			require.NoError(b, r.Start(context.Background(), storageHost{storageID: newFileStorage(b, b.TempDir())}))
			b.Cleanup(func() { require.NoError(b, r.Shutdown(context.Background())) })
			h := r.handler()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				header.Set(wire.HeaderExtensionInstanceID, "ext-"+strconv.Itoa(i))
				serve(b, h, wire.TelemetryPath, header, body)
				if i%100 == 99 {
					acklog.Acknowledge(pending)
					pending = pending[:0]
				}
			}
			perInvocation(b)
		})
	}
}

// TestWriteAheadLogExpiresOnTheReceiversClock: a batch not acknowledged within max_age
// leaves the log and is counted. The age is read on the receiver's clock (the expiry runs
// on a real ticker, here once a second), so no test waits for max_age to pass.
func TestWriteAheadLogExpiresOnTheReceiversClock(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	cfg := createDefaultConfig().(*Config)
	cfg.HTTP.NetAddr.Endpoint = "127.0.0.1:0"
	id := storageID
	cfg.Storage = &id
	withWriteAheadLog(cfg)
	cfg.WriteAheadLog.MaxAge = 10 * time.Second
	set := metadatatest.NewSettings(tt)
	set.ID = component.NewID(metadata.Type)
	// Starting at the real time: only the moved clock can make the batch old enough.
	clock := testclock.New(time.Now())
	r, err := newReceiver(cfg, set, clock.Now)
	require.NoError(t, err)
	r.nextTraces = new(consumertest.TracesSink)
	require.NoError(t, r.Start(context.Background(), storageHost{storageID: newFileStorage(t, t.TempDir())}))
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
	header := http.Header{}
	batch("ext-1", 1).SetHeaders(header)
	header.Set("Content-Type", jsonContentType)
	serve(t, r.handler(), wire.TelemetryPath, header, []byte(`[`+oneInvocation("r1", "01")+`]`))

	clock.Add(cfg.WriteAheadLog.MaxAge + time.Second)
	require.Eventually(t, func() bool {
		_, err := tt.GetMetric("otelcol_receiver_lambda_telemetry_wal_batches_expired")
		return err == nil
	}, 10*time.Second, 10*time.Millisecond)
	metadatatest.AssertEqualReceiverLambdaTelemetryWalBatchesExpired(t, tt, []metricdata.DataPoint[int64]{{Value: 1}},
		metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
}

// TestWriteAheadLogReplaysOnlyWhatTheBatchMade: a batch whose events repeat those of a
// batch already out of the log made no spans for them when it was accepted (duplicates).
// Its replay runs without the first batch's join state, and must not count them now.
func TestWriteAheadLogReplaysOnlyWhatTheBatchMade(t *testing.T) {
	dir := t.TempDir()
	running := startDurable(t, storageHost{storageID: newFileStorage(t, dir)}, receivertest.NewNopSettings(metadata.Type), withWriteAheadLog)
	x, y := oneInvocation("x", "01"), oneInvocation("y", "02")
	require.Equal(t, 3, running.post(batch("ext-1", 1), `[`+x+`]`).Accepted)
	first := spanTokens(t, running.traces.AllTraces())
	acklog.Acknowledge(slices.Concat(first[lambdaconv.SpanTypeInvocation], first[lambdaconv.SpanTypeReport]))
	// The same events again, and a new invocation; the extension re-batched them.
	answer := running.post(batch("ext-1", 2), `[`+x+`,`+y+`]`)
	require.Equal(t, 4, answer.Accepted, "x's runtimeDone and report are duplicates")
	killed := copyStorage(t, dir)

	restarted := startDurable(t, storageHost{storageID: newFileStorage(t, killed)}, receivertest.NewNopSettings(metadata.Type), withWriteAheadLog)
	replayed := restarted.traces.AllTraces()
	require.Len(t, replayed, 1)
	var ids []string
	for _, span := range replayed[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans().All() {
		id, _ := span.Attributes().Get(lambdaconv.AttrFaaSInvocationID)
		ids = append(ids, id.Str())
	}
	assert.Equal(t, []string{"y", "y"}, ids, "only y's invocation and report, as when the batch was accepted")
}

// TestWriteAheadLogKeepsOnlyTheBatchHeaders: headers other than the batch's own are not
// stored; neither do they count against max_size_mib nor make the record unreadable.
func TestWriteAheadLogKeepsOnlyTheBatchHeaders(t *testing.T) {
	dir := t.TempDir()
	running := startDurable(t, storageHost{storageID: newFileStorage(t, dir)}, receivertest.NewNopSettings(metadata.Type), withWriteAheadLog)
	code, _, _ := telemetryClient{t: t, url: running.url}.post(batch("ext-1", 1), `[`+oneInvocation("r1", "01")+`]`, func(req *http.Request) {
		for i := range 70 {
			req.Header.Set("Lambda-Pad-"+strconv.Itoa(i), strings.Repeat("x", 8<<10))
		}
	})
	require.Equal(t, http.StatusOK, code)
	killed := copyStorage(t, dir)
	for _, name := range []string{"receiver_lambda_telemetry__write_ahead_log"} {
		info, err := os.Stat(filepath.Join(killed, name))
		require.NoError(t, err)
		assert.Less(t, info.Size(), int64(70*8<<10), "the padding headers are not in the log")
	}
	restarted := startDurable(t, storageHost{storageID: newFileStorage(t, killed)}, receivertest.NewNopSettings(metadata.Type), withWriteAheadLog)
	tokens := spanTokens(t, restarted.traces.AllTraces())
	assert.Len(t, tokens[lambdaconv.SpanTypeInvocation], 1, "the batch is replayed, not dropped as unreadable")
}
