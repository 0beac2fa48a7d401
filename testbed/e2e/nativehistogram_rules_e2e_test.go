// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
)

// histogramMaxSize is OTELCOL_LAMBDA_HISTOGRAM_MAX_SIZE for the native-histograms overlay;
// the test sets it, so that its error bound and the gateway agree.
const histogramMaxSize = 160

// nativeQuantileError bounds the relative error of histogram_quantile over the connector's
// native histograms of values spanning lo..hi (lo > 0). The estimate lies in the bucket that
// holds the true quantile, (b, b·2^(2^-schema)], so it is less than 2^(2^-schema) - 1 of the
// true value away from it. At scale s the values take at most log2(hi/lo)·2^s + 2 buckets,
// and the connector downscales only until they fit in histogramMaxSize: its scale is at
// least the largest s for which that bound fits. The remote-write exporter sends at most
// schema 8, and a sum of histograms takes the coarsest schema of its parts, all of which
// hold values within lo..hi.
func nativeQuantileError(lo, hi float64) float64 {
	scale := min(8, math.Floor(math.Log2((histogramMaxSize-2)/math.Log2(hi/lo))))
	return math.Exp2(math.Exp2(-scale)) - 1
}

// quantileOf is the value histogram_quantile(q) aims at: the ceil(q·n)-th smallest of n
// values (the bucket it answers from is the first whose cumulative count reaches q·n).
func quantileOf(q float64, values []float64) float64 {
	sorted := slices.Sorted(slices.Values(values))
	return sorted[int(math.Ceil(q*float64(len(sorted))))-1]
}

// recordedAfter selects a recording rule's series (record, with its selector) once an
// evaluation after `after` wrote it: timestamp() is the evaluation's time, and what was
// recorded before the data was complete does not count.
func recordedAfter(record string, after time.Time) string {
	return fmt.Sprintf(`(%[1]s and timestamp(%[1]s) > %.3f)`, record, float64(after.UnixMilli())/1000)
}

func mean(values []float64) float64 {
	var sum float64
	for _, v := range values {
		sum += v
	}
	return sum / float64(len(values))
}

// TestRecordingRulesReadNativeHistograms runs make run's stack with the native-histograms
// overlay, where no _bucket, _sum or _count series exist, with the rules evaluated every
// second. It sends 151 invocations of known duration, memory used and event age over five
// sandboxes, and reads the shipped recording rules back: the quantiles within the bucket
// error bound of the true quantile of what was sent, the averages exact, and every rule
// healthy. The classic mode is unit-tested by promtool (rules/tests), which cannot load
// native histograms.
func TestRecordingRulesReadNativeHistograms(t *testing.T) {
	s := startStack(t,
		"OTELCOL_LAMBDA_OVERLAYS=distribution/overlays/native-histograms.yaml",
		"OTELCOL_LAMBDA_HISTOGRAM_MAX_SIZE="+strconv.Itoa(histogramMaxSize),
		"PROMETHEUS_EVALUATION_INTERVAL=1s")
	const invocations, sandboxes = 151, 5 // q·151 is never a whole number for q = 0.5, 0.9, 0.99
	start := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	sqsSource := map[string]string{lambdaconv.AttrFaaSTrigger: "pubsub", lambdaconv.AttrMessagingSystem: "aws_sqs", lambdaconv.AttrMessagingDestinationName: "native-queue"}

	// Invocation k: 20 + 10k ms, 100 + k MiB used of 512, its event 1 + 0.2k s old; sandbox
	// i's init took 200 (i+1) ms.
	var durations, memUsed, ages, inits []float64
	sbs := make([]*lambdaSandbox, sandboxes)
	for i := range sbs {
		fn := lambdaFn{name: "e2e-native-rules", region: "eu-west-1", arch: "amd64", memMiB: 512, timeoutMs: 3000, sandbox: fmt.Sprintf("sandbox-native-rules-%d", i)}
		initDur := time.Duration(i+1) * 200 * time.Millisecond
		sbs[i] = newLambdaSandbox(t, fn, start).init(telemetryapi.InitTypeOnDemand, initDur)
		inits = append(inits, initDur.Seconds())
	}
	for k := range invocations {
		sb := sbs[k%sandboxes]
		seq, id := byte(k+1), fmt.Sprintf("nr-%d", k)
		dur := time.Duration(20+10*k) * time.Millisecond
		age := time.Second + time.Duration(k)*200*time.Millisecond
		used := int64(100 + k)
		sb.invocation(invocationSpec{seq: seq, requestID: id, dur: dur, cold: k < sandboxes, eventAge: age, source: sqsSource}).
			report(seq, id, dur.Milliseconds(), used)
		durations = append(durations, dur.Seconds())
		memUsed = append(memUsed, float64(used<<20))
		ages = append(ages, age.Seconds())
	}
	for _, sb := range sbs {
		exportGRPC(t, s.Addrs.GRPC, sb.functionSpans())
		sb.post(s.URL)
	}

	// Everything has reached Prometheus (exact counts of the raw native histograms); rule
	// values recorded after that moment see all of it.
	raw := `{job="otelcol-lambda",faas_name="e2e-native-rules"}`
	s.eventually(t, `sum(histogram_count(faas_invoke_duration_seconds`+raw+`))`, map[string]float64{"": invocations})
	s.eventually(t, `sum(histogram_count(faas_mem_usage_bytes`+raw+`))`, map[string]float64{"": invocations})
	s.eventually(t, `sum(histogram_count(aws_lambda_event_age_seconds`+raw+`))`, map[string]float64{"": invocations})
	s.eventually(t, `sum(histogram_count(faas_init_duration_seconds`+raw+`))`, map[string]float64{"": sandboxes})
	complete := time.Now()

	fn := `{job="otelcol-lambda",cloud_region="eu-west-1",faas_name="e2e-native-rules"}`
	src := `{job="otelcol-lambda",cloud_region="eu-west-1",faas_name="e2e-native-rules",messaging_destination_name="native-queue"}`
	recorded := func(record string) string { return recordedAfter(record, complete) }
	// within polls promql until its one value is within rel (relative) of want, and logs
	// it as what.
	within := func(what, promql string, want, rel float64) {
		t.Helper()
		s.eventuallyWithin(t, promql, map[string]float64{"": want}, want*rel)
		if got, err := s.query(context.Background(), promql); err == nil && len(got) == 1 {
			t.Logf("%s = %v (want %v ± %.3g%%)", what, got[0].Value, want, 100*rel)
		}
	}
	// record polls the recording rule's series that sel selects.
	record := func(name, sel string, want, rel float64) {
		t.Helper()
		within(name, recorded(name+sel), want, rel)
	}

	durErr := nativeQuantileError(slices.Min(durations), slices.Max(durations))
	t.Logf("duration quantiles within %.2f%%: p50 %v s, p90 %v s, p99 %v s", 100*durErr,
		quantileOf(0.5, durations), quantileOf(0.9, durations), quantileOf(0.99, durations))
	record("function:faas_invoke_duration_seconds:p50_rate5m", fn, quantileOf(0.5, durations), durErr)
	record("function:faas_invoke_duration_seconds:p90_rate5m", fn, quantileOf(0.9, durations), durErr)
	record("function:faas_invoke_duration_seconds:p99_rate5m", fn, quantileOf(0.99, durations), durErr)
	record("function_source:faas_invoke_duration_seconds:p99_rate5m", src, quantileOf(0.99, durations), durErr)
	// The latency SLO (rules/slos.yml; the shipped catch-all: 99% within 1s) reads the
	// native histogram's fraction up to 1s. 1 is a bucket boundary at every scale, so only
	// an invocation of exactly 1s could land on the wrong side: one invocation's tolerance.
	slow := float64(len(slices.DeleteFunc(slices.Clone(durations), func(d float64) bool { return d <= 1 })))
	record("function_slo:faas_slow_invocations:ratio_rate5m",
		`{job="otelcol-lambda",cloud_region="eu-west-1",faas_name="e2e-native-rules",slo="latency"}`, slow/invocations, 1/slow)

	// Quantile 1 is the upper bound of the largest value's bucket: at or above the largest
	// memory used, by less than one bucket.
	memErr := nativeQuantileError(slices.Min(memUsed), slices.Max(memUsed))
	maxUtil := slices.Max(memUsed) / (512 << 20)
	t.Logf("memory utilisation %v, over-estimated by less than %.2f%%", maxUtil, 100*memErr)
	record("function:faas_memory_utilisation:max_rate5m", fn, maxUtil*(1+memErr/2), memErr/2/(1+memErr/2))

	ageErr := nativeQuantileError(slices.Min(ages), slices.Max(ages))
	t.Logf("event age p99 %v s within %.2f%%", quantileOf(0.99, ages), 100*ageErr)
	record("function_source:aws_lambda_event_age_seconds:p99_rate5m", src, quantileOf(0.99, ages), ageErr)

	// Averages divide the histogram's sum by its count: exact but for float rounding. The
	// concurrency is the duration sum's rate; over the count's rate it is the average.
	const exact = 1e-9
	record("function:faas_invoke_duration_seconds:avg_rate5m", fn, mean(durations), exact)
	for _, level := range []struct{ name, sel string }{{"function", fn}, {"function_source", src}} {
		concurrency := level.name + ":faas_concurrency:avg_rate5m"
		within(concurrency+" / histogram_count("+level.name+":faas_invoke_duration_seconds:rate5m)",
			recorded(concurrency+level.sel)+` / histogram_count(`+recorded(level.name+`:faas_invoke_duration_seconds:rate5m`+level.sel)+`)`,
			mean(durations), exact)
	}
	record("function_source:aws_lambda_event_age_seconds:avg_rate5m", src, mean(ages), exact)
	record("function:faas_init_duration_seconds:avg_rate5m", fn, mean(inits), exact)

	// The values came from the native side of each `or`: the classic records are empty,
	// and the native ones are histograms.
	ctx, cancel := context.WithTimeout(context.Background(), queryDeadline)
	defer cancel()
	for _, record := range []string{
		`function_le:faas_invoke_duration_seconds_bucket:rate5m`,
		`function_le:faas_mem_usage_bytes_bucket:rate5m`,
		`function_source_le:aws_lambda_event_age_seconds_bucket:rate5m`,
	} {
		classic, err := s.query(ctx, record+`{faas_name="e2e-native-rules"}`)
		require.NoError(t, err)
		assert.Empty(t, classic, record)
	}
	// The native records are histograms, and every shipped rule evaluates over native
	// histograms without an error. Polled: CI once saw two of the summing records fail
	// one evaluation (their series went stale) after all the data had arrived, and pass
	// the next; the log keeps each error seen meanwhile.
	s.waitFor(t, alertDeadline, "the native records as histograms and every rule healthy", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var problems []string
		for _, record := range []string{
			`function:faas_invoke_duration_seconds:rate5m`,
			`function_source:faas_invoke_duration_seconds:rate5m`,
			`function:faas_mem_usage_bytes:rate5m`,
			`function:faas_init_duration_seconds:rate5m`,
			`function_source:aws_lambda_event_age_seconds:rate5m`,
		} {
			if hs, err := s.nativeHistograms(ctx, record+`{faas_name="e2e-native-rules"}`); err != nil || len(hs) != 1 {
				problems = append(problems, fmt.Sprintf("%s: %d histograms (%v)", record, len(hs), err))
			}
		}
		groups, err := s.Prometheus.RuleGroups(ctx)
		if err != nil {
			return false, err.Error()
		}
		for _, g := range groups {
			for _, r := range g.Rules {
				if r.Health == "err" {
					problems = append(problems, fmt.Sprintf("rule %s of group %s: %s", r.Name, g.Name, r.LastError))
				}
			}
		}
		return len(problems) == 0, strings.Join(problems, "; ")
	})
}

// TestRecordingRulesPreferClassicWhereBothModesExist writes one function's durations in
// both modes to one Prometheus: a replica with the native-histograms overlay (make run's
// stack) and one without, as during a switch of mode. The rules answer from the classic
// series alone (`classic or native` keeps the left side), never from a mix of the two.
func TestRecordingRulesPreferClassicWhereBothModesExist(t *testing.T) {
	s := startStack(t,
		"OTELCOL_LAMBDA_OVERLAYS=distribution/overlays/native-histograms.yaml",
		"PROMETHEUS_EVALUATION_INTERVAL=1s")
	classicReplica := startGateway(t, harness.GatewayConfig{RemoteWrite: s.Prometheus.WriteURL(), InstanceID: "classic-replica", Flush: time.Second})
	start := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	fn := lambdaFn{name: "e2e-both-modes", region: "eu-west-1", arch: "amd64", memMiB: 512, timeoutMs: 10000}

	// 20 invocations of 100 ms through the native replica, 20 of 2 s through the classic one.
	const each = 20
	for r, replica := range []struct {
		url string
		dur time.Duration
	}{{s.URL, 100 * time.Millisecond}, {classicReplica.url, 2 * time.Second}} {
		fn.sandbox = fmt.Sprintf("sandbox-both-modes-%d", r)
		sb := newLambdaSandbox(t, fn, start)
		for k := range each {
			sb.invocation(invocationSpec{seq: byte(r*each + k + 1), requestID: fmt.Sprintf("bm-%d-%d", r, k), dur: replica.dur})
		}
		sb.post(replica.url)
	}
	raw := `{job="otelcol-lambda",faas_name="e2e-both-modes"}`
	s.eventually(t, `sum(histogram_count(faas_invoke_duration_seconds`+raw+`))`, map[string]float64{"": each})
	s.eventually(t, `sum(faas_invoke_duration_seconds_count`+raw+`)`, map[string]float64{"": each})
	complete := time.Now()

	// The classic replica's 2 s alone: a mix would average 1.05 s and have its median in
	// the 100 ms invocations.
	s.eventuallyWithin(t, recordedAfter(`function:faas_invoke_duration_seconds:avg_rate5m`+raw, complete), map[string]float64{"": 2}, 1e-9)
	s.eventually(t, recordedAfter(`function:faas_invoke_duration_seconds:p50_rate5m`+raw, complete)+` > bool 1`, map[string]float64{"": 1})
}
