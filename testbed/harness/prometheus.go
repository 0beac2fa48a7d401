// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/rwsink"
)

// Prometheus is a real Prometheus server (the Debian package's binary) with the
// remote-write receiver on, and no scrape jobs: everything it holds was remote-written.
type Prometheus struct {
	*Process
	PrometheusAPI
	dir string
}

// PrometheusAPI reads a Prometheus server through its HTTP API: one the harness started,
// or the one distribution/run.sh started (Stack).
type PrometheusAPI struct {
	// URL is the server's base URL.
	URL string
}

// StartPrometheus starts bin (default "prometheus" on PATH) on a free loopback port with
// its storage in a temporary directory, and waits until it is ready.
func StartPrometheus(bin string) (*Prometheus, error) {
	if bin == "" {
		bin = "prometheus"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("no Prometheus binary (make deps installs the Debian package): %w", err)
	}
	addrs, err := FreeAddrs(1)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "otelcol-lambda-prometheus-*")
	if err != nil {
		return nil, err
	}
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, []byte("global:\n  evaluation_interval: 15s\n"), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(path,
		"--config.file="+config,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addrs[0],
		"--web.enable-remote-write-receiver",
		"--enable-feature=exemplar-storage,native-histograms",
	)
	p, err := StartProcess(cmd)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	prom := &Prometheus{Process: p, PrometheusAPI: PrometheusAPI{URL: "http://" + addrs[0]}, dir: dir}
	if err := p.waitReady("prometheus", prom.URL+"/-/ready", 60*time.Second); err != nil {
		_ = prom.Stop()
		return nil, err
	}
	return prom, nil
}

// WriteURL is the remote-write endpoint.
func (p PrometheusAPI) WriteURL() string { return p.URL + "/api/v1/write" }

// Stop stops Prometheus and removes its storage.
func (p *Prometheus) Stop() error {
	err := p.Process.Stop(syscall.SIGTERM, 30*time.Second)
	os.RemoveAll(p.dir)
	return err
}

// Series is one series of a query's answer: a float value for an instant vector, the raw
// samples of a range-vector selector, or a native histogram.
type Series struct {
	Labels map[string]string
	Value  float64
	Points []rwsink.Point
	// Histogram is the native histogram sample's object (count, sum, buckets) as
	// Prometheus' API writes it; nil for a float sample.
	Histogram json.RawMessage
}

// Query runs an instant PromQL query at time at (zero: now). The answer may be a vector
// (Value set) or a matrix (Points set, for a selector such as metric[10m]).
func (p PrometheusAPI) Query(ctx context.Context, promql string, at time.Time) ([]Series, error) {
	params := url.Values{"query": {promql}}
	if !at.IsZero() {
		params.Set("time", strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64))
	}
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric    map[string]string `json:"metric"`
			Value     []any             `json:"value"`
			Values    [][]any           `json:"values"`
			Histogram []json.RawMessage `json:"histogram"`
		} `json:"result"`
	}
	if err := p.get(ctx, "/api/v1/query?"+params.Encode(), &data); err != nil {
		return nil, fmt.Errorf("query %q: %w", promql, err)
	}
	out := make([]Series, 0, len(data.Result))
	for _, r := range data.Result {
		s := Series{Labels: r.Metric}
		if len(r.Value) == 2 {
			var err error
			if _, s.Value, err = point(r.Value); err != nil {
				return nil, fmt.Errorf("query %q: %w", promql, err)
			}
		}
		if len(r.Histogram) == 2 {
			s.Histogram = r.Histogram[1]
		}
		for _, v := range r.Values {
			ts, value, err := point(v)
			if err != nil {
				return nil, fmt.Errorf("query %q: %w", promql, err)
			}
			s.Points = append(s.Points, rwsink.Point{Timestamp: ts, Value: value})
		}
		out = append(out, s)
	}
	return out, nil
}

// Exemplar is one exemplar Prometheus holds: its labels (trace_id, span_id) and value.
type Exemplar struct {
	Labels map[string]string
	Value  float64
}

// Exemplars returns the exemplars of the series promql selects, between start and end.
func (p PrometheusAPI) Exemplars(ctx context.Context, promql string, start, end time.Time) ([]Exemplar, error) {
	params := url.Values{
		"query": {promql},
		"start": {strconv.FormatInt(start.Unix(), 10)},
		"end":   {strconv.FormatInt(end.Unix(), 10)},
	}
	var data []struct {
		Exemplars []struct {
			Labels map[string]string `json:"labels"`
			Value  string            `json:"value"`
		} `json:"exemplars"`
	}
	if err := p.get(ctx, "/api/v1/query_exemplars?"+params.Encode(), &data); err != nil {
		return nil, fmt.Errorf("exemplars of %q: %w", promql, err)
	}
	var out []Exemplar
	for _, series := range data {
		for _, e := range series.Exemplars {
			v, err := strconv.ParseFloat(e.Value, 64)
			if err != nil {
				return nil, fmt.Errorf("exemplars of %q: %w", promql, err)
			}
			out = append(out, Exemplar{Labels: e.Labels, Value: v})
		}
	}
	return out, nil
}

// RuleGroup is a rule group Prometheus loaded, with each rule's name, type and health.
type RuleGroup struct {
	Name  string `json:"name"`
	Rules []struct {
		Name   string `json:"name"`
		Type   string `json:"type"`   // "recording" or "alerting"
		Health string `json:"health"` // "ok", "err" or "unknown" (not evaluated yet)
		// LastError is why the last evaluation failed, when Health is "err".
		LastError string `json:"lastError"`
	} `json:"rules"`
}

// RuleGroups lists the rule groups Prometheus loaded (/api/v1/rules).
func (p PrometheusAPI) RuleGroups(ctx context.Context) ([]RuleGroup, error) {
	var data struct {
		Groups []RuleGroup `json:"groups"`
	}
	if err := p.get(ctx, "/api/v1/rules", &data); err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	return data.Groups, nil
}

// get decodes the data of the API's answer to GET path. Prometheus answers a bad query
// with a 4xx whose body says why (status "error"): that is the error.
func (p PrometheusAPI) get(ctx context.Context, path string, data any) error {
	body, _, err := fetch(ctx, p.URL+path)
	if err != nil {
		return err
	}
	var answer struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return fmt.Errorf("decoding the answer: %w (%s)", err, Tail(string(body), 512))
	}
	if answer.Status != "success" {
		return fmt.Errorf("%s: %s", answer.Status, answer.Error)
	}
	return json.Unmarshal(answer.Data, data)
}

// fetch GETs url and returns its body (at most 64 MiB) and status code.
func fetch(ctx context.Context, url string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return body, resp.StatusCode, err
}

// point decodes Prometheus' [unix seconds, "value"] pair.
func point(pair []any) (int64, float64, error) {
	if len(pair) != 2 {
		return 0, 0, fmt.Errorf("unexpected sample %v", pair)
	}
	ts, ok1 := pair[0].(float64)
	str, ok2 := pair[1].(string)
	if !ok1 || !ok2 {
		return 0, 0, fmt.Errorf("unexpected sample %v", pair)
	}
	v, err := strconv.ParseFloat(str, 64)
	return int64(ts*1000 + 0.5), v, err
}

// CounterTotals reads every raw sample of the series that selector (e.g.
// `faas_invocations_total{faas_name=~"steady-.*"}`) selects over the last window, and
// returns each series' total over its reset segments (rwsink.CounterTotal), with how
// many resets it saw. This is how a scenario checks Prometheus against the ground truth
// when a gateway restarted: never increase(), which extrapolates.
func (p PrometheusAPI) CounterTotals(ctx context.Context, selector string, window time.Duration) ([]Series, int, error) {
	series, err := p.Query(ctx, fmt.Sprintf("%s[%dms]", selector, window.Milliseconds()), time.Time{})
	if err != nil {
		return nil, 0, err
	}
	resets := 0
	for i := range series {
		sort.Slice(series[i].Points, func(a, b int) bool { return series[i].Points[a].Timestamp < series[i].Points[b].Timestamp })
		total, r := rwsink.CounterTotal(series[i].Points)
		series[i].Value = total
		resets += r
	}
	return series, resets, nil
}

// Tee is a remote-write endpoint that writes every request to Prometheus and, once
// Prometheus took it, to the validating sink: both backends see the same writes. It
// answers with Prometheus' status, so the gateway retries what Prometheus could not take.
type Tee struct {
	// Sink may be nil: the writes then go to Prometheus only (a run whose series would not
	// fit the sink's memory, which keeps every sample).
	Sink       *rwsink.Sink
	Prometheus string // remote-write URL
	Client     *http.Client
	// Refused counts the writes Prometheus answered with a 4xx (out-of-order samples
	// after a retry, for instance); they still reach the sink.
	Refused atomic.Int64
}

func (t *Tee) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	client := t.Client
	if client == nil {
		client = http.DefaultClient
	}
	// A gateway killed while it waits for the answer must not leave the write in
	// Prometheus and not in the sink: the tee finishes what it started.
	req, err := http.NewRequestWithContext(context.WithoutCancel(r.Context()), http.MethodPost, t.Prometheus, bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := client.Do(req)
	if err != nil {
		http.Error(w, "prometheus: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		http.Error(w, "prometheus: "+string(answer), resp.StatusCode)
		return
	}
	if resp.StatusCode >= 400 {
		t.Refused.Add(1)
	}
	// Prometheus decides the answer; the sink's matters only when Prometheus took a
	// write that the sink could not decode.
	var sinkErr error
	if t.Sink != nil {
		sinkErr = t.Sink.Write(body)
	}
	switch {
	case resp.StatusCode >= 400:
		http.Error(w, "prometheus: "+string(answer), resp.StatusCode)
	case sinkErr != nil:
		http.Error(w, "rwsink: "+sinkErr.Error(), http.StatusBadRequest)
	default:
		w.WriteHeader(resp.StatusCode)
	}
}
