// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// functionLabels are the labels of the function level in recording.yml: every rule sums
// by them, which drops instance, so the gateway replicas' series add up.
const functionLabels = "job, cloud_account_id, cloud_region, faas_name"

// burnWindow is one condition of a multi-window alert: the burn rate over both windows
// above factor (the Google SRE workbook, "Alerting on SLOs", multiwindow, multi-burn-rate).
type burnWindow struct {
	long, short string
	factor      float64
}

// burnAlert is one of the two rules each SLO gets, with the same alert name.
type burnAlert struct {
	severity    string
	forDuration string
	windows     []burnWindow // any of them
	meaning     string       // what the description says the burn rate means
}

var burnAlerts = []burnAlert{
	{
		severity: "page", forDuration: "2m",
		windows: []burnWindow{{"1h", "5m", 14.4}, {"6h", "30m", 6}},
		meaning: "at 14.4x over 1h and 5m, or 6x over 6h and 30m, a 30-day budget is gone in 2 to 5 days",
	},
	{
		severity: "ticket", forDuration: "1h",
		windows: []burnWindow{{"3d", "6h", 1}},
		meaning: "above 1x over 3d and 6h, a 30-day budget does not last the 30 days",
	},
}

// sloWindows are the windows the alerts read, shortest first.
func sloWindows() []string {
	var ws []string
	for _, a := range burnAlerts {
		for _, w := range a.windows {
			ws = append(ws, w.long, w.short)
		}
	}
	minutesPer := map[byte]int{'m': 1, 'h': 60, 'd': 1440}
	minutes := func(w string) int {
		n, _ := strconv.Atoi(w[:len(w)-1])
		return n * minutesPer[w[len(w)-1]]
	}
	slices.SortFunc(ws, func(a, b string) int { return cmp.Compare(minutes(a), minutes(b)) })
	return slices.Compact(ws)
}

// kindRules is what differs between availability and latency SLOs.
type kindRules struct {
	metric  string // of the recorded ratio: function_slo:<metric>:ratio_rate<window>
	alert   string
	budget  string // "error budget", "latency budget"
	ratio   func(slo *SLO, matchers, window string) string
	meaning func(slo *SLO) string // what the objective promises
}

var kinds = map[string]kindRules{
	kindAvailability: {
		metric: "faas_errors",
		alert:  "LambdaErrorBudgetBurn",
		budget: "error budget",
		// A function without errors has no faas_errors_total series yet: 0 stands in.
		ratio: func(_ *SLO, m, w string) string {
			return "(\n  " + sumRate("faas_errors_total", m, w) + "\n  or\n  0 * " + sumRate("faas_invocations_total", m, w) +
				"\n)\n/\n" + sumRate("faas_invocations_total", m, w)
		},
		meaning: func(slo *SLO) string { return formatNumber(*slo.Objective) + "% of invocations without an error" },
	},
	kindLatency: {
		metric: "faas_slow_invocations",
		alert:  "LambdaLatencyBudgetBurn",
		budget: "latency budget",
		// Slow = every invocation that did not finish within the threshold's bucket. Classic
		// buckets, or (native-histograms overlay) the native histogram's fraction up to the
		// threshold; classic wins where a function has both, as in recording.yml. The
		// denominator counts only the series that have the threshold's bucket: a replica
		// still on buckets without it, after the threshold was added to the configuration,
		// would otherwise count all its invocations as slow.
		ratio: func(slo *SLO, m, w string) string {
			le := `le="` + leLabel(slo.threshold) + `"`
			withBucket := "sum by (" + functionLabels + ") (\n    rate(faas_invoke_duration_seconds_count" + braces(m) + "[" + w + "])\n" +
				"    and ignoring (le)\n    faas_invoke_duration_seconds_bucket{" + joinMatchers(le, m) + "}\n  )"
			return "1 - (\n  " + sumRate("faas_invoke_duration_seconds_bucket", joinMatchers(le, m), w) +
				"\n  /\n  " + withBucket +
				"\n  or\n  histogram_fraction(0, " + leLabel(slo.threshold) + ", " + sumRate("faas_invoke_duration_seconds", m, w) + ")\n)"
		},
		meaning: func(slo *SLO) string {
			return formatNumber(*slo.Objective) + "% of invocations within " + slo.threshold.String()
		},
	},
}

func sumRate(metric, matchers, window string) string {
	return "sum by (" + functionLabels + ") (rate(" + metric + braces(matchers) + "[" + window + "]))"
}

// braces is matchers as a selector's braces; nothing for none.
func braces(matchers string) string {
	if matchers == "" {
		return ""
	}
	return "{" + matchers + "}"
}

func joinMatchers(ms ...string) string {
	return strings.Join(slices.DeleteFunc(ms, func(m string) bool { return m == "" }), ", ")
}

// functionPattern is the regular expression over faas_name of an SLO that names its
// functions. Unless it stands alone, the user's regex is grouped, so that joined to other
// patterns with | its flags ((?i)) and alternatives stay its own.
func functionPattern(slo *SLO, alone bool) string {
	if alone && len(slo.Functions) == 0 {
		return slo.FunctionsRegex
	}
	var parts []string
	for _, f := range slo.Functions {
		parts = append(parts, regexp.QuoteMeta(f))
	}
	if slo.FunctionsRegex != "" {
		parts = append(parts, "(?:"+slo.FunctionsRegex+")")
	}
	return strings.Join(parts, "|")
}

// functionMatcher selects an SLO's functions. The catch-all of a kind leaves out every
// function another SLO of the same kind names, so no function is judged twice.
func (s *Spec) functionMatcher(slo *SLO) (matcher, covers string) {
	if !slo.catchAll() {
		if len(slo.Functions) == 1 && slo.FunctionsRegex == "" {
			return "faas_name=" + strconv.Quote(slo.Functions[0]), "functions " + slo.Functions[0]
		}
		p := functionPattern(slo, true)
		return "faas_name=~" + strconv.Quote(p), "functions matching " + p
	}
	var named []*SLO
	for i := range s.SLOs {
		if o := &s.SLOs[i]; o.Kind == slo.Kind && !o.catchAll() {
			named = append(named, o)
		}
	}
	if len(named) == 0 {
		return "", "every function"
	}
	others, names := make([]string, len(named)), make([]string, len(named))
	for i, o := range named {
		others[i], names[i] = functionPattern(o, len(named) == 1), o.Name
	}
	return "faas_name!~" + strconv.Quote(strings.Join(others, "|")), "every function except those of " + strings.Join(names, ", ")
}

func (s *Spec) sloFile() ruleFile {
	f := ruleFile{comment: `SLO burn-rate rules, one group per SLO of alerting.yml: the ratio of bad invocations
(errors, or slower than the threshold) per function over each window the alerts read,
labelled slo, then the alerts. The burn rate is the bad ratio over the error budget (100% -
objective): at 1x the budget lasts exactly 30 days. Windows and factors are the Google SRE
workbook's multiwindow, multi-burn-rate alerts: page at 14.4x over 1h and 5m or 6x over 6h
and 30m (for 2m), ticket above 1x over 3d and 6h (for 1h). The short window makes an alert
resolve soon after the burst that fired it ended.

There is no minimum traffic, unlike LambdaHighErrorRate: an SLO counts invocations, and a
rarely invoked function does spend its budget with a few errors, so a few failures among few
invocations can page (until the short window no longer holds them). A floor would hide a
quiet function that fails every invocation, which is the outage an SLO page is for. A
function too quiet for an objective gets an entry of its own with a lower one. With the
native-histograms overlay the latency ratios come from histogram_fraction instead of the le
bucket (interpolated within the native bucket that holds the threshold).`}
	windows := sloWindows()
	for i := range s.SLOs {
		slo := &s.SLOs[i]
		k := kinds[slo.Kind]
		matcher, covers := s.functionMatcher(slo)
		g := group{
			name:    "lambda-slo-" + slo.Name,
			comment: fmt.Sprintf("SLO %s: %s, for %s.", slo.Name, k.meaning(slo), covers),
		}
		sloLabel := []label{{"slo", slo.Name}}
		for _, w := range windows {
			g.rules = append(g.rules, rule{
				record: sloRecord(k, w),
				expr:   k.ratio(slo, matcher, w),
				labels: sloLabel,
			})
		}
		for _, a := range burnAlerts {
			g.rules = append(g.rules, s.burnRule(slo, k, a))
		}
		f.groups = append(f.groups, g)
	}
	return f
}

func sloRecord(k kindRules, window string) string {
	return "function_slo:" + k.metric + ":ratio_rate" + window
}

// burnRule's value is the burn rate (the ratio over the budget) of its first true window.
func (s *Spec) burnRule(slo *SLO, k kindRules, a burnAlert) rule {
	budget := formatNumber(slo.budget)
	sel := `{slo="` + slo.Name + `"}`
	burn := func(window string, factor float64) string {
		return sloRecord(k, window) + sel + " / " + budget + " > " + formatNumber(factor)
	}
	var branches []string
	for _, w := range a.windows {
		branches = append(branches, burn(w.long, w.factor)+"\nand\n"+burn(w.short, w.factor))
	}
	expr := branches[0]
	if len(branches) > 1 {
		expr = "(\n  " + strings.Join(branches, "\n)\nor\n(\n  ") + "\n)"
		expr = strings.ReplaceAll(expr, "\nand\n", "\n  and\n  ")
	}
	anchor := strings.ToLower(k.alert)
	return rule{
		alert:       k.alert,
		expr:        expr,
		forDuration: a.forDuration,
		// slo is on the series already; as a rule label it tells apart the rules of two SLOs of
		// one kind (promtool's lint flags same-named rules with the same labels).
		labels: []label{{"severity", a.severity}, {"slo", slo.Name}},
		annotations: []label{
			{"summary", fmt.Sprintf(`Lambda {{ $labels.faas_name }} burns its %s at {{ $value | printf "%%.1f" }}x (SLO %s)`, k.budget, slo.Name)},
			{"description", fmt.Sprintf(`{{ $labels.faas_name }} ({{ with $labels.cloud_account_id }}{{ . }}/{{ end }}{{ $labels.cloud_region }}) spends the %s of SLO %s (%s) {{ $value | printf "%%.1f" }}x as fast as the objective allows: %s.`,
				k.budget, slo.Name, k.meaning(slo), a.meaning)},
			{"runbook_url", "docs/runbooks.md#" + anchor},
		},
	}
}

// functionValue is a configured number for some functions (reserved concurrency, a cost
// budget), recorded as a series with the function's labels so that one alert compares it.
type functionValue struct {
	ref   FunctionRef
	value float64
}

// functionValueExpr gives each function that one of bases has a series for its configured
// value. Entries that name an account or region come first, and `or` keeps the first match,
// so they win over an entry for the same function everywhere.
func functionValueExpr(bases []string, entries []functionValue) string {
	specificity := func(r FunctionRef) int {
		n := 0
		for _, s := range []string{r.CloudAccountID, r.CloudRegion} {
			if s != "" {
				n++
			}
		}
		return n
	}
	sorted := slices.Clone(entries)
	slices.SortStableFunc(sorted, func(a, b functionValue) int { return specificity(b.ref) - specificity(a.ref) })
	terms := make([]string, len(sorted))
	for i, e := range sorted {
		m := []string{"faas_name=" + strconv.Quote(e.ref.Function)}
		if e.ref.CloudAccountID != "" {
			m = append(m, "cloud_account_id="+strconv.Quote(e.ref.CloudAccountID))
		}
		if e.ref.CloudRegion != "" {
			m = append(m, "cloud_region="+strconv.Quote(e.ref.CloudRegion))
		}
		terms[i] = "0 * " + selectEach(bases, strings.Join(m, ", ")) + " + " + formatNumber(e.value)
	}
	return strings.Join(terms, "\nor\n")
}

// selectEach is the series of any of bases that match matchers (none: all), as one operand:
// `base{m}`, or `(a{m} or b{m})`.
func selectEach(bases []string, matchers string) string {
	sel := make([]string, len(bases))
	for i, b := range bases {
		sel[i] = b + braces(matchers)
	}
	if len(sel) == 1 {
		return sel[0]
	}
	return "(" + strings.Join(sel, " or ") + ")"
}

// The concurrency each limit is judged against: Little's law over our telemetry (an
// average over 5 minutes), and CloudWatch's ConcurrentExecutions (the peak of each minute,
// over 10 minutes; recording.yml's lambda-cloudwatch group). A limit is recorded for every
// account and region, and every listed function, that either has.
const (
	accountConcurrency           = "account_region:faas_concurrency:avg_rate5m"
	accountConcurrentExecutions  = "account_region:aws_lambda_concurrent_executions:max10m"
	functionConcurrency          = "function:faas_concurrency:avg_rate5m"
	functionConcurrentExecutions = "function:aws_lambda_concurrent_executions:max10m"
)

const (
	concurrencyRunbook          = "docs/runbooks.md#lambdaconcurrencynearlimit"
	concurrentExecutionsRunbook = "docs/runbooks.md#lambdaconcurrentexecutionsnearlimit"
	budgetRunbook               = "docs/runbooks.md#lambdacostoverbudget"
	lastWeekRunbook             = "docs/runbooks.md#lambdacostabovelastweek"
)

func (s *Spec) limitsFile() ruleFile {
	c, k := s.Concurrency, s.Cost
	fraction := formatNumber(*c.AlertFraction)
	percent := formatPercent(*c.AlertFraction)

	concurrency := group{
		name: "lambda-concurrency",
		comment: `Concurrency against the limits of alerting.yml. Level account_region keeps cloud_account_id
and cloud_region: the quota is per account and region, whichever gateway saw the functions.
The concurrency is Little's law over 5 minutes (function:faas_concurrency:avg_rate5m, seconds
of invocation per second): an average, so it underestimates the peaks. Bursts within the
5 minutes reach the limit, and Lambda throttles them, well before the average does; throttled
invocations never run, so no telemetry counts them (CloudWatch's Throttles does).
LambdaConcurrentExecutionsNearLimit judges the same limits against CloudWatch's
ConcurrentExecutions instead: the peak of each minute, over the last 10 minutes of periods
(they arrive minutes late), so it sees the bursts that the average hides.`,
		rules: []rule{{
			record: "account_region:faas_concurrency:avg_rate5m",
			expr:   "sum by (cloud_account_id, cloud_region) (function:faas_concurrency:avg_rate5m)",
		}},
	}
	// The limit of every account and region with traffic: its override, or the default.
	accountBases := []string{accountConcurrency, accountConcurrentExecutions}
	var overrides []string
	for _, o := range c.Overrides {
		overrides = append(overrides, fmt.Sprintf("0 * %s + %d",
			selectEach(accountBases, fmt.Sprintf("cloud_account_id=%q, cloud_region=%q", o.CloudAccountID, o.CloudRegion)), o.Limit))
	}
	limit := fmt.Sprintf("0 * %s + %d", selectEach(accountBases, ""), *c.DefaultLimit)
	limitComment := fmt.Sprintf("The quota of each account and region with traffic (in our telemetry or in CloudWatch's): %d (default_limit)", *c.DefaultLimit)
	if len(overrides) > 0 {
		limit = strings.Join(overrides, "\nor\n") + "\nor on (cloud_account_id, cloud_region)\n" + limit
		limitComment += ", unless overrides lists it"
	}
	concurrency.rules = append(concurrency.rules,
		rule{comment: limitComment + ".", record: "account_region:faas_concurrency_limit:value", expr: limit},
		rule{
			alert:       "LambdaConcurrencyNearLimit",
			expr:        "account_region:faas_concurrency:avg_rate5m / account_region:faas_concurrency_limit:value > " + fraction,
			forDuration: "15m",
			labels:      []label{{"severity", "ticket"}, {"scope", "account"}},
			annotations: []label{
				{"summary", "Lambda concurrency in {{ $labels.cloud_account_id }} {{ $labels.cloud_region }} is at {{ $value | humanizePercentage }} of the account's limit"},
				{"description", "The functions of account {{ $labels.cloud_account_id }} in {{ $labels.cloud_region }} ran {{ $value | humanizePercentage }} of the concurrent-executions limit on average over 5 minutes, for 15 minutes (threshold " + percent + "). The average underestimates the peaks: invocations over the limit are throttled."},
				{"runbook_url", concurrencyRunbook},
			},
		},
		rule{
			alert:       "LambdaConcurrentExecutionsNearLimit",
			expr:        accountConcurrentExecutions + " / account_region:faas_concurrency_limit:value > " + fraction,
			forDuration: "15m",
			labels:      []label{{"severity", "ticket"}, {"scope", "account"}},
			annotations: []label{
				{"summary", "Lambda concurrency in {{ $labels.cloud_account_id }} {{ $labels.cloud_region }} peaks at {{ $value | humanizePercentage }} of the account's limit"},
				{"description", "The functions of account {{ $labels.cloud_account_id }} in {{ $labels.cloud_region }} peaked at {{ $value | humanizePercentage }} of the concurrent-executions limit (CloudWatch's ConcurrentExecutions, the largest per-minute maximum of the last 10 minutes), for 15 minutes (threshold " + percent + "). At the limit Lambda throttles."},
				{"runbook_url", concurrentExecutionsRunbook},
			},
		})
	if len(c.Reserved) > 0 {
		entries := make([]functionValue, len(c.Reserved))
		for i, r := range c.Reserved {
			entries[i] = functionValue{r.FunctionRef, float64(r.Limit)}
		}
		concurrency.rules = append(concurrency.rules,
			rule{
				comment: "Reserved concurrency of the functions alerting.yml lists (while they have traffic).",
				record:  "function:faas_reserved_concurrency:value",
				expr:    functionValueExpr([]string{functionConcurrency, functionConcurrentExecutions}, entries),
			},
			rule{
				alert:       "LambdaConcurrencyNearLimit",
				expr:        "function:faas_concurrency:avg_rate5m / function:faas_reserved_concurrency:value > " + fraction,
				forDuration: "15m",
				labels:      []label{{"severity", "ticket"}, {"scope", "function"}},
				annotations: []label{
					{"summary", "Lambda {{ $labels.faas_name }} is at {{ $value | humanizePercentage }} of its reserved concurrency"},
					{"description", "{{ $labels.faas_name }} ({{ with $labels.cloud_account_id }}{{ . }}/{{ end }}{{ $labels.cloud_region }}) ran {{ $value | humanizePercentage }} of its reserved concurrency on average over 5 minutes, for 15 minutes (threshold " + percent + "). The average underestimates the peaks: invocations over the reserved concurrency are throttled."},
					{"runbook_url", concurrencyRunbook},
				},
			},
			rule{
				alert:       "LambdaConcurrentExecutionsNearLimit",
				expr:        functionConcurrentExecutions + " / function:faas_reserved_concurrency:value > " + fraction,
				forDuration: "15m",
				labels:      []label{{"severity", "ticket"}, {"scope", "function"}},
				annotations: []label{
					{"summary", "Lambda {{ $labels.faas_name }} peaks at {{ $value | humanizePercentage }} of its reserved concurrency"},
					{"description", "{{ $labels.faas_name }} ({{ with $labels.cloud_account_id }}{{ . }}/{{ end }}{{ $labels.cloud_region }}) peaked at {{ $value | humanizePercentage }} of its reserved concurrency (CloudWatch's ConcurrentExecutions, the largest per-minute maximum of the last 10 minutes), for 15 minutes (threshold " + percent + "). At the reserved concurrency Lambda throttles."},
					{"runbook_url", concurrentExecutionsRunbook},
				},
			})
	}

	cost := group{
		name: "lambda-cost",
		comment: `Cost per hour (lambda_metrics' estimate, recording.yml's 5-minute rates) against the budgets
of alerting.yml and against the same time a week ago. Fleet means per job: every function one
gateway deployment sees. The scope label (fleet, function; account for concurrency) tells the
two rules of one alert apart, and can route them.`,
	}
	if k.HourlyBudgetUSD != nil {
		budget := formatNumber(*k.HourlyBudgetUSD)
		cost.rules = append(cost.rules, rule{
			alert:       "LambdaCostOverBudget",
			expr:        "job:aws_lambda_cost_usd_per_hour:rate5m > " + budget,
			forDuration: "1h",
			labels:      []label{{"severity", "ticket"}, {"scope", "fleet"}},
			annotations: []label{
				{"summary", `Lambda functions of {{ $labels.job }} cost {{ $value | printf "%.2f" }} USD an hour, over the budget`},
				{"description", `The functions that {{ $labels.job }} sees have cost {{ $value | printf "%.2f" }} USD an hour (estimated over 5 minutes) for an hour, over the budget of ` + budget + ` USD an hour.`},
				{"runbook_url", budgetRunbook},
			},
		})
	}
	if len(k.Functions) > 0 {
		entries := make([]functionValue, len(k.Functions))
		for i, b := range k.Functions {
			entries[i] = functionValue{b.FunctionRef, b.HourlyBudgetUSD}
		}
		cost.rules = append(cost.rules,
			rule{
				comment: "Hourly budgets of the functions alerting.yml lists (while they have traffic).",
				record:  "function:aws_lambda_cost_budget_usd_per_hour:value",
				expr:    functionValueExpr([]string{"function:aws_lambda_cost_usd_per_hour:rate5m"}, entries),
			},
			rule{
				alert:       "LambdaCostOverBudget",
				expr:        "function:aws_lambda_cost_usd_per_hour:rate5m / function:aws_lambda_cost_budget_usd_per_hour:value > 1",
				forDuration: "1h",
				labels:      []label{{"severity", "ticket"}, {"scope", "function"}},
				annotations: []label{
					{"summary", "Lambda {{ $labels.faas_name }} costs {{ $value | humanizePercentage }} of its hourly budget"},
					{"description", "{{ $labels.faas_name }} ({{ with $labels.cloud_account_id }}{{ . }}/{{ end }}{{ $labels.cloud_region }}) has cost {{ $value | humanizePercentage }} of its hourly budget in alerting.yml (estimated over 5 minutes) for an hour."},
					{"runbook_url", budgetRunbook},
				},
			})
	}
	factor, floor := formatNumber(*k.LastWeek.Factor), formatNumber(*k.LastWeek.MinUSDPerHour)
	for i, level := range []struct{ scope, series, summary, who string }{
		{"fleet", "job:aws_lambda_cost_usd_per_hour:rate5m", "Lambda functions of {{ $labels.job }} cost", "The functions that {{ $labels.job }} sees"},
		{"function", "function:aws_lambda_cost_usd_per_hour:rate5m", "Lambda {{ $labels.faas_name }} costs", "{{ $labels.faas_name }} ({{ with $labels.cloud_account_id }}{{ . }}/{{ end }}{{ $labels.cloud_region }})"},
	} {
		r := rule{
			alert:       "LambdaCostAboveLastWeek",
			expr:        level.series + " / (" + level.series + " offset 1w) > " + factor + "\nand\n" + level.series + " > " + floor,
			forDuration: "1h",
			labels:      []label{{"severity", "ticket"}, {"scope", level.scope}},
			annotations: []label{
				{"summary", level.summary + ` {{ $value | printf "%.1f" }}x as much as a week ago`},
				{"description", level.who + ` cost {{ $value | printf "%.1f" }}x as much an hour as at the same time a week ago, for an hour (threshold ` + factor + `x, judged from ` + floor + ` USD an hour).`},
				{"runbook_url", lastWeekRunbook},
			},
		}
		if i == 0 {
			r.comment = "Only judged from min_usd_per_hour. A function that did not run a week ago has no series\nthen, and is left to the budgets; one that ran at no cost compares as infinitely more."
		}
		cost.rules = append(cost.rules, r)
	}

	return ruleFile{
		comment: "Capacity and cost alerts with the limits and budgets of alerting.yml, on recording.yml's rules.",
		groups:  []group{concurrency, cost},
	}
}

// formatNumber writes a number as PromQL and people read it: 0.001, 14.4, 1000.
func formatNumber(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// formatPercent writes a fraction as a percentage without float noise: 0.7 is 70%.
func formatPercent(f float64) string {
	s := strings.TrimRight(strconv.FormatFloat(f*100, 'f', 6, 64), "0")
	return strings.TrimSuffix(s, ".") + "%"
}
