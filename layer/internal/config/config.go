// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package config reads the extension's configuration from environment variables, all
// named OTELCOL_LAMBDA_*. A bad value never stops the function: it is reported and
// replaced by its safe default, unless OTELCOL_LAMBDA_STRICT=true asks to fail the init.
package config // import "github.com/otelcol-lambda/otelcol-lambda/layer/internal/config"

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
	"github.com/otelcol-lambda/otelcol-lambda/layer/internal/flush"
)

// Prefix of every variable.
const Prefix = "OTELCOL_LAMBDA_"

// Variable names.
const (
	EnvEndpoint           = Prefix + "ENDPOINT"
	EnvToken              = Prefix + "TOKEN"
	EnvCAFile             = Prefix + "CA_FILE"
	EnvCompression        = Prefix + "COMPRESSION"
	EnvFlush              = Prefix + "FLUSH"
	EnvFlushTimeout       = Prefix + "FLUSH_TIMEOUT_MS"
	EnvTelemetryTypes     = Prefix + "TELEMETRY_TYPES"
	EnvListenerHost       = Prefix + "LISTENER_HOST"
	EnvListenerPort       = Prefix + "LISTENER_PORT"
	EnvOTLPEndpoint       = Prefix + "OTLP_HTTP_ENDPOINT"
	EnvPushEndpoint       = Prefix + "PUSHGATEWAY_ENDPOINT"
	EnvBufferBytes        = Prefix + "BUFFER_BYTES"
	EnvMaxBatchBytes      = Prefix + "MAX_BATCH_BYTES"
	EnvStrict             = Prefix + "STRICT"
	EnvPushMaxSeries      = Prefix + "PUSHGATEWAY_MAX_SERIES"
	EnvRuntimeProxy       = Prefix + "RUNTIME_PROXY"
	EnvRuntimeAPIFile     = Prefix + "RUNTIME_API_FILE"
	defaultListenerHost   = "sandbox.localdomain"
	defaultOTLPEndpoint   = "localhost:4318"
	defaultPushEndpoint   = "localhost:9091"
	defaultFlushTimeout   = 200 * time.Millisecond
	defaultBufferBytes    = 2 << 20
	defaultMaxBatchBytes  = 256 << 10
	defaultPushMaxSeries  = 10000
	maxBufferBytes        = 64 << 20
	minMaxBatchBytes      = 4 << 10
	maxFlushTimeoutMillis = 1500 // below the 2 s shutdown budget
)

// shellSpace is what the wrapper script's [[:space:]] matches in the C locale.
const shellSpace = " \t\n\v\f\r"

// DefaultRuntimeAPIFile is where the extension publishes its Runtime API proxy's address
// for the wrapper script (layer/wrapper/otelcol-lambda-wrapper says the same).
const DefaultRuntimeAPIFile = "/tmp/otelcol-lambda-runtime-api"

// ProxyMode says when the Runtime API proxy runs.
type ProxyMode string

// Values of OTELCOL_LAMBDA_RUNTIME_PROXY.
const (
	// ProxyAuto runs the proxy when the function uses the layer's wrapper script
	// (AWS_LAMBDA_EXEC_WRAPPER), the only way the runtime can reach it.
	ProxyAuto ProxyMode = "auto"
	ProxyOn   ProxyMode = "on"
	ProxyOff  ProxyMode = "off"
)

// Config is the extension's configuration.
type Config struct {
	// Endpoint is the gateway's base URL (http or https); empty disables forwarding.
	Endpoint string
	// Token is sent as "Authorization: Bearer <token>".
	Token string
	// CAFile is a PEM file of CAs to trust for an https endpoint, besides the system's.
	CAFile string
	// Gzip compresses request bodies.
	Gzip bool
	// Flush is the flush strategy.
	Flush flush.Strategy
	// FlushTimeout bounds one flush that the function's sandbox waits for.
	FlushTimeout time.Duration
	// TelemetryTypes are the Telemetry API streams to subscribe to.
	TelemetryTypes []string
	// ListenerHost and ListenerPort are where the Telemetry API destination listens (port
	// 0: any free port).
	ListenerHost string
	ListenerPort int
	// OTLPEndpoint is where OTLP/HTTP is served ("" disables).
	OTLPEndpoint string
	// PushEndpoint is where the Pushgateway-compatible API is served ("" disables).
	PushEndpoint string
	// BufferBytes bounds what is held for the gateway, per kind (Telemetry API events,
	// OTLP payloads); the oldest is dropped first.
	BufferBytes int
	// MaxBatchBytes bounds one batch of events before compression.
	MaxBatchBytes int
	// PushMaxSeries bounds the series the Pushgateway API keeps.
	PushMaxSeries int
	// Strict makes a bad value fail the init instead of falling back.
	Strict bool
	// RuntimeProxy says when the Runtime API proxy runs.
	RuntimeProxy ProxyMode
	// RuntimeAPIFile is where the proxy's address is published for the wrapper script
	// (an absolute path). The script reads the same variable: the function's environment
	// is the extension's and the runtime's.
	RuntimeAPIFile string
}

// Default returns the configuration with every default.
func Default() Config {
	return Config{
		Gzip:           true,
		Flush:          flush.Default,
		FlushTimeout:   defaultFlushTimeout,
		TelemetryTypes: []string{telemetryapi.StreamPlatform, telemetryapi.StreamFunction},
		ListenerHost:   defaultListenerHost,
		OTLPEndpoint:   defaultOTLPEndpoint,
		PushEndpoint:   defaultPushEndpoint,
		BufferBytes:    defaultBufferBytes,
		MaxBatchBytes:  defaultMaxBatchBytes,
		PushMaxSeries:  defaultPushMaxSeries,
		RuntimeProxy:   ProxyAuto,
		RuntimeAPIFile: DefaultRuntimeAPIFile,
	}
}

// Load reads the configuration through getenv (os.Getenv in the binary). Each problem is
// returned, naming its variable and the default used instead; the returned Config is
// always usable.
func Load(getenv func(string) string) (Config, []error) {
	cfg := Default()
	var problems []error
	bad := func(name, value, why string, fallback any) {
		problems = append(problems, fmt.Errorf("invalid %s=%q: %s; using %v", name, value, why, fallback))
	}

	if v := strings.TrimSpace(getenv(EnvEndpoint)); v != "" {
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(EnvEndpoint, v, "want an http:// or https:// URL of the gateway", "no endpoint (forwarding disabled)")
		} else {
			cfg.Endpoint = strings.TrimRight(v, "/")
		}
	}
	cfg.Token = strings.TrimSpace(getenv(EnvToken))
	if v := strings.TrimSpace(getenv(EnvCAFile)); v != "" {
		if _, err := os.Stat(v); err != nil {
			bad(EnvCAFile, v, "cannot read the file", "the system's CAs only")
		} else {
			cfg.CAFile = v
		}
	}
	switch v := strings.ToLower(strings.TrimSpace(getenv(EnvCompression))); v {
	case "", "gzip":
	case "none":
		cfg.Gzip = false
	default:
		bad(EnvCompression, v, "want gzip or none", "gzip")
	}
	if v := getenv(EnvFlush); v != "" {
		s, err := flush.Parse(v)
		if err != nil {
			bad(EnvFlush, v, err.Error(), "adaptive")
		} else {
			cfg.Flush = s
		}
	}
	if v := getenv(EnvFlushTimeout); v != "" {
		if ms, err := strconv.Atoi(strings.TrimSpace(v)); err != nil || ms < 1 || ms > maxFlushTimeoutMillis {
			bad(EnvFlushTimeout, v, fmt.Sprintf("want milliseconds between 1 and %d", maxFlushTimeoutMillis), defaultFlushTimeout)
		} else {
			cfg.FlushTimeout = time.Duration(ms) * time.Millisecond
		}
	}
	if v := getenv(EnvTelemetryTypes); v != "" {
		types, err := parseTypes(v)
		if err != nil {
			bad(EnvTelemetryTypes, v, err.Error(), strings.Join(cfg.TelemetryTypes, ","))
		} else {
			cfg.TelemetryTypes = types
		}
	}
	if v := strings.TrimSpace(getenv(EnvListenerHost)); v != "" {
		cfg.ListenerHost = v
	}
	if v := getenv(EnvListenerPort); v != "" {
		if p, err := strconv.Atoi(strings.TrimSpace(v)); err != nil || p < 0 || p > 65535 {
			bad(EnvListenerPort, v, "want a port number (0: any free port)", 0)
		} else {
			cfg.ListenerPort = p
		}
	}
	cfg.OTLPEndpoint = loadHostPort(getenv, EnvOTLPEndpoint, defaultOTLPEndpoint, bad)
	cfg.PushEndpoint = loadHostPort(getenv, EnvPushEndpoint, defaultPushEndpoint, bad)
	cfg.BufferBytes = loadInt(getenv, EnvBufferBytes, defaultBufferBytes, 64<<10, maxBufferBytes, bad)
	cfg.MaxBatchBytes = loadInt(getenv, EnvMaxBatchBytes, defaultMaxBatchBytes, minMaxBatchBytes, maxBufferBytes, bad)
	cfg.PushMaxSeries = loadInt(getenv, EnvPushMaxSeries, defaultPushMaxSeries, 1, 1_000_000, bad)
	switch v := strings.ToLower(strings.TrimSpace(getenv(EnvStrict))); v {
	case "", "false", "0":
	case "true", "1":
		cfg.Strict = true
	default:
		bad(EnvStrict, v, "want true or false", false)
	}
	switch v := ProxyMode(strings.ToLower(strings.TrimSpace(getenv(EnvRuntimeProxy)))); v {
	case "":
	case ProxyAuto, ProxyOn, ProxyOff:
		cfg.RuntimeProxy = v
	default:
		bad(EnvRuntimeProxy, string(v), "want auto, on or off", ProxyAuto)
	}
	if v := getenv(EnvRuntimeAPIFile); v != "" {
		// Not trimmed, unlike the other values: the wrapper script reads the variable as it
		// is, and must name the same file. Both take a path with leading or trailing
		// whitespace, or a relative one (the extension's and the runtime's working
		// directories differ), as invalid, and use the default.
		switch {
		case strings.Trim(v, shellSpace) != v:
			bad(EnvRuntimeAPIFile, v, "want no leading or trailing whitespace", DefaultRuntimeAPIFile)
		case !filepath.IsAbs(v):
			bad(EnvRuntimeAPIFile, v, "want an absolute path", DefaultRuntimeAPIFile)
		default:
			cfg.RuntimeAPIFile = v
		}
	}
	return cfg, problems
}

func parseTypes(v string) ([]string, error) {
	var types []string
	for t := range strings.SplitSeq(v, ",") {
		t = strings.ToLower(strings.TrimSpace(t))
		switch t {
		case telemetryapi.StreamPlatform, telemetryapi.StreamFunction, telemetryapi.StreamExtension:
			types = append(types, t)
		case "":
		default:
			return nil, fmt.Errorf("unknown stream %q, want platform, function or extension", t)
		}
	}
	if len(types) == 0 {
		return nil, errors.New("no stream named")
	}
	return types, nil
}

// loadHostPort reads a host:port to serve on; "off" disables it.
func loadHostPort(getenv func(string) string, name, def string, bad func(string, string, string, any)) string {
	v := strings.TrimSpace(getenv(name))
	switch strings.ToLower(v) {
	case "":
		return def
	case "off", "none", "disabled":
		return ""
	}
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		bad(name, v, "want host:port, or off", def)
		return def
	}
	return v
}

func loadInt(getenv func(string) string, name string, def, lo, hi int, bad func(string, string, string, any)) int {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		bad(name, v, fmt.Sprintf("want a whole number between %d and %d", lo, hi), def)
		return def
	}
	return n
}
