// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/loadgen"
)

// grafanaDashboard is what the test reads of a committed dashboard's JSON: its variables and
// its panels' queries. Plain encoding/json: the Grafana SDK stays in dashgen's module.
type grafanaDashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Query      any    `json:"query"`
			IncludeAll bool   `json:"includeAll"`
			AllValue   string `json:"allValue"`
		} `json:"list"`
	} `json:"templating"`
	Panels []grafanaPanel `json:"panels"`
}

type grafanaPanel struct {
	Type    string `json:"type"`
	Title   string `json:"title"`
	Targets []struct {
		RefID    string `json:"refId"`
		Expr     string `json:"expr"`
		Exemplar bool   `json:"exemplar"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // a collapsed row's
}

// dashboardQuery is one query a dashboard makes, with Grafana's variables substituted.
type dashboardQuery struct {
	where string // dashboard, panel and query, for the messages
	expr  string
	// exemplars: the query asks for exemplars, and Prometheus must hold some for it.
	exemplars bool
	// want, for a variable's query, is a value the variable must offer.
	want, label string
}

// grafanaBuiltins are the values the test gives Grafana's own variables: the rate window
// Grafana picks for a 15s scrape interval, and the dashboards' default time range.
var grafanaBuiltins = map[string]string{"__rate_interval": "1m", "__interval": "1m", "__range": "1h"}

// labelValues is a query variable's label_values(selector, label).
var labelValues = regexp.MustCompile(`^label_values\((.*),\s*(\w+)\)$`)

// readDashboards reads every committed dashboard and lists its queries, each variable's
// value substituted: All (the variable's allValue) where the variable offers it, else the
// value in single.
func readDashboards(t *testing.T, single map[string]string) []dashboardQuery {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(repoRoot(t), "distribution", "grafana", "dashboards", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, paths, "no dashboards in distribution/grafana/dashboards: run 'make dashboards'")
	var queries []dashboardQuery
	for _, path := range paths {
		body, err := os.ReadFile(path)
		require.NoError(t, err)
		var d grafanaDashboard
		require.NoError(t, json.Unmarshal(body, &d), path)

		values := map[string]string{}
		for k, v := range grafanaBuiltins {
			values[k] = v
		}
		type variableQuery struct{ name, query string }
		var variables []variableQuery
		for _, v := range d.Templating.List {
			switch {
			case v.Type == "datasource": // the test's one Prometheus
			case v.IncludeAll:
				values[v.Name] = v.AllValue
			default:
				value, ok := single[v.Name]
				require.True(t, ok, "%s: the test has no value for the variable %s", d.Title, v.Name)
				values[v.Name] = value
			}
			if query, ok := v.Query.(string); ok && v.Type == "query" {
				variables = append(variables, variableQuery{v.Name, query})
			}
		}
		substitute := grafanaSubstitution(values)
		for _, v := range variables {
			m := labelValues.FindStringSubmatch(v.query)
			require.NotNil(t, m, "%s: variable %s: %q is not label_values(selector, label)", d.Title, v.name, v.query)
			q := dashboardQuery{where: fmt.Sprintf("%s: variable %s", d.Title, v.name), label: m[2],
				expr: fmt.Sprintf("count by (%s) (%s)", m[2], substitute(m[1]))}
			if value, ok := single[v.name]; ok {
				q.want = value
			}
			queries = append(queries, q)
		}
		for _, p := range flattenPanels(d.Panels) {
			require.NotEmpty(t, p.Targets, "%s: panel %q has no query", d.Title, p.Title)
			for _, target := range p.Targets {
				expr := substitute(target.Expr)
				where := fmt.Sprintf("%s: panel %q, query %s", d.Title, p.Title, target.RefID)
				require.NotContains(t, expr, "$", "%s: a variable the test does not know: %s", where, expr)
				queries = append(queries, dashboardQuery{where: where, expr: expr, exemplars: target.Exemplar})
			}
		}
	}
	return queries
}

// flattenPanels lists panels and the panels of rows, without the rows.
func flattenPanels(panels []grafanaPanel) []grafanaPanel {
	var out []grafanaPanel
	for _, p := range panels {
		if p.Type != "row" {
			out = append(out, p)
		}
		out = append(out, flattenPanels(p.Panels)...)
	}
	return out
}

// grafanaSubstitution replaces $name and ${name} by values[name], as Grafana interpolates a
// query (a multi-value variable set to All becomes its allValue, a regex).
func grafanaSubstitution(values map[string]string) func(string) string {
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	// Longest first, so that $__rate_interval is not read as $__range and the rest.
	sort.Slice(names, func(i, j int) bool { return len(names[i]) > len(names[j]) })
	var pairs []string
	for _, name := range names {
		pairs = append(pairs, "${"+name+"}", values[name], "$"+name, values[name])
	}
	return strings.NewReplacer(pairs...).Replace
}

// exemplarTraceLabels reads distribution/grafana/provisioning's Prometheus datasource: the
// exemplar labels its exemplarTraceIdDestinations turn into links, each to a datasource
// provisioned beside it.
func exemplarTraceLabels(t *testing.T) []string {
	t.Helper()
	body, err := os.ReadFile(filepath.Join(repoRoot(t), "distribution", "grafana", "provisioning", "datasources", "otelcol-lambda.yaml"))
	require.NoError(t, err)
	var file struct {
		Datasources []struct {
			UID      string `yaml:"uid"`
			Type     string `yaml:"type"`
			JSONData struct {
				ExemplarTraceIDDestinations []struct {
					Name          string `yaml:"name"`
					DatasourceUID string `yaml:"datasourceUid"`
				} `yaml:"exemplarTraceIdDestinations"`
			} `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	require.NoError(t, yaml.Unmarshal(body, &file))
	var labels, uids, linked []string
	for _, ds := range file.Datasources {
		uids = append(uids, ds.UID)
		if ds.Type != "prometheus" {
			continue
		}
		for _, d := range ds.JSONData.ExemplarTraceIDDestinations {
			labels = append(labels, d.Name)
			if d.DatasourceUID != "" {
				linked = append(linked, d.DatasourceUID)
			}
		}
	}
	require.NotEmpty(t, labels, "the provisioned Prometheus datasource links no exemplar label to a trace store")
	require.Subset(t, uids, linked, "exemplars link to a datasource that is not provisioned")
	return labels
}

// dashboardFunction is the fleet's function that exercises the most of the function
// dashboard: timeouts, out-of-memory kills, cold starts, its own spans, and the most error
// types.
func dashboardFunction(t *testing.T, fleet *loadgen.Fleet) string {
	t.Helper()
	best, bestTypes := "", 0
	for _, fn := range fleet.Functions() {
		tr := fleet.Truth[fn]
		if tr.Timeouts > 0 && tr.OOMs > 0 && tr.ColdStarts > 0 && tr.Spans > 0 && len(tr.Errors) > bestTypes {
			best, bestTypes = fn, len(tr.Errors)
		}
	}
	require.NotEmpty(t, best, "no function of the fleet has timeouts, out-of-memory kills, cold starts and spans")
	return best
}

// TestDashboardQueriesReturnData runs every query of every committed Grafana dashboard
// (distribution/grafana/dashboards) against the Prometheus of `make run JAEGER=1`, after a
// fleet that exercises every panel: functions of every event source with errors of each
// type, timeouts, out-of-memory kills and cold starts, a function's SDK metrics, telemetry
// dropped by an extension and by Lambda, and a refused request. Every query must answer
// without error and with data, the duration's exemplars too, and every variable must offer
// values. No Grafana runs here: this is what stands in for rendering the dashboards.
//
// It runs twice: with the classic histograms, and with the native-histograms overlay, in
// which the histogram queries' other side (`classic or native`) must answer.
func TestDashboardQueriesReturnData(t *testing.T) {
	for _, mode := range []struct{ name, overlays string }{
		{name: "classic-histograms"},
		{name: "native-histograms", overlays: "distribution/overlays/native-histograms.yaml"},
	} {
		t.Run(mode.name, func(t *testing.T) { checkDashboardQueries(t, mode.overlays) })
	}
}

// checkDashboardQueries is TestDashboardQueriesReturnData with the gateway's overlays.
func checkDashboardQueries(t *testing.T, overlays string) {
	started := time.Now()
	s := startStackWith(t, harness.StackConfig{
		JaegerBin: jaegerBinary(t),
		// Recording rules every second, not 15: the rule-based panels have values sooner.
		Env: []string{"PROMETHEUS_EVALUATION_INTERVAL=1s", "OTELCOL_LAMBDA_OVERLAYS=" + overlays},
	})
	fleet, err := loadgen.Generate(loadgen.Config{
		Prefix: "dash", Functions: len(loadgen.Triggers), Sandboxes: 2, Invocations: 1800, PerBatch: 10,
		Mix:  loadgen.Mix{ColdStart: 0.05, Error: 0.12, Timeout: 0.05, OOM: 0.03, Retry: 0.3},
		Seed: 15,
		// Recent enough for every exemplar to be in the hour the test asks about.
		Start:         time.Now().Add(-2 * time.Minute),
		FunctionSpans: true, ReportLag: true,
	})
	require.NoError(t, err)
	fn := dashboardFunction(t, fleet)
	queries := readDashboards(t, map[string]string{"function": fn})
	traceLabels := exemplarTraceLabels(t)

	ctx, cancel := context.WithTimeout(context.Background(), queryDeadline)
	defer cancel()
	stats, err := loadgen.Send(ctx, loadgen.SendConfig{URL: s.URL, Workers: 4}, fleet.Batches)
	require.NoError(t, err)
	require.Equal(t, stats.Generated, stats.Acknowledged)

	// What the fleet's batches do not carry: a function's own SDK metrics, drops reported
	// by an extension (Lambda-Dropped-Events) and by Lambda (platform.logsDropped), and a
	// request the receiver refuses.
	require.Equal(t, http.StatusOK, post(t, s.URL+"/v1/metrics", "application/json", sdkMetric(fn, 1)))
	dropped, err := telemetryapi.NewEvent(time.Now(), telemetryapi.TypePlatformLogsDropped,
		telemetryapi.PlatformLogsDropped{Reason: "Some logs were dropped because the extension did not keep up.", DroppedRecords: 3, DroppedBytes: 1200})
	require.NoError(t, err)
	body, err := telemetryapi.AppendEvents(nil, []telemetryapi.Event{dropped})
	require.NoError(t, err)
	sandbox := wire.Sandbox{FunctionName: fn, FunctionVersion: "$LATEST", Region: "eu-west-1", AccountID: "123456789012",
		MemorySizeMB: 512, Architecture: "arm64", ExtensionInstanceID: "dash-dropping-extension"}
	code, answer := postBatch(t, s.URL, wire.Batch{Sandbox: sandbox, Sequence: 1, DroppedEvents: 7}, body, false)
	require.Equal(t, http.StatusOK, code, answer.Error)
	require.Equal(t, http.StatusBadRequest, post(t, s.URL+wire.TelemetryPath, "application/json", []byte("not a batch")))
	t.Logf("%d invocations of %d functions sent in %v; the function dashboard shows %s; %d queries to check",
		stats.AcknowledgedInvocations, len(fleet.Truth), stats.Duration.Round(time.Millisecond), fn, len(queries))

	pending := queries
	var failed []string
	lastProgress := time.Now()
	for len(pending) > 0 {
		var still []dashboardQuery
		for _, q := range pending {
			ok, err := dashboardQueryHasData(ctx, s.Prometheus, q, traceLabels)
			switch {
			case err != nil && ctx.Err() == nil:
				// Prometheus refused the query: waiting does not help.
				failed = append(failed, fmt.Sprintf("%s: %v\n    %s", q.where, err, q.expr))
			case !ok:
				still = append(still, q)
			}
		}
		pending = still
		if len(pending) == 0 {
			break
		}
		if time.Since(lastProgress) >= 5*time.Second {
			t.Logf("%d of %d queries have data; waiting for %d, such as %s", len(queries)-len(pending), len(queries), len(pending), pending[0].where)
			lastProgress = time.Now()
		}
		select {
		case <-ctx.Done():
			for _, q := range pending {
				what := "no data (or only NaN)"
				if q.exemplars {
					what = fmt.Sprintf("no data or no exemplars with the labels %v that the provisioned datasource links to traces", traceLabels)
				} else if q.want != "" {
					what = "no " + q.label + "=" + q.want
				}
				failed = append(failed, fmt.Sprintf("%s: %s after %v\n    %s", q.where, what, queryDeadline, q.expr))
			}
			pending = nil
		case <-s.Done():
			t.Fatalf("run.sh exited while the dashboards' queries were checked: %v", s.Err())
		case <-time.After(time.Second):
		}
	}
	require.Empty(t, failed, "dashboard queries that failed:\n%s", strings.Join(failed, "\n"))
	t.Logf("all %d queries of the dashboards have data, %v after the stack started", len(queries), time.Since(started).Round(time.Second))
}

// dashboardQueryHasData runs q as an instant query and says whether it has a result that
// is not only NaN (a panel of NaN shows nothing), and, as q asks, the wanted label value or
// exemplars that carry traceLabels.
func dashboardQueryHasData(ctx context.Context, prom harness.PrometheusAPI, q dashboardQuery, traceLabels []string) (bool, error) {
	series, err := prom.Query(ctx, q.expr, time.Time{})
	if err != nil || !slices.ContainsFunc(series, func(s harness.Series) bool { return !math.IsNaN(s.Value) }) {
		return false, err
	}
	if q.want != "" && !slices.ContainsFunc(series, func(s harness.Series) bool { return s.Labels[q.label] == q.want }) {
		return false, nil
	}
	if q.exemplars {
		exemplars, err := prom.Exemplars(ctx, q.expr, time.Now().Add(-time.Hour), time.Now().Add(time.Minute))
		linked := slices.ContainsFunc(exemplars, func(e harness.Exemplar) bool {
			return !slices.ContainsFunc(traceLabels, func(label string) bool { return e.Labels[label] == "" })
		})
		return linked, err
	}
	return true, nil
}
