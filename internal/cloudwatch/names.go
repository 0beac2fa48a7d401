// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package cloudwatch // import "github.com/otelcol-lambda/otelcol-lambda/internal/cloudwatch"

import (
	"bytes"
	"math"
	"strconv"
	"strings"
)

// The statistics of one CloudWatch data point, as the suffixes of their series.
const (
	statSum         = "sum"
	statSampleCount = "sample_count"
	statMinimum     = "minimum"
	statMaximum     = "maximum"
)

// secondsPer is the factor that turns a value of a CloudWatch time unit into seconds, and
// whether the unit is one. The stream writes the OTel (UCUM) form (s, ms, us); the CloudWatch
// names are accepted too, as the JSON output format writes them.
func secondsPer(unit string) (float64, bool) {
	switch unit {
	case "s", "Seconds", "Second":
		return 1, true
	case "ms", "Milliseconds", "Millisecond":
		return 1e-3, true
	case "us", "Microseconds", "Microsecond":
		return 1e-6, true
	}
	return 0, false
}

// appendBaseName appends aws_<namespace>_<metric>[_seconds]: the name of a CloudWatch
// metric's series without the statistic. A namespace's "AWS/" prefix is dropped. It reports
// false when the namespace or the metric has no letter or digit to make its part of.
func appendBaseName(b []byte, namespace, metric string, seconds bool) ([]byte, bool) {
	b = append(b, "aws_"...)
	n := len(b)
	if b = appendSnake(b, strings.TrimPrefix(namespace, "AWS/")); len(b) == n {
		return b, false
	}
	b = append(b, '_')
	n = len(b)
	if b = appendSnake(b, metric); len(b) == n {
		return b, false
	}
	if seconds && !bytes.HasSuffix(b, []byte("_seconds")) {
		b = append(b, "_seconds"...)
	}
	return b, true
}

// appendSnake appends s in snake_case: a word starts at an upper-case letter after a
// lower-case one, or at the last capital of an acronym that a lower-case letter follows
// (CPUUtilization: cpu_utilization, EventSourceMappingUUID: event_source_mapping_uuid,
// 5XXError: 5xx_error). Everything but ASCII letters and digits separates words, and
// separators never repeat nor end the name.
func appendSnake(b []byte, s string) []byte {
	start := len(b)
	sep := func() {
		if len(b) > start && b[len(b)-1] != '_' {
			b = append(b, '_')
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isUpper(c):
			if i > 0 {
				prev := s[i-1]
				nextLower := i+1 < len(s) && isLower(s[i+1])
				if isLower(prev) || ((isUpper(prev) || isDigit(prev)) && nextLower) {
					sep()
				}
			}
			b = append(b, c+('a'-'A'))
		case isLower(c) || isDigit(c):
			b = append(b, c)
		default:
			sep()
		}
	}
	if len(b) > start && b[len(b)-1] == '_' {
		b = b[:len(b)-1]
	}
	return b
}

func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }
func isLower(c byte) bool { return 'a' <= c && c <= 'z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// appendPercentile appends the statistic of quantile q as CloudWatch names it, with '_' for
// its decimal point: 0.99 is p99, 0.999 p99_9.
func appendPercentile(b []byte, q float64) []byte {
	b = append(b, 'p')
	// Rounded, so that 0.999*100 reads 99.9 and not 99.89999999999999.
	p := math.Round(q*100*1e6) / 1e6
	start := len(b)
	b = strconv.AppendFloat(b, p, 'f', -1, 64)
	for i := start; i < len(b); i++ {
		if b[i] == '.' {
			b[i] = '_'
		}
	}
	return b
}

// appendLabelOf appends the attribute a CloudWatch dimension becomes: the dimensions that name what our
// RED series name get the same attribute (FunctionName: faas.name, QueueName:
// messaging.destination.name), every other one its name in snake_case. A dimension that
// would take the name of a label the series already has gets the prefix dimension_.
func appendLabelOf(b []byte, dimension string) []byte {
	switch dimension {
	case "FunctionName":
		return append(b, attrFaaSName...)
	case "QueueName":
		return append(b, attrDestination...)
	}
	start := len(b)
	b = appendSnake(b, dimension)
	if reservedLabel(string(b[start:])) {
		b = append(b[:start], "dimension_"...)
		b = appendSnake(b, dimension)
		if len(b) == start+len("dimension_") {
			b = b[:start+len("dimension")]
		}
	}
	return b
}

// reservedLabel tells whether a label is one the series has already, or one Prometheus and
// remote write give a meaning to: le and quantile (histograms and summaries, which
// recording rules and histogram_quantile read) and the otel_scope_ labels remote write
// adds from the scope.
func reservedLabel(label string) bool {
	switch label {
	case "", "job", "instance", "faas_name", "messaging_destination_name", "cloud_region", "cloud_account_id",
		"le", "quantile":
		return true
	}
	return strings.HasPrefix(label, "otel_scope_")
}
