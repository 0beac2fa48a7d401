// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Command otelcol-lambda-extension is the otelcol-lambda Lambda extension: shipped in a
// layer as extensions/otelcol-lambda-extension, it forwards the sandbox's Telemetry API
// events, the function's OTLP and its Pushgateway pushes to an otelcol-lambda gateway.
// It is configured with OTELCOL_LAMBDA_* environment variables (see layer/README.md).
package main // import "github.com/otelcol-lambda/otelcol-lambda/layer/cmd/otelcol-lambda-extension"

import (
	"context"
	"log"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/layer/internal/agent"
	"github.com/otelcol-lambda/otelcol-lambda/layer/internal/config"
)

// memoryLimit is the Go runtime's soft memory limit unless GOMEMLIMIT says otherwise: the
// extension must stay small in a sandbox whose memory the function pays for, so the
// garbage collector works harder before the heap grows past it.
const memoryLimit = 10 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	logger := log.New(os.Stderr, "[otelcol-lambda-extension] ", 0)
	runtimeAPI := os.Getenv("AWS_LAMBDA_RUNTIME_API")
	if runtimeAPI == "" {
		logger.Print("AWS_LAMBDA_RUNTIME_API is not set: not running inside Lambda")
		os.Exit(1)
	}
	cfg, problems := config.Load(os.Getenv)
	err := agent.Run(context.Background(), agent.Options{
		Config:         cfg,
		ConfigProblems: problems,
		RuntimeAPI:     runtimeAPI,
		Name:           filepath.Base(os.Args[0]),
		Getenv:         os.Getenv,
		Logf:           logger.Printf,
		Now:            time.Now,
	})
	if err != nil {
		logger.Printf("exiting: %v", err)
		os.Exit(1)
	}
}
