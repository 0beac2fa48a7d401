// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package flushloop

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLoopFlushesOnTheTickerAndOnceMoreAtStop(t *testing.T) {
	var flushes atomic.Int64
	l := New(func(context.Context) error { flushes.Add(1); return nil }, zap.NewNop())
	l.Start(time.Millisecond)
	require.Eventually(t, func() bool { return flushes.Load() >= 2 }, 10*time.Second, time.Millisecond)
	l.Stop(context.Background())
	afterStop := flushes.Load()
	l.Stop(context.Background()) // a second Stop does nothing
	assert.Equal(t, afterStop, flushes.Load())
}

func TestLoopStopWithoutStartDoesNotFlush(t *testing.T) {
	l := New(func(context.Context) error { t.Fatal("flushed without Start"); return nil }, zap.NewNop())
	l.Stop(context.Background())
}

func TestLoopLogsAFailedLastFlushAsAWarning(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	stopped := make(chan struct{})
	l := New(func(ctx context.Context) error {
		select {
		case <-stopped:
			return errors.New("backend down")
		default:
			return nil
		}
	}, zap.New(core))
	l.Start(time.Hour)
	close(stopped)
	l.Stop(context.Background())
	entries := logs.FilterMessageSnippet("The last flush before shutdown was not written").All()
	require.Len(t, entries, 1)
	assert.Equal(t, zap.WarnLevel, entries[0].Level)
}
