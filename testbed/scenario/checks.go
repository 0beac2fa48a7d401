// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package scenario

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/loadgen"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/rwsink"
)

// Check is one figure of the ground truth: the counter total of the series named Metric
// whose labels match Match, summed (over instances, and over reset segments).
type Check struct {
	Metric string
	Match  map[string]string
	Want   float64
	// Tolerance is the relative difference allowed: 0 for counts, 1e-9 for sums of
	// seconds, which the gateway adds up in another order than the generator.
	Tolerance float64
}

// met says whether got meets the check.
func (c Check) met(got float64) bool {
	if c.Tolerance == 0 {
		return got == c.Want
	}
	return math.Abs(got-c.Want) <= c.Tolerance*math.Max(math.Abs(c.Want), 1)
}

// secondsTolerance is the relative error allowed on a sum of float seconds.
const secondsTolerance = 1e-9

func (c Check) String() string {
	keys := slices.Sorted(maps.Keys(c.Match))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, c.Match[k])
	}
	return c.Metric + "{" + strings.Join(parts, ",") + "}"
}

// Checks lists what the gateway must have counted for the fleet, per function: its
// invocations, errors by error_type (and no other error_type), timeouts, cold starts, the
// count and sum of invoke durations and the billed duration. paired adds what the
// functions' own spans bring once joined with their invocation spans: invocations by
// event-source labels and the event-age histogram's count and sum. Those hold only when
// every function span met its invocation span within the correlation window: not across
// a gateway restart, which releases the window's held spans unpaired.
func Checks(fleet *loadgen.Fleet, paired bool) []Check {
	var out []Check
	for _, fn := range fleet.Functions() {
		t := fleet.Truth[fn]
		m := map[string]string{"faas_name": fn}
		out = append(out,
			Check{Metric: "faas_invocations_total", Match: m, Want: float64(t.Invocations)},
			Check{Metric: "faas_timeouts_total", Match: m, Want: float64(t.Timeouts)},
			Check{Metric: "faas_coldstarts_total", Match: m, Want: float64(t.ColdStarts)},
			Check{Metric: "faas_invoke_duration_seconds_count", Match: m, Want: float64(t.DurationCount)},
			Check{Metric: "faas_invoke_duration_seconds_sum", Match: m, Want: t.DurationSum, Tolerance: secondsTolerance},
			Check{Metric: "aws_lambda_billed_duration_seconds_total", Match: m, Want: t.BilledDurationSeconds(), Tolerance: secondsTolerance},
		)
		if paired && t.EventAgeCount > 0 {
			out = append(out,
				Check{Metric: "aws_lambda_event_age_seconds_count", Match: m, Want: float64(t.EventAgeCount)},
				Check{Metric: "aws_lambda_event_age_seconds_sum", Match: m, Want: t.EventAgeSum, Tolerance: secondsTolerance},
			)
		}
		if paired {
			byLabels := t.InvocationsByLabels()
			for _, labels := range slices.SortedFunc(maps.Keys(byLabels), func(a, b loadgen.Labels) int {
				return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
			}) {
				match := labels.Match()
				match["faas_name"] = fn
				out = append(out, Check{Metric: "faas_invocations_total", Match: match, Want: float64(byLabels[labels])})
			}
		}
		errorsTotal := 0
		for _, et := range slices.Sorted(maps.Keys(t.Errors)) {
			out = append(out, Check{Metric: "faas_errors_total", Match: map[string]string{"faas_name": fn, "error_type": et}, Want: float64(t.Errors[et])})
			errorsTotal += t.Errors[et]
		}
		// All error types together: catches counts under an error_type that was never generated.
		out = append(out, Check{Metric: "faas_errors_total", Match: m, Want: float64(errorsTotal)})
	}
	return out
}

// metrics are the metric names the checks read.
func metrics(checks []Check) []string {
	set := map[string]bool{}
	for _, c := range checks {
		set[c.Metric] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// Totals answers "the counter total of the series named metric whose labels match".
type Totals func(metric string, match map[string]string) float64

// Mismatches lists every check the totals do not meet.
func Mismatches(checks []Check, got Totals) []string {
	var out []string
	for _, c := range checks {
		if v := got(c.Metric, c.Match); !c.met(v) {
			out = append(out, fmt.Sprintf("%s: %v, generated %v", c, v, c.Want))
		}
	}
	return out
}

// Shortfall is how much less than the ground truth got holds, summed over the checks of
// metric, and whether some check holds more than the truth (counted twice).
func Shortfall(checks []Check, got Totals, metric string) (missing float64, over []string) {
	for _, c := range checks {
		if c.Metric != metric {
			continue
		}
		v := got(c.Metric, c.Match)
		if v > c.Want && !c.met(v) {
			over = append(over, fmt.Sprintf("%s: %v, generated %v", c, v, c.Want))
		}
		missing += math.Max(0, c.Want-v)
	}
	return missing, over
}

// SinkTotals reads the validating sink.
func SinkTotals(sink *rwsink.Sink) Totals { return sink.Sum }

// PrometheusTotals reads, once, every raw sample of the checks' metrics for the fleet's
// functions over the last window, and answers from the counter totals over reset
// segments. It also returns how many resets it saw.
func PrometheusTotals(ctx context.Context, prom *harness.Prometheus, checks []Check, prefix string, window time.Duration) (Totals, int, error) {
	byMetric := map[string][]harness.Series{}
	resets := 0
	for _, m := range metrics(checks) {
		series, r, err := prom.CounterTotals(ctx, fmt.Sprintf(`%s{faas_name=~"%s-.*"}`, m, prefix), window)
		if err != nil {
			return nil, 0, err
		}
		byMetric[m] = series
		resets += r
	}
	return sumMatching(byMetric), resets, nil
}

// sumMatching answers a check from series read per metric: the sum of the series whose
// labels match.
func sumMatching(byMetric map[string][]harness.Series) Totals {
	return func(metric string, match map[string]string) float64 {
		var total float64
		for _, s := range byMetric[metric] {
			if matchesAll(s.Labels, match) {
				total += s.Value
			}
		}
		return total
	}
}

func matchesAll(labels, match map[string]string) bool {
	for k, v := range match {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func formatCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
