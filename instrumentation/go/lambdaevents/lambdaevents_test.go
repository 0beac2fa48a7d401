// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdaevents

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"go.opentelemetry.io/contrib/instrumentation/github.com/aws/aws-lambda-go/otellambda"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type link struct{ trace, span, messageID string }

// TestTriggers runs each trigger's event through the real otellambda instrumentation with
// WrapHandler inside, and checks the attributes and links of the span it records.
func TestTriggers(t *testing.T) {
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "checkout")
	tests := []struct {
		fixture string
		kind    Kind
		attrs   map[string]any
		links   []link
	}{
		{
			fixture: "sqs.json", kind: KindSQS,
			attrs: map[string]any{
				"faas.trigger": "pubsub", "messaging.system": "aws_sqs", "messaging.destination.name": "orders-queue",
				"aws.lambda.event_source.arn":          "arn:aws:sqs:eu-west-1:123456789012:orders-queue",
				"aws.lambda.event_source.time_unix_ms": int64(1717243198500), // the older of the two SentTimestamps
				"messaging.batch.message_count":        int64(2),
			},
			links: []link{
				{"665b0e3fbd862e3fe1be46a994272793", "53995c3f42cd8ad8", "059f36b4-87a3-44ab-83d2-661975830a7d"}, // AWSTraceHeader
				{"4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "2e1424d4-f796-459a-8184-9c92662be6da"}, // traceparent attribute
			},
		},
		{
			fixture: "sns.json", kind: KindSNS,
			attrs: map[string]any{
				"faas.trigger": "pubsub", "messaging.system": "aws.sns", "messaging.destination.name": "price-changes",
				"aws.lambda.event_source.arn":          "arn:aws:sns:eu-west-1:123456789012:price-changes",
				"aws.lambda.event_source.time_unix_ms": int64(1717243198250),
			},
			links: []link{{"0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", "95df01b4-ee98-5cb9-9903-4c221d41eb5e"}},
		},
		{
			fixture: "apigw-rest.json", kind: KindAPIGateway,
			attrs: map[string]any{
				"faas.trigger": "http", "http.route": "/orders/{id}",
				"aws.lambda.event_source.arn":          "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/orders/{id}",
				"aws.lambda.event_source.time_unix_ms": int64(1717243199500),
			},
		},
		{
			fixture: "apigw-http.json", kind: KindHTTPAPI,
			attrs: map[string]any{
				"faas.trigger": "http", "http.route": "/carts/{cartId}/items",
				"aws.lambda.event_source.arn":          "arn:aws:execute-api:eu-west-1:123456789012:def456/$default/POST/carts/{cartId}/items",
				"aws.lambda.event_source.time_unix_ms": int64(1717243199750),
			},
		},
		{
			fixture: "function-url.json", kind: KindFunctionURL,
			attrs: map[string]any{"faas.trigger": "http", "aws.lambda.event_source.time_unix_ms": int64(1717243199900)},
		},
		{
			fixture: "kafka-msk.json", kind: KindKafka,
			attrs: map[string]any{
				"faas.trigger": "pubsub", "messaging.system": "kafka", "messaging.destination.name": "payments",
				"aws.lambda.event_source.arn":          "arn:aws:kafka:eu-west-1:123456789012:cluster/payments/a1b2c3d4-5678-90ab-cdef-11111EXAMPLE-1",
				"aws.lambda.event_source.time_unix_ms": int64(1717243197000),
				"messaging.batch.message_count":        int64(2),
			},
			links: []link{{"4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "payments-0-15"}},
		},
		{
			fixture: "kinesis.json", kind: KindKinesis,
			attrs: map[string]any{
				"faas.trigger": "pubsub", "messaging.system": "aws_kinesis", "messaging.destination.name": "clicks",
				"aws.lambda.event_source.arn":          "arn:aws:kinesis:eu-west-1:123456789012:stream/clicks",
				"aws.lambda.event_source.time_unix_ms": int64(1717243196500),
			},
		},
		{
			fixture: "eventbridge.json", kind: KindEventBridge,
			attrs: map[string]any{
				"faas.trigger": "pubsub", "messaging.system": "aws_eventbridge", "messaging.destination.name": "com.example.orders",
				"aws.lambda.event_source.time_unix_ms": int64(1717243195000),
			},
		},
		{
			fixture: "schedule.json", kind: KindSchedule,
			attrs: map[string]any{
				"faas.trigger": "timer", "messaging.destination.name": "nightly-report",
				"aws.lambda.event_source.arn":          "arn:aws:events:eu-west-1:123456789012:rule/nightly-report",
				"aws.lambda.event_source.time_unix_ms": int64(1717243200000),
			},
		},
		{
			fixture: "s3.json", kind: KindS3,
			attrs: map[string]any{
				"faas.trigger": "datasource", "faas.document.collection": "invoices-eu",
				"aws.lambda.event_source.arn":          "arn:aws:s3:::invoices-eu",
				"aws.lambda.event_source.time_unix_ms": int64(1717243197123),
			},
		},
		{
			fixture: "dynamodb.json", kind: KindDynamoDB,
			attrs: map[string]any{
				"faas.trigger": "datasource", "faas.document.collection": "orders",
				"aws.lambda.event_source.arn":          "arn:aws:dynamodb:eu-west-1:123456789012:table/orders/stream/2024-06-01T00:00:00.000",
				"aws.lambda.event_source.time_unix_ms": int64(1717243194000),
			},
		},
		{fixture: "custom.json", kind: KindUnknown, attrs: map[string]any{}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			payload := fixture(t, tt.fixture)
			src, _ := Parse(payload)
			if src.Kind != tt.kind {
				t.Fatalf("kind %q, want %q", src.Kind, tt.kind)
			}

			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			inner := lambda.NewHandler(func(ctx context.Context, _ map[string]any) (string, error) { return "ok", nil })
			h := otellambda.WrapHandler(WrapHandler(inner), otellambda.WithTracerProvider(tp),
				otellambda.WithEventToCarrier(EventToCarrier), otellambda.WithPropagator(propagation.TraceContext{}))
			ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{
				AwsRequestID:       "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
				InvokedFunctionArn: "arn:aws:lambda:eu-west-1:123456789012:function:checkout",
			})
			if _, err := h.Invoke(ctx, payload); err != nil {
				t.Fatal(err)
			}
			spans := rec.Ended()
			if len(spans) != 1 {
				t.Fatalf("%d spans", len(spans))
			}
			s := spans[0]
			if s.SpanKind() != trace.SpanKindServer || s.Name() != "checkout" {
				t.Errorf("otellambda's span: %v %q", s.SpanKind(), s.Name())
			}
			got := map[string]any{}
			own := map[attribute.Key]bool{}
			for _, kv := range (&Source{}).allKeys() {
				own[kv] = true
			}
			for _, kv := range s.Attributes() {
				if own[kv.Key] {
					got[string(kv.Key)] = kv.Value.AsInterface()
				}
				if kv.Key == "faas.invocation_id" && kv.Value.AsString() != "8476a536-e9f4-11e8-9739-2dfe598c3fcd" {
					t.Errorf("faas.invocation_id = %v", kv.Value)
				}
			}
			if !reflect.DeepEqual(got, tt.attrs) {
				t.Errorf("attributes\n got %v\nwant %v", got, tt.attrs)
			}
			var links []link
			for _, l := range s.Links() {
				var id string
				for _, kv := range l.Attributes {
					if kv.Key == AttrMessageID {
						id = kv.Value.AsString()
					}
				}
				links = append(links, link{l.SpanContext.TraceID().String(), l.SpanContext.SpanID().String(), id})
			}
			if !reflect.DeepEqual(links, tt.links) {
				t.Errorf("links\n got %v\nwant %v", links, tt.links)
			}
			if tt.fixture == "apigw-rest.json" {
				// The caller's traceparent header is the span's parent.
				if s.Parent().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || s.Parent().SpanID().String() != "00f067aa0ba902b7" {
					t.Errorf("parent %v", s.Parent())
				}
			}
		})
	}
}

func (*Source) allKeys() []attribute.Key {
	return []attribute.Key{AttrFaaSTrigger, AttrMessagingSystem, AttrMessagingDestinationName, AttrFaaSDocumentCollection,
		AttrHTTPRoute, AttrEventSourceARN, AttrEventTimeUnixMs, AttrBatchMessageCount}
}

func TestParseRejects(t *testing.T) {
	for _, in := range []string{``, `[]`, `"text"`, `{`, `{"Records": []}`, `{"Records": [{"eventSource": "aws:unknown"}]}`,
		`{"records": {"t-0": []}, "eventSource": "something"}`, `{"version": "2.0"}`} {
		if src, ok := Parse([]byte(in)); ok {
			t.Errorf("Parse(%q) = %+v, want not ok", in, src)
		}
	}
}

func TestTraceHeaders(t *testing.T) {
	sc := parseXRay("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
	if !sc.IsValid() || sc.TraceID().String() != "5759e988bd862e3fe1be46a994272793" || sc.SpanID().String() != "53995c3f42cd8ad8" || !sc.IsSampled() {
		t.Errorf("x-ray: %v", sc)
	}
	for _, bad := range []string{"Root=1-5759e988-bd862e3fe1be46a994272793", "Root=2-5759e988-bd86;Parent=53995c3f42cd8ad8", "Parent=53995c3f42cd8ad8"} {
		if parseXRay(bad).IsValid() {
			t.Errorf("x-ray %q accepted", bad)
		}
	}
	for _, bad := range []string{"", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01"} {
		if parseTraceparent(bad).IsValid() {
			t.Errorf("traceparent %q accepted", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"sqs.json", "sns.json", "apigw-rest.json", "apigw-http.json", "kafka-msk.json", "kinesis.json", "eventbridge.json", "s3.json", "dynamodb.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		src, ok := Parse(b)
		if !ok && src.Kind != KindUnknown {
			t.Fatalf("not ok but kind %q", src.Kind)
		}
		_ = src.Attributes()
	})
}

func BenchmarkAnnotateSQS(b *testing.B) {
	payload, err := os.ReadFile(filepath.Join("testdata", "sqs.json"))
	if err != nil {
		b.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider()
	tr := tp.Tracer("bench")
	b.ReportAllocs()
	for b.Loop() {
		_, span := tr.Start(context.Background(), "checkout")
		Annotate(span, payload)
		span.End()
	}
}
