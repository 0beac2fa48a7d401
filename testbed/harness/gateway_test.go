// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package harness

import (
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The test binary doubles as a fake gateway (HARNESS_FAKE_GATEWAY=1): it notes each start
// in its storage directory and its output, answers the health check, and exits on SIGTERM.
// A stand-in of its own: it is a process that keeps the harness's contract with a gateway
// (environment, health check, signals) without building the Collector, which
// testbed/gatewaytest (an in-process HTTP fake for the extension) cannot be.
func TestMain(m *testing.M) {
	if os.Getenv("HARNESS_FAKE_GATEWAY") == "1" {
		fakeGateway()
		return
	}
	os.Exit(m.Run())
}

func fakeGateway() {
	f, err := os.OpenFile(filepath.Join(os.Getenv("OTELCOL_LAMBDA_STORAGE_DIR"), "starts"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		os.Exit(2)
	}
	_, _ = f.WriteString("started\n")
	_ = f.Close()
	fmt.Println("fake gateway started")
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	srv := &http.Server{
		Addr:    os.Getenv("OTELCOL_LAMBDA_HEALTH_ENDPOINT"),
		Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}),
	}
	go func() { _ = srv.ListenAndServe() }()
	<-stop
	_ = srv.Close()
}

func fakeGatewayConfig(t *testing.T) GatewayConfig {
	t.Helper()
	bin, err := os.Executable()
	require.NoError(t, err)
	return GatewayConfig{Bin: bin, Env: []string{"HARNESS_FAKE_GATEWAY=1"}}
}

func starts(t *testing.T, dir string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "starts"))
	require.NoError(t, err)
	return strings.Count(string(data), "started\n")
}

func TestGatewaysHaveTheirOwnStorageAndRestartsKeepIt(t *testing.T) {
	cfg := fakeGatewayConfig(t)
	a, err := StartGateway(cfg)
	require.NoError(t, err)
	b, err := StartGateway(cfg)
	require.NoError(t, err)
	require.NotEmpty(t, a.storage)
	assert.NotEqual(t, a.storage, b.storage, "side by side, each has its own")
	assert.Equal(t, 1, starts(t, a.storage))
	require.NoError(t, b.Stop())
	_, err = os.Stat(b.dir)
	assert.True(t, os.IsNotExist(err), "a stopped gateway's files are removed")

	require.NoError(t, a.Stop())
	a2, err := a.Restart()
	require.NoError(t, err)
	assert.Equal(t, 2, starts(t, a2.storage), "a restart after SIGTERM finds what the process left")
	a2.Kill()
	a3, err := a2.Restart()
	require.NoError(t, err)
	assert.Equal(t, 3, starts(t, a3.storage), "and after SIGKILL")
	require.NoError(t, a3.Stop())
	_, err = os.Stat(a3.dir)
	assert.True(t, os.IsNotExist(err))
}

func TestGatewayWithAConfiguredStorageDir(t *testing.T) {
	cfg := fakeGatewayConfig(t)
	cfg.StorageDir = t.TempDir()
	g, err := StartGateway(cfg)
	require.NoError(t, err)
	require.NoError(t, g.Stop())
	g2, err := g.Restart()
	require.NoError(t, err)
	require.NoError(t, g2.Stop())
	assert.Equal(t, 2, starts(t, cfg.StorageDir), "the configured directory is used as it is, and kept")
}
