// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

const fleetUID = "lambda-fleet-overview"

// fleetOverview is the whole fleet at a glance, and the functions that stand out.
func fleetOverview() *dashboard.DashboardBuilder {
	b := &board{DashboardBuilder: accountRegionVariables(newDashboard(fleetUID, "Lambda fleet overview",
		"Every Lambda function otelcol-lambda sees: traffic, errors, cold starts, cost, and the top 10 functions by each. From the recording rules of distribution/prometheus/rules."))}
	sel := selector(accountRegion)
	sum := func(rule string) string { return fmt.Sprintf("sum(%s%s)", rule, sel) }
	ratio := func(rule string) string {
		return fmt.Sprintf("%s / %s", sum(rule), sum("function:faas_invocations:rate5m"))
	}
	top := func(rule string) query {
		return instant(fmt.Sprintf("sort_desc(topk(10, %s%s))", rule, sel), "{{faas_name}} ({{cloud_account_id}}, {{cloud_region}})")
	}

	b.row("Fleet")
	b.stat("Invocations/s", "Invocations per second over the last 5 minutes, all selected functions.", "reqps", "", nil,
		q(sum("function:faas_invocations:rate5m"), "invocations/s"))
	b.stat("Error ratio", "Errors (timeouts and out-of-memory kills included) per invocation over the last 5 minutes.", "percentunit", "0%", redAbove(0.01),
		q(ratio("function:faas_errors:rate5m"), "error ratio"))
	b.stat("Cold-start ratio", "Cold starts per invocation over the last 5 minutes.", "percentunit", "0%", redAbove(0.1),
		q(ratio("function:faas_coldstarts:rate5m"), "cold-start ratio"))
	b.stat("Cost per hour", "On-demand cost at the rate of the last 5 minutes (requests, GB-seconds and SnapStart restores, Lambda's public prices; no free tier).", "currencyUSD", "", nil,
		q(sum("function:aws_lambda_cost_usd_per_hour:rate5m"), "USD/h"))
	b.stat("Functions", "Functions with invocation series in Prometheus.", "short", "", nil,
		q(fmt.Sprintf("count(function:faas_invocations:rate5m%s)", sel), "functions"))
	b.stat("Concurrency", "Invocations in flight on average over the last 5 minutes (Little's law: seconds of invocation per second).", "short", "", nil,
		q(sum("function:faas_concurrency:avg_rate5m"), "concurrency"))

	b.timeSeries(12, "Invocations, errors and timeouts", "Per second, all selected functions.", "reqps",
		q(sum("function:faas_invocations:rate5m"), "invocations"),
		q(sum("function:faas_errors:rate5m"), "errors"),
		q(sum("function:faas_timeouts:rate5m"), "timeouts"))
	b.timeSeries(12, "Cost per hour by account and region", "On-demand cost at the rate of the last 5 minutes.", "currencyUSD",
		q(fmt.Sprintf("sum by (cloud_account_id, cloud_region) (function:aws_lambda_cost_usd_per_hour:rate5m%s)", sel), "{{cloud_account_id}} {{cloud_region}}"))

	b.row("Top 10 functions")
	b.topBars("Top 10 by errors/s", "Errors per second over the last 5 minutes, timeouts and out-of-memory kills included. Click a bar for the function's dashboard.", "reqps",
		top("function:faas_errors:rate5m"))
	b.topBars("Top 10 by p99 duration", "99th percentile of the invocation duration over the last 5 minutes.", "s",
		top("function:faas_invoke_duration_seconds:p99_rate5m"))
	b.topBars("Top 10 by cost per hour", "On-demand cost at the rate of the last 5 minutes.", "currencyUSD",
		top("function:aws_lambda_cost_usd_per_hour:rate5m"))
	b.topBars("Top 10 by cold starts/s", "Cold starts per second over the last 5 minutes.", "reqps",
		top("function:faas_coldstarts:rate5m"))
	// The invocations and errors of the same ten functions, for the table to join on.
	byFunction := "job, cloud_account_id, cloud_region, faas_name"
	inRange := func(metric string) string {
		return fmt.Sprintf("sum by (%s) (increase(%s%s[$__range]))", byFunction, metric, sel)
	}
	topCost := fmt.Sprintf("topk(10, %s)", inRange("aws_lambda_cost_usd_total"))
	ofTopCost := func(metric string) string {
		return fmt.Sprintf("%s and on (%s) %s", inRange(metric), byFunction, topCost)
	}
	b.table(24, "Top 10 by cost over the time range", "What the functions cost over the dashboard's time range, with their invocations and errors.",
		[]string{"job"},
		column{"Cost", "currencyUSD", "sort_desc(" + topCost + ")"},
		column{"Invocations", "short", ofTopCost("faas_invocations_total")},
		column{"Errors", "short", ofTopCost("faas_errors_total")})
	return b.DashboardBuilder
}
