// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdametricsconnector

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestSeriesExpireAfterTheirLastMeasurement: a series that keeps being measured outlives
// metrics_expiration, and keeps counting from where it was.
func TestSeriesExpireAfterTheirLastMeasurement(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MetricsExpiration = time.Minute })
	var got map[string]float64
	for range 3 {
		h.send(newBatch(fnA).Invocation(inv{RequestID: "1", Duration: time.Second}))
		got = h.flush()
		h.clock.Add(40 * time.Second)
	}
	assert.Equal(t, 3.0, got["faas.invocations{cloud.region=eu-west-1,faas.name=orders}"])
}
