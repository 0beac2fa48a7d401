// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

const functionUID = "lambda-function"

// function is one function's page: RED, cold starts, concurrency, memory, cost, timeouts
// and out-of-memory kills, with the duration's exemplars leading to the traces.
func function() *dashboard.DashboardBuilder {
	b := &board{DashboardBuilder: accountRegionVariables(newDashboard(functionUID, "Lambda function",
		"One Lambda function: requests, errors by type, duration with exemplars (click one for its trace), cold starts, concurrency, memory, cost, timeouts and out-of-memory kills.")).
		WithVariable(labelVariable("function", "Function", `faas_invocations_total{`+accountRegion+`}`, "faas_name"))}
	fn := []string{accountRegion, `faas_name="$function"`}
	sel := selector(fn...)
	rule := func(name string) string { return name + sel }
	sum := func(name string) string { return fmt.Sprintf("sum(%s)", rule(name)) }
	// withSource leaves out the invocations of unknown source, which "all" counts.
	withSource := func(name string) string { return name + selector(append(fn, `faas_trigger!=""`)...) }
	invocations := sum("function:faas_invocations:rate5m")
	// quantile reads the raw histogram, summed over replicas and event sources: exemplars
	// are on its buckets, and the window follows the zoom. Like the recording rules, it
	// reads the classic histogram (metric_bucket) or else the native one (metric, with the
	// native-histograms overlay).
	quantile := func(phi float64, metric string, by ...string) string {
		sumBy := func(labels []string) string {
			if len(labels) == 0 {
				return "sum"
			}
			return "sum by (" + strings.Join(labels, ", ") + ")"
		}
		return fmt.Sprintf("histogram_quantile(%g, %s (rate(%s_bucket%s[$__rate_interval])))", phi, sumBy(append([]string{"le"}, by...)), metric, sel) +
			fmt.Sprintf(" or histogram_quantile(%g, %s (rate(%s%s[$__rate_interval])))", phi, sumBy(by), metric, sel)
	}

	b.row("Requests, errors, duration")
	b.stat("Invocations/s", "Over the last 5 minutes.", "reqps", "", nil, q(invocations, "invocations/s"))
	b.stat("Error ratio", "Errors (timeouts and out-of-memory kills included) per invocation over the last 5 minutes.", "percentunit", "0%", redAbove(0.01),
		q(sum("function:faas_errors:rate5m")+" / "+invocations, "error ratio"))
	b.stat("p99 duration", "99th percentile of the invocation duration over the last 5 minutes.", "s", "", nil,
		q(fmt.Sprintf("max(%s)", rule("function:faas_invoke_duration_seconds:p99_rate5m")), "p99"))
	b.stat("Cold-start ratio", "Cold starts per invocation over the last 5 minutes.", "percentunit", "0%", redAbove(0.1),
		q(sum("function:faas_coldstarts:rate5m")+" / "+invocations, "cold-start ratio"))
	b.stat("Memory utilisation", "Largest memory used by an invocation over the last 5 minutes, against the configured memory size.", "percentunit", "", redAbove(0.9),
		q(fmt.Sprintf("max(%s)", rule("function:faas_memory_utilisation:max_rate5m")), "max used / size"))
	b.stat("Cost per hour", "On-demand cost at the rate of the last 5 minutes.", "currencyUSD", "", nil,
		q(sum("function:aws_lambda_cost_usd_per_hour:rate5m"), "USD/h"))

	b.timeSeries(12, "Invocations/s", "In all and by event source (an invocation has one when lambda_correlation joined it with the function's own span).", "reqps",
		q(invocations, "all"),
		q(fmt.Sprintf("sum by (%s) (%s)", sourceLabels, withSource("function_source:faas_invocations:rate5m")), sourceLegend))
	b.timeSeries(12, "Error ratio by error type", "Errors per invocation over the last 5 minutes, in all and by error_type: function_error (the handler returned an error), unhandled, runtime_exit, extension_failure, init_failure, timeout, out_of_memory.", "percentunit",
		q(sum("function:faas_errors:rate5m")+" / "+invocations, "all errors"),
		q(fmt.Sprintf("sum by (error_type) (%s) / on () group_left () %s", rule("function_error_type:faas_errors:rate5m"), invocations), "{{error_type}}"))
	duration := query{expr: quantile(0.99, "faas_invoke_duration_seconds"), legend: "p99", exemplars: true}
	b.timeSeries(24, "Duration", "Quantiles of the invocation duration from the histogram, and its mean. The dots are exemplars: the trace of an invocation in that bucket; click one to open it in the trace store.", "s",
		q(quantile(0.5, "faas_invoke_duration_seconds"), "p50"),
		q(quantile(0.9, "faas_invoke_duration_seconds"), "p90"),
		duration,
		q(rule("function:faas_invoke_duration_seconds:avg_rate5m"), "mean {{cloud_region}}"))

	b.row("Cold starts")
	b.timeSeries(8, "Cold starts/s", "Invocations that ran in a new sandbox, by initialization type.", "reqps",
		q(fmt.Sprintf("sum by (initialization_type) (rate(faas_coldstarts_total%s[$__rate_interval]))", sel), "{{initialization_type}}"))
	b.timeSeries(8, "Cold-start ratio", "Cold starts per invocation over the last 5 minutes.", "percentunit",
		q(rule("function:faas_coldstarts:ratio_rate5m"), "{{cloud_region}}"))
	// A SnapStart function's cold start is its restore, in a histogram of its own.
	b.timeSeries(8, "Init duration", "How long the sandbox's init phase (for SnapStart: its restore) took: the mean over 5 minutes and the p99 by initialization type.", "s",
		q(`label_replace(`+rule("function:faas_init_duration_seconds:avg_rate5m")+`, "phase", "init", "", "")`+
			` or label_replace(`+rule("function:aws_lambda_restore_duration_seconds:avg_rate5m")+`, "phase", "restore", "", "")`, "mean {{phase}} {{cloud_region}}"),
		q(quantile(0.99, "faas_init_duration_seconds", "initialization_type")+
			` or label_replace(`+quantile(0.99, "aws_lambda_restore_duration_seconds")+`, "initialization_type", "snap-start", "", "")`, "p99 {{initialization_type}}"))

	b.row("Concurrency and memory")
	b.timeSeries(8, "Concurrency", "Invocations in flight on average over the last 5 minutes (Little's law), in all and by event source.", "short",
		q(sum("function:faas_concurrency:avg_rate5m"), "all"),
		q(fmt.Sprintf("sum by (%s) (%s)", sourceLabels, withSource("function_source:faas_concurrency:avg_rate5m")), sourceLegend))
	b.timeSeries(8, "Memory utilisation", "Largest memory used by an invocation over the last 5 minutes, against the configured memory size (the upper bound of its histogram bucket: a slight over-estimate).", "percentunit",
		q(rule("function:faas_memory_utilisation:max_rate5m"), "{{cloud_region}}"))
	b.timeSeries(8, "Memory used and configured", "Largest memory used by an invocation over the last 5 minutes, and the configured memory size.", "bytes",
		q(rule("function:faas_mem_usage_bytes:max_rate5m"), "max used {{cloud_region}}"),
		q(rule("function:aws_lambda_memory_size_bytes:max"), "configured {{cloud_region}}"))

	b.row("Cost")
	b.timeSeries(8, "Billed GB-seconds per hour", "Billed duration times the configured memory, at the rate of the last 5 minutes.", "short",
		q(sum("function:aws_lambda_billed_gb_seconds_per_hour:rate5m"), "GB-s/h"))
	b.timeSeries(8, "Cost per hour", "On-demand cost (requests, GB-seconds and SnapStart restores, Lambda's public prices; no free tier) at the rate of the last 5 minutes.", "currencyUSD",
		q(sum("function:aws_lambda_cost_usd_per_hour:rate5m"), "USD/h"))
	b.timeSeries(8, "Billed duration", "Billed seconds per second, over the last 5 minutes.", "s",
		q(sum("function:aws_lambda_billed_duration_seconds:rate5m"), "billed s/s"))

	b.row("Timeouts and out-of-memory kills")
	b.timeSeries(12, "Timeouts and out-of-memory kills/s", "Invocations that hit the function's timeout, and those killed for memory, over the last 5 minutes.", "reqps",
		q(sum("function:faas_timeouts:rate5m"), "timeouts"),
		q(fmt.Sprintf("sum(function_error_type:faas_errors:rate5m%s)", selector(append(fn, `error_type="out_of_memory"`)...)), "out of memory"))
	b.timeSeries(12, "p99 duration and the timeout", "The 99th percentile of the duration over the last 5 minutes, against the configured timeout: when they meet, invocations time out.", "s",
		q(rule("function:faas_invoke_duration_seconds:p99_rate5m"), "p99 {{cloud_region}}"),
		q(rule("function:aws_lambda_timeout_seconds:max"), "timeout {{cloud_region}}"))
	return b.DashboardBuilder
}
