// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
)

// alertDeadline bounds each wait for an alert to be notified or resolved; it never judges
// speed. With 1s evaluations, 1s flushes and 1s group waits, each takes seconds.
const alertDeadline = 2 * time.Minute

// shortFor replaces every alert's `for` in the test's copy of the rules: the alerts keep
// their pending step, and fire seconds after their expression holds.
const shortFor = "2s"

// TestAlertsReachAWebhookAndResolve runs make run's stack with the shipped rules (every
// `for` shortened, expressions untouched, evaluated every second) and the shipped
// Alertmanager routes and inhibitions (each receiver a webhook of the test's own). An error
// burst and timeouts of one function, sent as the extension sends them, page through the
// page receiver with the right labels and annotations; the timeouts open a ticket; a
// healthy function alerts nothing; enough successful invocations afterwards resolve the
// pages.
func TestAlertsReachAWebhookAndResolve(t *testing.T) {
	root := repoRoot(t)
	webhook := &harness.AlertWebhook{}
	webhookURL, stopWebhook, err := harness.Serve(webhook)
	require.NoError(t, err)
	t.Cleanup(func() { _ = stopWebhook() })
	dir := t.TempDir()
	rulesDir := filepath.Join(dir, "rules")
	shortenFors(t, filepath.Join(root, "distribution", "prometheus", "rules"), rulesDir)
	amConfig := filepath.Join(dir, "alertmanager.yml")
	webhookReceivers(t, filepath.Join(root, "distribution", "alertmanager", "alertmanager.yml"), amConfig, webhookURL)

	began := time.Now()
	s := startStack(t, "ALERTMANAGER_CONFIG="+amConfig, "PROMETHEUS_RULES_DIR="+rulesDir, "PROMETHEUS_EVALUATION_INTERVAL=1s")
	ctx := context.Background()
	// Prometheus drops what it has to send while it knows no Alertmanager yet.
	s.waitFor(t, alertDeadline, "Prometheus to send alerts to the stack's Alertmanager", func() (bool, string) {
		ams, err := s.Prometheus.Alertmanagers(ctx)
		return err == nil && slices.Contains(ams, s.Alertmanager.URL+"/api/v2/alerts"), fmt.Sprintf("active %v (%v)", ams, err)
	})
	checkShippedInhibitions(t, s)
	t.Logf("%v: stack up, inhibitions checked", time.Since(began).Round(time.Second))

	failing := lambdaFn{name: "e2e-alert-failing", region: "eu-west-1", arch: "arm64", memMiB: 128, timeoutMs: 3000}
	healthy := lambdaFn{name: "e2e-alert-healthy", region: "eu-west-1", arch: "arm64", memMiB: 128, timeoutMs: 3000}
	traffic := &invocationSender{t: t, base: s.URL}
	// 60 invocations in 5 minutes is 0.2/s, above LambdaHighErrorRate's 0.1/s floor: 2 time
	// out and 15 fail, 17 errors (28%). rate() sees every one: a new series starts with a
	// zero sample (lambda_metrics). Its extrapolation to the end of the window makes the
	// rate higher, never lower, and is the same for the errors and the invocations, which
	// are flushed together: the ratios are exact (17/60, then 17/6060).
	const burst, burstErrors = 60, 17
	traffic.send(failing, burst, func(i int) string {
		switch {
		case i < 2:
			return lambdaconv.ErrorTypeTimeout
		case i%4 == 3:
			return lambdaconv.ErrorTypeFunction
		}
		return ""
	})
	traffic.send(healthy, burst, func(int) string { return "" })

	ofFailing := func(labels ...string) map[string]string {
		return newLabelSet("faas_name", failing.name, "cloud_region", failing.region, "cloud_account_id", failing.wireSandbox().AccountID).with(labels...)
	}
	paged := []map[string]string{
		ofFailing("alertname", "LambdaHighErrorRate", "severity", "page"),
		ofFailing("alertname", "LambdaErrorBudgetBurn", "slo", "availability", "severity", "page"),
	}
	timeouts := ofFailing("alertname", "LambdaTimeouts", "severity", "ticket")
	for _, want := range append(slices.Clone(paged), timeouts) {
		n, alert := waitForNotified(t, s, webhook, "firing", want)
		wantReceiver := want["severity"] // the shipped routes send each severity to its receiver
		assert.Equal(t, wantReceiver, n.Receiver, "receiver of %s", want["alertname"])
		for _, key := range []string{"summary", "description", "runbook_url"} {
			assert.NotEmpty(t, alert.Annotations[key], "%s of %s", key, want["alertname"])
		}
		assert.Contains(t, alert.Annotations["summary"], failing.name, "summary of %s", want["alertname"])
		assert.Contains(t, alert.Annotations["description"], failing.name, "description of %s", want["alertname"])
		assert.Contains(t, alert.Annotations["runbook_url"], "docs/runbooks.md#"+strings.ToLower(want["alertname"]))
		t.Logf("%v: %s notified to %s: %s", time.Since(began).Round(time.Second), want["alertname"], n.Receiver, alert.Annotations["summary"])
	}
	// Both pages are about one function: Alertmanager sends them in one notification.
	s.waitFor(t, alertDeadline, "one page notification that holds both of the failing function's pages", func() (bool, string) {
		for _, n := range webhook.Notifications() {
			held := 0
			for _, want := range paged {
				for _, a := range n.Alerts {
					if a.Status == "firing" && hasLabels(a.Labels, want) {
						held++
						break
					}
				}
			}
			if held == len(paged) {
				return true, ""
			}
		}
		return false, "webhook: " + notified(webhook)
	})
	// The slow-burn ticket of the same SLO fires too, and the page inhibits it.
	s.waitFor(t, alertDeadline, "the availability ticket to be inhibited by its page", func() (bool, string) {
		alerts, err := s.Alertmanager.Alerts(ctx, `alertname="LambdaErrorBudgetBurn"`, `severity="ticket"`, `faas_name="`+failing.name+`"`)
		return err == nil && len(alerts) == 1 && len(alerts[0].Status.InhibitedBy) == 1, fmt.Sprintf("%+v (%v)", alerts, err)
	})

	if dir := os.Getenv("OTELCOL_LAMBDA_SCREENSHOTS"); dir != "" {
		screenshotFiringAlerts(t, s, dir)
	}

	// Recovery: successes until the error ratio is below every threshold over every window
	// (all of them hold the whole test): 17 errors in 6060 invocations is 0.28%, under
	// LambdaHighErrorRate's 5% and the availability page's 14.4x and 6x of a 0.1% budget
	// (1.44% and 0.6%). The ticket (1x, 0.1%) still holds, and is let through.
	const recovery = 6000
	require.Less(t, float64(burstErrors)/float64(burst+recovery), 0.006/2, "the recovery must end the 6x burn with room to spare")
	traffic.send(failing, recovery, func(int) string { return "" })
	t.Logf("%v: %d successful invocations sent", time.Since(began).Round(time.Second), recovery)
	for _, want := range paged {
		n, _ := waitForNotified(t, s, webhook, "resolved", want)
		assert.Equal(t, "page", n.Receiver)
		t.Logf("%v: %s resolved", time.Since(began).Round(time.Second), want["alertname"])
	}

	// The healthy function's invocations were counted, and it alerted nothing.
	s.eventually(t, `sum by (faas_name) (faas_invocations_total{faas_name=~"e2e-alert-.*"})`,
		map[string]float64{"faas_name=" + failing.name: burst + recovery, "faas_name=" + healthy.name: burst}, "faas_name")
	for _, n := range webhook.Notifications() {
		for _, a := range n.Alerts {
			assert.NotEqual(t, healthy.name, a.Labels["faas_name"], "the healthy function alerted: %v", a.Labels)
		}
	}
	t.Logf("%v: done, %d notifications", time.Since(began).Round(time.Second), len(webhook.Notifications()))
}

// screenshotFiringAlerts takes the picture README.md shows (`make screenshots`) while the
// failing function's alerts fire: Prometheus' alerts page, tall enough for every rule
// group. (Debian's Alertmanager has no web UI to show.)
func screenshotFiringAlerts(t *testing.T, s stack, dir string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	path := filepath.Join(dir, "prometheus-alerts.png")
	url := s.Prometheus.URL + "/classic/alerts"
	require.NoError(t, harness.Screenshot(context.Background(), url, path, harness.ScreenshotSize{Width: 1280, Height: 1340}))
	t.Logf("screenshot of %s: %s", url, path)
}

// shortenFors copies the rule files of from to a new directory to, with every alert's
// `for` set to shortFor and all else as it was.
func shortenFors(t *testing.T, from, to string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(from, "*.yml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	require.NoError(t, os.MkdirAll(to, 0o700))
	shortened := 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		var doc yaml.Node
		require.NoError(t, yaml.Unmarshal(data, &doc), file)
		for _, group := range seq(mapValue(doc.Content[0], "groups")) {
			for _, rule := range seq(mapValue(group, "rules")) {
				if f := mapValue(rule, "for"); f != nil {
					f.Value = shortFor
					shortened++
				}
			}
		}
		out, err := yaml.Marshal(&doc)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(to, filepath.Base(file)), out, 0o600))
	}
	require.Positive(t, shortened, "no alert with a for in %s", from)
}

// mapValue is the value of key in a YAML mapping node; nil when there is none.
func mapValue(node *yaml.Node, key string) *yaml.Node {
	if node == nil || node.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		if node.Content[i].Value == key {
			return node.Content[i+1]
		}
	}
	return nil
}

// seq is the items of a YAML sequence node; nil for anything else.
func seq(node *yaml.Node) []*yaml.Node {
	if node == nil || node.Kind != yaml.SequenceNode {
		return nil
	}
	return node.Content
}

// webhookReceivers writes the Alertmanager configuration from as to, with every receiver
// sending to url (resolved alerts too) and the route's waits and intervals shortened
// (group_wait and group_interval 1s, repeat_interval 1h, the child routes inheriting
// them). Routes and inhibitions stay as shipped.
func webhookReceivers(t *testing.T, from, to, url string) {
	t.Helper()
	data, err := os.ReadFile(from)
	require.NoError(t, err)
	var config map[string]any
	require.NoError(t, yaml.Unmarshal(data, &config))
	route, ok := config["route"].(map[string]any)
	require.True(t, ok, "%s has no route", from)
	var inherit func(routes any)
	inherit = func(routes any) {
		children, _ := routes.([]any)
		for _, child := range children {
			r, _ := child.(map[string]any)
			delete(r, "group_wait")
			delete(r, "group_interval")
			delete(r, "repeat_interval")
			inherit(r["routes"])
		}
	}
	inherit(route["routes"])
	route["group_wait"], route["group_interval"], route["repeat_interval"] = "1s", "1s", "1h"
	receivers, _ := config["receivers"].([]any)
	require.NotEmpty(t, receivers, "%s has no receivers", from)
	for _, r := range receivers {
		receiver := r.(map[string]any)
		receiver["webhook_configs"] = []any{map[string]any{"url": url, "send_resolved": true}}
	}
	out, err := yaml.Marshal(config)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, out, 0o600))
}

// checkShippedInhibitions posts alerts to the stack's Alertmanager, as Prometheus would
// send them, and checks which of them the shipped inhibit rules hold back; it resolves them
// afterwards. Each round is posted alone (an inhibiting alert of one round would hide what
// the next one checks), and its e2e label, which no inhibit rule looks at, tells its alerts
// from the other rounds' and from Prometheus'.
func checkShippedInhibitions(t *testing.T, s stack) {
	t.Helper()
	ctx := context.Background()
	type posted struct {
		alertname, severity, instanceOrSLO string
		inhibited                          bool
	}
	rounds := [][]posted{{
		{"LambdaGatewayDown", "page", "gateway-0:8888", false},
		{"LambdaGatewayNotWriting", "page", "gateway-0:8888", true},  // the gateway that is down
		{"LambdaGatewayNotWriting", "page", "gateway-1:8888", false}, // another one
		{"LambdaFunctionStoppedReporting", "ticket", "", true},
		{"LambdaErrorBudgetBurn", "page", "availability", false},
		{"LambdaErrorBudgetBurn", "ticket", "availability", true}, // the page's ticket
		{"LambdaErrorBudgetBurn", "ticket", "latency", false},     // another SLO's
		{"LambdaTimeouts", "ticket", "", false},
	}, {
		// A gateway that is up but not writing silences the functions as well.
		{"LambdaGatewayNotWriting", "page", "gateway-1:8888", false},
		{"LambdaFunctionStoppedReporting", "ticket", "", true},
	}}
	for i, round := range rounds {
		label := newLabelSet("e2e", fmt.Sprintf("inhibitions-%d", i+1))
		alerts := make([]harness.PostedAlert, len(round))
		want := map[string]bool{} // inhibited or not, by alertname/severity/instance or slo
		for j, p := range round {
			labels := label.with("alertname", p.alertname, "severity", p.severity)
			switch {
			case strings.HasPrefix(p.alertname, "LambdaGateway"):
				labels = labels.with("job", "otelcol-lambda-gateway", "instance", p.instanceOrSLO)
			default:
				labels = labels.with("job", "otelcol-lambda", "cloud_account_id", "123456789012",
					"cloud_region", "eu-west-1", "faas_name", "e2e-inhibited")
				if p.instanceOrSLO != "" {
					labels = labels.with("slo", p.instanceOrSLO)
				}
			}
			alerts[j] = harness.PostedAlert{Labels: labels}
			want[p.alertname+"/"+p.severity+"/"+p.instanceOrSLO] = p.inhibited
		}
		require.NoError(t, s.Alertmanager.PostAlerts(ctx, alerts...))
		s.waitFor(t, alertDeadline, fmt.Sprintf("the shipped inhibit rules to hold back the alerts they explain (round %d)", i+1), func() (bool, string) {
			held, err := s.Alertmanager.Alerts(ctx, fmt.Sprintf(`e2e=%q`, label["e2e"]))
			if err != nil {
				return false, err.Error()
			}
			got := map[string]bool{}
			for _, a := range held {
				got[a.Labels["alertname"]+"/"+a.Labels["severity"]+"/"+a.Labels["instance"]+a.Labels["slo"]] = len(a.Status.InhibitedBy) > 0
			}
			return assert.ObjectsAreEqual(want, got), fmt.Sprintf("inhibited: got %v, want %v", got, want)
		})
		for j := range alerts {
			alerts[j].EndsAt = time.Now()
		}
		require.NoError(t, s.Alertmanager.PostAlerts(ctx, alerts...))
	}
}

// invocationSender sends invocations as the extension does: each sandbox of a function
// posts its platform events as one batch.
type invocationSender struct {
	t         *testing.T
	base      string
	sandboxes int
}

// perSandbox keeps a sandbox's invocations within lambdaSandbox's one-byte sequence numbers.
const perSandbox = 200

// send sends n invocations of fn; errorType(i) is how the i-th failed ("" for success).
// Each sandbox's invocations run back to back, ending before now.
func (s *invocationSender) send(fn lambdaFn, n int, errorType func(i int) string) {
	s.t.Helper()
	for first := 0; first < n; first += perSandbox {
		s.sandboxes++
		fn.sandbox = fmt.Sprintf("%s-%d", fn.name, s.sandboxes)
		l := newLambdaSandbox(s.t, fn, time.Now().Add(-time.Minute))
		for i := first; i < min(n, first+perSandbox); i++ {
			spec := invocationSpec{seq: byte(i - first), requestID: fmt.Sprintf("%s-%d", fn.sandbox, i), dur: 10 * time.Millisecond, errorType: errorType(i)}
			if spec.errorType == lambdaconv.ErrorTypeTimeout {
				spec.dur = time.Duration(fn.timeoutMs) * time.Millisecond
			}
			l.invocation(spec)
		}
		l.post(s.base)
	}
}

// waitForNotified polls the webhook until a notification holds an alert with status
// ("firing" or "resolved") and every label of want, and returns both. While it waits it
// logs, every 10 seconds, what Prometheus says of the alert.
func waitForNotified(t *testing.T, s stack, webhook *harness.AlertWebhook, status string, want map[string]string) (harness.Notification, harness.NotifiedAlert) {
	t.Helper()
	var found harness.Notification
	var alert harness.NotifiedAlert
	s.waitFor(t, alertDeadline, fmt.Sprintf("a %s notification of %v", status, want), func() (bool, string) {
		for _, n := range webhook.Notifications() {
			for _, a := range n.Alerts {
				if a.Status == status && hasLabels(a.Labels, want) {
					found, alert = n, a
					return true, ""
				}
			}
		}
		return false, fmt.Sprintf("Prometheus: %s; webhook: %s", prometheusAlerts(s, want), notified(webhook))
	})
	return found, alert
}

// labelSet is the labels of name, value pairs.
type labelSet map[string]string

func newLabelSet(pairs ...string) labelSet { return labelSet{}.with(pairs...) }

// with returns a copy of l with the name, value pairs added.
func (l labelSet) with(pairs ...string) labelSet {
	out := make(labelSet, len(l)+len(pairs)/2)
	for k, v := range l {
		out[k] = v
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		out[pairs[i]] = pairs[i+1]
	}
	return out
}

func hasLabels(labels, want map[string]string) bool {
	for k, v := range want {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// prometheusAlerts is what Prometheus holds of want's function, for progress messages:
// its error ratio and invocation rate, and the state of its pending and firing alerts.
func prometheusAlerts(s stack, want map[string]string) string {
	ctx, fn := context.Background(), fmt.Sprintf("{faas_name=%q}", want["faas_name"])
	var values []string
	for _, record := range []string{"function:faas_errors:ratio_rate5m", "function:faas_invocations:rate5m"} {
		series, err := s.query(ctx, record+fn)
		if err == nil && len(series) == 1 {
			values = append(values, fmt.Sprintf("%s=%.4g", record, series[0].Value))
		}
	}
	series, err := s.query(ctx, "ALERTS"+fn)
	if err != nil {
		return err.Error()
	}
	states := make([]string, 0, len(series))
	for _, a := range series {
		name := a.Labels["alertname"] + "{" + a.Labels["severity"]
		if slo := a.Labels["slo"]; slo != "" {
			name += "," + slo
		}
		states = append(states, name+"}="+a.Labels["alertstate"])
	}
	sort.Strings(states)
	return strings.Join(values, " ") + " [" + strings.Join(states, " ") + "]"
}

// notified lists the webhook's alerts as alertname{faas_name,severity}=status, for progress
// messages.
func notified(webhook *harness.AlertWebhook) string {
	var out []string
	for _, n := range webhook.Notifications() {
		for _, a := range n.Alerts {
			out = append(out, fmt.Sprintf("%s{%s,%s}=%s", a.Labels["alertname"], a.Labels["faas_name"], a.Labels["severity"], a.Status))
		}
	}
	return "[" + strings.Join(slices.Compact(out), " ") + "]"
}
