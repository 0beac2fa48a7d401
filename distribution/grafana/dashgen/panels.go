// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Every panel and query reads the Prometheus the `datasource` variable names, so that one
// import serves any Prometheus.
var datasource = common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}

// The label sets of the recording rules (distribution/prometheus/rules/recording.yml), and
// the event-source labels that lambda_metrics' default dimensions write.
const (
	sourceLabels = "faas_trigger, messaging_system, messaging_destination_name, http_route"
	sourceLegend = "{{faas_trigger}} {{messaging_system}} {{messaging_destination_name}}{{http_route}}"
	// gatewayJob is the job Prometheus scrapes the gateway's own metrics as.
	gatewayJob = "otelcol-lambda-gateway"
)

// newDashboard starts a dashboard with what all of ours share: the tag, the time range,
// the refresh, the `datasource` variable and a menu of the other Lambda dashboards.
func newDashboard(uid, title, description string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags([]string{"lambda"}).
		Editable().
		Time("now-1h", "now").
		Refresh("30s").
		Timezone(common.TimeZoneBrowser).
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Link(dashboard.NewDashboardLinkBuilder("Lambda dashboards").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{"lambda"}).
			AsDropdown(true).
			IncludeVars(true).
			KeepTime(true)).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").
			Label("Prometheus").
			Type("prometheus"))
}

// labelVariable is a query variable over label_values(metric, label).
func labelVariable(name, label, metric, labelName string) *dashboard.QueryVariableBuilder {
	return dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Datasource(datasource).
		Query(dashboard.StringOrMap{String: cog.ToPtr(fmt.Sprintf("label_values(%s, %s)", metric, labelName))}).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc)
}

// multiVariable is labelVariable with several values and All, which matches every value
// (and a missing label) by the regex .*; queries use it as label=~"$name".
func multiVariable(name, label, metric, labelName string) *dashboard.QueryVariableBuilder {
	return labelVariable(name, label, metric, labelName).Multi(true).IncludeAll(true).AllValue(".*")
}

// accountRegionVariables adds the account and region variables of the function
// dashboards; accountRegion is the matchers that use them.
func accountRegionVariables(b *dashboard.DashboardBuilder) *dashboard.DashboardBuilder {
	return b.
		WithVariable(multiVariable("account", "Account", "faas_invocations_total", "cloud_account_id")).
		WithVariable(multiVariable("region", "Region", `faas_invocations_total{cloud_account_id=~"$account"}`, "cloud_region"))
}

const accountRegion = `cloud_account_id=~"$account",cloud_region=~"$region"`

// selector is a label selector from matchers, each `name=value` as PromQL writes it.
func selector(matchers ...string) string { return "{" + strings.Join(matchers, ",") + "}" }

// query is one panel target: a PromQL expression and its legend.
type query struct {
	expr, legend string
	// instant asks for the value at the end of the range only (tables, bar gauges, stats
	// of the current value).
	instant bool
	// exemplars asks Grafana for the exemplars of the series the expression reads, which
	// the datasource links to the trace store.
	exemplars bool
	// table returns one row per series with its labels as columns.
	table bool
}

func q(expr, legend string) query { return query{expr: expr, legend: legend} }

func instant(expr, legend string) query { return query{expr: expr, legend: legend, instant: true} }

func tableQuery(expr string) query {
	return query{expr: expr, legend: "__auto", instant: true, table: true}
}

func (t query) builder(refID string) *prometheus.DataqueryBuilder {
	b := prometheus.NewDataqueryBuilder().
		Datasource(datasource).
		RefId(refID).
		Expr(t.expr).
		EditorMode(prometheus.QueryEditorModeCode).
		LegendFormat(t.legend)
	if t.instant {
		b.Instant()
	} else {
		b.Range()
	}
	if t.exemplars {
		b.Exemplar(true)
	}
	if t.table {
		b.Format(prometheus.PromQueryFormatTable)
	}
	return b
}

// panelBuilder is what every panel type's builder has: the methods common() calls.
type panelBuilder[T any] interface {
	cog.Builder[dashboard.Panel]
	Id(uint32) T
	Title(string) T
	Description(string) T
	Datasource(common.DataSourceRef) T
	WithTarget(cog.Builder[variants.Dataquery]) T
	Unit(string) T
	Span(uint32) T
	Height(uint32) T
}

// board adds panels to a dashboard, numbering them and laying them out left to right in
// rows of 24 columns.
type board struct {
	*dashboard.DashboardBuilder
	panels uint32
}

// row starts a row of panels.
func (b *board) row(title string) {
	b.panels++
	b.WithRow(dashboard.NewRowBuilder(title).Id(b.panels))
}

// add gives p what every panel has (id, title, description, unit, size, the datasource and
// the queries, lettered A, B, ...) and appends it to the dashboard.
func add[T panelBuilder[T]](b *board, p T, width, height uint32, title, description, unit string, queries ...query) {
	b.panels++
	p.Id(b.panels)
	p.Title(title)
	p.Description(description)
	p.Datasource(datasource)
	p.Unit(unit)
	p.Span(width)
	p.Height(height)
	for i, t := range queries {
		p.WithTarget(t.builder(string(rune('A' + i))))
	}
	b.WithPanel(p)
}

// timeSeries adds a time series panel, its legend a table with the mean and the last value.
func (b *board) timeSeries(width uint32, title, description, unit string, queries ...query) {
	add(b, timeseries.NewPanelBuilder().
		Min(0).
		FillOpacity(10).
		ShowPoints(common.VisibilityModeNever).
		Legend(common.NewVizLegendOptionsBuilder().
			DisplayMode(common.LegendDisplayModeTable).
			Placement(common.LegendPlacementBottom).
			ShowLegend(true).
			Calcs([]string{"mean", "lastNotNull"})),
		width, 8, title, description, unit, queries...)
}

// stat adds a stat panel of the last value, with a sparkline; noValue is shown when the
// query returns nothing.
func (b *board) stat(title, description, unit, noValue string, thresholds []dashboard.Threshold, t query) {
	p := stat.NewPanelBuilder().
		GraphMode(common.BigValueGraphModeArea).
		ColorMode(common.BigValueColorModeValue).
		Orientation(common.VizOrientationAuto).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}))
	if noValue != "" {
		p.NoValue(noValue)
	}
	if thresholds != nil {
		p.Thresholds(dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(thresholds))
	}
	add(b, p, 4, 4, title, description, unit, t)
}

// redAbove and greenAbove are stat thresholds: green below limit and red from it
// (redAbove), or the other way round (greenAbove).
func redAbove(limit float64) []dashboard.Threshold {
	return []dashboard.Threshold{{Color: "green"}, {Value: cog.ToPtr(limit), Color: "red"}}
}

func greenAbove(limit float64) []dashboard.Threshold {
	return []dashboard.Threshold{{Color: "red"}, {Value: cog.ToPtr(limit), Color: "green"}}
}

// topBars adds a horizontal bar gauge of an instant query (a topk), each bar linking to
// the function's dashboard.
func (b *board) topBars(title, description, unit string, t query) {
	t.instant = true
	add(b, bargauge.NewPanelBuilder().
		Orientation(common.VizOrientationHorizontal).
		DisplayMode(common.BarGaugeDisplayModeGradient).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})).
		DataLinks([]cog.Builder[dashboard.DashboardLink]{functionLink()}),
		12, 8, title, description, unit, t)
}

// functionLink opens the function dashboard for the function of the clicked series.
func functionLink() *dashboard.DashboardLinkBuilder {
	return dashboard.NewDashboardLinkBuilder("Open ${__field.labels.faas_name}").
		Type(dashboard.DashboardLinkTypeLink).
		Url("/d/" + functionUID + "?${datasource:queryparam}&var-account=${__field.labels.cloud_account_id}" +
			"&var-region=${__field.labels.cloud_region}&var-function=${__field.labels.faas_name}&${__url_time_range}")
}

// column is a column of a table that merges several instant queries: its header, unit and
// query.
type column struct {
	header, unit, expr string
}

// table adds a table that joins the instant queries of columns on their labels (Grafana's
// merge transformation), one row per label set, and hides the labels in hidden.
func (b *board) table(width uint32, title, description string, hidden []string, columns ...column) {
	p := table.NewPanelBuilder().
		WithTransformation(dashboard.DataTransformerConfig{Id: "merge", Options: map[string]any{}})
	exclude := map[string]any{"Time": true}
	for _, label := range hidden {
		exclude[label] = true
	}
	rename := map[string]any{}
	queries := make([]query, 0, len(columns))
	for i, c := range columns {
		field := "Value"
		if len(columns) > 1 {
			field = fmt.Sprintf("Value #%c", 'A'+i)
		}
		rename[field] = c.header
		p.OverrideByName(c.header, []dashboard.DynamicConfigValue{{Id: "unit", Value: c.unit}})
		queries = append(queries, tableQuery(c.expr))
	}
	p.WithTransformation(dashboard.DataTransformerConfig{Id: "organize", Options: map[string]any{
		"excludeByName": exclude,
		"renameByName":  rename,
	}})
	if len(columns) > 0 {
		p.SortBy([]cog.Builder[common.TableSortByFieldState]{
			common.NewTableSortByFieldStateBuilder().DisplayName(columns[0].header).Desc(true),
		})
	}
	add(b, p, width, 9, title, description, "", queries...)
}
