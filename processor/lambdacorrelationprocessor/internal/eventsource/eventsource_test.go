// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package eventsource

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

func TestNormalizeSystem(t *testing.T) {
	for in, want := range map[string]string{
		"AmazonSQS": "aws_sqs", "aws.sqs": "aws_sqs", "aws:sqs": "aws_sqs", "aws_sqs": "aws_sqs",
		"AmazonSNS": "aws.sns", "aws_sns": "aws.sns", "aws.sns": "aws.sns",
		"aws:kafka": "kafka", "SelfManagedKafka": "kafka", "kafka": "kafka",
		"aws:kinesis": "aws_kinesis", "aws.events": "aws_eventbridge", "rabbitmq": "rabbitmq",
	} {
		assert.Equal(t, want, NormalizeSystem(in), in)
	}
}

func read(t *testing.T, raw map[string]any) (Source, error) {
	t.Helper()
	m := pcommon.NewMap()
	require.NoError(t, m.FromRaw(raw))
	return Read(m)
}

func TestRead(t *testing.T) {
	s, err := read(t, map[string]any{"messaging.system": "AmazonSQS", "messaging.url": "https://sqs.eu-west-1.amazonaws.com/1/q/"})
	require.NoError(t, err)
	assert.Equal(t, Source{Trigger: "pubsub", System: "aws_sqs", Destination: "q"}, s)

	// The queue URL gives way to an explicit name.
	s, err = read(t, map[string]any{"messaging.destination.name": "a", "aws.sqs.queue.url": "https://x/1/b"})
	require.NoError(t, err)
	assert.Equal(t, "a", s.Destination)

	// The ARN must agree with the system named.
	_, err = read(t, map[string]any{"messaging.system": "aws_sqs", "aws.lambda.event_source.arn": "arn:aws:sns:eu-west-1:1:topic"})
	assert.ErrorIs(t, err, ErrConflict)

	_, err = read(t, map[string]any{"faas.trigger": "http", "faas.trigger_old": "x", "http.route": "/a", "messaging.destination.name": "q", "messaging.destination": "r"})
	assert.ErrorIs(t, err, ErrConflict)

	// A namespace-typed messaging.destination (newer conventions) is not a name.
	m := pcommon.NewMap()
	m.PutEmptyMap("messaging.destination").PutStr("x", "y")
	s, err = Read(m)
	require.NoError(t, err)
	assert.True(t, s.IsZero())

	s, err = read(t, map[string]any{"http.request.method": "GET", "aws.lambda.event_source.time_unix_ms": 12.0})
	require.NoError(t, err)
	assert.Equal(t, Source{Trigger: "http", TimeUnixMs: 12}, s)
}

func TestOverlayAndWrite(t *testing.T) {
	a := Source{Trigger: "pubsub", System: "aws_sqs", Destination: "q", ARN: "arn:aws:sqs:us-east-1:123456789012:q", TimeUnixMs: 5}
	a.Overlay(Source{})
	assert.Equal(t, Source{Trigger: "pubsub", System: "aws_sqs", Destination: "q", ARN: "arn:aws:sqs:us-east-1:123456789012:q", TimeUnixMs: 5}, a,
		"nothing known over it: unchanged")
	a.Overlay(Source{Destination: "other", Route: "/r", TimeUnixMs: 7})
	assert.Equal(t, Source{Trigger: "pubsub", System: "aws_sqs", Destination: "other", Route: "/r",
		ARN: "arn:aws:sqs:us-east-1:123456789012:q", TimeUnixMs: 7}, a, "each field known over it wins, the others stay")
	a.Overlay(Source{Trigger: "http", Collection: "c", ARN: "arn:x"})
	assert.Equal(t, Source{Trigger: "http", System: "aws_sqs", Destination: "other", Collection: "c", Route: "/r", ARN: "arn:x", TimeUnixMs: 7}, a)

	b := Source{Trigger: "pubsub", System: "aws_sqs", Destination: "q", TimeUnixMs: 5}
	m := pcommon.NewMap()
	m.PutStr("messaging.destination.name", "was-here")
	m.PutDouble("aws.lambda.event_source.time_unix_ms", 5)
	b.Write(m)
	assert.Equal(t, map[string]any{"faas.trigger": "pubsub", "messaging.system": "aws_sqs", "messaging.destination.name": "q",
		"aws.lambda.event_source.time_unix_ms": int64(5)}, m.AsRaw(), "written over what the span had")
}

func TestRequestID(t *testing.T) {
	m := pcommon.NewMap()
	assert.Empty(t, RequestID(m))
	m.PutStr("faas.execution", "old")
	assert.Equal(t, "old", RequestID(m))
	m.PutStr("faas.invocation_id", "new")
	assert.Equal(t, "new", RequestID(m))
}
