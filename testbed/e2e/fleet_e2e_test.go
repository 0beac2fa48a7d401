// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/loadgen"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/scenario"
)

// The short scenarios of `make scenarios` (testbed/scenario): a small fleet's Telemetry API
// batches (cold starts, errors, timeouts, out-of-memory kills, asynchronous retries) sent
// in rate mode to gateway processes that write to a real Prometheus and the validating
// sink, while a gateway is stopped or killed and started again.
func TestScenariosShort(t *testing.T) {
	mix := loadgen.Mix{ColdStart: 0.02, Error: 0.08, Timeout: 0.04, OOM: 0.02, Retry: 0.5}
	opts := scenario.Options{Bin: gatewayBinary(t), Root: repoRoot(t), Flush: time.Second, Drain: queryDeadline, Logf: t.Logf}
	for _, s := range []scenario.Scenario{
		{
			// Graceful restart loses nothing: Prometheus holds every count, summed over the
			// reset segments of the replica's series.
			Name:  "restart-short",
			Fleet: loadgen.Config{Prefix: "e2erestart", Functions: 4, Sandboxes: 3, Invocations: 3000, PerBatch: 10, Mix: mix, Seed: 3},
			Rate:  500, Workers: 4,
			Disruption: &scenario.Disruption{At: 2 * time.Second, Down: time.Second},
		},
		{
			// Two replicas, one killed: nothing counted twice, at most its unflushed share lost.
			Name:  "kill-short",
			Fleet: loadgen.Config{Prefix: "e2ekill", Functions: 6, Sandboxes: 2, Invocations: 3000, PerBatch: 10, Mix: mix, Seed: 4},
			Rate:  500, Workers: 2, Replicas: 2,
			Disruption: &scenario.Disruption{Replica: 1, At: 2 * time.Second, Down: time.Second, Kill: true},
		},
		{
			// The same kill with the write-ahead log (distribution/overlays/write-ahead-log.yaml):
			// exact, as a graceful restart is.
			Name:  "kill-wal-short",
			Fleet: loadgen.Config{Prefix: "e2ekillwal", Functions: 6, Sandboxes: 2, Invocations: 3000, PerBatch: 10, Mix: mix, Seed: 4},
			Rate:  500, Workers: 2, Replicas: 2,
			Disruption:    &scenario.Disruption{Replica: 1, At: 2 * time.Second, Down: time.Second, Kill: true},
			WriteAheadLog: true,
		},
	} {
		t.Run(s.Name, func(t *testing.T) {
			r := scenario.Run(context.Background(), opts, s)
			require.NoError(t, r.Err)
			require.Equal(t, int64(r.Truth.Invocations), r.Stats.AcknowledgedInvocations, "the sender acknowledged everything")
			require.Positive(t, r.Truth.OOMs)
			require.Positive(t, r.Truth.Retries)
			assert.Positive(t, r.PrometheusResets, "the restarted replica's series reset")
			assert.Empty(t, r.Overcounted, "counted twice")
			if s.Disruption.Kill && !s.WriteAheadLog {
				assert.LessOrEqual(t, r.Lost, r.LossBound, "lost in Prometheus")
				assert.LessOrEqual(t, r.SinkLost, r.LossBound, "lost in the sink")
			} else {
				assert.Empty(t, r.PrometheusMismatches, "Prometheus")
				assert.Empty(t, r.SinkMismatches, "sink")
				assert.True(t, r.Passed())
			}
			t.Logf("%d invocations, %d retried requests; timeline:\n%s", r.Truth.Invocations, r.Stats.Retried, strings.Join(r.Timeline, "\n"))
		})
	}
}
