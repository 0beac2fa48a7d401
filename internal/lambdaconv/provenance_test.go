// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdaconv

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"testing"
)

func TestReceiverSpansMark(t *testing.T) {
	ctx := context.Background()
	if FromReceiver(ctx) {
		t.Fatal("an unmarked context is from the receiver")
	}
	marked := WithReceiverSpans(ctx)
	if !FromReceiver(marked) {
		t.Fatal("a marked context is not from the receiver")
	}
	type other struct{}
	if !FromReceiver(context.WithValue(marked, other{}, 1)) {
		t.Fatal("the mark is lost under a derived context")
	}
	// The key is unexported: a look-alike key of another package cannot set it.
	type receiverSpansKey struct{}
	if FromReceiver(context.WithValue(ctx, receiverSpansKey{}, true)) {
		t.Fatal("another type's key marks the context")
	}
}

func TestIsInternalAttribute(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{AttrSpanType, true},
		{AttrStatus, true},
		{AttrBilledDurationMs, true},
		{AttrInitializationType, true},
		{AttrMaxMemoryUsed, true},
		// What functions' instrumentations set themselves stays.
		{AttrFaaSInvocationID, false},
		{AttrFaaSColdstart, false},
		{AttrErrorType, false},
		{AttrFaaSTrigger, false},
		{AttrMessagingSystem, false},
		{AttrHTTPRoute, false},
		{AttrEventSourceARN, false},
		{AttrEventTimeUnixMs, false},
		{"aws.lambda.invoked_arn", false},
		{"aws.lambda.span.type.x", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := IsInternalAttribute(tt.key); got != tt.want {
			t.Errorf("IsInternalAttribute(%q) = %v, want %v", tt.key, got, tt.want)
		}
	}
	for _, k := range InternalAttributes() {
		if !IsInternalAttribute(k) {
			t.Errorf("InternalAttributes lists %q, which IsInternalAttribute does not accept", k)
		}
	}
}

// TestInternalAttributesCoverTheReceiversSpans reads the translator's source: every span
// attribute it puts on an invocation, report or init span is internal or one of the
// semantic-convention attributes that functions set themselves. A new platform attribute
// that is neither fails here until it is classified.
func TestInternalAttributesCoverTheReceiversSpans(t *testing.T) {
	shared := map[string]bool{AttrFaaSInvocationID: true, AttrFaaSColdstart: true, AttrErrorType: true}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "../../receiver/lambdatelemetryreceiver/internal/translator/translator.go", nil, 0)
	if err != nil {
		t.Skipf("the translator's source is not readable here: %v", err)
	}
	consts := stringConstants(t, "lambdaconv.go")
	seen := 0
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || len(sel.Sel.Name) < 3 || sel.Sel.Name[:3] != "Put" {
			return true
		}
		key, ok := call.Args[0].(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if x, ok := key.X.(*ast.Ident); !ok || x.Name != "lambdaconv" {
			return true
		}
		// Span events carry aws.lambda.duration_ms too; it is internal either way.
		k, ok := consts[key.Sel.Name]
		if !ok {
			t.Errorf("lambdaconv.%s is not a string constant of lambdaconv.go", key.Sel.Name)
			return true
		}
		seen++
		if !IsInternalAttribute(k) && !shared[k] {
			t.Errorf("the translator sets %s (%q), which is neither internal nor a semantic convention functions set", key.Sel.Name, k)
		}
		return true
	})
	if seen < 10 {
		t.Fatalf("found only %d attribute writes in the translator; the test no longer reads it", seen)
	}
}
