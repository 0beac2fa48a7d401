// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

const gatewayUID = "otelcol-lambda-gateway"

// gateway is the gateway's own health, from the self-metrics Prometheus scrapes (their
// counters have no _total suffix), one series per replica.
func gateway() *dashboard.DashboardBuilder {
	b := &board{DashboardBuilder: newDashboard(gatewayUID, "otelcol-lambda gateway",
		"The gateway's own health, per replica, from its self-metrics (job "+gatewayJob+"): what it takes in and refuses, what the extensions and Lambda dropped before it, what it writes and fails to write, and its process.").
		WithVariable(multiVariable("instance", "Replica", `up{job="`+gatewayJob+`"}`, "instance"))}
	sel := selector(`job="`+gatewayJob+`"`, `instance=~"$instance"`)
	rate := func(metric, by string) string {
		return fmt.Sprintf("sum by (%s) (rate(%s%s[$__rate_interval]))", by, metric, sel)
	}
	gauge := func(metric, by string) string { return fmt.Sprintf("sum by (%s) (%s%s)", by, metric, sel) }
	acceptedRefused := func(signal string) []query {
		return []query{
			q(rate("otelcol_receiver_accepted_"+signal, "instance, receiver"), "accepted {{receiver}} {{instance}}"),
			q(rate("otelcol_receiver_refused_"+signal, "instance, receiver"), "refused {{receiver}} {{instance}}"),
		}
	}

	b.row("Up")
	b.stat("Replicas up", "Gateway replicas Prometheus scrapes successfully.", "short", "0", greenAbove(1),
		q(fmt.Sprintf("sum(up%s)", sel), "up"))
	b.stat("Replicas down", "Gateway replicas Prometheus fails to scrape.", "short", "", redAbove(1),
		q(fmt.Sprintf("sum(1 - up%s)", sel), "down"))
	b.stat("Uptime", "Time since the most recently started replica started.", "s", "", nil,
		q(fmt.Sprintf("min(otelcol_process_uptime%s)", sel), "uptime"))
	b.timeSeries(12, "Up by replica", "1 when Prometheus scraped the replica, 0 when it failed.", "short",
		q(gauge("up", "instance"), "{{instance}}"))

	b.row("Receiving")
	b.timeSeries(8, "Spans accepted and refused/s", "By receiver: lambda_telemetry makes invocation, report and init spans from the extensions' batches and takes the functions' OTLP/HTTP; otlp takes OTLP/gRPC.", "cps",
		acceptedRefused("spans")...)
	b.timeSeries(8, "Metric points accepted and refused/s", "By receiver: the functions' SDK metrics and Pushgateway pushes.", "cps",
		acceptedRefused("metric_points")...)
	b.timeSeries(8, "Log records accepted and refused/s", "By receiver: function and platform logs.", "cps",
		acceptedRefused("log_records")...)
	b.timeSeries(8, "Requests refused/s by reason", "Requests lambda_telemetry refused as a whole: pipeline_busy (memory_limiter), malformed, too_large, too_many_items, unattributed, invalid_sandbox, log_full.", "reqps",
		q(rate("otelcol_receiver_lambda_telemetry_requests_refused", "instance, reason"), "{{reason}} {{instance}}"))
	b.timeSeries(8, "Telemetry API events/s by outcome", "What became of each event: accepted, malformed, out_of_range, unknown or duplicate.", "cps",
		q(rate("otelcol_receiver_lambda_telemetry_events", "instance, outcome"), "{{outcome}} {{instance}}"))
	b.timeSeries(8, "Telemetry dropped before the gateway/s", "Events the extensions' forwarders reported dropping (gateway unreachable, buffer full), and records Lambda reported dropping in the sandbox (platform.logsDropped).", "cps",
		q(rate("otelcol_receiver_lambda_telemetry_forwarder_dropped_events", "instance"), "dropped by extensions {{instance}}"),
		q(rate("otelcol_receiver_lambda_telemetry_lambda_dropped_records", "instance"), "dropped by Lambda {{instance}}"))

	b.row("Correlation")
	b.timeSeries(12, "Spans joined and released unpaired/s", "lambda_correlation joins each invocation span with the function's own span; a span whose partner did not come within the window is released unpaired, its invocation without event source.", "cps",
		q(rate("otelcol_processor_lambda_correlation_paired", "instance"), "paired {{instance}}"),
		q(rate("otelcol_processor_lambda_correlation_released_unpaired", "instance, role"), "unpaired {{role}} {{instance}}"))
	b.timeSeries(12, "Spans held for correlation", "Spans waiting for their partner (bounded by max_pending).", "short",
		q(gauge("otelcol_processor_lambda_correlation_pending", "instance"), "{{instance}}"))

	b.row("Exporting")
	b.timeSeries(8, "Items sent/s by exporter", "Metric points remote-written to Prometheus, and spans and log records to their exporters.", "cps",
		q(rate("otelcol_exporter_sent_metric_points", "instance, exporter"), "{{exporter}} points {{instance}}"),
		q(rate("otelcol_exporter_sent_spans", "instance, exporter"), "{{exporter}} spans {{instance}}"),
		q(rate("otelcol_exporter_sent_log_records", "instance, exporter"), "{{exporter}} log records {{instance}}"))
	b.timeSeries(8, "Export requests/s by outcome", "Every request to a backend, retries included, as export_watch sees it: success or a failure. otelcol_exporter_send_failed_* appear only after a first failure; these are always there.", "reqps",
		q(rate("otelcol_extension_export_watch_requests", "instance, endpoint, outcome"), "{{outcome}} {{endpoint}} {{instance}}"))
	b.timeSeries(8, "Backend failing for", "How long each backend has been failing without a success (export_watch); 0 when healthy.", "s",
		q(gauge("otelcol_extension_export_watch_failing_duration", "instance, endpoint"), "{{endpoint}} {{instance}}"))
	b.timeSeries(12, "Exporter queue and requests in flight", "Items in an exporter's sending queue (exporters that have one, such as the traces overlay's otlp_grpc/traces; the remote write has none by design), and requests in flight.", "short",
		q(gauge("otelcol_exporter_queue_size", "instance, exporter"), "queued {{exporter}} {{instance}}"),
		q(gauge("otelcol_exporter_in_flight_requests", "instance, exporter"), "in flight {{exporter}} {{instance}}"))
	b.timeSeries(12, "Remote-write batches/s", "Write requests the Prometheus remote-write exporter sent.", "reqps",
		q(rate("otelcol_exporter_prometheusremotewrite_sent_batches", "instance"), "{{instance}}"))

	b.row("Process")
	b.timeSeries(12, "Memory", "Resident set size, and the Go heap in use.", "bytes",
		q(gauge("otelcol_process_memory_rss", "instance"), "RSS {{instance}}"),
		q(gauge("otelcol_process_runtime_heap_alloc_bytes", "instance"), "heap {{instance}}"))
	b.timeSeries(12, "CPU", "CPU seconds per second (1 = one core busy).", "short",
		q(rate("otelcol_process_cpu_seconds", "instance"), "{{instance}}"))
	return b.DashboardBuilder
}
