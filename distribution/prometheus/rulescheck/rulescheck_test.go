// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package rulescheck

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

const (
	rulesGlob = "../rules/*.yml"
	runbooks  = "../../../docs/runbooks.md"
	// runbookPath is what runbook_url points at, relative to the repository root.
	runbookPath = "docs/runbooks.md"
)

// ruleFile is a Prometheus rules file (the fields promtool accepts).
type ruleFile struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Limit    int    `yaml:"limit"`
		Rules    []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Record        string            `yaml:"record"`
	Alert         string            `yaml:"alert"`
	Expr          string            `yaml:"expr"`
	For           string            `yaml:"for"`
	KeepFiringFor string            `yaml:"keep_firing_for"`
	Labels        map[string]string `yaml:"labels"`
	Annotations   map[string]string `yaml:"annotations"`
}

// recordName is level:metric:operations, each part lower_snake_case (operations may hold
// digits: rate5m, p99).
var recordName = regexp.MustCompile(`^[a-z][a-z0-9_]*:[a-z][a-z0-9_]*:[a-z0-9][a-z0-9_]*$`)

// withoutClause is an aggregation's `without (labels)`.
var withoutClause = regexp.MustCompile(`\bwithout\s*\(([^)]*)\)`)

// severities are the values Alertmanager routes on (distribution/alertmanager).
var severities = map[string]bool{"page": true, "ticket": true}

// checkRule returns what is wrong with r; anchors are the runbook's section anchors.
func checkRule(r rule, anchors map[string]bool) []error {
	var errs []error
	switch {
	case r.Record != "" && r.Alert != "":
		return []error{errors.New("both record and alert")}
	case r.Record != "":
		if !recordName.MatchString(r.Record) {
			errs = append(errs, fmt.Errorf("record %q is not level:metric:operations", r.Record))
		}
	case r.Alert != "":
		if !severities[r.Labels["severity"]] {
			errs = append(errs, fmt.Errorf("severity %q is neither page nor ticket", r.Labels["severity"]))
		}
		for _, name := range []string{"summary", "description"} {
			if strings.TrimSpace(r.Annotations[name]) == "" {
				errs = append(errs, fmt.Errorf("no %s annotation", name))
			}
		}
		errs = append(errs, checkRunbook(r.Annotations["runbook_url"], anchors)...)
	default:
		return []error{errors.New("neither record nor alert")}
	}
	for _, m := range withoutClause.FindAllStringSubmatch(r.Expr, -1) {
		if !hasLabel(m[1], "instance") {
			errs = append(errs, fmt.Errorf("%q keeps the instance label: gateway replicas would not add up", m[0]))
		}
	}
	return errs
}

func checkRunbook(url string, anchors map[string]bool) []error {
	path, anchor, ok := strings.Cut(url, "#")
	switch {
	case url == "":
		return []error{errors.New("no runbook_url annotation")}
	case !ok || !strings.HasSuffix(path, runbookPath):
		return []error{fmt.Errorf("runbook_url %q is not %s#section", url, runbookPath)}
	case !anchors[anchor]:
		return []error{fmt.Errorf("runbook_url %q: %s has no section #%s", url, runbookPath, anchor)}
	}
	return nil
}

func hasLabel(list, name string) bool {
	for _, l := range strings.Split(list, ",") {
		if strings.TrimSpace(l) == name {
			return true
		}
	}
	return false
}

// anchorDrop is what GitHub drops of a heading in its anchor: all but letters, digits,
// spaces, hyphens and underscores.
var anchorDrop = regexp.MustCompile(`[^\p{L}\p{N} _-]`)

// headingAnchors returns the anchors GitHub gives the Markdown headings of md: lower case,
// punctuation dropped, spaces as hyphens; a repeated heading gets -1, -2, ...
func headingAnchors(md []byte) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	inFence := false
	sc := bufio.NewScanner(bytes.NewReader(md))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
		}
		heading := strings.TrimLeft(line, "#")
		if inFence || heading == line || !strings.HasPrefix(heading, " ") {
			continue
		}
		anchor := strings.ReplaceAll(anchorDrop.ReplaceAllString(strings.ToLower(strings.TrimSpace(heading)), ""), " ", "-")
		if n := seen[anchor]; n > 0 {
			anchors[fmt.Sprintf("%s-%d", anchor, n)] = true
		} else {
			anchors[anchor] = true
		}
		seen[anchor]++
	}
	return anchors
}

// TestShippedRules checks every rule of every rules file, the generated ones included.
func TestShippedRules(t *testing.T) {
	md, err := os.ReadFile(runbooks)
	require.NoError(t, err)
	anchors := headingAnchors(md)
	files, err := filepath.Glob(rulesGlob)
	require.NoError(t, err)
	require.NotEmpty(t, files, "no rules files at %s", rulesGlob)
	var alerts, records int
	for _, file := range files {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		var rf ruleFile
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		require.NoError(t, dec.Decode(&rf), file)
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				for _, err := range checkRule(r, anchors) {
					t.Errorf("%s, group %s, %s%s: %v", filepath.Base(file), g.Name, r.Alert, r.Record, err)
				}
				if r.Alert != "" {
					alerts++
				} else {
					records++
				}
			}
		}
	}
	// alerts.yml and recording.yml alone have 17 alerts and 54 recording rules: a glob or a
	// decoder that finds fewer checks nothing.
	assert.GreaterOrEqual(t, alerts, 17, "alerts checked")
	assert.GreaterOrEqual(t, records, 54, "recording rules checked")
}

// TestCheckRuleFindsEachMistake feeds checkRule one mistake at a time.
func TestCheckRuleFindsEachMistake(t *testing.T) {
	anchors := headingAnchors([]byte("# Runbooks\n\n## LambdaHighErrorRate\n\n```\n# not a heading\n```\n"))
	good := rule{
		Alert:  "LambdaHighErrorRate",
		Expr:   "sum without (instance, faas_version) (x) > 0",
		Labels: map[string]string{"severity": "page"},
		Annotations: map[string]string{
			"summary": "s", "description": "d", "runbook_url": "docs/runbooks.md#lambdahigherrorrate",
		},
	}
	require.Empty(t, checkRule(good, anchors))
	require.Empty(t, checkRule(rule{Record: "function_source_le:faas_invoke_duration_seconds_bucket:rate5m", Expr: "x"}, anchors))

	tests := []struct {
		name  string
		edit  func(r *rule)
		error string
	}{
		{"no severity", func(r *rule) { delete(r.Labels, "severity") }, `severity "" is neither page nor ticket`},
		{"unrouted severity", func(r *rule) { r.Labels["severity"] = "critical" }, `severity "critical" is neither page nor ticket`},
		{"no summary", func(r *rule) { delete(r.Annotations, "summary") }, "no summary annotation"},
		{"blank description", func(r *rule) { r.Annotations["description"] = " " }, "no description annotation"},
		{"no runbook", func(r *rule) { delete(r.Annotations, "runbook_url") }, "no runbook_url annotation"},
		{"runbook elsewhere", func(r *rule) { r.Annotations["runbook_url"] = "https://wiki/x" }, `runbook_url "https://wiki/x" is not docs/runbooks.md#section`},
		{"missing section", func(r *rule) { r.Annotations["runbook_url"] = "docs/runbooks.md#lambdagone" }, "docs/runbooks.md has no section #lambdagone"},
		{"fenced heading", func(r *rule) { r.Annotations["runbook_url"] = "docs/runbooks.md#not-a-heading" }, "has no section #not-a-heading"},
		{"keeps instance", func(r *rule) { r.Expr = "sum without (faas_version) (x)" }, `"without (faas_version)" keeps the instance label`},
		{"not a record name", func(r *rule) { *r = rule{Record: "faas_errors_ratio", Expr: "x"} }, `record "faas_errors_ratio" is not level:metric:operations`},
		{"both", func(r *rule) { r.Record = "a:b:c" }, "both record and alert"},
		{"neither", func(r *rule) { r.Alert = "" }, "neither record nor alert"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good
			r.Labels = map[string]string{"severity": "page"}
			r.Annotations = map[string]string{}
			for k, v := range good.Annotations {
				r.Annotations[k] = v
			}
			tt.edit(&r)
			assert.ErrorContains(t, errors.Join(checkRule(r, anchors)...), tt.error)
		})
	}
}

func TestHeadingAnchors(t *testing.T) {
	got := headingAnchors([]byte("# Runbooks\n## LambdaGatewayDown\n### Kill -9: the write-ahead log\n## Notes\n## Notes\n#hashtag\n"))
	assert.Equal(t, map[string]bool{
		"runbooks": true, "lambdagatewaydown": true, "kill--9-the-write-ahead-log": true, "notes": true, "notes-1": true,
	}, got)
}
