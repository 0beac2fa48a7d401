// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package scenario

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/loadgen"
)

// One verdict serves the log and the report; a scenario that could not run fails the run
// whether its figures gate or only measure.
func TestScaleVerdictAndFailure(t *testing.T) {
	hashed, l4 := Scenario{Balancer: &Balancer{}}, Scenario{Balancer: &Balancer{L4: true}}
	broken := errors.New("haproxy exited during start-up")
	for _, c := range []struct {
		name    string
		r       Result
		verdict string
		fails   bool
	}{
		{"hashed, exact", Result{Scenario: hashed, SinkExact: time.Second, PrometheusExact: time.Second}, "PASS", false},
		{"hashed, counted twice", Result{Scenario: hashed, Overcounted: []string{"x"}}, "FAIL", true},
		{"hashed, error", Result{Scenario: hashed, Err: broken}, "ERROR", true},
		{"L4, counted twice", Result{Scenario: l4, Overcounted: []string{"x"}}, "measured", false},
		{"L4, error", Result{Scenario: l4, Err: broken}, "ERROR", true},
	} {
		assert.Equal(t, c.verdict, c.r.Verdict(), c.name)
		assert.Equal(t, c.fails, c.r.Fails(), c.name)
	}
}

// A throughput scenario that stopped before it measured anything keeps its row.
func TestRenderScaleKeepsARunThatMeasuredNothing(t *testing.T) {
	r := Result{Scenario: Scenario{Name: "haproxy-2-replica", Replicas: 2, Balancer: &Balancer{}}, Err: errors.New("no slots")}
	report := RenderScale("make scale", "test build", []Result{r})
	assert.Contains(t, report, "| haproxy-2-replica | 2 | ERROR |"+strings.Repeat(" n/a |", 11)+"\n")
	assert.Contains(t, report, "Error: `no slots`")
}

// The sentence under the throughput table tells a cost per replica (the same extra CPU
// whatever the load) from a cost per invocation (extra CPU that grows with the load).
func TestCPUGrowthTellsACostPerReplicaFromOnePerInvocation(t *testing.T) {
	run := func(replicas, invocations int, cpu time.Duration) Result {
		return Result{Scenario: Scenario{Replicas: replicas, Balancer: &Balancer{}}, Truth: loadgen.Truth{Invocations: invocations},
			Stats:   loadgen.Stats{Duration: 10 * time.Second},
			Balance: &BalanceFigures{GatewayCPU: cpu, Invocations: int64(invocations)}}
	}
	perReplica := cpuGrowth([]Result{run(1, 180_000, 9*time.Second), run(3, 180_000, 10*time.Second),
		run(1, 60_000, 3*time.Second), run(3, 60_000, 4*time.Second)})
	assert.Contains(t, perReplica, "From 1 to 3 replicas, the same 180000 invocations cost 50.0 µs to 55.6 µs")
	assert.Contains(t, perReplica, "(+11%): not flat.")
	assert.Contains(t, perReplica, "1s more over 60000: the extra hardly grows with the load, so it is paid once per replica")

	perInvocation := cpuGrowth([]Result{run(1, 180_000, 9*time.Second), run(3, 180_000, 12*time.Second),
		run(1, 60_000, 3*time.Second), run(3, 60_000, 4*time.Second)})
	assert.Contains(t, perInvocation, "so it is paid per invocation or per second each replica is busy")

	flat := cpuGrowth([]Result{run(1, 180_000, 9*time.Second), run(3, 180_000, 9300*time.Millisecond)})
	assert.True(t, strings.HasSuffix(flat, ": flat within 10%."), flat)
	assert.Empty(t, cpuGrowth([]Result{run(1, 180_000, 9*time.Second)}), "one replica only: nothing to compare")
}
