// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Spec is distribution/prometheus/alerting.yml; the file's comments document each key.
type Spec struct {
	SLOs        []SLO       `yaml:"slos"`
	Concurrency Concurrency `yaml:"concurrency"`
	Cost        Cost        `yaml:"cost"`
}

// SLO is one service level objective.
type SLO struct {
	Name           string   `yaml:"name"`
	Kind           string   `yaml:"kind"`
	Objective      *float64 `yaml:"objective"`
	Threshold      string   `yaml:"threshold"`
	Functions      []string `yaml:"functions"`
	FunctionsRegex string   `yaml:"functions_regex"`

	// Set by validation.
	budget    float64        // 1 - objective/100, as a fraction
	threshold time.Duration  // latency only
	regex     *regexp.Regexp // FunctionsRegex anchored as PromQL's =~ anchors it
}

// Concurrency configures LambdaConcurrencyNearLimit.
type Concurrency struct {
	DefaultLimit  *int            `yaml:"default_limit"`
	AlertFraction *float64        `yaml:"alert_fraction"`
	Overrides     []AccountLimit  `yaml:"overrides"`
	Reserved      []FunctionLimit `yaml:"reserved"`
}

// AccountLimit is the concurrency quota of one account in one region.
type AccountLimit struct {
	CloudAccountID string `yaml:"cloud_account_id"`
	CloudRegion    string `yaml:"cloud_region"`
	Limit          int    `yaml:"limit"`
}

// FunctionRef names a function, optionally in one account and region.
type FunctionRef struct {
	Function       string `yaml:"function"`
	CloudAccountID string `yaml:"cloud_account_id"`
	CloudRegion    string `yaml:"cloud_region"`
}

// FunctionLimit is a function's reserved concurrency.
type FunctionLimit struct {
	FunctionRef `yaml:",inline"`
	Limit       int `yaml:"limit"`
}

// FunctionBudget is a function's hourly cost budget.
type FunctionBudget struct {
	FunctionRef     `yaml:",inline"`
	HourlyBudgetUSD float64 `yaml:"hourly_budget_usd"`
}

// Cost configures LambdaCostOverBudget and LambdaCostAboveLastWeek.
type Cost struct {
	HourlyBudgetUSD *float64         `yaml:"hourly_budget_usd"`
	Functions       []FunctionBudget `yaml:"functions"`
	LastWeek        LastWeek         `yaml:"last_week"`
}

// LastWeek configures LambdaCostAboveLastWeek.
type LastWeek struct {
	Factor        *float64 `yaml:"factor"`
	MinUSDPerHour *float64 `yaml:"min_usd_per_hour"`
}

const (
	kindAvailability = "availability"
	kindLatency      = "latency"

	defaultConcurrencyLimit = 1000 // AWS's default quota per account and region
	defaultAlertFraction    = 0.8
	defaultLastWeekFactor   = 3
	defaultLastWeekMinUSD   = 0.1
)

var (
	sloNameRE = regexp.MustCompile(`^[a-z0-9_-]+$`)
	// Lambda's own rule for function names.
	functionNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	// The shape of AWS account ids and region names: anything else names no series, and the
	// override or budget would silently apply nowhere.
	accountIDRE = regexp.MustCompile(`^[0-9]{12}$`)
	regionRE    = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	// One number and unit of a Go duration (1h30m is two).
	durationPartRE = regexp.MustCompile(`([0-9.]+)(ns|us|µs|μs|ms|s|m|h)`)
	// yaml.v3's message for a value of the wrong type: line, message, tag and value.
	wrongTypeRE = regexp.MustCompile("^line (\\d+): (cannot unmarshal (!!\\w+)(?: `([^`]*)`)? into .*)$")
	// yaml.v3's message for an unknown key under KnownFields.
	unknownFieldRE = regexp.MustCompile(`line (\d+): field (\S+) not found in type main\.(\w+)`)
)

// sectionOf names, for an unknown-key error, where in the file the key was.
var sectionOf = map[string]string{
	"Spec":           "the top level (slos, concurrency, cost)",
	"SLO":            "an slos entry (name, kind, objective, threshold, functions, functions_regex)",
	"Concurrency":    "concurrency (default_limit, alert_fraction, overrides, reserved)",
	"AccountLimit":   "concurrency.overrides (cloud_account_id, cloud_region, limit)",
	"FunctionLimit":  "concurrency.reserved (function, cloud_account_id, cloud_region, limit)",
	"Cost":           "cost (hourly_budget_usd, functions, last_week)",
	"FunctionBudget": "cost.functions (function, cloud_account_id, cloud_region, hourly_budget_usd)",
	"LastWeek":       "cost.last_week (factor, min_usd_per_hour)",
}

// LoadSpec decodes and validates a spec. name is the file's name in error messages;
// bounds are the bucket boundaries a latency threshold must be one of.
func LoadSpec(name string, data []byte, bounds []time.Duration) (*Spec, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	// An empty file is more likely truncated than meant: it would drop every SLO alert.
	if empty(&root) {
		return nil, fmt.Errorf("%s: the spec is empty; for no SLOs write slos: []", name)
	}
	var spec Spec
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&spec); err != nil {
		return nil, decodeError(name, &root, err)
	}
	// A second document (after ---) would otherwise be ignored without a word.
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if !empty(&next) {
			return nil, fmt.Errorf("%s:%d: a second YAML document (after ---): the spec is one document", name, next.Line)
		}
	}
	v := validator{file: name, root: &root}
	spec.validate(&v, bounds)
	if err := errors.Join(v.errs...); err != nil {
		return nil, err
	}
	return &spec, nil
}

// empty tells a document without content (nothing, comments, null).
func empty(doc *yaml.Node) bool {
	return len(doc.Content) == 0 || doc.Content[0].ShortTag() == "!!null"
}

// decodeError rewrites yaml's type errors into file:line messages that name the key.
func decodeError(name string, root *yaml.Node, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("%s: %w", name, err)
	}
	errs := make([]error, 0, len(te.Errors))
	for _, e := range te.Errors {
		if m := unknownFieldRE.FindStringSubmatch(e); m != nil {
			errs = append(errs, fmt.Errorf("%s:%s: unknown key %q in %s", name, m[1], m[2], sectionOf[m[3]]))
			continue
		}
		if m := wrongTypeRE.FindStringSubmatch(e); m != nil {
			line, _ := strconv.Atoi(m[1])
			if path := pathAt(root, line, m[3], strings.TrimSuffix(m[4], "..."), nil); path != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %s: %s", name, line, pathString(path), m[2]))
				continue
			}
		}
		errs = append(errs, fmt.Errorf("%s: %s", name, strings.TrimPrefix(e, "yaml: ")))
	}
	return errors.Join(errs...)
}

// pathAt finds the key whose value yaml could not decode: yaml's message gives its line,
// tag and (the start of) its value only, and a line in flow style holds several values.
func pathAt(n *yaml.Node, line int, tag, value string, path []any) []any {
	var found []any
	visit := func(child *yaml.Node, key any) {
		p := append(slices.Clone(path), key)
		if deeper := pathAt(child, line, tag, value, p); deeper != nil {
			found = deeper
		} else if found == nil && child.Line == line && child.ShortTag() == tag && strings.HasPrefix(child.Value, value) {
			found = p
		}
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) > 0 {
			return pathAt(n.Content[0], line, tag, value, path)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content) && found == nil; i += 2 {
			visit(n.Content[i+1], n.Content[i].Value)
		}
	case yaml.SequenceNode:
		for i := 0; i < len(n.Content) && found == nil; i++ {
			visit(n.Content[i], i)
		}
	}
	return found
}

// validator collects every problem, each with the line of the key it is about.
type validator struct {
	file string
	root *yaml.Node
	errs []error
}

// errorf records a problem at path (keys and list indexes, as in the file).
func (v *validator) errorf(path []any, format string, args ...any) {
	_, line := v.find(path)
	v.errs = append(v.errs, fmt.Errorf("%s:%d: %s: %s", v.file, line, pathString(path), fmt.Sprintf(format, args...)))
}

// whole reports whether the number at path, if the file has it, is written as a whole
// number, and records a problem if not: yaml.v3 decodes 1500.7 into an int as 1500.
func (v *validator) whole(path []any) bool {
	if n, _ := v.find(path); n != nil && n.ShortTag() == "!!float" {
		v.errorf(path, "%s: must be a whole number", n.Value)
		return false
	}
	return true
}

// find returns the node at path (nil when the file does not have it all) and the line of
// the deepest node of path that exists in the file.
func (v *validator) find(path []any) (*yaml.Node, int) {
	n := v.root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, p := range path {
		var next *yaml.Node
		switch p := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == p {
						next = n.Content[i+1]
						line = n.Content[i].Line
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && p < len(n.Content) {
				next = n.Content[p]
				line = next.Line
			}
		}
		if next == nil {
			return nil, line
		}
		n = next
	}
	return n, line
}

func pathString(path []any) string {
	var b strings.Builder
	for _, p := range path {
		switch p := p.(type) {
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(p)
		case int:
			fmt.Fprintf(&b, "[%d]", p)
		}
	}
	return b.String()
}

func (s *Spec) validate(v *validator, bounds []time.Duration) {
	names := map[string]int{}
	catchAll := map[string]int{}
	for i := range s.SLOs {
		slo := &s.SLOs[i]
		at := func(key ...any) []any { return append([]any{"slos", i}, key...) }
		switch {
		case slo.Name == "":
			v.errorf(at("name"), "name is required")
		case !sloNameRE.MatchString(slo.Name):
			v.errorf(at("name"), "%q: use only a-z, 0-9, _ and - (it becomes the slo label)", slo.Name)
		default:
			if j, dup := names[slo.Name]; dup {
				v.errorf(at("name"), "%q is also the name of slos[%d]: names must be unique", slo.Name, j)
			}
			names[slo.Name] = i
		}
		switch slo.Kind {
		case kindAvailability, kindLatency:
		case "":
			v.errorf(at("kind"), "kind is required: availability or latency")
		default:
			v.errorf(at("kind"), "%q: must be availability or latency", slo.Kind)
		}
		if slo.Objective == nil {
			v.errorf(at("objective"), "objective is required: a percentage such as 99.9")
		} else if o := *slo.Objective; !(o > 0 && o < 100) {
			v.errorf(at("objective"), "%v: must be a percentage between 0 and 100 (exclusive), such as 99.9", o)
		} else {
			slo.budget = errorBudget(o)
		}
		switch {
		case slo.Kind == kindLatency && slo.Threshold == "":
			v.errorf(at("threshold"), "threshold is required for kind latency: one of the bucket boundaries %s", formatBounds(bounds))
		case slo.Kind == kindLatency:
			d, err := parseThreshold(slo.Threshold)
			switch {
			case err != nil:
				v.errorf(at("threshold"), "%v", err)
			case bounds != nil && !slices.Contains(bounds, d):
				v.errorf(at("threshold"), "%s is not a bucket boundary of faas_invoke_duration_seconds, so the share of invocations within it cannot be counted; "+
					"the boundaries are %s: pick one, or add it to the buckets (connectors: lambda_metrics: histograms: invoke_duration: the whole list, which replaces the default) "+
					"in distribution/config.yaml, where rulegen reads them, and in the configuration the gateway is deployed with, then redeploy the gateway",
					slo.Threshold, formatBounds(bounds))
			default:
				slo.threshold = d
			}
		case slo.Threshold != "":
			v.errorf(at("threshold"), "threshold is for kind latency only")
		}
		for j, f := range slo.Functions {
			if !functionNameRE.MatchString(f) {
				v.errorf(at("functions", j), "%q is not a Lambda function name (letters, digits, - and _, at most 64)", f)
			}
		}
		if re := slo.FunctionsRegex; re != "" {
			// Function names are printable ASCII; a line break would also end the comment the
			// regex is quoted in, in the generated file.
			if strings.ContainsFunc(re, func(r rune) bool { return r < ' ' || r > '~' }) {
				v.errorf(at("functions_regex"), "%q: only printable ASCII characters (function names are letters, digits, - and _)", re)
			} else if _, err := regexp.Compile(re); err != nil {
				v.errorf(at("functions_regex"), "%v", err)
			} else {
				slo.regex = regexp.MustCompile("^(?:" + re + ")$")
			}
		}
		if slo.catchAll() && slo.Kind != "" {
			if j, dup := catchAll[slo.Kind]; dup {
				v.errorf(at("name"), "%q and slos[%d] are both catch-alls of kind %s (no functions or functions_regex): "+
					"a function would be judged twice; give one of them functions", slo.Name, j, slo.Kind)
			}
			catchAll[slo.Kind] = i
		}
	}
	s.validateOverlaps(v)

	c := &s.Concurrency
	if c.DefaultLimit == nil {
		c.DefaultLimit = ptr(defaultConcurrencyLimit)
	} else if v.whole([]any{"concurrency", "default_limit"}) && *c.DefaultLimit <= 0 {
		v.errorf([]any{"concurrency", "default_limit"}, "%d: must be positive", *c.DefaultLimit)
	}
	if c.AlertFraction == nil {
		c.AlertFraction = ptr(defaultAlertFraction)
	} else if f := *c.AlertFraction; !(f > 0 && f <= 1) {
		v.errorf([]any{"concurrency", "alert_fraction"}, "%v: must be a fraction of the limit, 0 < alert_fraction <= 1", f)
	}
	accounts := map[AccountLimit]int{}
	for i, o := range c.Overrides {
		at := func(key string) []any { return []any{"concurrency", "overrides", i, key} }
		if o.CloudAccountID == "" || o.CloudRegion == "" {
			v.errorf(at("cloud_account_id"), "cloud_account_id and cloud_region are both required: the quota is per account and region")
		}
		validateAccountRegion(v, []any{"concurrency", "overrides", i}, o.CloudAccountID, o.CloudRegion)
		if v.whole(at("limit")) && o.Limit <= 0 {
			v.errorf(at("limit"), "%d: must be positive", o.Limit)
		}
		key := AccountLimit{CloudAccountID: o.CloudAccountID, CloudRegion: o.CloudRegion}
		if j, dup := accounts[key]; dup {
			v.errorf(at("cloud_account_id"), "%s %s is also in overrides[%d]", o.CloudAccountID, o.CloudRegion, j)
		}
		accounts[key] = i
	}
	refs := make([]FunctionRef, len(c.Reserved))
	for i, r := range c.Reserved {
		refs[i] = r.FunctionRef
		if at := []any{"concurrency", "reserved", i, "limit"}; v.whole(at) && r.Limit <= 0 {
			v.errorf(at, "%d: must be positive", r.Limit)
		}
	}
	validateRefs(v, []any{"concurrency", "reserved"}, refs)

	k := &s.Cost
	if k.HourlyBudgetUSD != nil && !positive(*k.HourlyBudgetUSD) {
		v.errorf([]any{"cost", "hourly_budget_usd"}, "%v: must be a positive number (leave it out for no fleet budget)", *k.HourlyBudgetUSD)
	}
	refs = make([]FunctionRef, len(k.Functions))
	for i, b := range k.Functions {
		refs[i] = b.FunctionRef
		if !positive(b.HourlyBudgetUSD) {
			v.errorf([]any{"cost", "functions", i, "hourly_budget_usd"}, "%v: must be a positive number", b.HourlyBudgetUSD)
		}
	}
	validateRefs(v, []any{"cost", "functions"}, refs)
	if k.LastWeek.Factor == nil {
		k.LastWeek.Factor = ptr(float64(defaultLastWeekFactor))
	} else if f := *k.LastWeek.Factor; !positive(f) || f <= 1 {
		v.errorf([]any{"cost", "last_week", "factor"}, "%v: must be a number above 1", f)
	}
	if k.LastWeek.MinUSDPerHour == nil {
		k.LastWeek.MinUSDPerHour = ptr(defaultLastWeekMinUSD)
	} else if m := *k.LastWeek.MinUSDPerHour; !(m >= 0) || math.IsInf(m, 1) {
		v.errorf([]any{"cost", "last_week", "min_usd_per_hour"}, "%v: must be a number, 0 or above", m)
	}
}

// validateRefs checks the function entries of one list: a name each, none twice.
func validateRefs(v *validator, list []any, refs []FunctionRef) {
	seen := map[FunctionRef]int{}
	for i, r := range refs {
		validateAccountRegion(v, append(append([]any{}, list...), i), r.CloudAccountID, r.CloudRegion)
		at := append(append([]any{}, list...), i, "function")
		if !functionNameRE.MatchString(r.Function) {
			v.errorf(at, "%q is not a Lambda function name (letters, digits, - and _, at most 64)", r.Function)
			continue
		}
		if j, dup := seen[r]; dup {
			v.errorf(at, "%s is also in %s[%d] with the same cloud_account_id and cloud_region", r.Function, pathString(list), j)
		}
		seen[r] = i
	}
}

// validateAccountRegion checks the cloud_account_id and cloud_region of the entry at path,
// where given.
func validateAccountRegion(v *validator, entry []any, account, region string) {
	if account != "" && !accountIDRE.MatchString(account) {
		v.errorf(append(slices.Clone(entry), "cloud_account_id"), "%q is not an AWS account id (12 digits; quote it to keep leading zeros)", account)
	}
	if region != "" && !regionRE.MatchString(region) {
		v.errorf(append(slices.Clone(entry), "cloud_region"), "%q is not an AWS region name such as us-east-1", region)
	}
}

// validateOverlaps finds a function that two SLOs of one kind name, which would be judged
// twice and page twice. Two regular expressions that overlap are not found.
func (s *Spec) validateOverlaps(v *validator) {
	for i := range s.SLOs {
		slo := &s.SLOs[i]
		for k, f := range slo.Functions {
			for j := range s.SLOs {
				o := &s.SLOs[j]
				if j == i || o.Kind != slo.Kind || o.catchAll() {
					continue
				}
				listed := slices.Contains(o.Functions, f)
				if listed && j > i {
					continue // reported at o's entry
				}
				if listed || o.regex != nil && o.regex.MatchString(f) {
					v.errorf([]any{"slos", i, "functions", k}, "%s is also judged by slos[%d] (%s), of the same kind: it would page twice; keep it in one", f, j, o.Name)
				}
			}
		}
	}
}

// positive tells a finite number above 0 (NaN and +Inf would make rules that never fire).
func positive(f float64) bool { return f > 0 && !math.IsInf(f, 1) }

func (s *SLO) catchAll() bool { return len(s.Functions) == 0 && s.FunctionsRegex == "" }

// errorBudget is 1 - objective/100, computed in decimal so that 99.9 gives exactly 0.001.
func errorBudget(objective float64) float64 {
	o, _ := new(big.Rat).SetString(strconv.FormatFloat(objective, 'f', -1, 64))
	b := new(big.Rat).Sub(big.NewRat(100, 1), o)
	f, _ := b.Quo(b, big.NewRat(100, 1)).Float64()
	return f
}

// parseThreshold reads a duration (250ms) or a number of seconds (0.25), exactly: a value
// that is not a whole number of nanoseconds would be rounded onto a bucket boundary it is
// not (0.1000000001 onto 0.1), and NaN, Inf or an overflow would make a meaningless le.
func parseThreshold(s string) (time.Duration, error) {
	invalid := fmt.Errorf("%q: must be a positive duration (250ms, 1s) or a number of seconds", s)
	ns := new(big.Rat)
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		secs, ok := new(big.Rat).SetString(s) // no NaN, no Inf
		if !ok {
			return 0, invalid
		}
		ns.Mul(secs, big.NewRat(int64(time.Second), 1))
	} else {
		// ParseDuration drops what is finer than a nanosecond, so the parts are summed again.
		if d, err := time.ParseDuration(s); err != nil || d <= 0 {
			return 0, invalid
		}
		for _, m := range durationPartRE.FindAllStringSubmatch(s, -1) {
			n, ok := new(big.Rat).SetString(m[1])
			if !ok {
				return 0, invalid
			}
			ns.Add(ns, n.Mul(n, big.NewRat(int64(unitOf[m[2]]), 1)))
		}
	}
	switch {
	case ns.Sign() <= 0:
		return 0, fmt.Errorf("%s: must be positive", s)
	case !ns.IsInt():
		return 0, fmt.Errorf("%s: must be a whole number of nanoseconds", s)
	case !ns.Num().IsInt64():
		return 0, fmt.Errorf("%s: too long for a duration", s)
	}
	return time.Duration(ns.Num().Int64()), nil
}

var unitOf = map[string]time.Duration{
	"ns": time.Nanosecond, "us": time.Microsecond, "µs": time.Microsecond, "μs": time.Microsecond,
	"ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour,
}

func formatBounds(bounds []time.Duration) string {
	s := make([]string, len(bounds))
	for i, b := range bounds {
		s[i] = b.String()
	}
	return strings.Join(s, " ")
}

func ptr[T any](v T) *T { return &v }
