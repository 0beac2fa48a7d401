// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate mdatagen metadata.yaml

// Package lambdametricsconnector derives RED, cold start, memory and cost metrics from the
// invocation and report spans of the lambda_telemetry receiver.
//
// It is wired into the distribution's pipelines already but derives no metrics yet; until it
// does, the default configuration also routes traces to the spanmetrics connector.
package lambdametricsconnector // import "github.com/otelcol-lambda/otelcol-lambda/connector/lambdametricsconnector"
