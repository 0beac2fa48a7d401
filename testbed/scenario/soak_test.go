// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package scenario

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/loadgen"
)

func TestPipelineConfigPathsPutOverlaysAfterThePipelines(t *testing.T) {
	assert.Equal(t, []string{"/repo/distribution/config.yaml", "/repo/testbed/bench/soak-bounds.yaml", "/abs/overlay.yaml"},
		Ours.ConfigPaths("/repo", "testbed/bench/soak-bounds.yaml", "/abs/overlay.yaml"))
	assert.Equal(t, []string{"/repo/testbed/bench/stock-pipeline.yaml"}, Stock.ConfigPaths("/repo"))
	assert.Len(t, Ours.Configs, 1, "overlays never change the pipeline itself")
}

func TestSoakFollowsOneGateway(t *testing.T) {
	soak := Scenario{Fleet: loadgen.Config{Functions: 1}, Soak: &Soak{}}
	require.NoError(t, validateSoak(soak))
	soak.Replicas = 2
	assert.Error(t, validateSoak(soak))
	soak.Replicas, soak.Disruption = 1, &Disruption{}
	assert.Error(t, validateSoak(soak))
}

// soakResult is a soak whose RSS grows by perMinute MiB a minute over a 10-minute load.
func soakResult(perMinute float64) Result {
	f := &SoakFigures{LoadEnd: 10 * time.Minute, Measured: 11 * time.Minute, CPU: 30 * time.Second, PeakRSS: 80 << 20}
	for at := time.Duration(0); at <= 11*time.Minute; at += 10 * time.Second {
		rss := int64((50 + perMinute*at.Minutes()) * (1 << 20))
		f.Samples = append(f.Samples, harness.Sample{At: at, RSS: rss, HWM: rss, CPU: at / 20})
	}
	return Result{
		Scenario: Scenario{Name: "soak", Fleet: loadgen.Config{Functions: 2, Sandboxes: 2, PerBatch: 10}, Rate: 100,
			Soak: &Soak{Duration: 10 * time.Minute, Sample: 10 * time.Second, SlopeMax: 0.5}},
		Truth: loadgen.Truth{Invocations: 60_000}, SinkExact: time.Second, PrometheusExact: 2 * time.Second,
		Soak: f,
	}
}

func TestRSSFlatTellsGrowthFromNoise(t *testing.T) {
	slope, readings, flat := soakResult(0).RSSFlat()
	assert.True(t, flat)
	assert.InDelta(t, 0, slope, 1e-9)
	assert.Equal(t, 49, readings, "the readings of the load's last 80%")

	slope, _, flat = soakResult(1).RSSFlat()
	assert.False(t, flat, "1 MiB/min is above the 0.5 MiB/min threshold")
	assert.InDelta(t, 1, slope, 1e-6)
}

func TestRenderSoakReportsTheVerdictAndEveryReading(t *testing.T) {
	r := soakResult(1)
	report := RenderSoak("make soak", "`_build/otelcol-lambda`", r)
	assert.Contains(t, report, "**Verdict: RSS NOT shown flat**")
	assert.Contains(t, report, "| RSS peak (VmHWM) | 80.0 MiB |")
	assert.Contains(t, report, "| Prometheus exact | exact, 2s after the load |")
	_, overTime, ok := strings.Cut(report, "## RSS and CPU over time")
	require.True(t, ok)
	rows := 0
	for line := range strings.SplitSeq(overTime, "\n") {
		if strings.HasPrefix(line, "| ") && !strings.HasPrefix(line, "| t |") {
			rows++
		}
	}
	assert.Equal(t, len(r.Soak.Samples), rows, "one row per reading")
	assert.Contains(t, report, "| 10m10s (drain) |")

	r.Soak = nil
	r.Err = assert.AnError
	assert.Contains(t, RenderSoak("make soak", "", r), "did not run to its end")
}
