// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package harness

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// StackConfig says how to start distribution/run.sh.
type StackConfig struct {
	// Root is the repository root, whose distribution/run.sh runs.
	Root string
	// Bin is the built distribution (OTELCOL_LAMBDA_BIN).
	Bin string
	// JaegerBin, when set, has run.sh start this Jaeger too (what `make run JAEGER=1`
	// does) and export the traces to it.
	JaegerBin string
	// Env is more environment, NAME=value: overlays (OTELCOL_LAMBDA_OVERLAYS), the flush
	// interval, the Alertmanager configuration and rules (ALERTMANAGER_CONFIG,
	// PROMETHEUS_RULES_DIR, PROMETHEUS_EVALUATION_INTERVAL), anything else README.md lists.
	Env []string
	// RunDir is OTELCOL_LAMBDA_RUN_DIR: the data of Prometheus and Alertmanager and the
	// logs of Prometheus, Alertmanager and Jaeger. Empty gives the stack a temporary one
	// that Stop removes.
	RunDir string
	// ReadyTimeout bounds the wait for the gateway's health check; default 90s.
	ReadyTimeout time.Duration
}

// Stack is distribution/run.sh, what `make run` starts: an Alertmanager, a Prometheus
// that takes the gateway's remote writes, scrapes its own metrics and alerts to that
// Alertmanager, the gateway with distribution/config.yaml, and Jaeger if asked for, all on
// free loopback ports. Its Process is the script, whose output holds the gateway's.
type Stack struct {
	*Process
	Addrs GatewayAddrs
	// URL is the base URL of the gateway's receiver.
	URL string
	// Prometheus is the script's Prometheus: queried here, stopped by the script.
	Prometheus PrometheusAPI
	// Alertmanager is the script's Alertmanager, which its Prometheus alerts to.
	Alertmanager AlertmanagerAPI
	// JaegerOTLP is Jaeger's OTLP/gRPC address and JaegerURL its query API's base URL,
	// when the stack has a Jaeger.
	JaegerOTLP, JaegerURL string
	RunDir                string
	ownRunDir             bool
}

// StartStack runs distribution/run.sh and waits until the gateway, which it starts last,
// answers its health check.
func StartStack(cfg StackConfig) (*Stack, error) {
	if _, err := os.Stat(cfg.Bin); err != nil {
		return nil, fmt.Errorf("no gateway binary (run 'make build'): %w", err)
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 90 * time.Second
	}
	// The gateway's listeners, then Prometheus, Jaeger's three and Alertmanager, taken in one
	// call: ports freed by one call may come back from the next.
	free, err := FreeAddrs(gatewayListeners + 5)
	if err != nil {
		return nil, err
	}
	addrs, more := gatewayAddrsOf(free), free[gatewayListeners:]
	s := &Stack{Addrs: addrs, URL: "http://" + addrs.HTTP, RunDir: cfg.RunDir,
		Prometheus: PrometheusAPI{URL: "http://" + more[0]}, Alertmanager: AlertmanagerAPI{URL: "http://" + more[4]}}
	if s.RunDir == "" {
		if s.RunDir, err = os.MkdirTemp("", "otelcol-lambda-stack-*"); err != nil {
			return nil, err
		}
		s.ownRunDir = true
	}
	cmd := exec.Command("bash", filepath.Join(cfg.Root, "distribution", "run.sh"))
	cmd.Env = append(append(os.Environ(), addrs.env()...),
		"OTELCOL_LAMBDA_BIN="+cfg.Bin,
		"OTELCOL_LAMBDA_RUN_DIR="+s.RunDir,
		"PROMETHEUS_PORT="+port(more[0]),
		"ALERTMANAGER_PORT="+port(more[4]),
		// Empty is unset for run.sh: it starts its own Prometheus and Alertmanager with the
		// shipped configuration and rules unless cfg.Env says otherwise, keeps the storage
		// in the run directory and starts Jaeger only if asked to below.
		"PROMETHEUS_REMOTE_WRITE_URL=",
		"ALERTMANAGER_CONFIG=",
		"PROMETHEUS_RULES_DIR=",
		"PROMETHEUS_EVALUATION_INTERVAL=",
		"OTELCOL_LAMBDA_STORAGE_DIR=",
		"OTELCOL_LAMBDA_JAEGER=",
	)
	if cfg.JaegerBin != "" {
		s.JaegerOTLP, s.JaegerURL = more[1], "http://"+more[2]
		cmd.Env = append(cmd.Env,
			"OTELCOL_LAMBDA_JAEGER=1",
			"JAEGER_BIN="+cfg.JaegerBin,
			"JAEGER_OTLP_GRPC_PORT="+port(more[1]),
			"JAEGER_QUERY_PORT="+port(more[2]),
			"JAEGER_QUERY_GRPC_PORT="+port(more[3]),
		)
	}
	cmd.Env = append(cmd.Env, cfg.Env...)
	if s.Process, err = StartProcess(cmd); err != nil {
		s.removeRunDir()
		return nil, err
	}
	if err := s.waitReady("run.sh", addrs.healthURL(), cfg.ReadyTimeout); err != nil {
		return nil, errors.Join(err, s.Stop())
	}
	return s, nil
}

// Stop stops the stack as Ctrl-C does (SIGINT: the script stops the gateway first, so
// that its last flush reaches Prometheus, then the rest), and removes a temporary run
// directory.
func (s *Stack) Stop() error {
	err := s.Process.Stop(syscall.SIGINT, 30*time.Second)
	s.removeRunDir()
	return err
}

func (s *Stack) removeRunDir() {
	if s.ownRunDir {
		os.RemoveAll(s.RunDir)
	}
}

// port is the port of a host:port address.
func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}
