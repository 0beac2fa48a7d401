// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

const eventSourcesUID = "lambda-event-sources"

// eventSources splits the functions' traffic by what invoked them (faas_trigger,
// messaging_system, messaging_destination_name, http_route, as lambda_correlation names
// them), and shows when a consumer falls behind its queue or stream (event age).
func eventSources() *dashboard.DashboardBuilder {
	inAccountRegion := `faas_invocations_total{` + accountRegion + `}`
	b := &board{DashboardBuilder: accountRegionVariables(newDashboard(eventSourcesUID, "Lambda event sources",
		"Invocations by event source (SQS, SNS, Kinesis, Kafka, EventBridge, API Gateway routes, S3, DynamoDB streams): rate, error ratio, p99 duration and event age. Only invocations joined with the function's own span have a source.")).
		WithVariable(multiVariable("function", "Function", inAccountRegion, "faas_name")).
		WithVariable(multiVariable("trigger", "Trigger", inAccountRegion, "faas_trigger"))}
	matchers := []string{accountRegion, `faas_name=~"$function"`, `faas_trigger=~"$trigger"`, `faas_trigger!=""`}
	sel := selector(matchers...)
	queues := selector(append(matchers, `messaging_system!=""`)...)
	routes := selector(append(matchers, `http_route!=""`)...)
	const legend = "{{faas_name}}: " + sourceLegend

	b.row("Event sources")
	b.table(24, "Event sources", "Per function and event source, over the last 5 minutes. Event age is how long the event waited in its queue or stream before the invocation began.",
		[]string{"job"},
		column{"Invocations/s", "reqps", "function_source:faas_invocations:rate5m" + sel},
		column{"Error ratio", "percentunit", "function_source:faas_errors:ratio_rate5m" + sel},
		column{"p99 duration", "s", "function_source:faas_invoke_duration_seconds:p99_rate5m" + sel},
		column{"p99 event age", "s", "function_source:aws_lambda_event_age_seconds:p99_rate5m" + sel})
	b.timeSeries(12, "Invocations/s by event source", "Over the last 5 minutes.", "reqps",
		q("function_source:faas_invocations:rate5m"+sel, legend))
	b.timeSeries(12, "Error ratio by event source", "Errors per invocation over the last 5 minutes. Timeouts and out-of-memory kills end before the function's span, so they count under no source.", "percentunit",
		q("function_source:faas_errors:ratio_rate5m"+sel, legend))
	b.timeSeries(12, "p99 duration by event source", "99th percentile of the invocation duration over the last 5 minutes.", "s",
		q("function_source:faas_invoke_duration_seconds:p99_rate5m"+sel, legend))
	b.timeSeries(12, "p99 event age by event source", "How long events waited before the invocation began, 99th percentile over the last 5 minutes. Growing means the consumer falls behind its queue or stream.", "s",
		q("function_source:aws_lambda_event_age_seconds:p99_rate5m"+sel, legend))

	b.row("Queues, topics and streams")
	b.timeSeries(12, "Event age by queue, topic or stream", "The mean and the 99th percentile over the last 5 minutes: a consumer falling behind shows here first.", "s",
		q("function_source:aws_lambda_event_age_seconds:p99_rate5m"+queues, "p99 {{messaging_system}} {{messaging_destination_name}}"),
		q("function_source:aws_lambda_event_age_seconds:avg_rate5m"+queues, "mean {{messaging_system}} {{messaging_destination_name}}"))
	b.timeSeries(12, "Invocations/s by queue, topic or stream", "Over the last 5 minutes; a batch of messages is one invocation.", "reqps",
		q("function_source:faas_invocations:rate5m"+queues, "{{messaging_system}} {{messaging_destination_name}}"))

	b.row("HTTP routes")
	b.timeSeries(8, "Requests/s by route", "API Gateway and function URL invocations by route, over the last 5 minutes.", "reqps",
		q("function_source:faas_invocations:rate5m"+routes, "{{http_route}}"))
	b.timeSeries(8, "Error ratio by route", "Errors per request over the last 5 minutes.", "percentunit",
		q("function_source:faas_errors:ratio_rate5m"+routes, "{{http_route}}"))
	b.timeSeries(8, "p99 duration by route", "99th percentile over the last 5 minutes.", "s",
		q("function_source:faas_invoke_duration_seconds:p99_rate5m"+routes, "{{http_route}}"))
	return b.DashboardBuilder
}
