// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/lambdaemu"
)

// sqsEvent is an SQS batch of one message from the queue, as Lambda delivers it.
func sqsEvent(queue string, sent time.Time, i int) []byte {
	return fmt.Appendf(nil, `{"Records":[{"messageId":"m-%d","receiptHandle":"rh","body":"order %d",`+
		`"attributes":{"ApproximateReceiveCount":"1","SentTimestamp":"%d","SenderId":"AIDA","ApproximateFirstReceiveTimestamp":"%d"},`+
		`"messageAttributes":{},"md5OfBody":"x","eventSource":"aws:sqs",`+
		`"eventSourceARN":"arn:aws:sqs:eu-west-1:123456789012:%s","awsRegion":"eu-west-1"}]}`,
		i, i, sent.UnixMilli(), sent.UnixMilli(), queue)
}

// TestScenarioRealFunctions is the short scenario of the testbed: real function processes
// (a Go function on aws-lambda-go with otellambda, a Node.js function with
// @opentelemetry/instrumentation-aws-lambda), each in an emulated sandbox with the REAL
// extension binary, feeding the built gateway, with a real Prometheus behind it. The ground
// truth is what the emulator ran; Prometheus must hold exactly that.
func TestScenarioRealFunctions(t *testing.T) {
	nodefn := nodeFunction(t, "@opentelemetry/instrumentation-aws-lambda")
	extension := buildExtension(t)
	goFunction := buildGo(t, "testbed/functions/gofn", "gofn")
	s := startStack(t, "OTELCOL_LAMBDA_CORRELATION_WINDOW=1s")

	functions := []struct {
		name, handler string
		argv          []string
		taskRoot      string
	}{
		{name: "scenario-go", handler: "bootstrap", argv: []string{goFunction}},
		{name: "scenario-node", handler: "handler.handle", argv: []string{"node", filepath.Join(nodefn, "bootstrap.js")}, taskRoot: nodefn},
	}
	const queue = "scenario-orders"
	type truth struct{ invocations, errors, fromQueue int }
	want := map[string]*truth{}

	for _, fn := range functions {
		t.Run(fn.name, func(t *testing.T) {
			addrs := []string{quietAddr(t), quietAddr(t)} // the extension's OTLP and Pushgateway listeners
			log := &harness.LockedBuffer{}
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("%s sandbox output:\n%s", fn.name, log.String())
				}
			})
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			emu, err := functionSandbox{
				lambda:    lambdaemu.Config{FunctionName: fn.name, Handler: fn.handler, Timeout: 10 * time.Second},
				argv:      fn.argv,
				taskRoot:  fn.taskRoot,
				extension: extension,
				gateway:   s.URL,
				otlpAddr:  addrs[0],
				pushAddr:  addrs[1],
				flush:     "end",
				env:       []string{"OTEL_BSP_SCHEDULE_DELAY=100"},
				output:    log,
			}.start(ctx)
			require.NoError(t, err)
			t.Cleanup(func() { _ = emu.Close() })

			tr := &truth{}
			want[fn.name] = tr
			payloads := [][]byte{}
			for i := range 5 {
				payloads = append(payloads, sqsEvent(queue, time.Now().Add(-2*time.Second), i))
			}
			payloads = append(payloads, []byte(`{"fail":"card declined"}`), []byte(`{"fail":"card declined"}`))
			for i, p := range payloads {
				res, err := emu.Invoke(ctx, lambdaemu.InvokeRequest{Payload: p})
				require.NoError(t, err, "invocation %d", i)
				tr.invocations++
				if res.Status != telemetryapi.StatusSuccess {
					tr.errors++
				} else if i < 5 {
					tr.fromQueue++
				}
			}
			_, err = emu.Shutdown(ctx, "spindown")
			require.NoError(t, err)
		})
	}

	for name, tr := range want {
		require.Equal(t, 7, tr.invocations, name)
		s.eventually(t, fmt.Sprintf(`sum(faas_invocations_total{faas_name=%q})`, name), map[string]float64{"": float64(tr.invocations)})
		s.eventually(t, fmt.Sprintf(`sum(faas_errors_total{faas_name=%q})`, name), map[string]float64{"": float64(tr.errors)})
		s.eventually(t, fmt.Sprintf(`sum(faas_coldstarts_total{faas_name=%q})`, name), map[string]float64{"": 1})
		// The function's own span named the queue; the processor put it on the invocation.
		s.eventually(t, fmt.Sprintf(`sum(faas_invocations_total{faas_name=%q,messaging_destination_name=%q})`, name, queue),
			map[string]float64{"": float64(tr.fromQueue)})
	}
}
