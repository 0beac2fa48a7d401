// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/layer/internal/flush"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadDefaults(t *testing.T) {
	cfg, problems := Load(env(nil))
	assert.Empty(t, problems)
	assert.Equal(t, Default(), cfg)
	assert.Empty(t, cfg.Endpoint, "no endpoint: forwarding disabled")
}

func TestLoadAll(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, []byte("x"), 0o600))
	cfg, problems := Load(env(map[string]string{
		EnvEndpoint:       "https://gateway.example:4318/",
		EnvToken:          " secret ",
		EnvCAFile:         ca,
		EnvCompression:    "none",
		EnvFlush:          "end,periodically,500",
		EnvFlushTimeout:   "50",
		EnvTelemetryTypes: "platform, function,extension",
		EnvListenerHost:   "127.0.0.1",
		EnvListenerPort:   "4243",
		EnvOTLPEndpoint:   "off",
		EnvPushEndpoint:   "127.0.0.1:19091",
		EnvBufferBytes:    "1048576",
		EnvMaxBatchBytes:  "65536",
		EnvPushMaxSeries:  "10",
		EnvStrict:         "true",
		EnvRuntimeProxy:   " On",
		EnvRuntimeAPIFile: "/tmp/sandbox-7/runtime-api",
	}))
	require.Empty(t, problems)
	assert.Equal(t, Config{
		Endpoint: "https://gateway.example:4318", Token: "secret", CAFile: ca, Gzip: false,
		Flush:          flush.Strategy{End: true, Period: 500 * time.Millisecond},
		FlushTimeout:   50 * time.Millisecond,
		TelemetryTypes: []string{"platform", "function", "extension"},
		ListenerHost:   "127.0.0.1", ListenerPort: 4243,
		OTLPEndpoint: "", PushEndpoint: "127.0.0.1:19091",
		BufferBytes: 1 << 20, MaxBatchBytes: 65536, PushMaxSeries: 10, Strict: true,
		RuntimeProxy: ProxyOn, RuntimeAPIFile: "/tmp/sandbox-7/runtime-api",
	}, cfg)
}

func TestLoadBadValuesFallBack(t *testing.T) {
	tests := []struct {
		name, key, value, wantErr string
	}{
		{"endpoint without scheme", EnvEndpoint, "gateway:4318", "invalid OTELCOL_LAMBDA_ENDPOINT"},
		{"missing CA file", EnvCAFile, "/nonexistent/ca.pem", "cannot read the file"},
		{"compression", EnvCompression, "zstd", "want gzip or none"},
		{"flush", EnvFlush, "whenever", "unknown flush strategy"},
		{"flush timeout", EnvFlushTimeout, "5000", "between 1 and 1500"},
		{"types", EnvTelemetryTypes, "platform,metrics", `unknown stream "metrics"`},
		{"port", EnvListenerPort, "70000", "want a port number"},
		{"otlp endpoint", EnvOTLPEndpoint, "4318", "want host:port"},
		{"buffer", EnvBufferBytes, "12", "want a whole number"},
		{"strict", EnvStrict, "maybe", "want true or false"},
		{"runtime proxy", EnvRuntimeProxy, "yes", "want auto, on or off"},
		{"relative runtime API file", EnvRuntimeAPIFile, "tmp/runtime-api", "want an absolute path"},
		// Not trimmed: the wrapper script reads the variable as it is.
		{"runtime API file after a space", EnvRuntimeAPIFile, " /tmp/runtime-api", "want no leading or trailing whitespace"},
		{"runtime API file before a newline", EnvRuntimeAPIFile, "/tmp/runtime-api\n", "want no leading or trailing whitespace"},
		{"runtime API file of spaces", EnvRuntimeAPIFile, " \t ", "want no leading or trailing whitespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, problems := Load(env(map[string]string{tt.key: tt.value}))
			require.Len(t, problems, 1)
			assert.ErrorContains(t, problems[0], tt.wantErr)
			assert.ErrorContains(t, problems[0], tt.key)
			assert.ErrorContains(t, problems[0], "using ")
			assert.Equal(t, Default(), cfg, "a bad value falls back to the default")
		})
	}
}
