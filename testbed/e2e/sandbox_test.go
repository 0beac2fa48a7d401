// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/lambdaemu"
)

// buildGo builds a main package (dir relative to the repository root, inside its own
// module when it has one) into the test's temporary directory.
func buildGo(t *testing.T, dir, name string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = filepath.Join(repoRoot(t), dir)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	msg, err := cmd.CombinedOutput()
	require.NoError(t, err, "building %s: %s", dir, msg)
	return out
}

// buildExtension builds the real extension (layer/cmd/otelcol-lambda-extension).
func buildExtension(t *testing.T) string {
	t.Helper()
	return buildGo(t, "layer/cmd/otelcol-lambda-extension", "otelcol-lambda-extension")
}

// nodeFunction is testbed/functions/nodefn, whose node_modules must hold pkg.
func nodeFunction(t *testing.T, pkg string) string {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "testbed", "functions", "nodefn")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg)); err != nil {
		t.Fatalf("testbed/functions/nodefn has no node_modules/%s: run 'make e2e', which installs them (npm ci)", pkg)
	}
	return dir
}

// functionSandbox is an emulated sandbox (lambdaemu) of a real function process with the
// real extension binary forwarding to a gateway.
type functionSandbox struct {
	// lambda is the function (FunctionName, Handler) and the sandbox's deadlines; Region
	// defaults to eu-west-1 and MemorySizeMB to 256.
	lambda lambdaemu.Config
	// argv is the runtime's command; taskRoot its LAMBDA_TASK_ROOT.
	argv     []string
	taskRoot string
	// extension is the built extension and gateway the base URL it forwards to.
	extension, gateway string
	// otlpAddr is the extension's OTLP/HTTP listener, where the function's SDK exports;
	// pushAddr its Pushgateway listener ("off" for none).
	otlpAddr, pushAddr string
	// flush is OTELCOL_LAMBDA_FLUSH; empty leaves the extension's default.
	flush string
	// env is more of the function's environment.
	env []string
	// output takes the function's and the extension's output.
	output io.Writer
}

// config is the emulator's configuration of the sandbox.
func (s functionSandbox) config() lambdaemu.Config {
	c := s.lambda
	if c.Region == "" {
		c.Region = "eu-west-1"
	}
	if c.MemorySizeMB == 0 {
		c.MemorySizeMB = 256
	}
	extEnv := []string{
		"OTELCOL_LAMBDA_ENDPOINT=" + s.gateway,
		"OTELCOL_LAMBDA_OTLP_HTTP_ENDPOINT=" + s.otlpAddr,
		"OTELCOL_LAMBDA_PUSHGATEWAY_ENDPOINT=" + s.pushAddr,
		"OTELCOL_LAMBDA_LISTENER_HOST=127.0.0.1",
	}
	if s.flush != "" {
		extEnv = append(extEnv, "OTELCOL_LAMBDA_FLUSH="+s.flush)
	}
	c.Extensions = []lambdaemu.ExtensionSpec{{Path: s.extension, Env: extEnv}}
	// ProcessRuntime sets the function's name, version, memory, region and handler from c.
	c.Runtime = lambdaemu.ProcessRuntime(c, s.argv, append([]string{
		"LAMBDA_TASK_ROOT=" + s.taskRoot,
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + s.otlpAddr,
	}, s.env...), s.output)
	c.ExtensionOutput = s.output
	return c
}

// start creates the sandbox and cold-starts it; the caller closes it.
func (s functionSandbox) start(ctx context.Context) (*lambdaemu.Emulator, error) {
	emu, err := lambdaemu.New(s.config())
	if err != nil {
		return nil, err
	}
	if _, err := emu.Start(ctx); err != nil {
		_ = emu.Close()
		return nil, fmt.Errorf("init: %w", err)
	}
	return emu, nil
}
