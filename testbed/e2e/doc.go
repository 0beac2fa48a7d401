// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package e2e holds the end-to-end tests: the distribution binary built by ocb, started by
// distribution/run.sh exactly as `make run` starts it (with its Prometheus and Alertmanager,
// and Jaeger too, as `make run JAEGER=1` does), or on its own beside a Prometheus, with a
// real Prometheus behind remote write.
// Every process is started and stopped by testbed/harness, as for the scenarios and the
// benchmarks; this package holds only what the tests send and check. They need the `e2e`
// build tag and run from `make e2e` (part of `make test`).
package e2e // import "github.com/otelcol-lambda/otelcol-lambda/testbed/e2e"
