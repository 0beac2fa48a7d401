// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
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
	nodefn := nodeFunction(t, "@opentelemetry/sdk-metrics")
	extension := buildExtension(t)
	s := startStack(t, "OTELCOL_LAMBDA_CORRELATION_WINDOW=1s")
	// Each sandbox's OTLP/HTTP port: below the ephemeral range (quietAddr), so that none of
	// the many outgoing connections takes it before the extension binds it; an ephemeral
	// port of freeAddrs once was, and the sandbox's SDK exported to nothing.
	otlpAddrs := make([]string, 2*sdkSandboxes)
	for i := range otlpAddrs {
		otlpAddrs[i] = quietAddr(t)
	}

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
					errs[i] = runSDKSandbox(extension, nodefn, s.URL, otlpAddrs[k*sdkSandboxes+i], function, service, temporality, i, truth, logs[i])
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
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	emu, err := startSDKSandbox(ctx, extension, nodefn, gateway, otlpAddr, function, service, temporality, log)
	if err != nil {
		return err
	}
	defer emu.Close()
	for j := range sdkInvocations {
		orders, pendingDelta := sdkEvent(i, j)
		if err := invokeSDK(ctx, emu, orders, pendingDelta); err != nil {
			return fmt.Errorf("invocation %d: %w", j, err)
		}
		truth.record(orders, pendingDelta)
	}
	if _, err := emu.Shutdown(ctx, lambdaemu.ShutdownSpindown); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// startSDKSandbox cold-starts a sandbox of the Node function with the real extension
// forwarding to gateway (a base URL); the caller closes it.
func startSDKSandbox(ctx context.Context, extension, nodefn, gateway, otlpAddr, function, service, temporality string, log *harness.LockedBuffer) (*lambdaemu.Emulator, error) {
	return functionSandbox{
		lambda: lambdaemu.Config{
			FunctionName: function,
			Handler:      "handler.handle",
			Timeout:      10 * time.Second,
			InitTimeout:  30 * time.Second, // several Node processes start at once on a small machine
		},
		argv:      []string{"node", filepath.Join(nodefn, "bootstrap.js")},
		taskRoot:  nodefn,
		extension: extension,
		gateway:   gateway,
		otlpAddr:  otlpAddr,
		pushAddr:  "off",
		flush:     "end",
		env: []string{
			"OTEL_BSP_SCHEDULE_DELAY=100",
			"NODEFN_METRICS=1",
			"OTEL_SERVICE_NAME=" + service,
			"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=" + temporality,
		},
		output: log,
	}.start(ctx)
}

// invokeSDK runs one invocation that records orders and pendingDelta; the handler exports
// them (forceFlush) before it returns, so each invocation is one OTLP export.
func invokeSDK(ctx context.Context, emu *lambdaemu.Emulator, orders []sdkOrder, pendingDelta float64) error {
	payload, err := json.Marshal(map[string]any{"orders": orders, "pendingDelta": pendingDelta})
	if err != nil {
		return err
	}
	res, err := emu.Invoke(ctx, lambdaemu.InvokeRequest{Payload: payload})
	if err != nil {
		return err
	}
	if res.Status != telemetryapi.StatusSuccess {
		return fmt.Errorf("%s %s", res.Status, res.Response)
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
	return equalWithin(got, c.want, func(w float64) float64 { return c.relative * math.Abs(w) })
}

// sdkEventually polls Prometheus until the SDK metrics of job service add up to truth, and
// otherwise fails with what was expected, what Prometheus held and every series of the job.
func (s stack) sdkEventually(t *testing.T, service string, truth *sdkTruth) {
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
		case <-s.Done():
			t.Fatalf("run.sh exited while waiting for the SDK metrics of %s: %v", service, s.Err())
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
		sdkSandboxes, sdkInvocations, service, sdkSettleDeadline, strings.Join(failures, "\n"), sdkSeries(qctx, s.Prometheus, sel))
}

// sdkSeries lists the series promql selects with all their labels, one a line.
func sdkSeries(ctx context.Context, prom harness.PrometheusAPI, promql string) string {
	series, err := queryFloats(ctx, prom, promql)
	if err != nil {
		return err.Error()
	}
	return "  " + strings.Join(formatSeries(series), "\n  ")
}

// The shape of the SDK gateway-restart run: sdkRestartSandboxes concurrent sandboxes, each
// invoked sdkRestartBefore times, then the gateway restarts, then sdkRestartAfter more times.
const (
	sdkRestartSandboxes = 4
	sdkRestartBefore    = 3
	sdkRestartAfter     = 3
	// sdkRestartHold is how long what Prometheus holds must stay the same before it is
	// judged: a few gateway flushes (every second here), so that what arrives late is seen.
	sdkRestartHold = 3 * time.Second
	// sdkNewChannel is a channel that no sandbox records before the restart: its streams
	// start after the restarted gateway did.
	sdkNewChannel = "phone"
)

// sdkRestartEvent is invocation j of sandbox i in the restart run: sdkEvent's orders and,
// in the first invocation after the restart (even sandboxes) or the second (odd ones), one
// more order on sdkNewChannel.
func sdkRestartEvent(i, j int) ([]sdkOrder, float64) {
	orders, pendingDelta := sdkEvent(i, j)
	if j == sdkRestartBefore+i%2 {
		orders = append(orders, sdkOrder{Amount: float64((i*577+j*313)%9000+100) / 100, Channel: sdkNewChannel})
	}
	return orders, pendingDelta
}

// sdkFigures are one channel's increments of orders.processed and orders.amount: the
// counter and the histogram's count are both the number of orders.
type sdkFigures struct {
	count, sum float64
	buckets    map[string]float64 // le -> cumulative count
}

func (f *sdkFigures) add(o sdkOrder) {
	f.count++
	f.sum += o.Amount
	if f.buckets == nil {
		f.buckets = map[string]float64{}
	}
	for _, le := range append(append([]float64{}, sdkBuckets...), math.Inf(1)) {
		key := formatLe(le)
		f.buckets[key] += 0 // every bound is a series, also one that no order reached
		if o.Amount <= le {
			f.buckets[key]++
		}
	}
}

// sdkByChannel is figures per channel.
type sdkByChannel map[string]*sdkFigures

func (m sdkByChannel) add(o sdkOrder) {
	if m[o.Channel] == nil {
		m[o.Channel] = &sdkFigures{}
	}
	m[o.Channel].add(o)
}

// sdkQuantity is one figure Prometheus is checked on: a counter series (summed over
// instances and reset segments) by its labels.
type sdkQuantity struct {
	key   string  // metric{labels}, as sdkSegmentTotals keys what Prometheus holds
	truth float64 // what the sandboxes recorded
	// bound is what the restart may lose: the increments of each stream's first export
	// after the restart. tight is the part of it of the streams that existed before the
	// restart (their first point after it is a baseline); a stream that started after the
	// restarted gateway counts whole.
	bound, tight float64
	float        bool // a sum of amounts: compared to a relative 1e-9 (floats added in another order)
}

func (q sdkQuantity) slack() float64 {
	if !q.float {
		return 0
	}
	return 1e-9 * math.Max(math.Abs(q.truth), 1)
}

// sdkQuantities lists the figures of truth (with their bounds) under the metric names
// Prometheus has for them.
func sdkQuantities(truth, bound, tight sdkByChannel) []sdkQuantity {
	get := func(m sdkByChannel, channel string) *sdkFigures {
		if f := m[channel]; f != nil {
			return f
		}
		return &sdkFigures{}
	}
	var out []sdkQuantity
	for channel, f := range truth {
		b, tt := get(bound, channel), get(tight, channel)
		label := fmt.Sprintf("{channel=%q}", channel)
		out = append(out,
			sdkQuantity{key: "orders_processed_total" + label, truth: f.count, bound: b.count, tight: tt.count},
			sdkQuantity{key: "orders_amount_count" + label, truth: f.count, bound: b.count, tight: tt.count},
			sdkQuantity{key: "orders_amount_sum" + label, truth: f.sum, bound: b.sum, tight: tt.sum, float: true},
		)
		for le, n := range f.buckets {
			out = append(out, sdkQuantity{key: fmt.Sprintf("orders_amount_bucket{channel=%q,le=%q}", channel, le), truth: n, bound: b.buckets[le], tight: tt.buckets[le]})
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].key < out[b].key })
	return out
}

// sdkSegmentMetrics are the counter series read per reset segment.
var sdkSegmentMetrics = []string{"orders_processed_total", "orders_amount_count", "orders_amount_sum", "orders_amount_bucket"}

// sdkSegmentTotals reads what Prometheus holds of job's counters: each series' total over
// its reset segments (harness.Prometheus.CounterTotals, from every raw sample), summed over
// the series of each channel (and le), keyed as sdkQuantity.key. resets counts the resets
// seen in the raw samples.
func sdkSegmentTotals(ctx context.Context, prom harness.PrometheusAPI, job string) (held map[string]float64, resets int, err error) {
	held = map[string]float64{}
	for _, metric := range sdkSegmentMetrics {
		series, r, err := prom.CounterTotals(ctx, fmt.Sprintf("%s{job=%q}", metric, job), 10*time.Minute)
		if err != nil {
			return nil, 0, err
		}
		resets += r
		for _, s := range series {
			key := fmt.Sprintf("%s{channel=%q}", metric, s.Labels["channel"])
			if metric == "orders_amount_bucket" {
				key = fmt.Sprintf("%s{channel=%q,le=%q}", metric, s.Labels["channel"], s.Labels["le"])
			}
			held[key] += s.Value
		}
	}
	return held, resets, nil
}

// sdkJudge says, for what Prometheus holds, which quantities count more than the truth
// (a double count: never allowed), and which lost more than their bound.
func sdkJudge(qs []sdkQuantity, held map[string]float64) (over, under []string) {
	known := map[string]bool{}
	for _, q := range qs {
		known[q.key] = true
		h := held[q.key]
		if h > q.truth+q.slack() {
			over = append(over, fmt.Sprintf("%s: Prometheus holds %.10g, more than the %.10g the sandboxes recorded (+%.6g counted twice)", q.key, h, q.truth, h-q.truth))
		}
		if q.truth-h > q.bound+q.slack() {
			under = append(under, fmt.Sprintf("%s: Prometheus holds %.10g of the %.10g recorded: lost %.6g, more than the %.6g allowed", q.key, h, q.truth, q.truth-h, q.bound))
		}
	}
	for k, h := range held {
		if !known[k] && h != 0 {
			over = append(over, fmt.Sprintf("%s: Prometheus holds %.10g of a series no sandbox recorded", k, h))
		}
	}
	sort.Strings(over)
	sort.Strings(under)
	return over, under
}

// sdkSettle polls Prometheus until what it holds of job's counters lies within
// [truth - bound, truth] for every quantity and stayed the same for sdkRestartHold. It fails
// at once when any quantity exceeds the truth (a double count), and with what it held when
// the wait ends otherwise; allowed says what the bound is. It returns what Prometheus held.
func sdkSettle(t *testing.T, prom harness.PrometheusAPI, job, what, allowed string, qs []sdkQuantity, diagnose func() string) map[string]float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), queryDeadline)
	defer cancel()
	var (
		last    string
		since   time.Time
		held    map[string]float64
		resets  int
		lastErr error
	)
	for {
		h, r, err := sdkSegmentTotals(ctx, prom, job)
		lastErr = err
		if err == nil {
			held, resets = h, r
			over, under := sdkJudge(qs, held)
			if len(over) > 0 {
				t.Fatalf("%s: DOUBLE COUNT: Prometheus (per reset segment, summed over instances; %d resets) holds more than the sandboxes recorded:\n  %s\n%s",
					what, resets, strings.Join(over, "\n  "), diagnose())
			}
			if key := fmt.Sprint(sorted(held)); key != last {
				last, since = key, time.Now()
			}
			// A value that stopped changing for a few flushes is what is judged; it can
			// only come closer to the truth later, never past it (checked above).
			if len(under) == 0 && time.Since(since) >= sdkRestartHold {
				return held
			}
			// Only the deadline ends the wait: how long a busy machine takes is not judged.
			if len(under) > 0 && ctx.Err() != nil {
				t.Fatalf("%s: LOSS BEYOND THE BOUND (%s): what Prometheus holds (per reset segment, summed over instances; %d resets) lost more than allowed when the wait ended:\n  %s\n%s",
					what, allowed, resets, strings.Join(under, "\n  "), diagnose())
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("%s: what Prometheus holds did not stay the same for %s within %s (last error: %v)\n%s", what, sdkRestartHold, queryDeadline, lastErr, diagnose())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// fleetOutcomes reads a gateway's otelcol_processor_lambda_fleet_metrics_points from its
// own telemetry, by outcome.
func fleetOutcomes(addrs harness.GatewayAddrs) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return telemetrySums(ctx, addrs, "otelcol_processor_lambda_fleet_metrics_points", "outcome")
}

// TestSDKMetricsGatewayRestart measures what processor/lambdafleetmetricsprocessor/README.md
// promises for cumulative SDK streams across a graceful gateway restart (the section "How
// each increment is counted once", its "Restarts" item): the
// real Node OTel SDK in sdkRestartSandboxes concurrent sandboxes, each with the real
// extension, exports cumulative counters and histograms once per invocation. Between two
// invocations of every sandbox the gateway is stopped (SIGTERM) and started again on the same
// addresses with the same replica id; the sandboxes keep running and are invoked again.
//
// A stream (one sandbox's series of one metric and channel) that started before the
// restarted process counts from its second point, so the restart may lose the increments of
// each stream's first export after it, and must never count anything twice. Prometheus,
// read per reset segment and summed over instances, must hold for every counter, histogram
// _count, _sum and bucket, by channel: held <= truth, and truth - held <= bound, the bound
// being the sum over sandboxes of what that first export carried. The measured loss and the
// bound are logged. The up-down counter is a level, re-reported whole by every sandbox: it
// must be exact.
func TestSDKMetricsGatewayRestart(t *testing.T) {
	nodefn := nodeFunction(t, "@opentelemetry/sdk-metrics")
	extension := buildExtension(t)
	const (
		function = "sdkmetrics-restart"
		service  = "orders-sdk-restart" // the job
	)

	gw, prom := startGatewayWithPrometheus(t)

	// The sandboxes, started at once, as a function's concurrent executions are.
	sandboxes := make([]*lambdaemu.Emulator, sdkRestartSandboxes)
	logs := make([]*harness.LockedBuffer, sdkRestartSandboxes)
	t.Cleanup(func() {
		for i, emu := range sandboxes {
			if emu != nil {
				emu.Close()
			}
			if t.Failed() {
				t.Logf("sandbox %d output (last 8 KiB):\n%s", i, harness.Tail(logs[i].String(), 8192))
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// each runs step for every sandbox at once and fails with every sandbox's error.
	each := func(what string, step func(i int) error) {
		t.Helper()
		errs := make([]error, sdkRestartSandboxes)
		var wg sync.WaitGroup
		for i := range sdkRestartSandboxes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = step(i)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("sandbox %d, %s: %v", i, what, err)
			}
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	otlpAddrs := make([]string, sdkRestartSandboxes) // each extension's OTLP/HTTP listener
	for i := range logs {
		logs[i] = &harness.LockedBuffer{}
		otlpAddrs[i] = quietAddr(t)
	}
	each("cold start", func(i int) error {
		emu, err := startSDKSandbox(ctx, extension, nodefn, gw.url, otlpAddrs[i], function, service, "cumulative", logs[i])
		sandboxes[i] = emu
		return err
	})

	// The ground truth, from the orders each sandbox's invocations recorded (each invocation
	// is one cumulative export of all the sandbox's streams so far).
	var (
		truthMu              sync.Mutex
		before, all          = sdkByChannel{}, sdkByChannel{}
		bound, tight         = sdkByChannel{}, sdkByChannel{}
		pendingBefore, total float64
	)
	invoke := func(i, j int) error {
		orders, pendingDelta := sdkRestartEvent(i, j)
		if err := invokeSDK(ctx, sandboxes[i], orders, pendingDelta); err != nil {
			return fmt.Errorf("invocation %d: %w", j, err)
		}
		truthMu.Lock()
		defer truthMu.Unlock()
		for _, o := range orders {
			all.add(o)
			if j < sdkRestartBefore {
				before.add(o)
			}
		}
		total += pendingDelta
		if j < sdkRestartBefore {
			pendingBefore += pendingDelta
		}
		return nil
	}
	each("invocations before the restart", func(i int) error {
		for j := range sdkRestartBefore {
			if err := invoke(i, j); err != nil {
				return err
			}
		}
		return nil
	})

	// The bound, stream by stream: a stream that existed before the restart is in the
	// sandbox's first export after it (cumulative temporality exports every stream each
	// time), and carries what that invocation recorded on its channel, maybe nothing; a
	// stream that starts later is first exported by the invocation that starts it.
	preexisting := 0
	for i := range sdkRestartSandboxes {
		existed := map[string]bool{}
		for j := range sdkRestartBefore {
			orders, _ := sdkRestartEvent(i, j)
			for _, o := range orders {
				existed[o.Channel] = true
			}
		}
		preexisting += len(existed)
		first := map[string]int{} // channel -> its stream's first export after the restart
		for channel := range existed {
			first[channel] = sdkRestartBefore
		}
		for j := sdkRestartBefore; j < sdkRestartBefore+sdkRestartAfter; j++ {
			orders, _ := sdkRestartEvent(i, j)
			for _, o := range orders {
				if _, ok := first[o.Channel]; !ok {
					first[o.Channel] = j
				}
			}
		}
		for j := sdkRestartBefore; j < sdkRestartBefore+sdkRestartAfter; j++ {
			orders, _ := sdkRestartEvent(i, j)
			for _, o := range orders {
				if first[o.Channel] != j {
					continue
				}
				bound.add(o)
				if existed[o.Channel] {
					tight.add(o)
				}
			}
		}
	}

	diagnose := func() string {
		qctx, qcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer qcancel()
		return fmt.Sprintf("every series of job %q (target_info has the resources):\n%s", service, sdkSeries(qctx, prom, fmt.Sprintf(`{job=%q}`, service)))
	}
	pending := func(want float64, what string) {
		t.Helper()
		qctx, qcancel := context.WithTimeout(context.Background(), queryDeadline)
		defer qcancel()
		var got []harness.Series
		var err error
		for {
			got, err = prom.Query(qctx, fmt.Sprintf(`sum(orders_pending{job=%q})`, service), time.Time{})
			if err == nil && len(got) == 1 && got[0].Value == want || qctx.Err() != nil {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if err != nil || len(got) != 1 || got[0].Value != want {
			t.Errorf("%s: sum(orders_pending{job=%q}) (UpDownCounter, re-reported whole by every sandbox) must be %v, Prometheus held %v (error: %v)\n%s", what, service, want, got, err, diagnose())
		}
	}

	// Before the restart nothing may be missing: every stream started after the gateway.
	exact := sdkQuantities(before, nil, nil)
	sdkSettle(t, prom, service, "before the restart", "nothing may be missing yet", exact, diagnose)
	pending(pendingBefore, "before the restart")
	outcomesBefore, err := fleetOutcomes(gw.addrs)
	if err != nil {
		t.Logf("reading the gateway's telemetry before the restart: %v", err)
	}

	if err := gw.restart(); err != nil {
		t.Fatalf("after %d invocations per sandbox: %v", sdkRestartBefore, err)
	}
	t.Logf("gateway stopped (SIGTERM) after %d invocations in each of %d sandboxes, and ready again on the same addresses", sdkRestartBefore, sdkRestartSandboxes)

	each("invocations after the restart", func(i int) error {
		for j := sdkRestartBefore; j < sdkRestartBefore+sdkRestartAfter; j++ {
			if err := invoke(i, j); err != nil {
				return err
			}
		}
		return nil
	})
	each("shutdown", func(i int) error {
		_, err := sandboxes[i].Shutdown(ctx, lambdaemu.ShutdownSpindown)
		return err
	})

	qs := sdkQuantities(all, bound, tight)
	held := sdkSettle(t, prom, service, "after the restart",
		"at most the increments of each stream's first export after the restart, summed over sandboxes", qs, diagnose)
	pending(total, "after the restart")
	outcomesAfter, err := fleetOutcomes(gw.addrs)
	if err != nil {
		t.Logf("reading the restarted gateway's telemetry: %v", err)
	}

	// The measured loss against the bound, by metric over every channel, then by series.
	type tally struct{ truth, held, bound, tight float64 }
	byMetric := map[string]*tally{}
	var lines []string
	for _, q := range qs {
		metric, _, _ := strings.Cut(q.key, "{")
		if byMetric[metric] == nil {
			byMetric[metric] = &tally{}
		}
		m := byMetric[metric]
		m.truth += q.truth
		m.held += held[q.key]
		m.bound += q.bound
		m.tight += q.tight
		lines = append(lines, fmt.Sprintf("  %s: recorded %.10g, held %.10g, lost %.6g, bound %.6g (of streams that existed before: %.6g)",
			q.key, q.truth, held[q.key], q.truth-held[q.key], q.bound, q.tight))
	}
	var summary []string
	for _, metric := range sdkSegmentMetrics {
		if m := byMetric[metric]; m != nil {
			over := "all channels"
			if metric == "orders_amount_bucket" {
				over = "all channels and bounds"
			}
			summary = append(summary, fmt.Sprintf("  %s (%s): recorded %.10g, held %.10g, lost %.6g, bound %.6g (of streams that existed before: %.6g)",
				metric, over, m.truth, m.held, m.truth-m.held, m.bound, m.tight))
		}
	}
	t.Logf("gateway restart, %d sandboxes x (%d + %d) cumulative exports: measured loss vs bound\n%s\nby series:\n%s",
		sdkRestartSandboxes, sdkRestartBefore, sdkRestartAfter, strings.Join(summary, "\n"), strings.Join(lines, "\n"))
	t.Logf("lambda_fleet_metrics points by outcome: old process %v; restarted process %v (streams that existed before the restart: %d channels x 2 metrics = %d baselines expected)",
		outcomesBefore, outcomesAfter, preexisting, 2*preexisting)
}
