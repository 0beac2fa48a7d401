// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/lambdaemu"
)

// What a new user does with the seed document's code (testbed/functions/pyfn/handler.py):
// every invocation increments prometheus_client's counter and histogram and pushes the
// whole default registry to the extension's Pushgateway API, job 'orders-consumer'.
// Many sandboxes of the function run at once, each its own Python process with its own
// counters from 0. Prometheus must then hold, summed over its series, exactly what all the
// processes counted: the invocations, the histogram's count and buckets, and its sum of
// seconds (to a relative 1e-9: floats added in another order).
//
// The four variants (TestPush*) run in parallel, each with its own gateway and Prometheus:
// the seed's job label is fixed, so they cannot share one.
const (
	pushJob         = "orders-consumer"
	pushSandboxes   = 8  // at once, each its own Python process and extension
	pushInvocations = 50 // per sandbox
	pythonBin       = "/usr/bin/python3"
	// pushHold is how long a result that matched must keep matching: a few gateway
	// flushes, so that what arrives late (a replay counted twice) is seen.
	pushHold = 3 * time.Second
	// sandboxDeadline bounds a sandbox's init and each invocation.
	sandboxDeadline = 60 * time.Second
)

// pushFlushes are the extension's flush strategies, one per sandbox in turn: after each
// invocation, the default (adaptive: end, then periodically every 10 s once busy), and
// every 250 ms while invocations come.
var pushFlushes = []string{"end", "", "periodically,250"}

// pyResult is what handler.py returns: its process's registry after the push.
type pyResult struct {
	Invocations float64            `json:"invocations"`
	Count       float64            `json:"count"`
	Sum         float64            `json:"sum"`
	Buckets     map[string]float64 `json:"buckets"`
	PID         int                `json:"pid"`
}

// pushTotals are the seed's metrics: the ground truth summed over processes, or what
// Prometheus holds summed over series.
type pushTotals struct {
	Invocations float64
	Count       float64
	Sum         float64
	Buckets     map[float64]float64 // cumulative count by upper bound
}

func (p *pushTotals) add(r pyResult) error {
	p.Invocations += r.Invocations
	p.Count += r.Count
	p.Sum += r.Sum
	if p.Buckets == nil {
		p.Buckets = map[float64]float64{}
	}
	for le, v := range r.Buckets {
		bound, err := parseLe(le)
		if err != nil {
			return err
		}
		p.Buckets[bound] += v
	}
	return nil
}

func parseLe(le string) (float64, error) {
	bound, err := strconv.ParseFloat(le, 64)
	if err != nil {
		return 0, fmt.Errorf("bucket bound le=%q: %w", le, err)
	}
	return bound, nil
}

// mismatch says how held differs from the truth; empty when it matches.
func (p pushTotals) mismatch(held pushTotals) string {
	var out []string
	if held.Invocations != p.Invocations {
		out = append(out, fmt.Sprintf("sum(lambda_invocations_total{job=%q}): want %v, Prometheus held %v", pushJob, p.Invocations, held.Invocations))
	}
	if held.Count != p.Count {
		out = append(out, fmt.Sprintf("sum(lambda_execution_duration_seconds_count{job=%q}): want %v, Prometheus held %v", pushJob, p.Count, held.Count))
	}
	if d := math.Abs(held.Sum - p.Sum); !(d <= 1e-9*math.Abs(p.Sum)) {
		out = append(out, fmt.Sprintf("sum(lambda_execution_duration_seconds_sum{job=%q}): want %.12g (the handlers' own sums), Prometheus held %.12g (relative error %.3g)",
			pushJob, p.Sum, held.Sum, d/math.Max(math.Abs(p.Sum), math.SmallestNonzeroFloat64)))
	}
	if !maps.Equal(p.Buckets, held.Buckets) {
		out = append(out, fmt.Sprintf("sum by (le) (lambda_execution_duration_seconds_bucket{job=%q}): want %s, Prometheus held %s", pushJob, fmtBuckets(p.Buckets), fmtBuckets(held.Buckets)))
	}
	return strings.Join(out, "\n")
}

func fmtBuckets(m map[float64]float64) string {
	var parts []string
	for _, le := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%v:%v", le, m[le]))
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// pushReader reads what Prometheus holds of the seed's metrics, and describes its series
// for a failure message.
type pushReader func(ctx context.Context) (held pushTotals, series string, err error)

var pushSelectors = struct{ invocations, count, sum, bucket string }{
	invocations: fmt.Sprintf(`lambda_invocations_total{job=%q}`, pushJob),
	count:       fmt.Sprintf(`lambda_execution_duration_seconds_count{job=%q}`, pushJob),
	sum:         fmt.Sprintf(`lambda_execution_duration_seconds_sum{job=%q}`, pushJob),
	bucket:      fmt.Sprintf(`lambda_execution_duration_seconds_bucket{job=%q}`, pushJob),
}

// instantReader sums the series' current values (sum(...) in PromQL): right while no
// gateway restarted.
func instantReader(prom harness.PrometheusAPI) pushReader {
	return func(ctx context.Context) (pushTotals, string, error) {
		held := pushTotals{Buckets: map[float64]float64{}}
		one := func(selector string) (float64, error) {
			res, err := prom.Query(ctx, "sum("+selector+")", time.Time{})
			if err != nil || len(res) == 0 {
				return 0, err
			}
			return res[0].Value, nil
		}
		var errs [4]error
		held.Invocations, errs[0] = one(pushSelectors.invocations)
		held.Count, errs[1] = one(pushSelectors.count)
		held.Sum, errs[2] = one(pushSelectors.sum)
		var buckets []harness.Series
		buckets, errs[3] = prom.Query(ctx, "sum by (le) ("+pushSelectors.bucket+")", time.Time{})
		for _, b := range buckets {
			bound, err := parseLe(b.Labels["le"])
			if err != nil {
				return held, "", err
			}
			held.Buckets[bound] += b.Value
		}
		if err := errors.Join(errs[:]...); err != nil {
			return held, "", err
		}
		return held, describeSeries(ctx, prom), nil
	}
}

// segmentReader sums, over the series, each one's total over its reset segments
// (harness.Prometheus.CounterTotals, from every raw sample, never increase()): right when
// a gateway restarted and its cumulative series started again from 0.
func segmentReader(prom harness.PrometheusAPI) pushReader {
	const window = 10 * time.Minute
	return func(ctx context.Context) (pushTotals, string, error) {
		held := pushTotals{Buckets: map[float64]float64{}}
		resets := 0
		total := func(selector string, into func(harness.Series) error) error {
			series, r, err := prom.CounterTotals(ctx, selector, window)
			if err != nil {
				return err
			}
			resets += r
			for _, s := range series {
				if err := into(s); err != nil {
					return err
				}
			}
			return nil
		}
		err := errors.Join(
			total(pushSelectors.invocations, func(s harness.Series) error { held.Invocations += s.Value; return nil }),
			total(pushSelectors.count, func(s harness.Series) error { held.Count += s.Value; return nil }),
			total(pushSelectors.sum, func(s harness.Series) error { held.Sum += s.Value; return nil }),
			total(pushSelectors.bucket, func(s harness.Series) error {
				bound, err := parseLe(s.Labels["le"])
				held.Buckets[bound] += s.Value
				return err
			}),
		)
		return held, fmt.Sprintf("%s; %d counter resets in the raw samples (of all four metrics)", describeSeries(ctx, prom), resets), err
	}
}

// describeSeries lists the label sets of lambda_invocations_total, for failure messages.
func describeSeries(ctx context.Context, prom harness.PrometheusAPI) string {
	res, err := prom.Query(ctx, pushSelectors.invocations, time.Time{})
	if err != nil {
		return "series: " + err.Error()
	}
	return fmt.Sprintf("%d series of lambda_invocations_total: %s", len(res), strings.Join(formatSeries(res), "; "))
}

// eventuallyPush waits until Prometheus holds want, then checks that it still does a few
// flushes later. It fails with what was expected and what Prometheus held.
func eventuallyPush(t *testing.T, read pushReader, want pushTotals, what string, ledger func() string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), queryDeadline)
	defer cancel()
	var (
		lastSeries, lastMismatch string
		lastErr                  error
	)
	for {
		held, series, err := read(ctx)
		lastErr = err
		if err == nil {
			lastSeries = series
			lastMismatch = want.mismatch(held)
			if lastMismatch == "" {
				break
			}
		}
		// Only the deadline ends the wait: how long a busy machine takes is not judged.
		if ctx.Err() != nil {
			t.Fatalf("%s: after %d sandboxes x %d invocations of the seed code, Prometheus does not hold what the handlers counted:\n%s\n%s\n%s\n(last error: %v)",
				what, pushSandboxes, pushInvocations, lastMismatch, lastSeries, ledger(), lastErr)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("%s: Prometheus holds the truth: %v invocations, count %v, sum %.9g s; %s; %s", what, want.Invocations, want.Count, want.Sum, lastSeries, ledger())
	time.Sleep(pushHold)
	holdCtx, cancelHold := context.WithTimeout(context.Background(), queryDeadline)
	defer cancelHold()
	held, series, err := read(holdCtx)
	require.NoError(t, err)
	if m := want.mismatch(held); m != "" {
		t.Fatalf("%s: Prometheus held the truth, then %s later no longer:\n%s\n%s\n%s", what, pushHold, m, series, ledger())
	}
}

// pushFleet runs sandboxes of the seed function: each an emulated sandbox (lambdaemu) with
// the real extension binary and a /usr/bin/python3 process running handler.py.
type pushFleet struct {
	extension string // the built extension
	endpoint  string // OTELCOL_LAMBDA_ENDPOINT
	root      string

	done atomic.Int64 // invocations finished, over every sandbox

	mu        sync.Mutex
	logs      []pushLog
	sandboxes []sandboxRecord
	truth     pushTotals
	ran       int
	starts    int
}

// sandboxRecord is what the ledger needs of a sandbox: the first invocation's request id
// (which the extension forwards in platform.start) and how many the handler counted.
type sandboxRecord struct {
	name         string
	firstRequest string
	invocations  int
}

type pushLog struct {
	name string
	out  *harness.LockedBuffer
}

// pySandbox is one emulated sandbox and what its Python process reported last.
type pySandbox struct {
	name         string
	firstRequest string
	emu          *lambdaemu.Emulator
	last         *pyResult
	pid          int
	ran          int
}

func checkPython(t *testing.T) {
	t.Helper()
	out, err := exec.Command(pythonBin, "-c", "import prometheus_client").CombinedOutput()
	if err != nil {
		t.Fatalf("%s cannot import prometheus_client (%v: %s): run 'make deps', which installs python3-prometheus-client", pythonBin, err, out)
	}
}

var (
	quietMu   sync.Mutex
	quietUsed = map[int]bool{}
)

// quietAddr returns a free loopback address for an extension to listen on, with a port
// below the kernel's ephemeral range: between the reservation and the extension's bind, no
// outgoing connection (and there are many: the Python runtime opens one per request) can
// take it, as one can take a port of harness.FreeAddrs.
func quietAddr(t *testing.T) string {
	t.Helper()
	const floor = 10000
	low := harness.EphemeralPortFloor()
	if low < floor+1000 {
		return loopbackAddr(t)
	}
	quietMu.Lock()
	defer quietMu.Unlock()
	for range 1000 {
		port := floor + rand.IntN(low-floor)
		if quietUsed[port] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		l.Close()
		quietUsed[port] = true
		return l.Addr().String()
	}
	t.Fatalf("no free loopback port in [%d, %d)", floor, low)
	return ""
}

// start cold-starts a sandbox of the function; flush is its OTELCOL_LAMBDA_FLUSH.
func (f *pushFleet) start(ctx context.Context, t *testing.T, slot int, flush string) (*pySandbox, error) {
	pushAddr, otlpAddr := quietAddr(t), quietAddr(t)
	log := &harness.LockedBuffer{}
	f.mu.Lock()
	name := fmt.Sprintf("sandbox %d (flush %q, cold start %d)", slot, flush, f.starts+1)
	f.logs = append(f.logs, pushLog{name: name, out: log})
	f.starts++
	f.mu.Unlock()
	fnDir := filepath.Join(f.root, "testbed", "functions", "pyfn")
	emu, err := functionSandbox{
		lambda: lambdaemu.Config{
			FunctionName: "orders-consumer",
			Handler:      "handler.handler",
			// Lambda's limits (10 s init, 2 s shutdown) are deadlines here, and this test
			// judges counts, not speed: on a busy machine a cold start of Python and the
			// extension, or the last flush at shutdown, may take longer than on Lambda.
			InitTimeout:     sandboxDeadline,
			Timeout:         sandboxDeadline,
			ShutdownBudget:  10 * time.Second,
			FreezeProcesses: true,
		},
		argv:      []string{pythonBin, filepath.Join(fnDir, "bootstrap.py")},
		taskRoot:  fnDir,
		extension: f.extension,
		gateway:   f.endpoint,
		otlpAddr:  otlpAddr,
		pushAddr:  pushAddr,
		flush:     flush,
		env: []string{
			"PUSHGATEWAY=" + pushAddr,
			"PYTHONDONTWRITEBYTECODE=1",
			"NO_PROXY=127.0.0.1,localhost",
			"no_proxy=127.0.0.1,localhost",
		},
		output: log,
	}.start(ctx)
	if err != nil {
		return nil, err
	}
	return &pySandbox{name: name, emu: emu}, nil
}

// invoke runs invocation i of sandbox slot; the handler works a few milliseconds.
func (f *pushFleet) invoke(ctx context.Context, sb *pySandbox, slot, i int) error {
	payload := fmt.Appendf(nil, `{"sleepMs":%d,"order":"o-%d-%d"}`, 1+(slot*7+i*3)%6, slot, i)
	res, err := sb.emu.Invoke(ctx, lambdaemu.InvokeRequest{Payload: payload})
	if err != nil {
		return fmt.Errorf("invocation %d: %w", i, err)
	}
	if res.Status != telemetryapi.StatusSuccess {
		return fmt.Errorf("invocation %d: %s %s: %s", i, res.Status, res.ErrorType, res.Response)
	}
	var r pyResult
	if err := json.Unmarshal(res.Response, &r); err != nil {
		return fmt.Errorf("invocation %d: response %q: %w", i, res.Response, err)
	}
	if sb.pid == 0 {
		sb.pid = r.PID
		sb.firstRequest = res.RequestID
	}
	sb.ran++
	// One process per sandbox, counting from 0: the registry holds this sandbox's runs.
	if r.PID != sb.pid || r.Invocations != float64(sb.ran) || r.Count != float64(sb.ran) {
		return fmt.Errorf("invocation %d: the handler's registry says %+v after %d invocations of process %d", i, r, sb.ran, sb.pid)
	}
	sb.last = &r
	f.done.Add(1)
	return nil
}

// end shuts the sandbox down (spindown, as Lambda does) and adds what its process counted
// to the truth.
func (f *pushFleet) end(ctx context.Context, sb *pySandbox) error {
	defer sb.emu.Close()
	if _, err := sb.emu.Shutdown(ctx, lambdaemu.ShutdownSpindown); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ran += sb.ran
	f.sandboxes = append(f.sandboxes, sandboxRecord{name: sb.name, firstRequest: sb.firstRequest, invocations: sb.ran})
	if sb.last == nil {
		return nil
	}
	return f.truth.add(*sb.last)
}

// pushRun says what happens during a run.
type pushRun struct {
	// recycle shuts sandbox 0 down after half its invocations and cold-starts a fresh
	// one (a new Python process, its counters from 0) for the rest.
	recycle bool
	// midway runs once half of all invocations are done, while they go on; the sandboxes
	// are shut down only after it returned.
	midway func(t *testing.T)
}

// ledger describes, from the proxy's ledger, what the extensions sent.
func (f *pushFleet) ledger(p *gatewayProxy) func() string {
	return func() string {
		f.mu.Lock()
		sandboxes := slices.Clone(f.sandboxes)
		f.mu.Unlock()
		return p.summary(sandboxes)
	}
}

// run runs pushSandboxes sandboxes of pushInvocations invocations each, at once, and
// returns the ground truth once every sandbox was shut down.
func (f *pushFleet) run(t *testing.T, opts pushRun) pushTotals {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	began := time.Now()
	t.Cleanup(func() {
		if t.Failed() {
			f.mu.Lock()
			defer f.mu.Unlock()
			for _, log := range f.logs {
				t.Logf("%s output (last 3 KiB):\n%s", log.name, harness.Tail(log.out.String(), 3072))
			}
		}
	})

	total := int64(pushSandboxes * pushInvocations)
	midwayDone, sandboxesDone := make(chan struct{}), make(chan struct{})
	if opts.midway == nil {
		close(midwayDone)
	} else {
		go func() {
			defer close(midwayDone)
			for f.done.Load() < total/2 {
				select {
				case <-sandboxesDone: // they failed before halfway: reported below
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
			opts.midway(t)
		}()
	}

	var wg sync.WaitGroup
	errs := make(chan error, pushSandboxes)
	finished := make(chan *pySandbox, pushSandboxes)
	for slot := range pushSandboxes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			flush := pushFlushes[slot%len(pushFlushes)]
			sb, err := f.start(ctx, t, slot, flush)
			if err != nil {
				errs <- fmt.Errorf("sandbox %d: %w", slot, err)
				return
			}
			for i := range pushInvocations {
				if opts.recycle && slot == 0 && i == pushInvocations/2 {
					if err := f.end(ctx, sb); err != nil {
						errs <- fmt.Errorf("sandbox %d, recycled: %w", slot, err)
						return
					}
					if sb, err = f.start(ctx, t, slot, flush); err != nil {
						errs <- fmt.Errorf("sandbox %d, restarted: %w", slot, err)
						return
					}
				}
				if err := f.invoke(ctx, sb, slot, i); err != nil {
					_ = sb.emu.Close()
					errs <- fmt.Errorf("sandbox %d (flush %q): %w", slot, flush, err)
					return
				}
				// The sandbox stays frozen a moment, sometimes, between invocations.
				time.Sleep(time.Duration((slot+i)%4) * 3 * time.Millisecond)
			}
			finished <- sb
		}()
	}
	wg.Wait()
	close(sandboxesDone)
	close(errs)
	close(finished)
	sandboxes := []*pySandbox{}
	for sb := range finished {
		sandboxes = append(sandboxes, sb)
	}
	var failures []error
	for err := range errs {
		failures = append(failures, err)
	}
	<-midwayDone
	for _, sb := range sandboxes {
		if err := f.end(ctx, sb); err != nil {
			failures = append(failures, err)
		}
	}
	require.NoError(t, errors.Join(failures...))

	f.mu.Lock()
	defer f.mu.Unlock()
	require.Equal(t, int(total), f.ran, "invocations run")
	require.Equal(t, float64(total), f.truth.Invocations, "the handlers' counters, summed over processes")
	require.Equal(t, float64(total), f.truth.Count)
	t.Logf("%d sandboxes (%d cold starts) ran %d invocations in %s; the handlers measured %.9g s in all",
		pushSandboxes, f.starts, total, time.Since(began).Round(time.Millisecond), f.truth.Sum)
	return f.truth
}

// gatewayProxy stands between the extensions and the gateway in every variant. It keeps a
// ledger of the seed's increments in each /v1/metrics request, by extension instance,
// sequence number and body, with the gateway's answers, and learns which instance is
// which sandbox from the request ids of the Telemetry API batches: when Prometheus does
// not hold the truth, the failure says whether each sandbox's extension sent what its
// handler pushed (and so whether the extension or the gateway lost it). Otherwise it
// passes requests and answers through unchanged, on the extension's own request context,
// so that an extension giving up on a request cancels it at the gateway as well.
//
// With replay set, the gateway gets /v1/metrics batches again, in turn: a batch is sent
// twice (the second answer goes back); a batch's answer is lost (the connection is cut),
// so that the extension sends it again within the flush; a batch is answered only after
// the flush gave up, twice, so that the extension sends it again at a later flush. A
// gateway that cannot be reached is a cut connection, as without the proxy.
type gatewayProxy struct {
	target string // the gateway's base URL
	replay bool
	client *http.Client
	url    string // the proxy's base URL

	metrics, duplicated, cut, gaveUp atomic.Int64
	batches                          int // distinct /v1/metrics batches, for the treatments

	mu     sync.Mutex
	ledger map[ledgerKey]*ledgerEntry
	paths  map[seqKey]map[string]bool // the paths each numbered request was sent to
	// requests maps the request ids of the Telemetry API batches' platform.start events
	// to the extension instance that forwarded them: which sandbox an instance is.
	requests map[string]string
}

type ledgerKey struct {
	instance string
	seq      string
	body     [32]byte // sha256: a sequence number sent again with other bytes is another entry
}

type seqKey struct{ instance, seq string }

type ledgerEntry struct {
	invocations, count, sum float64
	attempts                int // requests from the extension
	sent, accepted          int // requests to the gateway, and 2xx answers
	treatment               int
}

// What the replaying proxy does to a /v1/metrics batch, in turn.
const (
	treatPass      = iota
	treatDuplicate // the first attempt goes to the gateway twice
	treatCut       // the first attempt's answer is lost: the connection is cut
	treatSlow      // the first two attempts are answered after slowAnswer only
	treatments
)

// slowAnswer is longer than the extension's flush budget (OTELCOL_LAMBDA_FLUSH_TIMEOUT_MS,
// 200 ms): it gives up and keeps the batch for a later flush.
const slowAnswer = 400 * time.Millisecond

func startGatewayProxy(t *testing.T, target string, replay bool) *gatewayProxy {
	t.Helper()
	p := &gatewayProxy{target: target, replay: replay, client: &http.Client{Timeout: 30 * time.Second},
		ledger: map[ledgerKey]*ledgerEntry{}, paths: map[seqKey]map[string]bool{}, requests: map[string]string{}}
	var stop func() error
	var err error
	p.url, stop, err = harness.Serve(p)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = stop()
		p.client.CloseIdleConnections()
	})
	return p
}

func (p *gatewayProxy) forward(r *http.Request, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header = r.Header.Clone()
	req.Header.Del("Connection")
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	return resp, answer, err
}

func (p *gatewayProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var entry *ledgerEntry
	treatment, attempt := treatPass, 0
	if seq := r.Header.Get("Lambda-Batch-Sequence"); seq != "" {
		key := seqKey{r.Header.Get("Lambda-Extension-Instance-Id"), seq}
		p.mu.Lock()
		if p.paths[key] == nil {
			p.paths[key] = map[string]bool{}
		}
		p.paths[key][r.URL.Path+" "+fmt.Sprintf("%x", sha256.Sum256(body))[:12]] = true
		p.mu.Unlock()
	}
	if r.URL.Path == wire.TelemetryPath {
		p.noteRequests(r, body)
	}
	if r.URL.Path == "/v1/metrics" {
		p.metrics.Add(1)
		entry = p.entry(r, body)
		p.mu.Lock()
		entry.attempts++
		attempt = entry.attempts
		if p.replay {
			treatment = entry.treatment
		}
		p.mu.Unlock()
	}
	record := func(resp *http.Response, err error) {
		if entry == nil {
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		entry.sent++
		if err == nil && resp.StatusCode < 300 {
			entry.accepted++
		}
	}
	resp, answer, err := p.forward(r, body)
	record(resp, err)
	if err == nil && treatment == treatDuplicate && attempt == 1 && resp.StatusCode < 300 {
		p.duplicated.Add(1)
		resp, answer, err = p.forward(r, body)
		record(resp, err)
	}
	if err != nil {
		panic(http.ErrAbortHandler) // as the gateway's own connection would fail
	}
	if treatment == treatCut && attempt == 1 && resp.StatusCode < 300 {
		// The gateway took it; the extension never hears so.
		p.cut.Add(1)
		panic(http.ErrAbortHandler)
	}
	if treatment == treatSlow && attempt <= 2 {
		// The gateway took it; the answer comes late, after the flush's budget: the
		// extension gives up and sends the batch again at a later flush.
		select {
		case <-r.Context().Done():
			p.gaveUp.Add(1)
			panic(http.ErrAbortHandler)
		case <-time.After(slowAnswer):
		}
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(answer)
}

// entry returns the ledger entry of a /v1/metrics request, with the seed's increments it
// carries (the extension sends OTLP/JSON deltas).
func (p *gatewayProxy) entry(r *http.Request, body []byte) *ledgerEntry {
	key := ledgerKey{instance: r.Header.Get("Lambda-Extension-Instance-Id"), seq: r.Header.Get("Lambda-Batch-Sequence"), body: sha256.Sum256(body)}
	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.ledger[key]; ok {
		return e
	}
	e := &ledgerEntry{treatment: p.batches % treatments}
	p.batches++
	p.ledger[key] = e
	var req struct {
		ResourceMetrics []struct {
			ScopeMetrics []struct {
				Metrics []struct {
					Name string `json:"name"`
					Sum  *struct {
						DataPoints []struct {
							AsDouble json.Number `json:"asDouble"`
						} `json:"dataPoints"`
					} `json:"sum"`
					Histogram *struct {
						DataPoints []struct {
							Count json.Number `json:"count"`
							Sum   json.Number `json:"sum"`
						} `json:"dataPoints"`
					} `json:"histogram"`
				} `json:"metrics"`
			} `json:"scopeMetrics"`
		} `json:"resourceMetrics"`
	}
	if r.Header.Get("Content-Encoding") != "" || json.Unmarshal(body, &req) != nil {
		return e // not the extension's OTLP/JSON: not in the ledger's sums
	}
	num := func(n json.Number) float64 {
		f, _ := strconv.ParseFloat(strings.Trim(n.String(), `"`), 64)
		return f
	}
	for _, rm := range req.ResourceMetrics {
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				switch {
				case strings.HasPrefix(m.Name, "lambda_invocations") && m.Sum != nil:
					for _, dp := range m.Sum.DataPoints {
						e.invocations += num(dp.AsDouble)
					}
				case m.Name == "lambda_execution_duration_seconds" && m.Histogram != nil:
					for _, dp := range m.Histogram.DataPoints {
						e.count += num(dp.Count)
						e.sum += num(dp.Sum)
					}
				}
			}
		}
	}
	return e
}

// noteRequests remembers which extension instance forwarded which invocations.
func (p *gatewayProxy) noteRequests(r *http.Request, body []byte) {
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return
		}
		if body, err = io.ReadAll(zr); err != nil {
			return
		}
	}
	var events []telemetryapi.Event
	if json.Unmarshal(body, &events) != nil {
		return
	}
	instance := r.Header.Get("Lambda-Extension-Instance-Id")
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ev := range events {
		var rec struct {
			RequestID string `json:"requestId"`
		}
		if ev.Type == telemetryapi.TypePlatformStart && json.Unmarshal(ev.Record, &rec) == nil && rec.RequestID != "" {
			p.requests[rec.RequestID] = instance
		}
	}
}

// summary sums the ledger: what the extensions sent of the seed's metrics (each batch
// once), what the gateway answered 2xx to, and how many batches it was sent more than once.
func (p *gatewayProxy) summary(sandboxes []sandboxRecord) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var sent, accepted ledgerEntry
	batches, unanswered, resent := 0, 0, 0
	byInstance := map[string]*ledgerEntry{}
	for k, e := range p.ledger {
		if byInstance[k.instance] == nil {
			byInstance[k.instance] = &ledgerEntry{}
		}
		byInstance[k.instance].invocations += e.invocations
		byInstance[k.instance].count += e.count
		batches++
		sent.invocations += e.invocations
		sent.count += e.count
		sent.sum += e.sum
		if e.accepted > 0 {
			accepted.invocations += e.invocations
			accepted.count += e.count
			accepted.sum += e.sum
		} else {
			unanswered++
		}
		if e.sent > 1 {
			resent++
		}
	}
	var reused []string
	for k, paths := range p.paths {
		if len(paths) > 1 {
			list := make([]string, 0, len(paths))
			for path := range paths {
				list = append(list, path)
			}
			sort.Strings(list)
			reused = append(reused, fmt.Sprintf("%s#%s: %s", k.instance, k.seq, strings.Join(list, ", ")))
		}
	}
	sort.Strings(reused)
	var short []string
	for _, sb := range sandboxes {
		instance := p.requests[sb.firstRequest]
		got := byInstance[instance]
		if got == nil {
			got = &ledgerEntry{}
		}
		if n := float64(sb.invocations); instance == "" || got.invocations != n || got.count != n {
			short = append(short, fmt.Sprintf("%s, extension instance %q: the handler counted %d invocations, its extension sent +%v (duration count +%v)",
				sb.name, instance, sb.invocations, got.invocations, got.count))
		}
	}
	return fmt.Sprintf("%d sandboxes whose extension did not send exactly what the handler pushed: %s\n", len(short), strings.Join(short, "; ")) + fmt.Sprintf("the extensions sent %d /v1/metrics batches (%d more than once, %d never answered 2xx): "+
		"lambda_invocations_total +%v, duration count +%v, sum +%.9g; of these the gateway answered 2xx to +%v, +%v, +%.9g; "+
		"%d sequence numbers sent with different bodies or paths: %s",
		batches, resent, unanswered, sent.invocations, sent.count, sent.sum, accepted.invocations, accepted.count, accepted.sum,
		len(reused), strings.Join(reused, "; "))
}

func newPushFleet(t *testing.T, endpoint string) *pushFleet {
	t.Helper()
	return &pushFleet{
		extension: buildExtension(t),
		endpoint:  endpoint,
		root:      repoRoot(t),
	}
}

// TestPushSeedCode: the seed's code in 8 sandboxes at once, 50 invocations each, pushes
// interleaved with invocations, freezes and the extensions' flushes.
func TestPushSeedCode(t *testing.T) {
	t.Parallel()
	pushOnStack(t, "seed code", false, pushRun{}, nil)
}

// TestPushSandboxRecycled: one sandbox is shut down after half its invocations and a
// fresh one (a new Python process, counters from 0) takes the rest.
func TestPushSandboxRecycled(t *testing.T) {
	t.Parallel()
	pushOnStack(t, "sandbox recycled", false, pushRun{recycle: true}, nil)
}

// TestPushGatewayRestart: the gateway is stopped gracefully (SIGTERM) halfway through and
// started again on the same addresses with the same replica id, while the invocations go
// on. Prometheus' counters are read as totals per reset segment, summed over instances.
func TestPushGatewayRestart(t *testing.T) {
	t.Parallel()
	checkPython(t)
	gw, prom := startGatewayWithPrometheus(t)
	proxy := startGatewayProxy(t, gw.url, false)
	restarted := false
	fleet := newPushFleet(t, proxy.url)
	truth := fleet.run(t, pushRun{midway: func(t *testing.T) {
		stoppedAfter := fleet.done.Load()
		if err := gw.restart(); err != nil {
			t.Error(err)
			return
		}
		restarted = true
		t.Logf("gateway stopped (SIGTERM) after %d of %d invocations, ready again after %d", stoppedAfter, pushSandboxes*pushInvocations, fleet.done.Load())
	}})
	require.True(t, restarted, "the gateway restarted")
	eventuallyPush(t, segmentReader(prom), truth, "gateway restarted", fleet.ledger(proxy))
}

// TestPushBatchReplayed: the gateway receives batches again (sent twice, resent by the
// extension after losing the answer, or resent at a later flush after a slow answer); it
// must count each once, and the extension must still send everything.
func TestPushBatchReplayed(t *testing.T) {
	t.Parallel()
	pushOnStack(t, "batches replayed", true, pushRun{}, func(proxy *gatewayProxy) {
		t.Logf("replay proxy: %d /v1/metrics requests, %d sent twice, %d answers cut, %d answers the extension gave up waiting for",
			proxy.metrics.Load(), proxy.duplicated.Load(), proxy.cut.Load(), proxy.gaveUp.Load())
		require.Positive(t, proxy.duplicated.Load(), "batches sent twice")
		require.Positive(t, proxy.cut.Load(), "answers cut")
		require.Positive(t, proxy.gaveUp.Load(), "answers the extension gave up waiting for")
	})
}

// pushOnStack runs the seed's fleet against a whole stack (the gateway flushing every
// second) through a gatewayProxy, replaying batches with replay, and waits until
// Prometheus holds what the handlers counted; checkProxy, when set, looks at the proxy
// first.
func pushOnStack(t *testing.T, what string, replay bool, opts pushRun, checkProxy func(*gatewayProxy)) {
	t.Helper()
	checkPython(t)
	s := startStack(t)
	proxy := startGatewayProxy(t, s.URL, replay)
	fleet := newPushFleet(t, proxy.url)
	truth := fleet.run(t, opts)
	if checkProxy != nil {
		checkProxy(proxy)
	}
	eventuallyPush(t, instantReader(s.Prometheus), truth, what, fleet.ledger(proxy))
}
