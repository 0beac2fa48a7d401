// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package cloudwatch // import "github.com/otelcol-lambda/otelcol-lambda/internal/cloudwatch"

import (
	"cmp"
	"encoding/binary"
	"math"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-lambda/otelcol-lambda/internal/series"
)

// What a metric stream writes on each data point and on its resource.
const (
	attrNamespace  = "Namespace"
	attrMetricName = "MetricName"
	attrDimensions = "Dimensions"
	attrRegion     = "cloud.region"
	attrAccount    = "cloud.account.id"
)

// The attributes the output shares with our RED series (faas_name, messaging_destination_name,
// cloud_region and cloud_account_id in Prometheus).
const (
	attrFaaSName    = "faas.name"
	attrDestination = "messaging.destination.name"
)

// defaultServiceName is the job of the gateway's series when the Collector has no service.name,
// as lambda_metrics names it.
const defaultServiceName = "otelcol-lambda"

// ConvertStats counts what one Convert did.
type ConvertStats struct {
	// DataPoints is the number of CloudWatch data points (one metric, dimensions and
	// period each) converted.
	DataPoints int
	// Skipped is the number of data points that could not be converted: not a summary, no
	// Namespace or MetricName, no samples, no timestamp, a value that is not finite, or
	// quantiles outside 0 to 1 or not strictly increasing.
	Skipped int
	// Samples is the number of gauge points written: one per statistic of each converted
	// data point.
	Samples int
	// LabelCollisions counts the skipped data points two of whose dimensions become the
	// same label (Stage and stage): which value the series would keep is arbitrary.
	LabelCollisions int
	// DuplicateSeries counts the skipped data points whose series and timestamp an earlier
	// data point of the batch already had: Prometheus refuses a whole write with two
	// samples of one series at one timestamp and different values.
	DuplicateSeries int
}

// Converter turns metric stream requests into the gateway's series. It holds no state
// between calls and may be used by several goroutines at once.
type Converter struct {
	resource pcommon.Resource
	scope    string
}

// NewConverter returns a Converter whose output carries the gateway replica's identity, as
// every other series of the gateway does: service.name (job in Prometheus; default
// otelcol-lambda) and service.instance.id (instance) from the Collector's own resource
// (receiver.Settings.Resource). scopeName names the output's scope (otel_scope_name).
func NewConverter(collector pcommon.Resource, scopeName string) *Converter {
	res := pcommon.NewResource()
	name := defaultServiceName
	if v, ok := collector.Attributes().Get("service.name"); ok && v.Str() != "" {
		name = v.Str()
	}
	res.Attributes().PutStr("service.name", name)
	res.Attributes().PutStr("service.instance.id", series.ReplicaID(collector))
	// Nothing else: any other resource attribute would make remote write add a target_info
	// sample at CloudWatch's minutes-old timestamp to the series lambda_metrics keeps current.
	return &Converter{resource: res, scope: scopeName}
}

var defaultConverter = NewConverter(pcommon.NewResource(), "")

// Convert converts src, one decoded metric stream request exactly as CloudWatch writes it in
// the OpenTelemetry 1.0.0 format, with the identity of a Collector that has no resource
// (job otelcol-lambda, instance host-pid). The receiver uses NewConverter instead, so that
// instance is the replica's.
func Convert(src pmetric.Metrics) (pmetric.Metrics, ConvertStats) {
	return defaultConverter.Convert(src)
}

// Convert converts src (see the package documentation for the mapping) into one new
// pmetric.Metrics: one resource, one scope, one gauge per series name. src is only read.
// When nothing could be converted, the result is empty.
func (c *Converter) Convert(src pmetric.Metrics) (pmetric.Metrics, ConvertStats) {
	b := c.NewBatch()
	b.Add(src)
	return b.Metrics()
}

// Batch converts several requests (the records of one Firehose request) into one output,
// with one gauge per series name across all of them. It is not safe for concurrent use.
type Batch struct {
	out pmetric.Metrics
	cv  conversion
}

// NewBatch starts an output with the Converter's resource and scope.
func (c *Converter) NewBatch() *Batch {
	out := pmetric.NewMetrics()
	rm := out.ResourceMetrics().AppendEmpty()
	c.resource.CopyTo(rm.Resource())
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(c.scope)
	return &Batch{out: out, cv: conversion{metrics: sm.Metrics(), families: map[string]*family{}, labels: map[string]string{}, seen: map[string]struct{}{}}}
}

// Add converts src into the batch and returns what it did with src alone. src is only read.
func (b *Batch) Add(src pmetric.Metrics) ConvertStats {
	cv := &b.cv
	before := cv.stats
	rms := src.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		res := rms.At(i).Resource().Attributes()
		region, account := str(res, attrRegion), str(res, attrAccount)
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				if m.Type() != pmetric.MetricTypeSummary {
					cv.stats.Skipped += series.PointCount(m)
					continue
				}
				factor, isTime := secondsPer(m.Unit())
				if !isTime {
					factor = 1
				}
				dps := m.Summary().DataPoints()
				for l := 0; l < dps.Len(); l++ {
					cv.point(dps.At(l), region, account, factor, isTime)
				}
			}
		}
	}
	return ConvertStats{
		DataPoints:      cv.stats.DataPoints - before.DataPoints,
		Skipped:         cv.stats.Skipped - before.Skipped,
		Samples:         cv.stats.Samples - before.Samples,
		LabelCollisions: cv.stats.LabelCollisions - before.LabelCollisions,
		DuplicateSeries: cv.stats.DuplicateSeries - before.DuplicateSeries,
	}
}

// Metrics returns the batch's output and what every Add did together; when nothing could be
// converted, the output is empty. The batch must not be used afterwards.
func (b *Batch) Metrics() (pmetric.Metrics, ConvertStats) {
	if b.cv.stats.Samples == 0 {
		return pmetric.NewMetrics(), b.cv.stats
	}
	return b.out, b.cv.stats
}

// conversion is the state of one Batch.
type conversion struct {
	metrics  pmetric.MetricSlice
	families map[string]*family // by namespace, metric name and time unit (familyKey)
	labels   map[string]string  // attribute of each dimension name seen
	// seen holds the series and timestamp of every data point converted (seriesKey).
	seen  map[string]struct{}
	pairs []labelPair // the current data point's dimension labels, sorted
	buf   []byte
	stats ConvertStats
}

// labelPair is one dimension of a data point as a label.
type labelPair struct{ label, value string }

// family is the output of one CloudWatch metric: a gauge per statistic, made when first used.
type family struct {
	base        string // aws_<namespace>_<metric>[_seconds]
	stats       [4]pmetric.Metric
	made        [4]bool
	percentiles map[float64]pmetric.Metric
}

// The statistics of a family, in the order of family.stats.
var statNames = [4]string{statSum, statSampleCount, statMinimum, statMaximum}

const (
	iSum = iota
	iSampleCount
	iMinimum
	iMaximum
)

func (cv *conversion) point(dp pmetric.SummaryDataPoint, region, account string, factor float64, isTime bool) {
	attrs := dp.Attributes()
	namespace, metric := str(attrs, attrNamespace), str(attrs, attrMetricName)
	if namespace == "" || metric == "" || dp.Count() == 0 || dp.Timestamp() == 0 || !valid(dp) {
		cv.stats.Skipped++
		return
	}
	f := cv.family(namespace, metric, isTime)
	if f == nil {
		cv.stats.Skipped++
		return
	}
	if !cv.dimensionLabels(attrs) {
		cv.stats.Skipped++
		cv.stats.LabelCollisions++
		return
	}
	if !cv.firstOfSeries(f, dp.Timestamp(), region, account) {
		cv.stats.Skipped++
		cv.stats.DuplicateSeries++
		return
	}
	cv.stats.DataPoints++

	first := cv.gauge(f, iSum, dp)
	first.SetDoubleValue(dp.Sum() * factor)
	cv.putLabels(first.Attributes(), region, account)
	cv.gauge(f, iSampleCount, dp, first).SetDoubleValue(float64(dp.Count()))
	qs := dp.QuantileValues()
	for i := 0; i < qs.Len(); i++ {
		q := qs.At(i)
		switch q.Quantile() {
		case 0:
			cv.gauge(f, iMinimum, dp, first).SetDoubleValue(q.Value() * factor)
		case 1:
			cv.gauge(f, iMaximum, dp, first).SetDoubleValue(q.Value() * factor)
		default:
			cv.percentile(f, q.Quantile(), dp, first).SetDoubleValue(q.Value() * factor)
		}
	}
}

// MaxQuantiles bounds the quantiles of one data point: a metric stream writes the minimum,
// the maximum and at most 20 additional statistics. Each quantile becomes a sample with
// all of the point's labels, so a point with more is skipped rather than converted.
const MaxQuantiles = 100

// valid tells whether every value of dp is one CloudWatch can have: finite, at most
// MaxQuantiles quantiles between 0 and 1, strictly increasing as OTLP requires (a repeated
// quantile would make two samples of one series at one timestamp, which Prometheus refuses).
func valid(dp pmetric.SummaryDataPoint) bool {
	qs := dp.QuantileValues()
	if !finite(dp.Sum()) || qs.Len() > MaxQuantiles {
		return false
	}
	last := -1.0
	for i := 0; i < qs.Len(); i++ {
		q := qs.At(i)
		if !finite(q.Value()) || !(q.Quantile() > last && q.Quantile() <= 1) {
			return false
		}
		last = q.Quantile()
	}
	return true
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// family returns the family of a CloudWatch metric, or nil when its name has nothing to
// make a series name of.
func (cv *conversion) family(namespace, metric string, isTime bool) *family {
	cv.buf = append(append(append(cv.buf[:0], namespace...), 0), metric...)
	if isTime {
		cv.buf = append(cv.buf, 0)
	}
	if f, ok := cv.families[string(cv.buf)]; ok {
		return f
	}
	key := string(cv.buf)
	var f *family
	if base, ok := appendBaseName(cv.buf[:0], namespace, metric, isTime); ok {
		f = &family{base: string(base)}
		cv.buf = base
	}
	cv.families[key] = f
	return f
}

// gauge appends a point to the gauge of statistic i, with dp's timestamps and, when like is
// given, like's attributes.
func (cv *conversion) gauge(f *family, i int, dp pmetric.SummaryDataPoint, like ...pmetric.NumberDataPoint) pmetric.NumberDataPoint {
	if !f.made[i] {
		f.stats[i] = cv.newGauge(f.base + "_" + statNames[i])
		f.made[i] = true
	}
	return cv.appendPoint(f.stats[i], dp, like...)
}

func (cv *conversion) percentile(f *family, q float64, dp pmetric.SummaryDataPoint, like pmetric.NumberDataPoint) pmetric.NumberDataPoint {
	m, ok := f.percentiles[q]
	if !ok {
		if f.percentiles == nil {
			f.percentiles = map[float64]pmetric.Metric{}
		}
		cv.buf = appendPercentile(append(append(cv.buf[:0], f.base...), '_'), q)
		m = cv.newGauge(string(cv.buf))
		f.percentiles[q] = m
	}
	return cv.appendPoint(m, dp, like)
}

func (cv *conversion) newGauge(name string) pmetric.Metric {
	m := cv.metrics.AppendEmpty()
	m.SetName(name)
	m.SetEmptyGauge()
	return m
}

func (cv *conversion) appendPoint(m pmetric.Metric, dp pmetric.SummaryDataPoint, like ...pmetric.NumberDataPoint) pmetric.NumberDataPoint {
	p := m.Gauge().DataPoints().AppendEmpty()
	p.SetStartTimestamp(dp.StartTimestamp())
	p.SetTimestamp(dp.Timestamp())
	if len(like) > 0 {
		like[0].Attributes().CopyTo(p.Attributes())
	}
	cv.stats.Samples++
	return p
}

// dimensionLabels sets cv.pairs to the labels of a data point's dimensions, sorted, and
// tells whether they are distinct.
func (cv *conversion) dimensionLabels(attrs pcommon.Map) bool {
	cv.pairs = cv.pairs[:0]
	dims, _ := attrs.Get(attrDimensions)
	if dims.Type() != pcommon.ValueTypeMap {
		return true
	}
	for name, v := range dims.Map().All() {
		value := v.AsString()
		if value == "" {
			continue
		}
		label, ok := cv.labels[name]
		if !ok {
			cv.buf = appendLabelOf(cv.buf[:0], name)
			label = string(cv.buf)
			cv.labels[name] = label
		}
		cv.pairs = append(cv.pairs, labelPair{label, value})
	}
	slices.SortFunc(cv.pairs, func(a, b labelPair) int { return cmp.Compare(a.label, b.label) })
	for i := 1; i < len(cv.pairs); i++ {
		if cv.pairs[i].label == cv.pairs[i-1].label {
			return false
		}
	}
	return true
}

// firstOfSeries records the series of a data point (its family, region, account and
// cv.pairs) at ts, and tells whether the batch did not have it yet.
func (cv *conversion) firstOfSeries(f *family, ts pcommon.Timestamp, region, account string) bool {
	// Each string length-prefixed, so that no value can read as another's continuation.
	b := binary.BigEndian.AppendUint64(cv.buf[:0], uint64(ts))
	for _, s := range [...]string{f.base, region, account} {
		b = append(binary.AppendUvarint(b, uint64(len(s))), s...)
	}
	for _, p := range cv.pairs {
		b = append(binary.AppendUvarint(b, uint64(len(p.label))), p.label...)
		b = append(binary.AppendUvarint(b, uint64(len(p.value))), p.value...)
	}
	cv.buf = b
	if _, ok := cv.seen[string(b)]; ok {
		return false
	}
	cv.seen[string(b)] = struct{}{}
	return true
}

// putLabels puts the labels of a CloudWatch data point: the resource's region and account,
// then its dimensions (cv.pairs).
func (cv *conversion) putLabels(dst pcommon.Map, region, account string) {
	dst.EnsureCapacity(2 + len(cv.pairs))
	if region != "" {
		dst.PutStr(attrRegion, region)
	}
	if account != "" {
		dst.PutStr(attrAccount, account)
	}
	for _, p := range cv.pairs {
		dst.PutStr(p.label, p.value)
	}
}

// str is the string value of key in m, or "" when it is absent or not a string.
func str(m pcommon.Map, key string) string {
	if v, ok := m.Get(key); ok && v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return ""
}
