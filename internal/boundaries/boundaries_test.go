// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package boundaries holds the dependency rules that the code's shape relies on, as
// tests: a rule written only in a comment is broken by the first convenient import.
package boundaries

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/otelcol-lambda/otelcol-lambda/"

// lambdatrigger is the event classifier, a module of its own (Lambda functions import it
// through instrumentation/go/lambdaevents) that the extension's Runtime API proxy uses.
const lambdatrigger = module + "instrumentation/go/lambdatrigger"

// standardLibraryOnly are the packages (with all they import) that must build from the
// standard library and this repository's own standard-library-only packages: the extension
// runs in every Lambda sandbox, where each dependency costs cold-start time and layer size,
// and the Telemetry API decoder is shared by it and the gateway. lambdatrigger is listed
// itself, so that it is checked whether or not the extension imports it.
var standardLibraryOnly = []string{"./layer/...", "./internal/telemetryapi", "./internal/wire", "./internal/promtext", lambdatrigger}

// allowedInside are the packages of this repository those may import.
var allowedInside = []string{module + "layer/", module + "internal/telemetryapi", module + "internal/wire", module + "internal/promtext", lambdatrigger}

func TestExtensionAndDecodersUseTheStandardLibraryOnly(t *testing.T) {
	args := append([]string{"list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}"}, standardLibraryOnly...)
	cmd := exec.Command("go", args...)
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	packages := strings.Fields(string(out))
	if len(packages) == 0 {
		t.Fatal("go list listed nothing: the test would pass whatever the imports")
	}
	for _, pkg := range packages {
		allowed := false
		for _, prefix := range allowedInside {
			if strings.HasPrefix(pkg, prefix) {
				allowed = true
				break
			}
		}
		if !allowed {
			t.Errorf("%s is imported by the extension or the shared decoders: they may use the standard library and %v only", pkg, allowedInside)
		}
	}
}
