// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/internal/promtext"
)

// GatewayAddrs are the loopback addresses a gateway listens on.
type GatewayAddrs struct {
	HTTP, GRPC, Health, Telemetry string
}

// freeGatewayAddrs reserves a gateway's four addresses.
func freeGatewayAddrs() (GatewayAddrs, error) {
	free, err := FreeAddrs(gatewayListeners)
	if err != nil {
		return GatewayAddrs{}, err
	}
	return gatewayAddrsOf(free), nil
}

// gatewayListeners is how many addresses a gateway listens on.
const gatewayListeners = 4

// gatewayAddrsOf puts a gateway on the first gatewayListeners of free.
func gatewayAddrsOf(free []string) GatewayAddrs {
	return GatewayAddrs{HTTP: free[0], GRPC: free[1], Health: free[2], Telemetry: free[3]}
}

// env is the environment that puts distribution/config.yaml (and run.sh) on these
// addresses.
func (a GatewayAddrs) env() []string {
	telemetryHost, telemetryPort, _ := net.SplitHostPort(a.Telemetry)
	return []string{
		"OTELCOL_LAMBDA_HTTP_ENDPOINT=" + a.HTTP,
		"OTELCOL_LAMBDA_GRPC_ENDPOINT=" + a.GRPC,
		"OTELCOL_LAMBDA_HEALTH_ENDPOINT=" + a.Health,
		"OTELCOL_LAMBDA_TELEMETRY_HOST=" + telemetryHost,
		"OTELCOL_LAMBDA_TELEMETRY_PORT=" + telemetryPort,
	}
}

// healthURL is the health check's URL, which answers 200 once the gateway is ready.
func (a GatewayAddrs) healthURL() string { return "http://" + a.Health + "/" }

// ReadTelemetry reads the gateway's own metrics from its Prometheus endpoint.
func (a GatewayAddrs) ReadTelemetry(ctx context.Context) ([]promtext.Family, error) {
	url := "http://" + a.Telemetry + "/metrics"
	body, status, err := fetch(ctx, url)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d: %s", url, status, Tail(string(body), 512))
	}
	return promtext.Parse(body)
}

// GatewayConfig says how to start a gateway process.
type GatewayConfig struct {
	// Bin is the built distribution (_build/otelcol-lambda).
	Bin string
	// Configs are the --config files, the first usually distribution/config.yaml.
	Configs []string
	// RemoteWrite is the remote-write URL the exporter writes to.
	RemoteWrite string
	// InstanceID is the replica's service.instance.id, which becomes the instance label of
	// its series; a restarted replica keeps its id, as a Kubernetes pod name does. Empty
	// leaves the distribution's default (host and process id).
	InstanceID string
	// Flush is lambda_metrics' flush interval, and lambda_correlation's window (the
	// documented pairing); zero leaves the configuration's values.
	Flush time.Duration
	// Addrs reuses an earlier gateway's addresses (a restart); nil takes free ports.
	Addrs *GatewayAddrs
	// Env is more environment, NAME=value.
	Env []string
	// ReadyTimeout bounds the wait for the health check; default 60s.
	ReadyTimeout time.Duration
	// StorageDir is the file_storage directory (OTELCOL_LAMBDA_STORAGE_DIR) where the
	// receiver keeps which batches it accepted. Empty gives the gateway a temporary one of
	// its own, so that gateways side by side never share one (file_storage locks its files
	// and a second process would not start); what it holds when the process ends is
	// carried over to the process Restart starts, as a restarted process finds its disk.
	StorageDir string
}

// Gateway is a running distribution process.
type Gateway struct {
	*Process
	Config GatewayConfig
	Addrs  GatewayAddrs
	// URL is the base URL of the receiver's HTTP server.
	URL string
	// Earlier holds the output of each process this gateway ran before a Restart, oldest
	// first, for a failure's log.
	Earlier []string
	dir     string
	// storage is the gateway's own storage directory, inside dir, when the configuration
	// named none; kept is what it held when the process ended, for Restart.
	storage string
	kept    map[string][]byte
}

// StartGateway starts the distribution and waits until its health check answers.
func StartGateway(cfg GatewayConfig) (*Gateway, error) { return startGateway(cfg, nil) }

// startGateway starts a gateway whose own storage directory begins with the files of
// storage (a restart's).
func startGateway(cfg GatewayConfig, storage map[string][]byte) (*Gateway, error) {
	if _, err := os.Stat(cfg.Bin); err != nil {
		return nil, fmt.Errorf("no gateway binary (run 'make build'): %w", err)
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 60 * time.Second
	}
	var addrs GatewayAddrs
	if cfg.Addrs != nil {
		addrs = *cfg.Addrs
	} else {
		var err error
		if addrs, err = freeGatewayAddrs(); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "otelcol-lambda-gateway-*")
	if err != nil {
		return nil, err
	}
	storageDir, ownStorage := cfg.StorageDir, ""
	if storageDir == "" {
		ownStorage = filepath.Join(dir, "storage")
		storageDir = ownStorage
		if err := writeFiles(ownStorage, storage); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	configs := cfg.Configs
	if cfg.InstanceID != "" {
		overlay := filepath.Join(dir, "instance.yaml")
		body := fmt.Sprintf("service:\n  telemetry:\n    resource:\n      service.instance.id: %q\n", cfg.InstanceID)
		if err := os.WriteFile(overlay, []byte(body), 0o600); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		configs = append(configs[:len(configs):len(configs)], overlay)
	}
	args := make([]string, 0, 2*len(configs))
	for _, c := range configs {
		args = append(args, "--config", c)
	}
	cmd := exec.Command(cfg.Bin, args...)
	cmd.Env = append(append(os.Environ(), addrs.env()...),
		"OTELCOL_LAMBDA_LOG_LEVEL=warn",
		"PROMETHEUS_REMOTE_WRITE_URL="+cfg.RemoteWrite,
		"OTELCOL_LAMBDA_STORAGE_DIR="+storageDir,
	)
	if cfg.Flush > 0 {
		cmd.Env = append(cmd.Env,
			"OTELCOL_LAMBDA_METRICS_FLUSH_INTERVAL="+cfg.Flush.String(),
			"OTELCOL_LAMBDA_CORRELATION_WINDOW="+cfg.Flush.String())
	}
	cmd.Env = append(cmd.Env, cfg.Env...)
	p, err := StartProcess(cmd)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	g := &Gateway{Process: p, Config: cfg, Addrs: addrs, URL: "http://" + addrs.HTTP, dir: dir, storage: ownStorage}
	if err := p.waitReady("the gateway", addrs.healthURL(), cfg.ReadyTimeout); err != nil {
		_ = g.Stop()
		return nil, err
	}
	return g, nil
}

// Stop stops the gateway gracefully (SIGTERM: the Collector drains its pipelines) and
// removes its temporary files.
func (g *Gateway) Stop() error {
	err := g.Process.Stop(syscall.SIGTERM, 30*time.Second)
	return errors.Join(err, g.removeFiles())
}

// Kill kills the gateway as a crash would (SIGKILL): nothing is drained.
func (g *Gateway) Kill() {
	_ = g.Process.Stop(syscall.SIGKILL, 10*time.Second)
	_ = g.removeFiles()
}

// removeFiles keeps what the gateway's own storage holds now that the process has ended
// (for a kill, what the disk would hold: file_storage writes each change before it
// returns), then removes its temporary files.
func (g *Gateway) removeFiles() error {
	var err error
	if g.storage != "" && g.kept == nil {
		g.kept, err = readFiles(g.storage)
	}
	os.RemoveAll(g.dir)
	return err
}

// Restart starts the same gateway again on the same addresses, after it stopped, with
// the storage it left: its own directory's files, or the configured StorageDir.
func (g *Gateway) Restart() (*Gateway, error) {
	cfg := g.Config
	addrs := g.Addrs
	cfg.Addrs = &addrs
	next, err := startGateway(cfg, g.kept)
	if err != nil {
		return nil, err
	}
	next.Earlier = append(slices.Clip(g.Earlier), g.Output.String())
	return next, nil
}

// Outputs is the output of each process of this gateway, the running one last.
func (g *Gateway) Outputs() []string {
	return append(slices.Clip(g.Earlier), g.Output.String())
}

// readFiles reads the regular files of dir, by name.
func readFiles(dir string) (map[string][]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	files := make(map[string][]byte, len(entries))
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		files[e.Name()] = data
	}
	return files, nil
}

// writeFiles creates dir with the files.
func writeFiles(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}
