// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// The specs whose rules are committed: the shipped one, and the one that uses every option
// (for rules/tests/full_alerts_test.yml). Paths from the repository root, as make rules runs.
var committedSpecs = []string{
	"distribution/prometheus/alerting.yml",
	"distribution/prometheus/rules/tests/full/alerting.yml",
}

// committedOut is where make rules writes the rules of a spec.
func committedOut(spec string) string {
	if spec == committedSpecs[0] {
		return "distribution/prometheus/rules"
	}
	return filepath.Dir(spec)
}

const repoRoot = "../../.."

func TestCommittedRulesAreCurrent(t *testing.T) {
	for _, spec := range committedSpecs {
		files, err := generate(filepath.Join(repoRoot, spec), spec, filepath.Join(repoRoot, "distribution/config.yaml"))
		require.NoError(t, err, spec)
		assert.NoError(t, check(files, filepath.Join(repoRoot, committedOut(spec)), spec))
	}
}

func TestCheckNamesTheStaleFileAndLine(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.yml"), []byte("one\ntwo\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b.yml"), []byte("same\n"), 0o600))
	err := check(map[string][]byte{"a.yml": []byte("one\nthree\n"), "b.yml": []byte("same\n")}, dir, "spec.yml")
	assert.EqualError(t, err, filepath.Join(dir, "a.yml")+" is stale: from line 2 it differs from what spec.yml generates; run make rules and commit the result")
	assert.EqualError(t, check(map[string][]byte{"missing.yml": nil}, dir, "spec.yml"),
		filepath.Join(dir, "missing.yml")+" is missing: run make rules and commit the result")
}

func TestGeneratedRulesPassPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not on PATH (Debian's prometheus package has it; make rules-test installs it): not checking the generated rules with it")
	}
	for _, spec := range committedSpecs {
		files, err := generate(filepath.Join(repoRoot, spec), spec, filepath.Join(repoRoot, "distribution/config.yaml"))
		require.NoError(t, err, spec)
		dir := t.TempDir()
		var paths []string
		for name, data := range files {
			paths = append(paths, filepath.Join(dir, name))
			require.NoError(t, os.WriteFile(paths[len(paths)-1], data, 0o600))
		}
		out, err := exec.Command(promtool, append([]string{"check", "rules"}, paths...)...).CombinedOutput()
		assert.NoError(t, err, "promtool check rules of what %s generates:\n%s", spec, out)
	}
}

// The rendered YAML reads back as the rules it was made from: quoting and block scalars
// lose nothing.
func TestRenderReadsBack(t *testing.T) {
	file := ruleFile{groups: []group{{name: "g", rules: []rule{
		{record: "a:b:c", expr: `sum by (x) (rate(m{l="v", n=~"a|b"}[5m]))`, labels: []label{{"slo", "true"}}},
		{alert: "A", expr: "x > 1\nand\ny: 2 # not a comment", forDuration: "1h", labels: []label{{"severity", "page"}},
			annotations: []label{{"summary", `{{ $value | printf "%.1f" }}x: "quoted"`}}},
	}}}}
	var got struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Record, Alert, Expr, For string
				Labels, Annotations      map[string]string
			}
		}
	}
	require.NoError(t, yaml.Unmarshal(file.render("header"), &got))
	require.Len(t, got.Groups, 1)
	r := got.Groups[0].Rules
	require.Len(t, r, 2)
	assert.Equal(t, `sum by (x) (rate(m{l="v", n=~"a|b"}[5m]))`, r[0].Expr)
	assert.Equal(t, map[string]string{"slo": "true"}, r[0].Labels)
	assert.Equal(t, "x > 1\nand\ny: 2 # not a comment\n", r[1].Expr)
	assert.Equal(t, "1h", r[1].For)
	assert.Equal(t, `{{ $value | printf "%.1f" }}x: "quoted"`, r[1].Annotations["summary"])
}

func TestFunctionMatcher(t *testing.T) {
	spec := &Spec{SLOs: []SLO{
		{Name: "availability", Kind: kindAvailability},
		{Name: "one", Kind: kindAvailability, Functions: []string{"checkout"}},
		{Name: "api", Kind: kindAvailability, Functions: []string{"a", "b"}, FunctionsRegex: "api-.*"},
		{Name: "latency", Kind: kindLatency},
		{Name: "only-regex", Kind: kindLatency, FunctionsRegex: "x|y"},
	}}
	tests := map[string]string{
		"availability": `faas_name!~"checkout|a|b|(?:api-.*)"`, // leaves out the other availability SLOs' functions
		"one":          `faas_name="checkout"`,
		"api":          `faas_name=~"a|b|(?:api-.*)"`,
		"latency":      `faas_name!~"x|y"`, // and not the availability ones
		"only-regex":   `faas_name=~"x|y"`,
	}
	for i := range spec.SLOs {
		got, _ := spec.functionMatcher(&spec.SLOs[i])
		assert.Equal(t, tests[spec.SLOs[i].Name], got, spec.SLOs[i].Name)
	}
	// A flag in one regex must not reach the other patterns the catch-all leaves out.
	flags := &Spec{SLOs: []SLO{
		{Name: "availability", Kind: kindAvailability},
		{Name: "api", Kind: kindAvailability, FunctionsRegex: "(?i)api-.*"},
		{Name: "checkout", Kind: kindAvailability, Functions: []string{"Checkout"}},
	}}
	got, _ := flags.functionMatcher(&flags.SLOs[0])
	assert.Equal(t, `faas_name!~"(?:(?i)api-.*)|Checkout"`, got)
	alone := &Spec{SLOs: []SLO{{Name: "availability", Kind: kindAvailability}}}
	got, covers := alone.functionMatcher(&alone.SLOs[0])
	assert.Empty(t, got)
	assert.Equal(t, "every function", covers)
}

func TestFunctionValueExprPutsSpecificEntriesFirst(t *testing.T) {
	got := functionValueExpr([]string{"base"}, []functionValue{
		{FunctionRef{Function: "p"}, 100},
		{FunctionRef{Function: "p", CloudRegion: "us-east-1"}, 20},
		{FunctionRef{Function: "p", CloudAccountID: "1", CloudRegion: "us-east-1"}, 10},
	})
	assert.Equal(t, `0 * base{faas_name="p", cloud_account_id="1", cloud_region="us-east-1"} + 10
or
0 * base{faas_name="p", cloud_region="us-east-1"} + 20
or
0 * base{faas_name="p"} + 100`, got)

	// Several bases: a function has the value where any of them has a series for it.
	got = functionValueExpr([]string{"a", "b"}, []functionValue{{FunctionRef{Function: "p"}, 100}})
	assert.Equal(t, `0 * (a{faas_name="p"} or b{faas_name="p"}) + 100`, got)
}

func TestSelectEach(t *testing.T) {
	assert.Equal(t, "a", selectEach([]string{"a"}, ""))
	assert.Equal(t, `(a{x="1"} or b{x="1"})`, selectEach([]string{"a", "b"}, `x="1"`))
}

func TestInvokeDurationBounds(t *testing.T) {
	t.Run("shipped config: the connector's defaults", func(t *testing.T) {
		bounds := shippedBounds(t)
		require.Len(t, bounds, 19)
		assert.Equal(t, time.Millisecond, bounds[0])
		assert.Equal(t, 15*time.Minute, bounds[18])
	})
	write := func(t *testing.T, config string) string {
		path := filepath.Join(t.TempDir(), "config.yaml")
		require.NoError(t, os.WriteFile(path, []byte(config), 0o600))
		return path
	}
	t.Run("buckets set in the config", func(t *testing.T) {
		bounds, err := invokeDurationBounds(write(t, "connectors:\n  lambda_metrics:\n    histograms:\n      invoke_duration: [100ms, 300ms, 1s]\n"))
		require.NoError(t, err)
		assert.Equal(t, []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, time.Second}, bounds)
	})
	t.Run("native histograms only: any threshold", func(t *testing.T) {
		bounds, err := invokeDurationBounds(write(t, "connectors:\n  lambda_metrics:\n    histograms:\n      exponential:\n        max_size: 160\n"))
		require.NoError(t, err)
		assert.Nil(t, bounds)
	})
}

func TestLeLabelIsWhatRemoteWriteWrites(t *testing.T) {
	for d, want := range map[time.Duration]string{2500 * time.Microsecond: "0.0025", time.Second: "1", 2500 * time.Millisecond: "2.5", 15 * time.Minute: "900"} {
		assert.Equal(t, want, leLabel(d))
	}
}

func TestWriteReplacesEveryFileOrNone(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "slos.yml"), []byte("old"), 0o644))
	require.NoError(t, write(map[string][]byte{"slos.yml": []byte("new slos"), "limits.yml": []byte("new limits")}, dir))
	for name, want := range map[string]string{"slos.yml": "new slos", "limits.yml": "new limits"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.Equal(t, want, string(got), name)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 2, "no temporary file is left behind")

	// A file that cannot be written (a name with a path separator) leaves the others as they were.
	err = write(map[string][]byte{"slos.yml": []byte("newer"), "sub/x/limits.yml": []byte("x")}, dir)
	require.Error(t, err)
	got, err := os.ReadFile(filepath.Join(dir, "slos.yml"))
	require.NoError(t, err)
	assert.Equal(t, "new slos", string(got))
}
