// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/lambdaemu"
)

// buildGo builds a main package (dir relative to the repository root, inside its own
// module when it has one) into the test's temporary directory.
func buildGo(t *testing.T, dir, name string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = filepath.Join(repoRoot(t), dir)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	msg, err := cmd.CombinedOutput()
	require.NoError(t, err, "building %s: %s", dir, msg)
	return out
}

func loopbackAddr(t *testing.T) string {
	t.Helper()
	return freeAddrs(t, 1)[0]
}

// processRuntime starts a function program as Lambda starts a runtime; env sets the
// function's environment (lambdaemu.ProcessRuntime adds the Runtime API's address).
func processRuntime(argv []string, env []string, output io.Writer) lambdaemu.RuntimeFunc {
	return lambdaemu.ProcessRuntime(lambdaemu.Config{}, argv, env, output)
}

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
	root := repoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "testbed", "functions", "nodefn", "node_modules")); err != nil {
		t.Fatalf("testbed/functions/nodefn has no node_modules: run 'make e2e', which installs them (npm ci)")
	}
	extension := buildGo(t, "layer/cmd/otelcol-lambda-extension", "otelcol-lambda-extension")
	goFunction := buildGo(t, "testbed/functions/gofn", "gofn")
	s := startStack(t, "OTELCOL_LAMBDA_METRICS_FLUSH_INTERVAL=1s", "OTELCOL_LAMBDA_CORRELATION_WINDOW=1s")

	functions := []struct {
		name, handler string
		argv          []string
		taskRoot      string
	}{
		{name: "scenario-go", handler: "bootstrap", argv: []string{goFunction}},
		{name: "scenario-node", handler: "handler.handle", argv: []string{"node", filepath.Join(root, "testbed", "functions", "nodefn", "bootstrap.js")},
			taskRoot: filepath.Join(root, "testbed", "functions", "nodefn")},
	}
	const queue = "scenario-orders"
	type truth struct{ invocations, errors, fromQueue int }
	want := map[string]*truth{}

	for _, fn := range functions {
		t.Run(fn.name, func(t *testing.T) {
			otlpAddr := loopbackAddr(t)
			log := &harness.LockedBuffer{}
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("%s sandbox output:\n%s", fn.name, log.String())
				}
			})
			emu, err := lambdaemu.New(lambdaemu.Config{
				FunctionName: fn.name,
				Handler:      fn.handler,
				Region:       "eu-west-1",
				MemorySizeMB: 256,
				Timeout:      10 * time.Second,
				Extensions: []lambdaemu.ExtensionSpec{{Path: extension, Env: []string{
					"OTELCOL_LAMBDA_ENDPOINT=http://" + s.httpAddr,
					"OTELCOL_LAMBDA_OTLP_HTTP_ENDPOINT=" + otlpAddr,
					"OTELCOL_LAMBDA_PUSHGATEWAY_ENDPOINT=" + loopbackAddr(t),
					"OTELCOL_LAMBDA_LISTENER_HOST=127.0.0.1",
					"OTELCOL_LAMBDA_FLUSH=end",
				}}},
				Runtime: processRuntime(fn.argv, []string{
					"AWS_LAMBDA_FUNCTION_NAME=" + fn.name,
					"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
					"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
					"AWS_REGION=eu-west-1",
					"_HANDLER=" + fn.handler,
					"LAMBDA_TASK_ROOT=" + fn.taskRoot,
					"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + otlpAddr,
					"OTEL_BSP_SCHEDULE_DELAY=100",
				}, log),
				ExtensionOutput: log,
			})
			require.NoError(t, err)
			t.Cleanup(func() { _ = emu.Close() })

			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			_, err = emu.Start(ctx)
			require.NoError(t, err)

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
