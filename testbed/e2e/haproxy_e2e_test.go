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

// The short version of `make scale`'s haproxy-scale-out: sandboxes -> the real HAProxy
// running deploy/haproxy/haproxy.cfg -> 3 gateway replicas -> a real Prometheus and the
// validating sink; one replica killed (SIGKILL) and started again. The sender sends to
// HAProxy only and resends what was not acknowledged with its sequence number, as the
// extension does; 5% of the Telemetry API batches it sends again after their answer, as
// the extension does when it lost the answer.
func TestHAProxyKeepsEachSandboxOnOneReplica(t *testing.T) {
	mix := loadgen.Mix{ColdStart: 0.02, Error: 0.08, Timeout: 0.04, OOM: 0.02, Retry: 0.5}
	opts := scenario.Options{Bin: gatewayBinary(t), Root: repoRoot(t), Flush: time.Second, Drain: queryDeadline, Logf: t.Logf}
	s := scenario.Scenario{
		Name: "haproxy-short",
		Fleet: loadgen.Config{Prefix: "e2elb", Functions: 6, Sandboxes: 3, Invocations: 3000, PerBatch: 10, Mix: mix,
			FunctionSpans: true, ReportLag: true, Seed: 11},
		Rate: 500, Workers: 4, Replicas: 3, Resend: 0.05,
		Balancer:   &scenario.Balancer{},
		Disruption: &scenario.Disruption{Replica: 1, At: 2 * time.Second, Down: time.Second, Kill: true},
	}
	r := scenario.Run(context.Background(), opts, s)
	require.NoError(t, r.Err)
	t.Logf("timeline:\n%s", strings.Join(r.Timeline, "\n"))
	require.Equal(t, int64(r.Truth.Invocations), r.Stats.AcknowledgedInvocations, "the sender acknowledged everything")
	f := r.Balance
	require.NotNil(t, f)
	require.GreaterOrEqual(t, len(f.Servers), s.Replicas, "HAProxy's stats list every slot: %+v", f.Servers)
	for _, srv := range f.Servers[:s.Replicas] {
		assert.Positive(t, srv.Served(), "HAProxy sent %s its share", srv.Name)
	}

	require.Positive(t, r.Resent)
	assert.Empty(t, r.Overcounted, "counted twice (a resend that reached another replica)")
	assert.LessOrEqual(t, r.Lost, r.LossBound, "lost in Prometheus, of %d", r.Truth.Invocations)
	assert.LessOrEqual(t, r.SinkLost, r.LossBound, "lost in the sink")

	// A sandbox's telemetry batch and the OTLP batch after it meet on one replica, except
	// when the sandbox moves between the two: only the killed replica's sandboxes move (the
	// restarted one takes none back), each splitting at most the one flush it had in
	// flight. Round robin splits most of them.
	slots := s.Fleet.Functions * s.Fleet.Sandboxes
	splitBound := float64(slots * s.Fleet.PerBatch)
	assert.LessOrEqual(t, f.Unpaired, splitBound, "invocations counted without their event source, of %d with a function span", f.Spans)
	t.Logf("lost %.0f (bound %.0f, HAProxy had sent the killed replica %.1f%%), counted twice %d, %d resends (%d recognised), "+
		"unpaired %.0f of %d (bound %.0f); servers %+v", r.Lost, r.LossBound, 100*f.KilledShare, len(r.Overcounted), r.Resent,
		r.Stats.Replayed, f.Unpaired, f.Spans, splitBound, f.Servers)
}
