// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The parts of Grafana's dashboard JSON the tests read.
type dashboardJSON struct {
	UID     string `json:"uid"`
	Title   string `json:"title"`
	Tags    []string
	Refresh string `json:"refresh"`
	Time    struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"time"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Query      any    `json:"query"`
			Datasource *ref   `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panelJSON `json:"panels"`
}

type ref struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panelJSON struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *ref   `json:"datasource"`
	Targets    []struct {
		RefID      string `json:"refId"`
		Expr       string `json:"expr"`
		Exemplar   bool   `json:"exemplar"`
		Datasource *ref   `json:"datasource"`
	} `json:"targets"`
	Panels []panelJSON `json:"panels"` // a collapsed row's
}

// renderAll renders the dashboards and decodes each, by file name.
func renderAll(t *testing.T) (map[string][]byte, map[string]dashboardJSON) {
	t.Helper()
	files, err := render()
	if err != nil {
		t.Fatal(err)
	}
	decoded := make(map[string]dashboardJSON, len(files))
	for name, body := range files {
		var d dashboardJSON
		if err := json.Unmarshal(body, &d); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		decoded[name] = d
	}
	return files, decoded
}

// panels lists d's panels, rows' panels included, without the rows.
func (d dashboardJSON) panels() []panelJSON {
	var out []panelJSON
	var walk func([]panelJSON)
	walk = func(ps []panelJSON) {
		for _, p := range ps {
			if p.Type != "row" {
				out = append(out, p)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

func TestRenderIsDeterministic(t *testing.T) {
	first, _ := renderAll(t)
	for range 3 {
		again, _ := renderAll(t)
		if len(again) != len(first) {
			t.Fatalf("%d files, then %d", len(first), len(again))
		}
		for name, body := range first {
			if !bytes.Equal(again[name], body) {
				t.Errorf("%s differs between two runs", name)
			}
		}
	}
}

func TestDashboardsShareTheirSettings(t *testing.T) {
	_, boards := renderAll(t)
	var uids []string
	for name, d := range boards {
		uids = append(uids, d.UID)
		if name != d.UID+".json" {
			t.Errorf("%s holds the dashboard %s", name, d.UID)
		}
		if !slices.Contains(d.Tags, "lambda") {
			t.Errorf("%s: tags %v, want lambda among them", d.UID, d.Tags)
		}
		if d.Time.From != "now-1h" || d.Time.To != "now" || d.Refresh != "30s" {
			t.Errorf("%s: time %s to %s, refresh %q; want now-1h to now, 30s", d.UID, d.Time.From, d.Time.To, d.Refresh)
		}
		if len(d.Templating.List) == 0 || d.Templating.List[0].Name != "datasource" || d.Templating.List[0].Type != "datasource" || d.Templating.List[0].Query != "prometheus" {
			t.Errorf("%s: the first variable is not the prometheus datasource variable: %+v", d.UID, d.Templating.List)
		}
	}
	slices.Sort(uids)
	// The uids are the dashboards' addresses (/d/<uid>) and the provisioned files' names:
	// a change breaks bookmarks and links.
	want := []string{eventSourcesUID, fleetUID, functionUID, gatewayUID}
	if !slices.Equal(uids, want) {
		t.Errorf("uids %v, want %v", uids, want)
	}
}

// grafanaVariable matches $name and ${name...} in a query.
var grafanaVariable = regexp.MustCompile(`\$\{?(\w+)`)

// builtins are the variables Grafana defines itself that the queries may use.
var builtins = []string{"__rate_interval", "__interval", "__range"}

func TestEveryPanelQueriesPrometheusThroughTheDatasourceVariable(t *testing.T) {
	_, boards := renderAll(t)
	want := ref{Type: "prometheus", UID: "${datasource}"}
	for _, d := range boards {
		defined := slices.Clone(builtins)
		for _, v := range d.Templating.List {
			defined = append(defined, v.Name)
			if v.Type == "query" && (v.Datasource == nil || *v.Datasource != want) {
				t.Errorf("%s: variable %s reads datasource %v, want %v", d.UID, v.Name, v.Datasource, want)
			}
		}
		ids := map[int]bool{}
		for _, p := range d.panels() {
			where := d.UID + ": panel " + p.Title
			if ids[p.ID] {
				t.Errorf("%s: id %d is used twice", where, p.ID)
			}
			ids[p.ID] = true
			if p.Datasource == nil || *p.Datasource != want {
				t.Errorf("%s: datasource %v, want %v", where, p.Datasource, want)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no query", where)
			}
			refIDs := map[string]bool{}
			for _, target := range p.Targets {
				if strings.TrimSpace(target.Expr) == "" {
					t.Errorf("%s: query %s has no expression", where, target.RefID)
				}
				if target.Datasource == nil || *target.Datasource != want {
					t.Errorf("%s: query %s reads datasource %v, want %v", where, target.RefID, target.Datasource, want)
				}
				if target.RefID == "" || refIDs[target.RefID] {
					t.Errorf("%s: query ref id %q is empty or used twice", where, target.RefID)
				}
				refIDs[target.RefID] = true
				for _, m := range grafanaVariable.FindAllStringSubmatch(target.Expr, -1) {
					if !slices.Contains(defined, m[1]) {
						t.Errorf("%s: query %s uses $%s, which the dashboard does not define: %s", where, target.RefID, m[1], target.Expr)
					}
				}
			}
		}
	}
}

// The function dashboard's duration panel asks for exemplars, which the datasource links
// to the trace store.
func TestDurationPanelAsksForExemplars(t *testing.T) {
	_, boards := renderAll(t)
	for _, p := range boards[functionUID+".json"].panels() {
		if p.Title != "Duration" {
			continue
		}
		for _, target := range p.Targets {
			if target.Exemplar && strings.Contains(target.Expr, "faas_invoke_duration_seconds_bucket") {
				return
			}
		}
		t.Fatalf("the Duration panel has no query with exemplars over faas_invoke_duration_seconds_bucket: %+v", p.Targets)
	}
	t.Fatal("the function dashboard has no Duration panel")
}

func TestCheckDirNamesEveryDifference(t *testing.T) {
	files, err := render()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "renamed.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeDir(dir, files); err != nil {
		t.Fatal(err)
	}
	if err := checkDir(dir, files); err != nil {
		t.Fatalf("just written, yet: %v", err)
	}

	stale := filepath.Join(dir, functionUID+".json")
	if err := os.WriteFile(stale, bytes.Replace(files[functionUID+".json"], []byte("faas_"), []byte("fass_"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, gatewayUID+".json")
	if err := os.Remove(missing); err != nil {
		t.Fatal(err)
	}
	extra := filepath.Join(dir, "hand-made.json")
	if err := os.WriteFile(extra, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = checkDir(dir, files)
	if err == nil {
		t.Fatal("checkDir found nothing wrong")
	}
	for _, want := range []string{stale + " is stale", missing + " is missing", extra + " is not generated by dashgen", "run 'make dashboards'"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
}
