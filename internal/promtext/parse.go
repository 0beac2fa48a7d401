// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package promtext // import "github.com/otelcol-lambda/otelcol-lambda/internal/promtext"

import (
	"bytes"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Type is a metric family's type, from its # TYPE line (Untyped without one).
type Type uint8

const (
	Untyped Type = iota
	Counter
	Gauge
	Histogram
	Summary
)

func (t Type) String() string {
	switch t {
	case Counter:
		return "counter"
	case Gauge:
		return "gauge"
	case Histogram:
		return "histogram"
	case Summary:
		return "summary"
	}
	return "untyped"
}

func parseType(s string) (Type, bool) {
	switch s {
	case "counter":
		return Counter, true
	case "gauge":
		return Gauge, true
	case "histogram":
		return Histogram, true
	case "summary":
		return Summary, true
	case "untyped":
		return Untyped, true
	}
	return Untyped, false
}

// Label is one label pair.
type Label struct {
	Name  string
	Value string
}

// Bucket is one histogram bucket: how many observations were <= UpperBound (cumulative,
// as the text format writes it).
type Bucket struct {
	UpperBound      float64
	CumulativeCount float64
}

// Quantile is one summary quantile.
type Quantile struct {
	Quantile float64
	Value    float64
}

// Metric is one series of a family: one label set.
type Metric struct {
	// Labels are sorted by name; a histogram's le and a summary's quantile are not here.
	Labels []Label
	// Value is the value of a counter, gauge or untyped metric.
	Value float64
	// Buckets of a histogram, sorted by UpperBound.
	Buckets []Bucket
	// Quantiles of a summary, sorted by Quantile.
	Quantiles []Quantile
	// Sum and Count of a histogram or summary; HasSum and HasCount say whether the text
	// had them.
	Sum, Count       float64
	HasSum, HasCount bool
	// TimestampMs is the sample's timestamp when the text gave one (HasTimestamp).
	TimestampMs  int64
	HasTimestamp bool
}

// Family is a metric family: a name, its help and type, and its series in the order they
// first appeared.
type Family struct {
	Name    string
	Help    string
	Type    Type
	Metrics []Metric
}

// ParseError is a syntax or consistency error, with the 1-based line it was found on.
type ParseError struct {
	Line int
	Msg  string
}

func (e *ParseError) Error() string {
	return "text format parsing error in line " + strconv.Itoa(e.Line) + ": " + e.Msg
}

// parser holds the families being built. Families are kept in the order they first
// appeared.
type parser struct {
	families []*Family
	byName   map[string]*Family
	// series indexes each family's metrics by label set, so that the _bucket, _sum and
	// _count samples of one histogram series meet, and duplicates are caught.
	series map[*Family]map[string]int
	// seen records which sample (by full name and labels) was given, to reject
	// duplicates.
	seen map[string]struct{}
	line int
}

// Parse parses a text exposition. It returns the families in the order they first
// appeared, or the first error.
func Parse(data []byte) ([]Family, error) {
	p := &parser{
		byName: make(map[string]*Family),
		series: make(map[*Family]map[string]int),
		seen:   make(map[string]struct{}),
	}
	for len(data) > 0 {
		p.line++
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		line = bytes.TrimRight(line, "\r")
		if err := p.parseLine(string(line)); err != nil {
			return nil, err
		}
	}
	out := make([]Family, 0, len(p.families))
	for _, f := range p.families {
		if len(f.Metrics) == 0 {
			continue // a HELP or TYPE line without samples says nothing
		}
		for i := range f.Metrics {
			m := &f.Metrics[i]
			sort.Slice(m.Buckets, func(a, b int) bool { return m.Buckets[a].UpperBound < m.Buckets[b].UpperBound })
			sort.Slice(m.Quantiles, func(a, b int) bool { return m.Quantiles[a].Quantile < m.Quantiles[b].Quantile })
		}
		out = append(out, *f)
	}
	return out, nil
}

func (p *parser) errorf(format string, args ...any) error {
	return &ParseError{Line: p.line, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) parseLine(line string) error {
	trimmed := strings.TrimLeft(line, " \t")
	if trimmed == "" {
		return nil
	}
	if trimmed[0] == '#' {
		return p.parseComment(trimmed[1:])
	}
	return p.parseSample(trimmed)
}

// parseComment handles "# HELP name text" and "# TYPE name type"; other comments are
// ignored, as Prometheus does.
func (p *parser) parseComment(rest string) error {
	fields := strings.Fields(rest)
	if len(fields) < 2 || (fields[0] != "HELP" && fields[0] != "TYPE") {
		return nil
	}
	keyword, name := fields[0], fields[1]
	if !validMetricName(name) {
		return p.errorf("invalid metric name %q in %s line", name, keyword)
	}
	f := p.family(name)
	if keyword == "TYPE" {
		if len(fields) != 3 {
			return p.errorf("TYPE line for %s must have exactly one type", name)
		}
		if f.Type != Untyped || p.typed(f) {
			return p.errorf("second TYPE line for metric name %q, or TYPE reported after samples", name)
		}
		t, ok := parseType(fields[2])
		if !ok {
			return p.errorf("unknown metric type %q for %s", fields[2], name)
		}
		f.Type = t
		return nil
	}
	if f.Help != "" {
		return p.errorf("second HELP line for metric name %q", name)
	}
	// The help text is everything after the name, with \\ and \n escapes.
	text := strings.TrimLeft(rest, " \t")[len(keyword):]
	text = strings.TrimLeft(text, " \t")[len(name):]
	help, ok := unescape(strings.TrimLeft(text, " \t"), false)
	if !ok {
		return p.errorf("invalid escape sequence in HELP text of %s", name)
	}
	f.Help = help
	return nil
}

// typed reports whether the family already has samples (a TYPE line must come first).
func (p *parser) typed(f *Family) bool { return len(f.Metrics) > 0 }

func (p *parser) family(name string) *Family {
	if f, ok := p.byName[name]; ok {
		return f
	}
	f := &Family{Name: name}
	p.byName[name] = f
	p.families = append(p.families, f)
	return f
}

// familyOf finds the family a sample name belongs to: a histogram's or summary's
// _bucket/_sum/_count samples belong to the declared family.
func (p *parser) familyOf(sampleName string) (*Family, string) {
	for _, suffix := range [...]string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(sampleName, suffix)
		if !ok {
			continue
		}
		if f, ok := p.byName[base]; ok && (f.Type == Histogram || (f.Type == Summary && suffix != "_bucket")) {
			return f, suffix
		}
	}
	return p.family(sampleName), ""
}

func (p *parser) parseSample(line string) error {
	i := 0
	for i < len(line) && isNameChar(line[i], i == 0, true) {
		i++
	}
	name := line[:i]
	if name == "" {
		return p.errorf("invalid metric name at the start of %q", clip(line))
	}
	rest := line[i:]
	var labels []Label
	if strings.HasPrefix(rest, "{") {
		var err error
		if labels, rest, err = p.parseLabels(rest[1:]); err != nil {
			return err
		}
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return p.errorf("expected a value after metric %s", name)
	}
	if len(fields) > 2 || (rest != "" && rest[0] != ' ' && rest[0] != '\t') {
		return p.errorf("unexpected text after the value of metric %s: %q", name, clip(rest))
	}
	value, err := parseValue(fields[0])
	if err != nil {
		return p.errorf("invalid value %q for metric %s", fields[0], name)
	}
	var ts int64
	hasTS := len(fields) == 2
	if hasTS {
		if ts, err = strconv.ParseInt(fields[1], 10, 64); err != nil {
			return p.errorf("invalid timestamp %q for metric %s", fields[1], name)
		}
	}

	sort.Slice(labels, func(a, b int) bool { return labels[a].Name < labels[b].Name })
	for j := 1; j < len(labels); j++ {
		if labels[j].Name == labels[j-1].Name {
			return p.errorf("duplicate label %q for metric %s", labels[j].Name, name)
		}
	}
	sampleKey := name + "\xff" + labelKey(labels)
	if _, dup := p.seen[sampleKey]; dup {
		return p.errorf("duplicate sample for metric %s%s", name, formatLabels(labels))
	}
	p.seen[sampleKey] = struct{}{}

	f, suffix := p.familyOf(name)
	// The special label (le, quantile) identifies the bucket, not the series.
	var special string
	var specialValue float64
	switch {
	case f.Type == Histogram && suffix == "_bucket":
		special = "le"
	case f.Type == Summary && suffix == "":
		special = "quantile"
	}
	if special != "" {
		found := false
		for j, l := range labels {
			if l.Name == special {
				if specialValue, err = parseValue(l.Value); err != nil {
					return p.errorf("invalid %s label value %q for metric %s", special, l.Value, name)
				}
				labels = append(labels[:j:j], labels[j+1:]...)
				found = true
				break
			}
		}
		if !found {
			return p.errorf("metric %s has no %q label", name, special)
		}
	} else if f.Type == Histogram && suffix == "" {
		return p.errorf("histogram %s has a sample without _bucket, _sum or _count suffix", f.Name)
	}

	if len(labels) == 0 {
		labels = nil
	}
	m := p.metric(f, labels)
	if hasTS {
		m.TimestampMs, m.HasTimestamp = ts, true
	}
	switch {
	case special == "le":
		m.Buckets = append(m.Buckets, Bucket{UpperBound: specialValue, CumulativeCount: value})
	case special == "quantile":
		m.Quantiles = append(m.Quantiles, Quantile{Quantile: specialValue, Value: value})
	case suffix == "_sum":
		m.Sum, m.HasSum = value, true
	case suffix == "_count":
		m.Count, m.HasCount = value, true
	default:
		m.Value = value
	}
	return nil
}

// metric returns the family's series with the given labels, adding it if new.
func (p *parser) metric(f *Family, labels []Label) *Metric {
	idx := p.series[f]
	if idx == nil {
		idx = make(map[string]int)
		p.series[f] = idx
	}
	key := labelKey(labels)
	if i, ok := idx[key]; ok {
		return &f.Metrics[i]
	}
	idx[key] = len(f.Metrics)
	f.Metrics = append(f.Metrics, Metric{Labels: labels})
	return &f.Metrics[len(f.Metrics)-1]
}

// parseLabels parses `name="value",...}` and returns the labels and the rest after '}'.
func (p *parser) parseLabels(s string) ([]Label, string, error) {
	var labels []Label
	for {
		s = strings.TrimLeft(s, " \t")
		if strings.HasPrefix(s, "}") {
			return labels, s[1:], nil
		}
		i := 0
		for i < len(s) && isNameChar(s[i], i == 0, false) {
			i++
		}
		name := s[:i]
		if name == "" {
			return nil, "", p.errorf("invalid label name at %q", clip(s))
		}
		if strings.HasPrefix(name, "__") {
			return nil, "", p.errorf("label name %q is reserved (starts with __)", name)
		}
		s = strings.TrimLeft(s[i:], " \t")
		if !strings.HasPrefix(s, "=") {
			return nil, "", p.errorf("expected '=' after label name %q", name)
		}
		s = strings.TrimLeft(s[1:], " \t")
		if !strings.HasPrefix(s, `"`) {
			return nil, "", p.errorf("expected '\"' to start the value of label %q", name)
		}
		end := closingQuote(s[1:])
		if end < 0 {
			return nil, "", p.errorf("unterminated value of label %q", name)
		}
		value, ok := unescape(s[1:1+end], true)
		if !ok {
			return nil, "", p.errorf("invalid escape sequence in the value of label %q", name)
		}
		if !utf8.ValidString(value) {
			return nil, "", p.errorf("the value of label %q is not valid UTF-8", name)
		}
		// An empty value is no label at all, as in Prometheus: c{a=""} and c are one series.
		if value != "" {
			labels = append(labels, Label{Name: name, Value: value})
		}
		s = strings.TrimLeft(s[2+end:], " \t")
		switch {
		case strings.HasPrefix(s, ","):
			s = s[1:]
		case strings.HasPrefix(s, "}"):
		default:
			return nil, "", p.errorf("expected ',' or '}' after the value of label %q", name)
		}
	}
}

// closingQuote returns the index of the first unescaped '"' in s, or -1.
func closingQuote(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// unescape resolves \\ and \n (and \" in label values).
func unescape(s string, quoteAllowed bool) (string, bool) {
	if !strings.Contains(s, `\`) {
		return s, true
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(s) {
			return "", false
		}
		switch s[i] {
		case '\\':
			b.WriteByte('\\')
		case 'n':
			b.WriteByte('\n')
		case '"':
			if !quoteAllowed {
				b.WriteString(`\"`)
				continue
			}
			b.WriteByte('"')
		default:
			if quoteAllowed {
				return "", false
			}
			// Prometheus keeps unknown escapes of help text as written.
			b.WriteByte('\\')
			b.WriteByte(s[i])
		}
	}
	return b.String(), true
}

func parseValue(s string) (float64, error) {
	switch s {
	case "+Inf", "Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	case "NaN":
		return math.NaN(), nil
	}
	// ParseFloat also accepts forms like "inf" and "0x1p3"; Prometheus accepts what Go's
	// ParseFloat accepts, so we do too.
	return strconv.ParseFloat(s, 64)
}

// isNameChar reports whether c may appear in a metric name (colons allowed) or a label
// name at this position.
func isNameChar(c byte, first, colon bool) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		return true
	case c == ':':
		return colon
	case c >= '0' && c <= '9':
		return !first
	}
	return false
}

func validMetricName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameChar(s[i], i == 0, true) {
			return false
		}
	}
	return true
}

// ValidLabelName reports whether s is a valid Prometheus label name.
func ValidLabelName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameChar(s[i], i == 0, false) {
			return false
		}
	}
	return true
}

// ValidMetricName reports whether s is a valid Prometheus metric name.
func ValidMetricName(s string) bool { return validMetricName(s) }

func labelKey(labels []Label) string {
	var b strings.Builder
	for _, l := range labels {
		b.WriteString(l.Name)
		b.WriteByte(0xfe)
		b.WriteString(l.Value)
		b.WriteByte(0xff)
	}
	return b.String()
}

func formatLabels(labels []Label) string {
	if len(labels) == 0 {
		return ""
	}
	parts := make([]string, len(labels))
	for i, l := range labels {
		parts[i] = l.Name + "=" + strconv.Quote(l.Value)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// clip shortens text quoted in an error message.
func clip(s string) string {
	const maxLen = 40
	if len(s) > maxLen {
		return s[:maxLen] + "..."
	}
	return s
}
