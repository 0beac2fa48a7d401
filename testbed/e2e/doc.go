// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package e2e holds the end-to-end tests: the distribution binary built by ocb, started by
// distribution/run.sh exactly as `make run` starts it, with a real Prometheus behind remote
// write. They need the `e2e` build tag and run from `make e2e` (part of `make test`).
package e2e // import "github.com/otelcol-lambda/otelcol-lambda/testbed/e2e"
