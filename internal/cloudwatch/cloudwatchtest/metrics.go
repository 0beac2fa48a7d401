// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package cloudwatchtest builds what CloudWatch Metric Streams send through Amazon Data
// Firehose, for tests: a metric stream's pmetric.Metrics in the OpenTelemetry 1.0.0 output
// format, the record that carries them (length-delimited OTLP requests), and the whole
// Firehose HTTP endpoint request. The shapes follow AWS's documentation, as cited in the
// cloudwatch package's README.
package cloudwatchtest // import "github.com/otelcol-lambda/otelcol-lambda/internal/cloudwatch/cloudwatchtest"

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
)

// Stream is the metric stream, which CloudWatch writes as the resource of every request.
type Stream struct {
	AccountID string
	Region    string
	// Name is the metric stream's name, the last part of its ARN.
	Name string
}

// ExampleStream is a metric stream of AWS's documentation examples' account and region.
var ExampleStream = Stream{AccountID: "123456789012", Region: "us-east-1", Name: "otelcol-lambda"}

// ARN is the metric stream's ARN, which CloudWatch writes as aws.exporter.arn.
func (s Stream) ARN() string {
	return "arn:aws:cloudwatch:" + s.Region + ":" + s.AccountID + ":metric-stream/" + s.Name
}

// Point is one CloudWatch data point: the statistics of one metric, with one set of
// dimensions, over one one-minute period.
type Point struct {
	Namespace  string // AWS/Lambda
	MetricName string // Throttles
	// Unit is the CloudWatch unit (Count, Milliseconds, Seconds, None, Bytes/Second, ...);
	// the stream writes it translated (see OTelUnit).
	Unit string
	// Dimensions by name (FunctionName, Resource, QueueName, ...); none for an account-wide
	// metric. They are written sorted by name.
	Dimensions map[string]string
	Sum        float64
	Count      uint64
	Min, Max   float64
	// Percentiles are the additional statistics a stream sends when configured to: value by
	// quantile (0.99 for p99).
	Percentiles map[float64]float64
	// End is the end of the one-minute period; it starts a minute earlier.
	End time.Time
}

// Metrics returns one request of stream as CloudWatch writes it in the OpenTelemetry 1.0.0
// format: the stream's resource, and for each point a metric named
// amazonaws.com/<namespace>/<metric> holding one summary data point (sum, count, quantile 0
// for the minimum, percentiles, quantile 1 for the maximum) with the attributes Namespace,
// MetricName and Dimensions (a map).
func Metrics(stream Stream, points ...Point) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	res := rm.Resource().Attributes()
	res.PutStr("cloud.provider", "aws")
	res.PutStr("cloud.account.id", stream.AccountID)
	res.PutStr("cloud.region", stream.Region)
	res.PutStr("aws.exporter.arn", stream.ARN())
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	for _, p := range points {
		m := ms.AppendEmpty()
		m.SetName("amazonaws.com/" + p.Namespace + "/" + p.MetricName)
		m.SetUnit(OTelUnit(p.Unit))
		dp := m.SetEmptySummary().DataPoints().AppendEmpty()
		dp.SetStartTimestamp(pcommon.NewTimestampFromTime(p.End.Add(-time.Minute)))
		dp.SetTimestamp(pcommon.NewTimestampFromTime(p.End))
		dp.SetCount(p.Count)
		dp.SetSum(p.Sum)
		qs := dp.QuantileValues()
		addQuantile(qs, 0, p.Min)
		for _, q := range slices.Sorted(maps.Keys(p.Percentiles)) {
			addQuantile(qs, q, p.Percentiles[q])
		}
		addQuantile(qs, 1, p.Max)
		attrs := dp.Attributes()
		attrs.PutStr("Namespace", p.Namespace)
		attrs.PutStr("MetricName", p.MetricName)
		dims := attrs.PutEmptyMap("Dimensions")
		for _, name := range slices.Sorted(maps.Keys(p.Dimensions)) {
			dims.PutStr(name, p.Dimensions[name])
		}
	}
	return md
}

func addQuantile(qs pmetric.SummaryDataPointValueAtQuantileSlice, q, v float64) {
	qv := qs.AppendEmpty()
	qv.SetQuantile(q)
	qv.SetValue(v)
}

// otelUnits is AWS's table of how a metric stream writes CloudWatch units in the
// OpenTelemetry formats (the UCUM case-sensitive codes).
var otelUnits = map[string]string{
	"Second": "s", "Seconds": "s", "Microseconds": "us", "Microsecond": "us", "Milliseconds": "ms",
	"Bytes": "By", "Kilobytes": "kBy", "Megabytes": "MBy", "Gigabytes": "GBy", "Terabytes": "TBy",
	"Bits": "bit", "Kilobits": "kbit", "Megabits": "MBit", "Gigabits": "GBit", "Terabits": "Tbit",
	"Percent": "%", "Count": "{Count}", "None": "1",
}

// OTelUnit is the unit a metric stream writes for a CloudWatch unit. A unit combined with a
// slash has both sides translated (Bytes/Second: By/s); an unknown one is kept.
func OTelUnit(cloudWatch string) string {
	if num, den, ok := strings.Cut(cloudWatch, "/"); ok {
		return OTelUnit(num) + "/" + OTelUnit(den)
	}
	if u, ok := otelUnits[cloudWatch]; ok {
		return u
	}
	return cloudWatch
}

// Record returns the data of one Firehose record holding the requests: each an
// ExportMetricsServiceRequest in protobuf, after its length as an unsigned varint. It
// panics if a request cannot be marshalled, which valid pdata never causes.
func Record(requests ...pmetric.Metrics) []byte {
	var b []byte
	for _, md := range requests {
		msg, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
		if err != nil {
			panic(fmt.Sprintf("cloudwatchtest: marshal request: %v", err))
		}
		b = binary.AppendUvarint(b, uint64(len(msg)))
		b = append(b, msg...)
	}
	return b
}
