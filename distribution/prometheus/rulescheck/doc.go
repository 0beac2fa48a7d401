// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package rulescheck holds, as tests, the conventions of the Prometheus rules in
// distribution/prometheus/rules that promtool does not check: every alert can be routed
// and acted on (severity page or ticket, summary, description, a runbook_url whose anchor
// exists in docs/runbooks.md), recording rules are named level:metric:operations, and no
// aggregation keeps the gateway replica's instance label. It reads every rules file there,
// the generated ones included.
package rulescheck // import "github.com/otelcol-lambda/otelcol-lambda/distribution/prometheus/rulescheck"
