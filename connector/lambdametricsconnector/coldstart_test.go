// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdametricsconnector

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv/lambdaconvtest"
	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
)

// TestColdStartLearntLateCountsOnce: the receiver learnt a cold start only after the
// invocation span went out warm (its init events never came, its report told), and put it
// on a late init span. The cold start and its init duration count once, from that span.
func TestColdStartLearntLateCountsOnce(t *testing.T) {
	h := newHarness(t, nil)
	h.send(newBatch(fnA).Invocation(inv{RequestID: "a1", Duration: 40 * time.Millisecond}))
	h.flush()
	h.send(newBatch(fnA).
		Init(lambdaconvtest.Init{Start: t0.Add(-250 * time.Millisecond), Duration: 250 * time.Millisecond, FromReport: true, Late: true}).
		Report(report{RequestID: "a1", Duration: 41 * time.Millisecond, MaxMemoryUsedMB: 60, InitDuration: 250 * time.Millisecond}))
	got := only(h.flush(), "faas.invocations", "faas.coldstarts", "faas.init_duration_count", "faas.invoke_duration_count")
	assert.Equal(t, map[string]float64{
		"faas.invocations{cloud.region=eu-west-1,faas.name=orders}":                                       1,
		"faas.coldstarts{cloud.region=eu-west-1,faas.name=orders,initialization_type=on-demand}":          1,
		"faas.init_duration_count{cloud.region=eu-west-1,faas.name=orders,initialization_type=on-demand}": 1,
		// The invocation was measured when it ended, before anything told of its cold start.
		"faas.invoke_duration_count{cloud.region=eu-west-1,faas.coldstart=false,faas.name=orders}": 1,
	}, got)

	// An init span that is no late cold start (the invocation carried it) counts none.
	h.send(newBatch(fnB).
		Init(lambdaconvtest.Init{Duration: 100 * time.Millisecond, FromReport: true}).
		Invocation(inv{RequestID: "b1", Duration: time.Second, ColdStart: telemetryapi.InitTypeOnDemand}))
	got = only(h.flush(), "faas.coldstarts")
	assert.Equal(t, map[string]float64{
		"faas.coldstarts{cloud.region=eu-west-1,faas.name=orders,initialization_type=on-demand}":  1,
		"faas.coldstarts{cloud.region=us-east-1,faas.name=billing,initialization_type=on-demand}": 1,
	}, got)
}

// TestSnapStartRestoreDurationAndCharge: restores go to their own histogram, not to
// faas.init_duration. Billed duration is the report's: Lambda's billed duration includes the
// restore's billed part (real REPORT lines: Java 610 = ceil(306.34) + 303, Python 313 =
// ceil(149.53) + 163, 173 = ceil(36.97) + 136). Cost adds AWS's restore charge, per GB
// restored, for Python and .NET only.
func TestSnapStartRestoreDurationAndCharge(t *testing.T) {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	tests := []struct {
		name, runtime              string
		memoryMB                   float64
		durationMs, billedMs       float64
		restoreMs, billedRestoreMs float64
		charged                    bool
	}{
		{name: "java", runtime: "java21", memoryMB: 3009, durationMs: 306.34, billedMs: 610, restoreMs: 511.25, billedRestoreMs: 303},
		{name: "python", runtime: "python3.12", memoryMB: 3538, durationMs: 149.53, billedMs: 313, restoreMs: 789.64, billedRestoreMs: 163, charged: true},
		{name: "dotnet", runtime: "AWS_Lambda_dotnet8", memoryMB: 128, durationMs: 36.97, billedMs: 173, restoreMs: 511.56, billedRestoreMs: 136, charged: true},
		// Unknown: no charge rather than a wrong one.
		{name: "unknown runtime", memoryMB: 128, durationMs: 36.97, billedMs: 173, restoreMs: 511.56, billedRestoreMs: 136},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			fn := fnA // amd64
			fn.Runtime, fn.MemorySizeMB = tt.runtime, tt.memoryMB
			restore := ms(tt.restoreMs)
			h.send(newBatch(fn).
				Init(lambdaconvtest.Init{InitializationType: telemetryapi.InitTypeSnapStart, Start: t0.Add(-restore), Duration: restore}).
				Invocation(inv{RequestID: "r1", Duration: ms(tt.durationMs), ColdStart: telemetryapi.InitTypeSnapStart}).
				Report(report{RequestID: "r1", Duration: ms(tt.durationMs), BilledDuration: ms(tt.billedMs), MaxMemoryUsedMB: 100,
					RestoreDuration: restore, BilledRestoreDuration: ms(tt.billedRestoreMs)}).
				Invocation(inv{RequestID: "r2", Start: t0.Add(time.Second), Duration: 20 * time.Millisecond}).
				Report(report{RequestID: "r2", Start: t0.Add(time.Second), Duration: 20 * time.Millisecond, MaxMemoryUsedMB: 100}))
			got := only(h.flush(), "aws.lambda.restore_duration_count", "aws.lambda.restore_duration_sum", "faas.init_duration_count",
				"faas.coldstarts", "aws.lambda.billed_duration", "aws.lambda.cost")
			gb := tt.memoryMB / 1024
			wantCost := 2*0.0000002 + gb*(tt.billedMs+20)/1000*0.0000166667
			if tt.charged {
				wantCost += gb * 0.0001397998
			}
			const cost = "aws.lambda.cost{cloud.region=eu-west-1,faas.name=orders}"
			assert.InDelta(t, wantCost, got[cost], 1e-15)
			delete(got, cost)
			assert.InDelta(t, restore.Seconds(), got["aws.lambda.restore_duration_sum{cloud.region=eu-west-1,faas.name=orders}"], 1e-12)
			delete(got, "aws.lambda.restore_duration_sum{cloud.region=eu-west-1,faas.name=orders}")
			assert.Equal(t, map[string]float64{
				"aws.lambda.restore_duration_count{cloud.region=eu-west-1,faas.name=orders}":              1,
				"faas.coldstarts{cloud.region=eu-west-1,faas.name=orders,initialization_type=snap-start}": 1,
				"aws.lambda.billed_duration{cloud.region=eu-west-1,faas.name=orders}":                     (tt.billedMs + 20) / 1000,
			}, got, "no faas.init_duration point: a restore is no init")
		})
	}
}

// TestRestoreChargedRuntimes: Lambda's runtime names, as Lambda and AWS_EXECUTION_ENV spell
// them; anything else is not charged.
func TestRestoreChargedRuntimes(t *testing.T) {
	for runtime, want := range map[string]bool{
		"AWS_Lambda_python3.12": true, "python3.13": true, "python:3.12.v19": true, "AWS_Lambda_dotnet8": true, "dotnet8": true,
		"AWS_Lambda_java21": false, "java17": false, "provided.al2023": false, "AWS_Lambda_nodejs22.x": false, "": false,
		"pythonic-java": false, "AWS_Lambda_AWS_Lambda_python3.12": false, "Python3.12": false,
	} {
		assert.Equal(t, want, restoreCharged(runtime), runtime)
	}
}

// TestRestoreChargeFollowsEachResourcesRuntime: a function seen with a Python runtime, then
// in a batch that names none (a hand-made batch, an older forwarder): that restore is not
// charged as Python's.
func TestRestoreChargeFollowsEachResourcesRuntime(t *testing.T) {
	h := newHarness(t, nil)
	py := fnA
	py.Runtime = "AWS_Lambda_python3.12"
	h.send(newBatch(py).Invocation(inv{RequestID: "w1", Duration: 10 * time.Millisecond}).
		Report(report{RequestID: "w1", Duration: 10 * time.Millisecond, MaxMemoryUsedMB: 60}))
	h.flush()
	unnamed := fnA
	unnamed.ExtensionInstanceID = "sandbox-9"
	restore := 500 * time.Millisecond
	h.send(newBatch(unnamed).
		Init(lambdaconvtest.Init{InitializationType: telemetryapi.InitTypeSnapStart, Start: t0.Add(-restore), Duration: restore}).
		Invocation(inv{RequestID: "r1", Duration: 100 * time.Millisecond, ColdStart: telemetryapi.InitTypeSnapStart}).
		Report(report{RequestID: "r1", Duration: 100 * time.Millisecond, BilledDuration: 150 * time.Millisecond, MaxMemoryUsedMB: 60,
			RestoreDuration: restore, BilledRestoreDuration: 50 * time.Millisecond}))
	got := only(h.flush(), "aws.lambda.cost")
	assert.InDelta(t, 2*0.0000002+0.5*(0.010+0.150)*0.0000166667, got["aws.lambda.cost{cloud.region=eu-west-1,faas.name=orders}"], 1e-15)
}
