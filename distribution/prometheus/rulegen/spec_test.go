// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// shippedBounds are the boundaries the shipped gateway writes (distribution/config.yaml).
func shippedBounds(t *testing.T) []time.Duration {
	t.Helper()
	bounds, err := invokeDurationBounds("../../config.yaml")
	require.NoError(t, err)
	return bounds
}

func TestLoadSpecErrors(t *testing.T) {
	const availability = "slos:\n  - name: availability\n    kind: availability\n    objective: 99.9\n"
	tests := []struct {
		name string
		spec string
		want []string // every line must be in the error
	}{
		{
			name: "unknown top-level key",
			spec: availability + "budgets: {}\n",
			want: []string{`a.yml:5: unknown key "budgets" in the top level (slos, concurrency, cost)`},
		},
		{
			name: "unknown key in an SLO",
			spec: "slos:\n  - name: x\n    kind: availability\n    objetive: 99.9\n",
			want: []string{`a.yml:4: unknown key "objetive" in an slos entry (name, kind, objective, threshold, functions, functions_regex)`},
		},
		{
			name: "unknown key in a nested list",
			spec: "concurrency:\n  reserved:\n    - function: payments\n      limit: 10\n      region: us-east-1\n",
			want: []string{`a.yml:5: unknown key "region" in concurrency.reserved (function, cloud_account_id, cloud_region, limit)`},
		},
		{
			name: "wrong type",
			spec: "slos:\n  - name: x\n    kind: availability\n    objective: high\n",
			want: []string{"a.yml:4: slos[0].objective: cannot unmarshal !!str `high` into float64"},
		},
		{
			name: "wrong types, one in flow style",
			spec: "slos:\n  - {name: a, kind: availability, objective: [99]}\n  - name: b\n    kind: availability\n    objective: 99\n    functions: checkout\ncost: 5\n",
			want: []string{
				"a.yml:2: slos[0].objective: cannot unmarshal !!seq into float64",
				"a.yml:6: slos[1].functions: cannot unmarshal !!str `checkout` into []string",
				"a.yml:7: cost: cannot unmarshal !!int `5` into main.Cost",
			},
		},
		{
			name: "limits that are no whole numbers",
			spec: "concurrency:\n  default_limit: 0.5\n  reserved:\n    - function: f\n      limit: 1500.7\n",
			want: []string{
				"a.yml:2: concurrency.default_limit: 0.5: must be a whole number",
				"a.yml:5: concurrency.reserved[0].limit: 1500.7: must be a whole number",
			},
		},
		{
			name: "objective of 100",
			spec: "slos:\n  - name: x\n    kind: availability\n    objective: 100\n",
			want: []string{"a.yml:4: slos[0].objective: 100: must be a percentage between 0 and 100 (exclusive), such as 99.9"},
		},
		{
			name: "objective as a fraction of 0",
			spec: "slos:\n  - name: x\n    kind: availability\n    objective: 0\n",
			want: []string{"a.yml:4: slos[0].objective: 0: must be a percentage between 0 and 100"},
		},
		{
			name: "missing name, kind and objective",
			spec: "slos:\n  - functions: [a]\n",
			want: []string{
				"a.yml:2: slos[0].name: name is required",
				"a.yml:2: slos[0].kind: kind is required: availability or latency",
				"a.yml:2: slos[0].objective: objective is required: a percentage such as 99.9",
			},
		},
		{
			name: "unknown kind",
			spec: "slos:\n  - name: x\n    kind: throughput\n    objective: 99\n",
			want: []string{`a.yml:3: slos[0].kind: "throughput": must be availability or latency`},
		},
		{
			name: "name that is no label value",
			spec: "slos:\n  - name: Checkout SLO\n    kind: availability\n    objective: 99\n",
			want: []string{`a.yml:2: slos[0].name: "Checkout SLO": use only a-z, 0-9, _ and - (it becomes the slo label)`},
		},
		{
			name: "duplicate name",
			spec: availability + "  - name: availability\n    kind: availability\n    objective: 99\n    functions: [a]\n",
			want: []string{`a.yml:5: slos[1].name: "availability" is also the name of slos[0]: names must be unique`},
		},
		{
			name: "latency threshold that is not a bucket boundary",
			spec: "slos:\n  - name: x\n    kind: latency\n    objective: 99\n    threshold: 300ms\n",
			want: []string{"a.yml:5: slos[0].threshold: 300ms is not a bucket boundary of faas_invoke_duration_seconds, so the share of invocations within it cannot be counted; " +
				"the boundaries are 1ms 2.5ms 5ms 10ms 25ms 50ms 100ms 250ms 500ms 1s 2.5s 5s 10s 30s 1m0s 2m0s 5m0s 10m0s 15m0s: " +
				"pick one, or add it to the buckets (connectors: lambda_metrics: histograms: invoke_duration: the whole list, which replaces the default) " +
				"in distribution/config.yaml, where rulegen reads them, and in the configuration the gateway is deployed with, then redeploy the gateway"},
		},
		{
			name: "latency threshold in seconds that is not a boundary",
			spec: "slos:\n  - name: x\n    kind: latency\n    objective: 99\n    threshold: 0.3\n",
			want: []string{"a.yml:5: slos[0].threshold: 0.3 is not a bucket boundary"},
		},
		{
			name: "latency threshold that is no duration",
			spec: "slos:\n  - name: x\n    kind: latency\n    objective: 99\n    threshold: fast\n",
			want: []string{`a.yml:5: slos[0].threshold: "fast": must be a positive duration (250ms, 1s) or a number of seconds`},
		},
		{
			name: "latency without threshold",
			spec: "slos:\n  - name: x\n    kind: latency\n    objective: 99\n",
			want: []string{"a.yml:2: slos[0].threshold: threshold is required for kind latency: one of the bucket boundaries 1ms 2.5ms"},
		},
		{
			name: "threshold on an availability SLO",
			spec: availability + "    threshold: 1s\n",
			want: []string{"a.yml:5: slos[0].threshold: threshold is for kind latency only"},
		},
		{
			name: "bad regex",
			spec: availability + "    functions_regex: \"api-(.*\"\n",
			want: []string{"a.yml:5: slos[0].functions_regex: error parsing regexp: missing closing ): `api-(.*`"},
		},
		{
			name: "bad function name",
			spec: availability + "    functions: [ok, \"not ok\"]\n",
			want: []string{`a.yml:5: slos[0].functions[1]: "not ok" is not a Lambda function name (letters, digits, - and _, at most 64)`},
		},
		{
			name: "two catch-alls of one kind",
			spec: availability + "  - name: strict\n    kind: availability\n    objective: 99.99\n",
			want: []string{`a.yml:5: slos[1].name: "strict" and slos[0] are both catch-alls of kind availability (no functions or functions_regex): a function would be judged twice; give one of them functions`},
		},
		{
			name: "concurrency settings",
			spec: "concurrency:\n  default_limit: 0\n  alert_fraction: 1.5\n",
			want: []string{
				"a.yml:2: concurrency.default_limit: 0: must be positive",
				"a.yml:3: concurrency.alert_fraction: 1.5: must be a fraction of the limit, 0 < alert_fraction <= 1",
			},
		},
		{
			name: "override without region, and one twice",
			spec: "concurrency:\n  overrides:\n    - cloud_account_id: \"111122223333\"\n      limit: 5000\n" +
				"    - cloud_account_id: \"444455556666\"\n      cloud_region: us-east-1\n      limit: 10\n" +
				"    - cloud_account_id: \"444455556666\"\n      cloud_region: us-east-1\n      limit: 20\n",
			want: []string{
				"a.yml:3: concurrency.overrides[0].cloud_account_id: cloud_account_id and cloud_region are both required: the quota is per account and region",
				"a.yml:8: concurrency.overrides[2].cloud_account_id: 444455556666 us-east-1 is also in overrides[1]",
			},
		},
		{
			name: "reserved twice, and without a limit",
			spec: "concurrency:\n  reserved:\n    - function: payments\n      limit: 10\n    - function: payments\n",
			want: []string{
				"a.yml:5: concurrency.reserved[1].limit: 0: must be positive",
				"a.yml:5: concurrency.reserved[1].function: payments is also in concurrency.reserved[0] with the same cloud_account_id and cloud_region",
			},
		},
		{
			name: "cost settings",
			spec: "cost:\n  hourly_budget_usd: -1\n  functions:\n    - function: \"\"\n      hourly_budget_usd: 2\n  last_week:\n    factor: 1\n    min_usd_per_hour: -0.1\n",
			want: []string{
				"a.yml:2: cost.hourly_budget_usd: -1: must be a positive number (leave it out for no fleet budget)",
				`a.yml:4: cost.functions[0].function: "" is not a Lambda function name`,
				"a.yml:7: cost.last_week.factor: 1: must be a number above 1",
				"a.yml:8: cost.last_week.min_usd_per_hour: -0.1: must be a number, 0 or above",
			},
		},
		{
			name: "empty file",
			spec: "# every SLO was deleted by mistake\n",
			want: []string{"a.yml: the spec is empty; for no SLOs write slos: []"},
		},
		{
			name: "a second document",
			spec: availability + "---\n# an empty one is harmless\n---\ncost:\n  hourly_budget_usd: -5\n",
			want: []string{"a.yml:7: a second YAML document (after ---): the spec is one document"},
		},
		{
			name: "NaN and Inf budgets",
			spec: "cost:\n  hourly_budget_usd: .nan\n  functions:\n    - function: f\n      hourly_budget_usd: .inf\n  last_week:\n    factor: .inf\n    min_usd_per_hour: .nan\n",
			want: []string{
				"a.yml:2: cost.hourly_budget_usd: NaN: must be a positive number",
				"a.yml:5: cost.functions[0].hourly_budget_usd: +Inf: must be a positive number",
				"a.yml:7: cost.last_week.factor: +Inf: must be a number above 1",
				"a.yml:8: cost.last_week.min_usd_per_hour: NaN: must be a number, 0 or above",
			},
		},
		{
			name: "threshold a hair above a bucket boundary",
			spec: "slos:\n  - name: x\n    kind: latency\n    objective: 99\n    threshold: 0.1000000001\n",
			want: []string{"a.yml:5: slos[0].threshold: 0.1000000001: must be a whole number of nanoseconds"},
		},
		{
			name: "regex with a line break",
			spec: availability + "    functions_regex: \"x\\rgroups: []\"\n",
			want: []string{`a.yml:5: slos[0].functions_regex: "x\rgroups: []": only printable ASCII characters`},
		},
		{
			name: "function in two SLOs of one kind",
			spec: availability + "  - name: a\n    kind: availability\n    objective: 99\n    functions: [checkout, cart]\n" +
				"  - name: b\n    kind: availability\n    objective: 99\n    functions: [checkout]\n" +
				"  - name: c\n    kind: availability\n    objective: 99\n    functions_regex: \"(?i)CART\"\n" +
				"  - name: d\n    kind: latency\n    objective: 99\n    threshold: 1s\n    functions: [checkout]\n",
			want: []string{
				"a.yml:12: slos[2].functions[0]: checkout is also judged by slos[1] (a), of the same kind: it would page twice; keep it in one",
				"a.yml:8: slos[1].functions[1]: cart is also judged by slos[3] (c), of the same kind",
			},
		},
		{
			name: "account id and region that name no series",
			spec: "concurrency:\n  overrides:\n    - cloud_account_id: 12345\n      cloud_region: us-east1\n      limit: 5000\n" +
				"  reserved:\n    - function: f\n      cloud_account_id: \"1111-2222-3333\"\n      limit: 5\n",
			want: []string{
				`a.yml:3: concurrency.overrides[0].cloud_account_id: "12345" is not an AWS account id (12 digits; quote it to keep leading zeros)`,
				`a.yml:4: concurrency.overrides[0].cloud_region: "us-east1" is not an AWS region name such as us-east-1`,
				`a.yml:8: concurrency.reserved[0].cloud_account_id: "1111-2222-3333" is not an AWS account id`,
			},
		},
	}
	bounds := shippedBounds(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadSpec("a.yml", []byte(tt.spec), bounds)
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			// Nothing but what is expected: one problem a line.
			assert.Len(t, strings.Split(err.Error(), "\n"), len(tt.want), err.Error())
		})
	}
}

func TestLoadSpecDefaults(t *testing.T) {
	spec, err := LoadSpec("a.yml", []byte("slos:\n  - name: latency\n    kind: latency\n    objective: 99.5\n    threshold: 0.25\n"), shippedBounds(t))
	require.NoError(t, err)
	assert.Equal(t, 250*time.Millisecond, spec.SLOs[0].threshold)
	assert.Equal(t, 0.005, spec.SLOs[0].budget)
	assert.Equal(t, 1000, *spec.Concurrency.DefaultLimit)
	assert.Equal(t, 0.8, *spec.Concurrency.AlertFraction)
	assert.Nil(t, spec.Cost.HourlyBudgetUSD, "no fleet budget unless set")
	assert.Equal(t, 3.0, *spec.Cost.LastWeek.Factor)
	assert.Equal(t, 0.1, *spec.Cost.LastWeek.MinUSDPerHour)
}

func TestErrorBudgetIsExactInDecimal(t *testing.T) {
	for objective, want := range map[float64]float64{99.9: 0.001, 99.99: 0.0001, 99.5: 0.005, 95: 0.05, 99.999: 0.00001} {
		assert.Equal(t, want, errorBudget(objective), "objective %v", objective)
	}
}

func TestParseThreshold(t *testing.T) {
	for in, want := range map[string]time.Duration{"1s": time.Second, "1": time.Second, "1e-1": 100 * time.Millisecond, "1m30.5s": 90500 * time.Millisecond, ".5s": 500 * time.Millisecond, "100µs": 100 * time.Microsecond, "0.0025": 2500 * time.Microsecond, "2.5ms": 2500 * time.Microsecond, "15m": 15 * time.Minute} {
		got, err := parseThreshold(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"0", "-1s", "soon", "NaN", "Inf", "1e30", "1e-12", "100.0000001ms", "1e10", "1/2"} {
		_, err := parseThreshold(in)
		assert.Error(t, err, in)
	}
}
