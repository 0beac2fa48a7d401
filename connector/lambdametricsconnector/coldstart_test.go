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
// faas.init_duration. Billed duration is the report's (Lambda's billed duration includes the
// restore's billed part: 313 = ceil(149.53) + 163 in a real report); cost adds AWS's restore
// charge, per GB restored, for Python and .NET only.
func TestSnapStartRestoreDurationAndCharge(t *testing.T) {
	restore := 789500 * time.Microsecond
	tests := []struct {
		runtime string
		charged bool
	}{
		{runtime: "python3.12", charged: true},
		{runtime: "AWS_Lambda_dotnet8", charged: true},
		{runtime: "java21", charged: false},
		{runtime: "", charged: false}, // unknown: no charge rather than a wrong one
	}
	for _, tt := range tests {
		t.Run(tt.runtime, func(t *testing.T) {
			h := newHarness(t, nil)
			fn := fnA // 512 MiB on amd64
			fn.Runtime = tt.runtime
			h.send(newBatch(fn).
				Init(lambdaconvtest.Init{InitializationType: telemetryapi.InitTypeSnapStart, Start: t0.Add(-restore), Duration: restore}).
				Invocation(inv{RequestID: "r1", Duration: 150 * time.Millisecond, ColdStart: telemetryapi.InitTypeSnapStart}).
				Report(report{RequestID: "r1", Duration: 149530 * time.Microsecond, BilledDuration: 313 * time.Millisecond, MaxMemoryUsedMB: 163,
					RestoreDuration: restore, BilledRestoreDuration: 163 * time.Millisecond}).
				Invocation(inv{RequestID: "r2", Start: t0.Add(time.Second), Duration: 20 * time.Millisecond}).
				Report(report{RequestID: "r2", Start: t0.Add(time.Second), Duration: 20 * time.Millisecond, MaxMemoryUsedMB: 163}))
			got := only(h.flush(), "aws.lambda.restore_duration_count", "aws.lambda.restore_duration_sum", "faas.init_duration_count",
				"faas.coldstarts", "aws.lambda.billed_duration", "aws.lambda.cost")
			wantCost := 2*0.0000002 + 0.5*(0.313+0.020)*0.0000166667
			if tt.charged {
				wantCost += 0.5 * 0.0001397998
			}
			assert.InDelta(t, wantCost, got["aws.lambda.cost{cloud.region=eu-west-1,faas.name=orders}"], 1e-15)
			delete(got, "aws.lambda.cost{cloud.region=eu-west-1,faas.name=orders}")
			assert.Equal(t, map[string]float64{
				"aws.lambda.restore_duration_count{cloud.region=eu-west-1,faas.name=orders}":              1,
				"aws.lambda.restore_duration_sum{cloud.region=eu-west-1,faas.name=orders}":                restore.Seconds(),
				"faas.coldstarts{cloud.region=eu-west-1,faas.name=orders,initialization_type=snap-start}": 1,
				"aws.lambda.billed_duration{cloud.region=eu-west-1,faas.name=orders}":                     0.333,
			}, got)
		})
	}
}
