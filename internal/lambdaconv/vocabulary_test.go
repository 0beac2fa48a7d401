// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdaconv

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"strconv"
	"testing"
)

// stringConstants returns the string constants a Go source file declares, by name.
func stringConstants(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	consts := map[string]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if i < len(vs.Values) {
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						consts[n.Name], _ = strconv.Unquote(lit.Value)
					}
				}
			}
		}
	}
	return consts
}

// The attributes of the function's span that lambda_correlation and lambda_metrics read:
// both function-side helpers must set them under these keys.
var functionSpanKeys = []string{AttrFaaSTrigger, AttrMessagingSystem, AttrMessagingDestinationName,
	AttrFaaSDocumentCollection, AttrHTTPRoute, AttrEventSourceARN, AttrEventTimeUnixMs}

// functionSideOnly are semantic-convention keys the helpers set that the gateway does not
// read.
var functionSideOnly = []string{"messaging.message.id", "messaging.batch.message_count"}

// TestFunctionSideHelpersSpeakThisVocabulary holds the Go package lambdatrigger (the
// classifier of lambdaevents and of the extension's Runtime API proxy) and the Node
// requestHook, which cannot import this package (functions must not pull the Collector
// in), to the keys and values defined here: a key or a value spelt differently on the
// function side would silently lose the event source of every invocation it names.
func TestFunctionSideHelpersSpeakThisVocabulary(t *testing.T) {
	ours := map[string]bool{}
	for _, v := range stringConstants(t, "lambdaconv.go") {
		ours[v] = true
	}
	check := func(helper string, values []string) {
		t.Helper()
		if len(values) == 0 {
			t.Fatalf("%s: found no values: the test reads its source wrongly", helper)
		}
		for _, v := range values {
			if !ours[v] && !slices.Contains(functionSideOnly, v) {
				t.Errorf("%s uses %q, which internal/lambdaconv does not define", helper, v)
			}
		}
		for _, k := range functionSpanKeys {
			if !slices.Contains(values, k) {
				t.Errorf("%s does not set %q, which the gateway reads from the function's span", helper, k)
			}
		}
	}

	// Go: the exported string constants of lambdatrigger's vocabulary block (Attr*,
	// Trigger*, System*), which lambdaevents and the extension's Runtime API proxy use.
	var goValues []string
	for name, v := range stringConstants(t, "../../instrumentation/go/lambdatrigger/lambdatrigger.go") {
		if regexp.MustCompile(`^(Attr|Trigger|System)[A-Z]`).MatchString(name) {
			goValues = append(goValues, v)
		}
	}
	check("instrumentation/go/lambdatrigger", goValues)

	// Node: the keys of its ATTR table, and every trigger and system value it assigns.
	src, err := os.ReadFile("../../instrumentation/node/index.js")
	if err != nil {
		t.Fatal(err)
	}
	var nodeValues []string
	if table := regexp.MustCompile(`(?s)const ATTR = Object\.freeze\(\{(.*?)\}\)`).FindSubmatch(src); table != nil {
		for _, m := range regexp.MustCompile(`:\s*'([^']+)'`).FindAllSubmatch(table[1], -1) {
			nodeValues = append(nodeValues, string(m[1]))
		}
	}
	for _, m := range regexp.MustCompile(`\b(?:trigger|system):\s*'([^']+)'`).FindAllSubmatch(src, -1) {
		nodeValues = append(nodeValues, string(m[1]))
	}
	check("instrumentation/node/index.js", nodeValues)
}
