// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate mdatagen metadata.yaml

// Package exportwatchextension makes exporter failures loud and the shutdown bounded. It is
// an HTTP and gRPC client middleware: an exporter that names it in `middlewares` sends
// every request (each retry too) through it.
//
// It logs the first failed request to an endpoint at warn with the reason, then at most one
// summary line per log_interval, and the recovery at info; its metrics say whether an
// endpoint is failing now and for how long. When the Collector starts shutting down it
// gives the exporters drain_timeout to flush their queues; past it, requests in flight are
// canceled and new ones fail at once without touching the network, so that the process
// exits in bounded time with a backend that is down or never answers, and what could not
// be written is logged and counted.
package exportwatchextension // import "github.com/otelcol-lambda/otelcol-lambda/extension/exportwatchextension"
