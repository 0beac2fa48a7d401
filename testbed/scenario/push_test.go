// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package scenario

import (
	"maps"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/loadgen"
)

func testPushFleet(t *testing.T) *loadgen.PushFleet {
	t.Helper()
	f, err := loadgen.GeneratePush(loadgen.PushConfig{Prefix: "pt", Jobs: 2, Functions: 5, Sandboxes: 30, Flushes: 4, ErrorRate: 0.2,
		Replay: 0.1, Recycle: 0.1, Seed: 5, Start: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
	require.NoError(t, err)
	return f
}

var pushReplicas = []string{"r0", "r1"}

func pushRoute(b *loadgen.PushBatch) int { return replicaOf(b.Function, len(pushReplicas)) }

// exactPushBackend holds what a correct gateway pair writes for the fleet: every counter,
// count, sum and bucket split over the two replicas, and each replica's newest gauge.
func exactPushBackend(f *loadgen.PushFleet) map[string][]pushSeries {
	out := map[string][]pushSeries{}
	add := func(metric string, labels map[string]string, v float64) {
		for i, inst := range pushReplicas {
			l := maps.Clone(labels)
			l["instance"] = inst
			part := float64(int(v) / 2)
			if i == 1 {
				part = v - part
			}
			out[metric] = append(out[metric], pushSeries{labels: l, total: part, last: part})
		}
	}
	for k, v := range f.Truth.Counters {
		add(loadgen.PushCounter, map[string]string{"job": k.Job, "route": k.Route, "status": k.Status}, v)
	}
	for k, h := range f.Truth.Histograms {
		m := map[string]string{"job": k.Job, "route": k.Route}
		add(loadgen.PushHistogram+"_count", m, float64(h.Count))
		add(loadgen.PushHistogram+"_sum", m, h.Sum)
		for i := range len(loadgen.PushBuckets) + 1 {
			bm := maps.Clone(m)
			bm["le"] = loadgen.LeLabel(i)
			add(loadgen.PushHistogram+"_bucket", bm, float64(h.Cumulative(i)))
		}
	}
	for i, inst := range pushReplicas {
		for job, v := range f.LastGauge(func(b *loadgen.PushBatch) bool { return pushRoute(b) == i }) {
			out[loadgen.PushGauge] = append(out[loadgen.PushGauge], pushSeries{labels: map[string]string{"job": job, "instance": inst}, total: v, last: v})
		}
	}
	return out
}

func TestPushChecksHoldForAnExactBackend(t *testing.T) {
	f := testPushFleet(t)
	checks := PushChecks(f, pushReplicas, pushRoute)
	require.NotEmpty(t, checks)
	assert.Empty(t, Mismatches(checks, pushTotals(exactPushBackend(f))))
}

func TestPushChecksCatchWhatAGatewayGetsWrong(t *testing.T) {
	f := testPushFleet(t)
	checks := PushChecks(f, pushReplicas, pushRoute)
	cases := map[string]func(map[string][]pushSeries){
		"a replay counted twice": func(b map[string][]pushSeries) {
			b[loadgen.PushCounter][0].total += 3
		},
		"a bucket short": func(b map[string][]pushSeries) {
			b[loadgen.PushHistogram+"_bucket"][5].total--
		},
		"a sum off by a millisecond": func(b map[string][]pushSeries) {
			b[loadgen.PushHistogram+"_sum"][0].total += 0.001
		},
		"one series per sandbox": func(b map[string][]pushSeries) {
			s := b[loadgen.PushCounter][0]
			s.total--
			b[loadgen.PushCounter][0] = s
			l := maps.Clone(s.labels)
			l["faas_instance"] = "sandbox-2"
			b[loadgen.PushCounter] = append(b[loadgen.PushCounter], pushSeries{labels: l, total: 1})
		},
		"an older gauge": func(b map[string][]pushSeries) {
			b[loadgen.PushGauge][0].last -= 1
		},
	}
	for name, breakIt := range cases {
		t.Run(name, func(t *testing.T) {
			b := exactPushBackend(f)
			breakIt(b)
			assert.NotEmpty(t, Mismatches(checks, pushTotals(b)))
		})
	}
}
