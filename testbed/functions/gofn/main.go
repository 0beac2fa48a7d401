// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Command gofn is the testbed's Go Lambda function, built and instrumented as a user's
// function would be: github.com/aws/aws-lambda-go's runtime client, otellambda for the
// invocation span, instrumentation/go/lambdaevents for the event source, and the OTel SDK
// exporting OTLP/HTTP to the extension on localhost:4318 (OTEL_EXPORTER_OTLP_ENDPOINT
// overrides it), flushed at the end of every invocation.
//
// What an invocation does is steered by its event, so that a scenario can ask for
// failures: {"fail": "message"} returns an error, {"sleepMs": n} works for n ms, and any
// other event (SQS, API Gateway, ...) succeeds.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"go.opentelemetry.io/contrib/instrumentation/github.com/aws/aws-lambda-go/otellambda"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/otelcol-lambda/otelcol-lambda/instrumentation/go/lambdaevents"
)

type steering struct {
	Fail    string `json:"fail"`
	SleepMs int    `json:"sleepMs"`
}

func handle(_ context.Context, event json.RawMessage) (map[string]any, error) {
	var s steering
	_ = json.Unmarshal(event, &s) // most events are not steering ones
	if s.SleepMs > 0 {
		time.Sleep(time.Duration(s.SleepMs) * time.Millisecond)
	}
	if s.Fail != "" {
		return nil, errors.New(s.Fail)
	}
	return map[string]any{"ok": true}, nil
}

func main() {
	ctx := context.Background()
	exporter, err := otlptracehttp.New(ctx)
	if err != nil {
		log.Fatalf("gofn: OTLP exporter: %v", err)
	}
	name := os.Getenv("AWS_LAMBDA_FUNCTION_NAME")
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exporter),
		sdktrace.WithResource(resource.NewSchemaless(
			attribute.String("service.name", name),
			attribute.String("faas.name", name),
			attribute.String("faas.version", os.Getenv("AWS_LAMBDA_FUNCTION_VERSION")),
			attribute.String("cloud.provider", "aws"),
			attribute.String("cloud.region", os.Getenv("AWS_REGION")),
		)),
	)
	h := lambdaevents.WrapHandler(lambda.NewHandler(handle))
	lambda.StartHandler(otellambda.WrapHandler(h,
		otellambda.WithTracerProvider(tp),
		otellambda.WithFlusher(tp),
		otellambda.WithEventToCarrier(lambdaevents.EventToCarrier)))
}
