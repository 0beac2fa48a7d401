// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	if os.Getenv(envServeGateway) != "" {
		runGateway() // the harness re-executes the test binary as its gateway
		return
	}
	os.Exit(m.Run())
}

// TestRunMeasuresTheFloorExtension runs the harness end to end on a few invocations of
// the floor extension: it checks that every figure is produced, not what it is.
func TestRunMeasuresTheFloorExtension(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an extension")
	}
	bin := filepath.Join(t.TempDir(), "extensions", "floorext")
	out, err := exec.Command("go", "build", "-o", bin, "../floorext").CombinedOutput()
	require.NoError(t, err, string(out))
	var report strings.Builder
	require.NoError(t, run(&report, options{
		extension: bin, strategies: []string{"", "end"}, invocations: 20, coldStarts: 2,
		env: []string{"OTELCOL_LAMBDA_LISTENER_HOST=127.0.0.1"}, work: time.Millisecond, logLines: 1,
	}))
	text := report.String()
	for _, want := range []string{"binary size:", "spawn -> first /event/next", "added init", "| no extension |", "| default |", "| flush end |", "MiB"} {
		assert.Contains(t, text, want)
	}
}

func TestPercentile(t *testing.T) {
	d := []time.Duration{3, 1, 2, 4}
	tests := []struct {
		p    float64
		want time.Duration
	}{{50, 2}, {75, 3}, {99, 4}, {100, 4}, {0, 1}}
	for _, tt := range tests {
		assert.Equal(t, tt.want, pct(d, tt.p), "p%v", tt.p)
	}
	assert.Zero(t, pct(nil, 50))
}
