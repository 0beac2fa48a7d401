// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"strconv"
	"strings"
)

// ruleFile is one Prometheus rule file.
type ruleFile struct {
	comment string // after the generated-by line
	groups  []group
}

type group struct {
	name    string
	comment string
	rules   []rule
}

// rule is a recording rule (record) or an alert (alert).
type rule struct {
	comment     string
	record      string
	alert       string
	expr        string
	forDuration string
	labels      []label
	annotations []label
}

type label struct{ name, value string }

// render writes the file as YAML in the layout of the hand-written rule files: block
// scalars for multi-line expressions, every string that needs it double-quoted.
func (f ruleFile) render(header string) []byte {
	var b strings.Builder
	b.WriteString("# " + header + "\n")
	writeComment(&b, "", f.comment)
	b.WriteString("groups:\n")
	for i, g := range f.groups {
		if i > 0 {
			b.WriteString("\n")
		}
		writeComment(&b, "  ", g.comment)
		fmt.Fprintf(&b, "  - name: %s\n    rules:\n", quote(g.name))
		for j, r := range g.rules {
			if j > 0 && r.comment != "" {
				b.WriteString("\n")
			}
			writeComment(&b, "      ", r.comment)
			if r.record != "" {
				fmt.Fprintf(&b, "      - record: %s\n", r.record)
			} else {
				fmt.Fprintf(&b, "      - alert: %s\n", r.alert)
			}
			if strings.Contains(r.expr, "\n") {
				b.WriteString("        expr: |\n")
				for _, line := range strings.Split(strings.TrimRight(r.expr, "\n"), "\n") {
					b.WriteString(strings.TrimRight("          "+line, " ") + "\n")
				}
			} else {
				fmt.Fprintf(&b, "        expr: %s\n", plainOrQuoted(r.expr))
			}
			if r.forDuration != "" {
				fmt.Fprintf(&b, "        for: %s\n", r.forDuration)
			}
			writeLabels(&b, "labels", r.labels)
			writeLabels(&b, "annotations", r.annotations)
		}
	}
	return []byte(b.String())
}

func writeComment(b *strings.Builder, indent, comment string) {
	if comment == "" {
		return
	}
	for _, line := range strings.Split(comment, "\n") {
		b.WriteString(strings.TrimRight(indent+"# "+line, " ") + "\n")
	}
}

func writeLabels(b *strings.Builder, key string, labels []label) {
	if len(labels) == 0 {
		return
	}
	fmt.Fprintf(b, "        %s:\n", key)
	for _, l := range labels {
		fmt.Fprintf(b, "          %s: %s\n", l.name, quote(l.value))
	}
}

// quote leaves plain words alone and double-quotes the rest (a Go quoted string is a valid
// YAML double-quoted scalar).
func quote(s string) string {
	plain := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			plain = false
			break
		}
	}
	if plain && !isYAMLKeyword(s) {
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			return s
		}
	}
	return strconv.Quote(s)
}

func isYAMLKeyword(s string) bool {
	switch strings.ToLower(s) {
	case "true", "false", "yes", "no", "on", "off", "null", "~", "y", "n":
		return true
	}
	return false
}

// plainOrQuoted leaves an expression unquoted when YAML reads it back unchanged as a plain
// scalar, as the hand-written rule files do.
func plainOrQuoted(s string) string {
	if s == "" || strings.ContainsAny(s[:1], "-?:,[]{}#&*!|>'\"%@`") ||
		strings.Contains(s, ": ") || strings.Contains(s, " #") || strings.HasSuffix(s, ":") {
		return strconv.Quote(s)
	}
	return s
}
