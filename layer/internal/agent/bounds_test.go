// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/instrumentation/go/lambdatrigger"
	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/layer/internal/queue"
	"github.com/otelcol-lambda/otelcol-lambda/layer/internal/runtimeproxy"
	"github.com/otelcol-lambda/otelcol-lambda/layer/internal/telemetry"
)

const boundsRequestID = "8476a536-e9f4-11e8-9739-2dfe598c3fcd"

// hostileEvents are events whose values, chosen by whoever invokes the function, the
// classifier passes on out of the bounds the gateway checks (issue #19's attack).
func hostileEvents(t *testing.T) map[string][]byte {
	t.Helper()
	name := func(n int) string { return strings.Repeat("n", n) }
	sqs := func(arn, sent string) []byte {
		return []byte(`{"Records":[{"messageId":"m","eventSource":"aws:sqs","eventSourceARN":"` + arn +
			`","attributes":{"SentTimestamp":"` + sent + `"}}]}`)
	}
	eventBridge := func(source, tm string) []byte {
		return []byte(`{"version":"0","id":"x","detail-type":"T","source":"` + source + `","time":"` + tm + `","detail":{}}`)
	}
	var logs bytes.Buffer
	zw := gzip.NewWriter(&logs)
	_, _ = zw.Write([]byte(`{"logGroup":"g","logEvents":[{"timestamp":1583348638390}` + strings.Repeat(`,{}`, 340_000) + `]}`))
	require.NoError(t, zw.Close())
	const queueARN = "arn:aws:sqs:us-east-1:123456789012:"
	return map[string][]byte{
		"SQS queue of 600 bytes":  sqs(queueARN+name(600), "1520621625029"),
		"SQS queue of 3000 bytes": sqs(queueARN+name(3000), "1520621625029"),
		`SQS queue with \u0001`:   sqs(queueARN+`q\u0001x`, "1520621625029"),
		`SQS queue with \n`:       sqs(queueARN+`q\nx`, "1520621625029"),
		`SQS queue with \u0085`:   sqs(queueARN+`q\u0085x`, "1520621625029"),
		// 200 bytes in the event, 600 classified: each bad byte becomes a U+FFFD.
		"SQS queue of 200 bytes not UTF-8": sqs(queueARN+strings.Repeat("\xff", 200), "1520621625029"),
		"SQS sent at 1 ms":                 sqs(queueARN+"q", "1"),
		"REST resource of 2001 bytes":      []byte(`{"resource":"/` + name(2000) + `","httpMethod":"GET","requestContext":{"requestTimeEpoch":1583348638390}}`),
		`REST resource with \t`:            []byte(`{"resource":"/a\tb","httpMethod":"GET","requestContext":{"requestTimeEpoch":1583348638390}}`),
		"HTTP API route key of 2005 bytes": []byte(`{"version":"2.0","routeKey":"GET /` + name(2000) + `","requestContext":{"timeEpoch":1583348638390}}`),
		"EventBridge source of 600 bytes":  eventBridge(name(600), "2020-01-01T00:00:00Z"),
		"EventBridge time 9999":            eventBridge("s", "9999-12-31T23:59:59Z"),
		"EventBridge time 1969":            eventBridge("s", "1969-12-31T23:59:59Z"),
		"EventBridge time 0001":            eventBridge("s", "0001-01-01T00:00:01Z"),
		"Kafka topic of 600 bytes": []byte(`{"eventSource":"aws:kafka","eventSourceArn":"arn:aws:kafka:x","records":{"t-0":[{"topic":"` +
			name(600) + `","timestamp":1545084650987}]}}`),
		"Cognito pool of 600 bytes":           []byte(`{"triggerSource":"PreSignUp_SignUp","userPoolId":"` + name(600) + `","callerContext":{}}`),
		"ALB target group ARN of 3000 bytes":  []byte(`{"requestContext":{"elb":{"targetGroupArn":"` + name(3000) + `"}},"httpMethod":"GET","path":"/"}`),
		`schedule rule with \u0007`:           []byte(`{"version":"0","id":"x","detail-type":"Scheduled Event","source":"aws.events","time":"2020-01-01T00:00:00Z","resources":["arn:aws:events:us-east-1:1:rule/a\u0007b"],"detail":{}}`),
		"awslogs batch of 340,001 log events": []byte(`{"awslogs":{"data":"` + base64.StdEncoding.EncodeToString(logs.Bytes()) + `"}}`),
	}
}

// gatewayCheck encodes rec as the extension queues it and checks it as the gateway does.
func gatewayCheck(t *testing.T, rec telemetryapi.Invocation) (*telemetryapi.Invocation, error) {
	t.Helper()
	ev, err := telemetryapi.NewEvent(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), telemetryapi.TypeInvocation, rec)
	require.NoError(t, err)
	body, err := telemetryapi.AppendEvents(nil, []telemetryapi.Event{ev})
	require.NoError(t, err)
	var read *telemetryapi.Invocation
	var limitErr error
	require.NoError(t, telemetryapi.ScanDecoded(body, func(_ int, d telemetryapi.DecodedEvent, err error) bool {
		require.NoError(t, err)
		require.NoError(t, d.DecodeErr)
		read = d.Decoded.(*telemetryapi.Invocation)
		limitErr = telemetryapi.CheckLimits(d.Type, d.Decoded)
		return true
	}))
	return read, limitErr
}

// TestHostileEventsKeepTheFinding: each hostile event, classified, makes a record the
// gateway refuses whole; with its out-of-bounds fields dropped, the gateway accepts it,
// with the function's errorType and the event source's kind.
func TestHostileEventsKeepTheFinding(t *testing.T) {
	for name, event := range hostileEvents(t) {
		t.Run(name, func(t *testing.T) {
			src := lambdatrigger.Classify(event, true)
			rec := telemetryapi.Invocation{RequestID: boundsRequestID, Source: eventSource(src), ErrorType: "Handler.Failed"}
			_, err := gatewayCheck(t, rec)
			require.ErrorIs(t, err, telemetryapi.ErrOutOfRange, "the attack: refused whole as classified")

			assert.Positive(t, rec.DropOutOfBounds())
			read, err := gatewayCheck(t, rec)
			require.NoError(t, err)
			assert.Equal(t, "Handler.Failed", read.ErrorType)
			require.NotNil(t, read.Source)
			assert.Equal(t, string(src.Kind), read.Source.Kind)
		})
	}
}

// TestProxyFindingsWithinBounds: the agent drops what the gateway would refuse, the
// errorType too, before it notes a finding, counts what it dropped, and keeps the rest.
func TestProxyFindingsWithinBounds(t *testing.T) {
	hostile := hostileEvents(t)
	tests := []struct {
		name, errorType string
		event           []byte
		wantErrorType   string
		wantDropped     int
	}{
		{"a valid finding", "Handler.Failed", sqsEvent(t), "Handler.Failed", 0},
		{"a hostile queue name, the errorType kept", "Handler.Failed", hostile["SQS queue of 600 bytes"], "Handler.Failed", 1},
		{"an errorType of 5,000 bytes", strings.Repeat("E", 5000), sqsEvent(t), "", 1},
		{"an errorType with control characters", "a\nb\x00", sqsEvent(t), "", 1},
		{"a hostile event time and errorType", "a\nb\x00", hostile["EventBridge time 9999"], "", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := queue.New(1<<20, telemetry.Item.Size)
			a := &Agent{listener: telemetry.New(q)}
			a.onProxyInvocation(runtimeproxy.Invocation{RequestID: boundsRequestID, Received: time.Now(), Prefix: tc.event})
			a.onProxyOutcome(runtimeproxy.Outcome{Kind: runtimeproxy.OutcomeError, RequestID: boundsRequestID, ErrorType: tc.errorType, Status: 202})
			done, err := telemetryapi.NewEvent(time.Now(), telemetryapi.TypePlatformRuntimeDone,
				telemetryapi.PlatformRuntimeDone{RequestID: boundsRequestID, Status: telemetryapi.StatusError, ErrorType: "Handler.Failed"})
			require.NoError(t, err)
			a.listener.Add([]telemetryapi.Event{done})

			items := q.Take(1<<20, 10)
			require.Len(t, items, 2, "the finding, then the runtimeDone")
			require.Equal(t, telemetryapi.TypeInvocation, items[0].Event.Type)
			var rec telemetryapi.Invocation
			require.NoError(t, json.Unmarshal(items[0].Event.Record, &rec))
			read, err := gatewayCheck(t, rec)
			require.NoError(t, err, "the gateway accepts it")
			assert.Equal(t, tc.wantErrorType, read.ErrorType)
			require.NotNil(t, read.Source, "the event source is kept")
			st := a.listener.Stats()
			assert.Equal(t, tc.wantDropped, st.DroppedFields)
			assert.Zero(t, st.LostErrorTypes, "a dropped errorType is not counted as late")
		})
	}
}
