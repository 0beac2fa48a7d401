// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/loadgen"
)

// TestFleetSteadyShort is the short steady-fleet scenario of `make scenarios`: a small
// fleet's Telemetry API batches (cold starts, errors, timeouts, out-of-memory kills,
// asynchronous retries) sent in rate mode to the built gateway, and Prometheus must hold
// exactly the generated invocations, errors by error_type, timeouts and cold starts of
// every function.
func TestFleetSteadyShort(t *testing.T) {
	s := startStack(t, "OTELCOL_LAMBDA_METRICS_FLUSH_INTERVAL=1s", "OTELCOL_LAMBDA_CORRELATION_WINDOW=1s")
	fleet, err := loadgen.Generate(loadgen.Config{
		Prefix: "e2efleet", Functions: 4, Sandboxes: 3, Invocations: 1500, PerBatch: 10, Seed: 3,
		Mix: loadgen.Mix{ColdStart: 0.02, Error: 0.08, Timeout: 0.04, OOM: 0.02, Retry: 0.5},
	})
	require.NoError(t, err)
	total := fleet.Total()
	require.Positive(t, total.OOMs)
	require.Positive(t, total.Retries)

	stats, err := loadgen.Send(context.Background(), loadgen.SendConfig{
		URL: "http://" + s.httpAddr, Workers: 4, Rate: 500, Timeout: time.Minute,
	}, fleet.Batches)
	require.NoError(t, err)
	require.Equal(t, int64(total.Invocations), stats.AcknowledgedInvocations)
	t.Logf("sent %d batches, %d invocations in %s, %d retries", stats.Sent, stats.AcknowledgedInvocations, stats.Duration, stats.Retried)

	invocations, timeouts, coldStarts, errs := map[string]float64{}, map[string]float64{}, map[string]float64{}, map[string]float64{}
	for fn, tr := range fleet.Truth {
		key := "faas_name=" + fn
		invocations[key] = float64(tr.Invocations)
		if tr.Timeouts > 0 {
			timeouts[key] = float64(tr.Timeouts)
		}
		if tr.ColdStarts > 0 {
			coldStarts[key] = float64(tr.ColdStarts)
		}
		for et, n := range tr.Errors {
			errs[fmt.Sprintf("faas_name=%s,error_type=%s", fn, et)] = float64(n)
		}
	}
	sel := `{faas_name=~"e2efleet-.*"}`
	s.eventually(t, `sum by (faas_name) (faas_invocations_total`+sel+`)`, invocations, "faas_name")
	s.eventually(t, `sum by (faas_name, error_type) (faas_errors_total`+sel+`) > 0`, errs, "faas_name", "error_type")
	s.eventually(t, `sum by (faas_name) (faas_timeouts_total`+sel+`) > 0`, timeouts, "faas_name")
	s.eventually(t, `sum by (faas_name) (faas_coldstarts_total`+sel+`) > 0`, coldStarts, "faas_name")
}
