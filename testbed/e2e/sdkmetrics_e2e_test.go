// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/lambdaemu"
)

// The shape of the SDK metrics run: sdkSandboxes concurrent sandboxes per temporality, each
// invoked sdkInvocations times.
const (
	sdkSandboxes   = 4
	sdkInvocations = 5
	// sdkSettleDeadline bounds how long Prometheus may take to hold the final figures once
	// every sandbox has shut down (the gateway flushes every second here). It bounds how long
	// a broken run waits and never judges speed.
	sdkSettleDeadline = 30 * time.Second
)

// sdkBuckets are the histogram's explicit bounds, as testbed/functions/nodefn/handler.js
// declares them.
var sdkBuckets = []float64{5, 10, 25, 50, 100, 250}

// sdkOrder is one order of the Node function's event.
type sdkOrder struct {
	Amount  float64 `json:"amount"`
	Channel string  `json:"channel"`
}

// sdkTruth is what the sandboxes of one run recorded, per channel.
type sdkTruth struct {
	mu      sync.Mutex
	orders  map[string]float64            // orders.processed
	amounts map[string]float64            // orders.amount's sum
	buckets map[string]map[string]float64 // le -> cumulative count, per channel
	pending float64                       // orders.pending, over the fleet

	invocations int
}

func newSDKTruth() *sdkTruth {
	return &sdkTruth{orders: map[string]float64{}, amounts: map[string]float64{}, buckets: map[string]map[string]float64{}}
}

func (tr *sdkTruth) record(orders []sdkOrder, pendingDelta float64) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, o := range orders {
		tr.orders[o.Channel]++
		tr.amounts[o.Channel] += o.Amount
		if tr.buckets[o.Channel] == nil {
			tr.buckets[o.Channel] = map[string]float64{}
		}
		for _, le := range append(append([]float64{}, sdkBuckets...), math.Inf(1)) {
			key := formatLe(le)
			if _, ok := tr.buckets[o.Channel][key]; !ok {
				tr.buckets[o.Channel][key] = 0
			}
			if o.Amount <= le {
				tr.buckets[o.Channel][key]++
			}
		}
	}
	tr.pending += pendingDelta
	tr.invocations++
}

// formatLe spells a bucket bound as the le label does.
func formatLe(le float64) string {
	if math.IsInf(le, 1) {
		return "+Inf"
	}
	return fmt.Sprint(le)
}

// sdkEvent is invocation j of sandbox i: 1 to 3 orders with amounts in cents, over two
// channels, and a pending delta of 0, 1 or 2.
func sdkEvent(i, j int) ([]sdkOrder, float64) {
	n := 1 + (i+j)%3
	orders := make([]sdkOrder, n)
	for o := range orders {
		channel := "web"
		if (i+j+o)%2 == 1 {
			channel = "store"
		}
		cents := (i*3137 + j*1729 + o*911 + 199) % 29000
		orders[o] = sdkOrder{Amount: float64(cents) / 100, Channel: channel}
	}
	return orders, float64(n - 1)
}

// TestSDKMetricsAddUpAcrossSandboxes: the real Node OTel SDK (sdk-metrics with the OTLP/HTTP
// exporter, testbed/functions/nodefn with NODEFN_METRICS=1) records a counter, a histogram
// and an up-down counter in several concurrent sandboxes, each with the REAL extension
// forwarding to the built gateway, once with cumulative and once with delta temporality.
// Prometheus must hold, summed over its series (gateway replicas), exactly what all the
// sandboxes recorded: the series of one sandbox must neither overwrite nor hide another's.
func TestSDKMetricsAddUpAcrossSandboxes(t *testing.T) {
	root := repoRoot(t)
	nodefn := filepath.Join(root, "testbed", "functions", "nodefn")
	if _, err := os.Stat(filepath.Join(nodefn, "node_modules", "@opentelemetry", "sdk-metrics")); err != nil {
		t.Fatalf("testbed/functions/nodefn has no node_modules with @opentelemetry/sdk-metrics: run 'make e2e', which installs them (npm ci)")
	}
	extension := buildGo(t, "layer/cmd/otelcol-lambda-extension", "otelcol-lambda-extension")
	s := startStack(t, "OTELCOL_LAMBDA_METRICS_FLUSH_INTERVAL=1s", "OTELCOL_LAMBDA_CORRELATION_WINDOW=1s")
	// Each sandbox's OTLP/HTTP port, reserved at once so that no two are the same.
	otlpAddrs := freeAddrs(t, 2*sdkSandboxes)

	for k, temporality := range []string{"cumulative", "delta"} {
		t.Run(temporality, func(t *testing.T) {
			t.Parallel()
			function := "sdkmetrics-" + temporality
			service := "orders-sdk-" + temporality // the job; not the function's name
			truth := newSDKTruth()

			// The sandboxes run at once, as a function's concurrent executions do.
			var wg sync.WaitGroup
			errs := make([]error, sdkSandboxes)
			logs := make([]*harness.LockedBuffer, sdkSandboxes)
			for i := range sdkSandboxes {
				logs[i] = &harness.LockedBuffer{}
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = runSDKSandbox(extension, nodefn, s.httpAddr, otlpAddrs[k*sdkSandboxes+i], function, service, temporality, i, truth, logs[i])
				}()
			}
			wg.Wait()
			t.Cleanup(func() {
				if !t.Failed() {
					return
				}
				for i, log := range logs {
					t.Logf("sandbox %d output (last 8 KiB):\n%s", i, harness.Tail(log.String(), 8192))
				}
			})
			for i, err := range errs {
				require.NoError(t, err, "sandbox %d", i)
			}
			require.Equal(t, sdkSandboxes*sdkInvocations, truth.invocations, "invocations recorded")
			s.sdkEventually(t, service, truth)
		})
	}
}

// runSDKSandbox runs one sandbox of the Node function through its cold start, its
// invocations and its shutdown, recording what it sent into truth.
func runSDKSandbox(extension, nodefn, gateway, otlpAddr, function, service, temporality string, i int, truth *sdkTruth, log *harness.LockedBuffer) error {
	emu, err := lambdaemu.New(lambdaemu.Config{
		FunctionName: function,
		Handler:      "handler.handle",
		Region:       "eu-west-1",
		MemorySizeMB: 256,
		Timeout:      10 * time.Second,
		InitTimeout:  30 * time.Second, // several Node processes start at once on a small machine
		Extensions: []lambdaemu.ExtensionSpec{{Path: extension, Env: []string{
			"OTELCOL_LAMBDA_ENDPOINT=http://" + gateway,
			"OTELCOL_LAMBDA_OTLP_HTTP_ENDPOINT=" + otlpAddr,
			"OTELCOL_LAMBDA_PUSHGATEWAY_ENDPOINT=off",
			"OTELCOL_LAMBDA_LISTENER_HOST=127.0.0.1",
			"OTELCOL_LAMBDA_FLUSH=end",
		}}},
		Runtime: processRuntime([]string{"node", filepath.Join(nodefn, "bootstrap.js")}, []string{
			"AWS_LAMBDA_FUNCTION_NAME=" + function,
			"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
			"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
			"AWS_REGION=eu-west-1",
			"_HANDLER=handler.handle",
			"LAMBDA_TASK_ROOT=" + nodefn,
			"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + otlpAddr,
			"OTEL_BSP_SCHEDULE_DELAY=100",
			"NODEFN_METRICS=1",
			"OTEL_SERVICE_NAME=" + service,
			"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=" + temporality,
		}, log),
		ExtensionOutput: log,
	})
	if err != nil {
		return err
	}
	defer emu.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := emu.Start(ctx); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	for j := range sdkInvocations {
		orders, pendingDelta := sdkEvent(i, j)
		payload, err := json.Marshal(map[string]any{"orders": orders, "pendingDelta": pendingDelta})
		if err != nil {
			return err
		}
		res, err := emu.Invoke(ctx, lambdaemu.InvokeRequest{Payload: payload})
		if err != nil {
			return fmt.Errorf("invocation %d: %w", j, err)
		}
		if res.Status != telemetryapi.StatusSuccess {
			return fmt.Errorf("invocation %d: %s %s", j, res.Status, res.Response)
		}
		truth.record(orders, pendingDelta)
	}
	if _, err := emu.Shutdown(ctx, lambdaemu.ShutdownSpindown); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// sdkCheck is one query whose series, keyed by keys, must match want.
type sdkCheck struct {
	what     string
	promql   string
	keys     []string
	want     map[string]float64
	relative float64 // tolerance relative to each wanted value; 0: exact
}

func (c sdkCheck) matches(got map[string]float64) bool {
	if len(got) != len(c.want) {
		return false
	}
	for k, w := range c.want {
		g, ok := got[k]
		if !ok {
			return false
		}
		if c.relative == 0 && g != w || c.relative > 0 && math.Abs(g-w) > c.relative*math.Abs(w) {
			return false
		}
	}
	return true
}

// sdkEventually polls Prometheus until the SDK metrics of job service add up to truth, and
// otherwise fails with what was expected, what Prometheus held and every series of the job.
func (s *stack) sdkEventually(t *testing.T, service string, truth *sdkTruth) {
	t.Helper()
	sel := fmt.Sprintf(`{job=%q}`, service)
	buckets := map[string]float64{}
	for channel, les := range truth.buckets {
		for le, n := range les {
			buckets["channel="+channel+",le="+le] = n
		}
	}
	keyed := func(m map[string]float64) map[string]float64 {
		out := map[string]float64{}
		for channel, v := range m {
			out["channel="+channel] = v
		}
		return out
	}
	checks := []sdkCheck{
		{what: "orders.processed (Counter)", promql: `sum by (channel) (orders_processed_total` + sel + `)`, keys: []string{"channel"}, want: keyed(truth.orders)},
		{what: "orders.amount (Histogram) count", promql: `sum by (channel) (orders_amount_count` + sel + `)`, keys: []string{"channel"}, want: keyed(truth.orders)},
		{what: "orders.amount (Histogram) sum", promql: `sum by (channel) (orders_amount_sum` + sel + `)`, keys: []string{"channel"}, want: keyed(truth.amounts), relative: 1e-9},
		{what: "orders.amount (Histogram) buckets", promql: `sum by (channel, le) (orders_amount_bucket` + sel + `)`, keys: []string{"channel", "le"}, want: buckets},
		// Under the delta preference too: the exporter keeps up-down counters cumulative.
		{what: "orders.pending (UpDownCounter)", promql: `sum(orders_pending` + sel + `)`, want: map[string]float64{"": truth.pending}},
	}
	got := make([]map[string]float64, len(checks))
	errs := make([]error, len(checks))
	// read queries every check once; a query cut short by the deadline leaves the previous
	// answer in place.
	read := func(ctx context.Context) bool {
		ok := true
		for i, c := range checks {
			samples, err := s.query(ctx, c.promql)
			if ctx.Err() != nil {
				return false
			}
			errs[i] = err
			if err == nil {
				got[i] = byLabels(samples, c.keys...)
			}
			ok = ok && err == nil && c.matches(got[i])
		}
		return ok
	}
	ctx, cancel := context.WithTimeout(context.Background(), sdkSettleDeadline)
	defer cancel()
	for !read(ctx) {
		select {
		case <-time.After(500 * time.Millisecond):
			continue
		case <-s.done:
			t.Fatalf("run.sh exited while waiting for the SDK metrics of %s: %v", service, s.err)
		case <-ctx.Done():
		}
		break
	}
	qctx, qcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer qcancel()
	if ctx.Err() != nil {
		read(qctx) // what Prometheus holds at the deadline
	}
	var failures []string
	for i, c := range checks {
		if errs[i] == nil && c.matches(got[i]) {
			continue
		}
		tolerance := ""
		if c.relative > 0 {
			tolerance = fmt.Sprintf(" (within %g relative)", c.relative)
		}
		failures = append(failures, fmt.Sprintf("%s: %s\n  want%s %v\n  got  %v (last error: %v)",
			c.what, c.promql, tolerance, sorted(c.want), sorted(got[i]), errs[i]))
	}
	if len(failures) == 0 {
		return
	}
	t.Errorf("after %d sandboxes x %d invocations of job %q, Prometheus did not add up within %s:\n%s\nevery series of the job (target_info has the resources):\n%s",
		sdkSandboxes, sdkInvocations, service, sdkSettleDeadline, strings.Join(failures, "\n"), s.sdkSeries(qctx, sel))
}

// sdkSeries lists the series promql selects with all their labels, one a line.
func (s *stack) sdkSeries(ctx context.Context, promql string) string {
	samples, err := s.query(ctx, promql)
	if err != nil {
		return err.Error()
	}
	lines := make([]string, 0, len(samples))
	for _, sm := range samples {
		labels := make([]string, 0, len(sm.labels))
		for k, v := range sm.labels {
			labels = append(labels, fmt.Sprintf("%s=%q", k, v))
		}
		sort.Strings(labels)
		lines = append(lines, fmt.Sprintf("  {%s} %v", strings.Join(labels, ","), sm.value))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
