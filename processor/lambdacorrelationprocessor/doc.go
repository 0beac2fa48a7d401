// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate mdatagen metadata.yaml

// Package lambdacorrelationprocessor joins the invocation spans that the lambda_telemetry
// receiver derives from Lambda's platform events with the functions' own spans, and names
// each invocation's event source (SQS, SNS, API Gateway, Kafka, ...).
//
// Until the correlation lands it passes spans on unchanged, so that pipelines can already be
// written with it in place.
package lambdacorrelationprocessor // import "github.com/otelcol-lambda/otelcol-lambda/processor/lambdacorrelationprocessor"
