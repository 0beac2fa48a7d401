// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package scenario

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/loadgen"
)

func testFleet(t *testing.T) *loadgen.Fleet {
	t.Helper()
	f, err := loadgen.Generate(loadgen.Config{Prefix: "t", Functions: 3, Sandboxes: 2, Invocations: 600, PerBatch: 10,
		Mix:           loadgen.Mix{ColdStart: 0.05, Error: 0.1, Timeout: 0.05, OOM: 0.03, Retry: 0.5},
		FunctionSpans: true, ReportLag: true, Seed: 11, Start: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
	require.NoError(t, err)
	return f
}

// backend answers from a fixed list of series, as the sink or Prometheus would.
type backend []struct {
	metric string
	labels map[string]string
	value  float64
}

func (b backend) totals(metric string, match map[string]string) float64 {
	var total float64
	for _, s := range b {
		if s.metric == metric && matchesAll(s.labels, match) {
			total += s.value
		}
	}
	return total
}

// exactBackend holds what a correct gateway writes for the fleet, split over two replicas.
func exactBackend(f *loadgen.Fleet) backend {
	var b backend
	add := func(metric string, labels map[string]string, v float64) {
		half := v / 2
		for i, inst := range []string{"r0", "r1"} {
			l := map[string]string{"instance": inst}
			for k, x := range labels {
				l[k] = x
			}
			part := half
			if i == 1 {
				part = v - half
			}
			b = append(b, struct {
				metric string
				labels map[string]string
				value  float64
			}{metric, l, part})
		}
	}
	for fn, t := range f.Truth {
		for labels, n := range t.InvocationsByLabels() {
			l := map[string]string{"faas_name": fn}
			for k, v := range labels.Match() {
				if v != "" {
					l[k] = v
				}
			}
			add("faas_invocations_total", l, float64(n))
		}
		for et, n := range t.Errors {
			add("faas_errors_total", map[string]string{"faas_name": fn, "error_type": et}, float64(n))
		}
		add("faas_timeouts_total", map[string]string{"faas_name": fn}, float64(t.Timeouts))
		add("faas_coldstarts_total", map[string]string{"faas_name": fn}, float64(t.ColdStarts))
		add("faas_invoke_duration_seconds_count", map[string]string{"faas_name": fn}, float64(t.DurationCount))
		add("faas_invoke_duration_seconds_sum", map[string]string{"faas_name": fn}, t.DurationSum)
		add("aws_lambda_billed_duration_seconds_total", map[string]string{"faas_name": fn}, t.BilledDurationSeconds())
		add("aws_lambda_event_age_seconds_count", map[string]string{"faas_name": fn}, float64(t.EventAgeCount))
		add("aws_lambda_event_age_seconds_sum", map[string]string{"faas_name": fn}, t.EventAgeSum)
	}
	return b
}

func TestChecksPassOnlyTheTruth(t *testing.T) {
	f := testFleet(t)
	checks := Checks(f, true)
	exact := exactBackend(f)
	require.Empty(t, Mismatches(checks, exact.totals), "a correct gateway over two replicas")

	for _, tc := range []struct {
		name   string
		change func(b *backend)
		want   string
	}{
		{name: "one invocation missing", change: func(p *backend) { (*p)[0].value-- }, want: "faas_invocations_total"},
		{name: "an error under another type", change: func(p *backend) {
			b := *p
			for i := range b {
				if b[i].metric == "faas_errors_total" {
					b[i].labels["error_type"] = "unhandled_other"
					return
				}
			}
		}, want: "faas_errors_total"},
		{name: "a millisecond off a duration sum", change: func(p *backend) {
			b := *p
			for i := range b {
				if b[i].metric == "faas_invoke_duration_seconds_sum" {
					b[i].value += 0.001
					return
				}
			}
		}, want: "faas_invoke_duration_seconds_sum"},
		{name: "an invocation under no event source", change: func(p *backend) {
			b := *p
			for i := range b {
				if b[i].metric == "faas_invocations_total" && b[i].labels["faas_trigger"] != "" && b[i].value > 0 {
					b[i].value--
					moved := b[i]
					moved.labels = map[string]string{"faas_name": b[i].labels["faas_name"], "instance": "r2"}
					moved.value = 1
					*p = append(b, moved)
					return
				}
			}
		}, want: "faas_trigger"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := exactBackend(f)
			tc.change(&b)
			got := Mismatches(checks, b.totals)
			require.NotEmpty(t, got)
			assert.Contains(t, got[0], tc.want)
		})
	}
}

func TestSumsOfSecondsAllowRoundingOnly(t *testing.T) {
	c := Check{Metric: "faas_invoke_duration_seconds_sum", Want: 1234.567, Tolerance: secondsTolerance}
	assert.True(t, c.met(1234.567+1e-10))
	assert.False(t, c.met(1234.568))
	count := Check{Metric: "faas_invocations_total", Want: 10}
	assert.False(t, count.met(10+1e-12), "counts are exact")
}

func TestShortfallSeparatesLossFromDoubleCounting(t *testing.T) {
	f := testFleet(t)
	checks := Checks(f, false)
	b := exactBackend(f)
	for i := range b {
		if b[i].metric == "faas_invocations_total" {
			b[i].value -= 3
			break
		}
	}
	missing, over := Shortfall(checks, b.totals, "faas_invocations_total")
	assert.Equal(t, 3.0, missing)
	assert.Empty(t, over)

	b = exactBackend(f)
	b[0].value++
	_, over = Shortfall(checks, b.totals, b[0].metric)
	assert.Len(t, over, 1)
}

func TestRoutingKeepsAFunctionOnOneReplica(t *testing.T) {
	seen := map[int]bool{}
	for i := range 50 {
		fn := "fleet-fn" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		r := replicaOf(fn, 3)
		require.Equal(t, r, replicaOf(fn, 3))
		seen[r] = true
	}
	assert.Len(t, seen, 3, "functions spread over every replica")
}
