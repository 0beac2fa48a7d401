// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/instrumentation/go/lambdatrigger"
	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/gatewaytest"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/lambdaemu"
)

// recordingGateway is the fake gateway of the extension's tests, which keeps every batch
// the extension sends; its view of one invocation reads them in the order each extension
// sent them.
type recordingGateway struct{ *gatewaytest.Gateway }

func startRecordingGateway(t *testing.T) recordingGateway {
	t.Helper()
	g := gatewaytest.New()
	t.Cleanup(g.Close)
	return recordingGateway{g}
}

// invocationView is what the gateway got about one request id.
type invocationView struct {
	// finding is the otelcol.invocation record (nil: none came), at position findingAt in
	// its extension's stream; runtimeDone and report likewise (-1: none came).
	finding       *telemetryapi.Invocation
	findingAt     int
	runtimeDone   *telemetryapi.PlatformRuntimeDone
	runtimeDoneAt int
	report        *telemetryapi.PlatformReport
	findings      int // otelcol.invocation events for the request id
}

// view collects what the gateway got about requestID.
func (g recordingGateway) view(t *testing.T, requestID string) invocationView {
	t.Helper()
	v := invocationView{findingAt: -1, runtimeDoneAt: -1}
	position := map[string]int{} // each extension's own stream
	for _, b := range g.Batches() {
		if b.Status != http.StatusOK || b.Replay {
			continue // a retry is not recorded twice
		}
		instance := b.Batch.Sandbox.ExtensionInstanceID
		for _, ev := range b.Events {
			at := position[instance]
			position[instance]++
			v.add(t, requestID, ev, at)
		}
	}
	return v
}

// add takes one event of an extension's stream, at position at, into v when it is about
// requestID.
func (v *invocationView) add(t *testing.T, requestID string, ev telemetryapi.Event, at int) {
	t.Helper()
	switch ev.Type {
	case telemetryapi.TypeInvocation, telemetryapi.TypePlatformRuntimeDone, telemetryapi.TypePlatformReport:
	default:
		return
	}
	rec, err := ev.DecodeRecord()
	require.NoError(t, err, "%s record", ev.Type)
	switch r := rec.(type) {
	case *telemetryapi.Invocation:
		if r.RequestID == requestID {
			v.finding, v.findingAt = r, at
			v.findings++
		}
	case *telemetryapi.PlatformRuntimeDone:
		if r.RequestID == requestID {
			v.runtimeDone, v.runtimeDoneAt = r, at
		}
	case *telemetryapi.PlatformReport:
		if r.RequestID == requestID {
			v.report = r
		}
	}
}

// waitForReports waits until the gateway has the platform.report of every request id.
func (g recordingGateway) waitForReports(t *testing.T, requestIDs ...string) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, id := range requestIDs {
			if g.view(t, id).report == nil {
				return false
			}
		}
		return true
	}, queryDeadline, 50*time.Millisecond, "the gateway never got the reports of %v", requestIDs)
}

// sampleEvent is one of AWS's sample events (aws-lambda-go's events/testdata, copied into
// instrumentation/go/lambdatrigger/testdata), with fields added at its top level (the
// functions' steering: "fail", "sleepMs"); the shape stays AWS's.
func sampleEvent(t *testing.T, name string, add map[string]any) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "instrumentation", "go", "lambdatrigger", "testdata", name))
	require.NoError(t, err)
	if len(add) == 0 {
		return data
	}
	var fields map[string]any
	require.NoError(t, json.Unmarshal(data, &fields))
	for k, v := range add {
		fields[k] = v
	}
	out, err := json.Marshal(fields)
	require.NoError(t, err)
	return out
}

// triggerSample is an AWS sample event and what the proxy must find in it (the values the
// event itself holds; lambdatrigger's README says which field gives which).
type triggerSample struct {
	file                                            string
	kind                                            lambdatrigger.Kind
	trigger, system, destination, collection, route string
}

var triggerSamples = []triggerSample{
	{file: "sqs-event.json", kind: lambdatrigger.KindSQS, trigger: "pubsub", system: "aws_sqs", destination: "SQSQueue"},
	// Its TopicArn is "arn:aws:sns:EXAMPLE", which names no topic.
	{file: "sns-event.json", kind: lambdatrigger.KindSNS, trigger: "pubsub", system: "aws.sns"},
	{file: "apigw-request.json", kind: lambdatrigger.KindAPIGatewayREST, trigger: "http", route: "/{proxy+}"},
	{file: "aws-docs-apigw-v2-event.json", kind: lambdatrigger.KindAPIGatewayHTTP, trigger: "http", route: "/nodejs-apig-function-1G3XMPLZXVXYI"},
	{file: "lambda-urls-request.json", kind: lambdatrigger.KindFunctionURL, trigger: "http"},
	{file: "alb-lambda-target-request-headers-only.json", kind: lambdatrigger.KindALB, trigger: "http"},
	{file: "kinesis-event.json", kind: lambdatrigger.KindKinesis, trigger: "pubsub", system: "aws_kinesis", destination: "simple-stream"},
	{file: "dynamodb-event.json", kind: lambdatrigger.KindDynamoDB, trigger: "datasource", collection: "Example-Table"},
	{file: "s3-event.json", kind: lambdatrigger.KindS3, trigger: "datasource", collection: "sourcebucket"},
	{file: "ecr-image-push-event.json", kind: lambdatrigger.KindEventBridge, trigger: "pubsub", system: "aws_eventbridge", destination: "aws.ecr"},
	{file: "aws-docs-scheduled-event.json", kind: lambdatrigger.KindSchedule, trigger: "timer", destination: "my-schedule"},
	{file: "kafka-event.json", kind: lambdatrigger.KindKafka, trigger: "pubsub", system: "kafka", destination: "AWSKafkaTopic"},
	{file: "aws-docs-self-managed-kafka-event.json", kind: lambdatrigger.KindSelfManagedKafka, trigger: "pubsub", system: "kafka", destination: "mytopic"},
	{file: "cloudwatch-logs-event.json", kind: lambdatrigger.KindCloudWatchLogs, trigger: "datasource", collection: "testLogGroup"},
	{file: "cognito-event-userpools-pretokengen-v2_0.json", kind: lambdatrigger.KindCognito, trigger: "other", collection: "us-east-1_EXAMPLE"},
	// A Firehose transformation is no trigger the classifier knows.
	{file: "kinesis-firehose-event.json", kind: lambdatrigger.KindUnknown},
}

// assertFinding checks the proxy's finding for one event: the labels the sample holds, and
// its ARN, time and batch size as the classifier reads them from the whole event, within
// the bounds of the otelcol.invocation record (telemetryapi's DropOutOfBounds: the S3
// sample's eventTime, in 1970, is out of them and travels as no time).
func assertFinding(t *testing.T, s triggerSample, event []byte, got *telemetryapi.EventSource) {
	t.Helper()
	if !assert.NotNil(t, got, "%s: the finding has no event source", s.file) {
		return
	}
	classified := lambdatrigger.Classify(event, true)
	want := telemetryapi.EventSource{
		Kind: string(s.kind), Trigger: s.trigger, MessagingSystem: s.system, Destination: s.destination,
		Collection: s.collection, Route: s.route, ARN: classified.ARN, BatchSize: classified.BatchSize,
	}
	if !classified.Time.IsZero() {
		want.EventTimeUnixMs = classified.Time.UnixMilli()
	}
	bounded := telemetryapi.Invocation{Source: &want}
	bounded.DropOutOfBounds()
	require.NotNil(t, bounded.Source, s.file)
	assert.Equal(t, *bounded.Source, *got, s.file)
}

// proxyRuntime is a real function runtime, uninstrumented, that starts behind the layer's
// wrapper script.
type proxyRuntime struct {
	name, handler string
	argv          []string
	taskRoot      string
	// osOnly: Lambda ignores AWS_LAMBDA_EXEC_WRAPPER (provided.al2023); the function's own
	// bootstrap starts the wrapper.
	osOnly bool
	// env is the function's environment that turns the proxy on, as layer/README.md says.
	env []string
	// errorType is what the runtime reports for the function's CardDeclinedError.
	errorType string
}

// layerWrapper installs the layer's wrapper script as the layer would, executable, in a
// directory of the test's own (the sandbox's /opt).
func layerWrapper(t *testing.T) string {
	t.Helper()
	script, err := os.ReadFile(filepath.Join(repoRoot(t), "layer", "wrapper", "otelcol-lambda-wrapper"))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "otelcol-lambda-wrapper")
	require.NoError(t, os.WriteFile(path, script, 0o755))
	return path
}

// goPlainRuntime is testbed/functions/goplain (aws-lambda-go, no instrumentation) deployed
// for provided.al2023 as layer/README.md tells users of OS-only runtimes: a bootstrap
// script that execs the layer's wrapper with the function's binary, and
// OTELCOL_LAMBDA_RUNTIME_PROXY=on.
func goPlainRuntime(t *testing.T, wrapper string) proxyRuntime {
	t.Helper()
	bin := buildGo(t, "testbed/functions/goplain", "goplain")
	taskRoot := filepath.Dir(bin)
	bootstrap := filepath.Join(taskRoot, "bootstrap")
	require.NoError(t, os.WriteFile(bootstrap, []byte("#!/bin/sh\nexec "+wrapper+` "$LAMBDA_TASK_ROOT/goplain"`+"\n"), 0o755))
	return proxyRuntime{
		name: "proxy-go", handler: "bootstrap", argv: []string{bootstrap}, taskRoot: taskRoot, osOnly: true,
		env:       []string{"OTELCOL_LAMBDA_RUNTIME_PROXY=on"},
		errorType: "CardDeclinedError", // aws-lambda-go: the error's type name
	}
}

// nodeRICRuntime is testbed/functions/noderic: AWS's Runtime Interface Client from npm
// (aws-lambda-ric, with its native aws-lambda-cpp and curl built by npm ci), as Lambda's
// managed Node.js runtime starts it, through AWS_LAMBDA_EXEC_WRAPPER.
func nodeRICRuntime(t *testing.T, wrapper string) proxyRuntime {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "testbed", "functions", "noderic")
	ric := filepath.Join(dir, "node_modules", "aws-lambda-ric")
	if _, err := os.Stat(filepath.Join(ric, "dist", "rapid-client.node")); err != nil {
		t.Fatalf("testbed/functions/noderic has no built aws-lambda-ric: run 'npm ci' there (make e2e does; it builds aws-lambda-cpp and curl, with cmake, autoconf, automake, libtool, make, g++): %v", err)
	}
	return proxyRuntime{
		name: "proxy-node", handler: "handler.handle",
		argv:      []string{"node", filepath.Join(ric, "bin", "index.mjs"), "handler.handle"},
		taskRoot:  dir,
		env:       []string{"AWS_LAMBDA_EXEC_WRAPPER=" + wrapper},
		errorType: "CardDeclinedError", // the error's name
	}
}

// proxySandbox is one sandbox of a proxyRuntime with the real extension.
type proxySandbox struct {
	*lambdaemu.Emulator
	log *harness.LockedBuffer
}

// startProxySandbox cold-starts a sandbox of rt with the real extension forwarding to
// gateway, both with the function's environment plus OTELCOL_LAMBDA_RUNTIME_API_FILE=apiFile
// (extensions see the function's environment on Lambda). It is closed when the test ends.
func startProxySandbox(t *testing.T, ctx context.Context, rt proxyRuntime, extension, gateway, apiFile string, timeout time.Duration) proxySandbox {
	t.Helper()
	log := &harness.LockedBuffer{}
	env := append([]string{"OTELCOL_LAMBDA_RUNTIME_API_FILE=" + apiFile}, rt.env...)
	cfg := functionSandbox{
		lambda: lambdaemu.Config{
			FunctionName: rt.name, Handler: rt.handler, Timeout: timeout, OSOnlyRuntime: rt.osOnly,
			InitTimeout: 30 * time.Second, ShutdownBudget: 2 * time.Second,
		},
		argv:      rt.argv,
		taskRoot:  rt.taskRoot,
		extension: extension,
		gateway:   gateway,
		otlpAddr:  "127.0.0.1:0",
		pushAddr:  "off",
		flush:     "end",
		env:       env,
		output:    log,
	}.config()
	cfg.Extensions[0].Env = append(cfg.Extensions[0].Env, env...)
	emu, err := lambdaemu.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = emu.Close()
		if t.Failed() {
			t.Logf("%s sandbox output (last 8 KiB):\n%s", rt.name, harness.Tail(log.String(), 8192))
		}
	})
	_, err = emu.Start(ctx)
	require.NoError(t, err, "cold start:\n%s", log.String())
	return proxySandbox{Emulator: emu, log: log}
}

// invoke runs one invocation that must end with status.
func (s proxySandbox) invoke(t *testing.T, ctx context.Context, payload []byte, status string) lambdaemu.InvokeResult {
	t.Helper()
	res, err := s.Invoke(ctx, lambdaemu.InvokeRequest{Payload: payload})
	require.NoError(t, err)
	require.Equal(t, status, res.Status, "%s %s %s", res.ErrorType, res.Response, harness.Tail(s.log.String(), 2048))
	return res
}

// TestRuntimeProxyRealRuntimes runs real, uninstrumented function runtimes behind the
// layer's wrapper script, in emulated sandboxes with the real extension: aws-lambda-go
// (an OS-only runtime, whose bootstrap execs the wrapper) and AWS's Node.js Runtime
// Interface Client from npm (started through AWS_LAMBDA_EXEC_WRAPPER). The gateway must get
// each invocation's finding (event source, errorType) before its platform.runtimeDone, for
// each trigger's AWS sample event, a failing function and a timeout; the function must keep
// working when the extension is killed in the middle of an invocation (Lambda fails it with
// Extension.Crash and resets the sandbox; the next one starts afresh), and when the proxy
// cannot start the runtime must talk to Lambda directly.
//
// aws-lambda-ric's install builds its native part (aws-lambda-cpp 0.2.8, curl 7.83.1) from
// the sources it ships; with cmake, autoconf, automake and libtool installed (Debian
// packages) that takes about 7 minutes on 2 cores. Version 3.3.0: 4.x wants Node.js 22.
func TestRuntimeProxyRealRuntimes(t *testing.T) {
	extension := buildExtension(t)
	wrapper := layerWrapper(t)
	for name, runtime := range map[string]func(*testing.T, string) proxyRuntime{"go": goPlainRuntime, "node-ric": nodeRICRuntime} {
		t.Run(name, func(t *testing.T) {
			testRuntimeBehindProxy(t, runtime(t, wrapper), extension)
		})
	}
}

func testRuntimeBehindProxy(t *testing.T, rt proxyRuntime, extension string) {
	gw := startRecordingGateway(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// One file for all the sandboxes of the function, as /tmp outlives a reset on Lambda.
	apiFile := filepath.Join(t.TempDir(), "otelcol-lambda-runtime-api")
	const timeout = 2 * time.Second

	// Each trigger's sample event, a failing invocation, then one that times out.
	sb := startProxySandbox(t, ctx, rt, extension, gw.URL, apiFile, timeout)
	assert.Contains(t, strings.Join(sb.ExtensionLogs(), "\n"), "Runtime API proxy on ", "the extension started the proxy")
	ids := map[string]string{} // sample file -> request id
	for _, s := range triggerSamples {
		ids[s.file] = sb.invoke(t, ctx, sampleEvent(t, s.file, nil), telemetryapi.StatusSuccess).RequestID
	}
	failed := sb.invoke(t, ctx, sampleEvent(t, "sqs-event.json", map[string]any{"fail": "insufficient funds"}), telemetryapi.StatusError)
	assert.Equal(t, rt.errorType, failed.ErrorType, "what Lambda took from the runtime")
	timedOut := sb.invoke(t, ctx, sampleEvent(t, "sqs-event.json", map[string]any{"sleepMs": 60000}), telemetryapi.StatusTimeout)
	require.True(t, timedOut.Reset, "a timeout resets the sandbox")

	gw.waitForReports(t, append(slices.Collect(maps.Values(ids)), failed.RequestID, timedOut.RequestID)...)
	for _, s := range triggerSamples {
		v := gw.view(t, ids[s.file])
		require.NotNil(t, v.finding, "%s: no otelcol.invocation", s.file)
		assert.Equal(t, 1, v.findings, s.file)
		require.NotNil(t, v.runtimeDone, s.file)
		assert.Less(t, v.findingAt, v.runtimeDoneAt, "%s: the finding comes before platform.runtimeDone", s.file)
		assertFinding(t, s, sampleEvent(t, s.file, nil), v.finding.Source)
		assert.Empty(t, v.finding.ErrorType, s.file)
	}
	sqs := triggerSamples[0]
	v := gw.view(t, failed.RequestID)
	require.NotNil(t, v.finding, "the failed invocation has its finding")
	assert.Equal(t, rt.errorType, v.finding.ErrorType, "the function's errorType")
	require.NotNil(t, v.runtimeDone)
	assert.Less(t, v.findingAt, v.runtimeDoneAt)
	assert.Equal(t, telemetryapi.StatusError, v.runtimeDone.Status)
	assert.Equal(t, string(sqs.kind), v.finding.Source.Kind)
	assert.Equal(t, sqs.destination, v.finding.Source.Destination)

	v = gw.view(t, timedOut.RequestID)
	require.NotNil(t, v.finding, "the timed-out invocation has its finding")
	require.NotNil(t, v.runtimeDone)
	assert.Less(t, v.findingAt, v.runtimeDoneAt)
	assert.Equal(t, telemetryapi.StatusTimeout, v.runtimeDone.Status)
	assert.Equal(t, telemetryapi.StatusTimeout, v.report.Status)
	assert.Equal(t, string(sqs.kind), v.finding.Source.Kind)
	assert.Equal(t, sqs.destination, v.finding.Source.Destination)
	assert.Empty(t, v.finding.ErrorType)

	// The extension killed while the function is in its handler: Lambda fails that
	// invocation (Extension.Crash) and resets the sandbox; nothing hangs.
	sb = startProxySandbox(t, ctx, rt, extension, gw.URL, apiFile, 10*time.Second)
	before := sb.invoke(t, ctx, sampleEvent(t, "kinesis-event.json", nil), telemetryapi.StatusSuccess)
	pid := sb.Extensions()[0].PID
	go func() {
		for !sb.RuntimeHasEvent() && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}()
	// The handler works long enough for the sandbox to see the extension die first; then it
	// would have found the proxy gone when it posted its response, and exited.
	killed := sb.invoke(t, ctx, sampleEvent(t, "sqs-event.json", map[string]any{"sleepMs": 5000}), telemetryapi.StatusError)
	assert.Equal(t, "Extension.Crash", killed.ErrorType)
	require.True(t, killed.Reset)
	assert.Equal(t, lambdaemu.ShutdownFailure, killed.Shutdown.Reason)
	_, statErr := os.Stat(apiFile)
	require.NoError(t, statErr, "the killed extension's address file is left behind, as in /tmp on Lambda")

	// The next sandbox (Lambda's re-initialization after the reset) works, through a new
	// proxy: the new extension removed the stale address before the runtime read it.
	sb = startProxySandbox(t, ctx, rt, extension, gw.URL, apiFile, 10*time.Second)
	var after []string
	for _, file := range []string{"sqs-event.json", "apigw-request.json", "s3-event.json"} {
		after = append(after, sb.invoke(t, ctx, sampleEvent(t, file, nil), telemetryapi.StatusSuccess).RequestID)
	}
	_, err := sb.Shutdown(ctx, lambdaemu.ShutdownSpindown)
	require.NoError(t, err)
	gw.waitForReports(t, after...)
	for i, file := range []string{"sqs-event.json", "apigw-request.json", "s3-event.json"} {
		v := gw.view(t, after[i])
		require.NotNil(t, v.finding, "%s after the reset: no finding", file)
		assert.Less(t, v.findingAt, v.runtimeDoneAt, file)
	}
	assert.NotNil(t, gw.view(t, before.RequestID).finding, "the invocation before the kill was forwarded")

	// The proxy cannot start (its address cannot be published): the runtime talks to
	// Lambda directly, the invocations succeed and carry no finding.
	unwritable := filepath.Join(t.TempDir(), "no-such-directory", "otelcol-lambda-runtime-api")
	sb = startProxySandbox(t, ctx, rt, extension, gw.URL, unwritable, 10*time.Second)
	var direct []string
	for _, file := range []string{"sqs-event.json", "kinesis-event.json"} {
		direct = append(direct, sb.invoke(t, ctx, sampleEvent(t, file, nil), telemetryapi.StatusSuccess).RequestID)
	}
	_, err = sb.Shutdown(ctx, lambdaemu.ShutdownSpindown)
	require.NoError(t, err)
	assert.Contains(t, strings.Join(sb.ExtensionLogs(), "\n"), "the runtime talks to Lambda directly")
	gw.waitForReports(t, direct...)
	for _, id := range direct {
		v := gw.view(t, id)
		assert.Nil(t, v.finding, "no proxy, no finding")
		assert.NotNil(t, v.runtimeDone)
	}
}
