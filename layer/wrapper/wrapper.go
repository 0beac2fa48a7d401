// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package wrapper holds the layer's wrapper script, otelcol-lambda-wrapper: with
// AWS_LAMBDA_EXEC_WRAPPER=/opt/otelcol-lambda-wrapper, Lambda starts the function's runtime
// through it, and it points the runtime at the extension's Runtime API proxy when the
// extension published the proxy's address (see layer/internal/runtimeproxy). The script is
// embedded here so that layer/cmd/mkzip puts the same bytes in every zip.
package wrapper // import "github.com/otelcol-lambda/otelcol-lambda/layer/wrapper"

import _ "embed"

// Name is the script's file name; the layer puts it at /opt/Name.
const Name = "otelcol-lambda-wrapper"

// Script is the wrapper script.
//
//go:embed otelcol-lambda-wrapper
var Script []byte
