// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdatelemetryreceiver // import "github.com/otelcol-lambda/otelcol-lambda/receiver/lambdatelemetryreceiver"

import (
	"errors"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/confmap"

	"github.com/otelcol-lambda/otelcol-lambda/internal/configcheck"
)

var (
	errMissingEndpoint = errors.New("http::endpoint must not be empty")
	errGRPCRemoved     = errors.New("grpc is no longer a setting of lambda_telemetry: OTLP/gRPC is served by the otlp receiver (receivers::otlp::protocols::grpc::endpoint, as in distribution/config.yaml); remove grpc here")
)

// Config is the configuration of the lambda_telemetry receiver.
type Config struct {
	// HTTP is the server that takes the forwarders' batches and OTLP/HTTP data: endpoint,
	// TLS, auth extensions, CORS and the request body size limit.
	HTTP confighttp.ServerConfig `mapstructure:"http"`

	// Sandboxes bounds the state kept per Lambda sandbox between batches.
	Sandboxes SandboxesConfig `mapstructure:"sandboxes"`

	// Storage, when set, is the id of a storage extension (file_storage) that keeps which
	// batches were accepted from each sandbox, so that a batch resent to a restarted
	// receiver is recognised and not counted twice. Without it that memory is the
	// process's only.
	Storage *component.ID `mapstructure:"storage"`
	// CheckpointInterval is how often the accepted batches are written to Storage. A
	// graceful shutdown writes them all; a kill -9 forgets those accepted since the last
	// checkpoint, which may then count twice if resent.
	CheckpointInterval time.Duration `mapstructure:"checkpoint_interval"`

	// WriteAheadLog, when enabled, keeps every accepted batch in Storage until the counts
	// of its spans were written by lambda_metrics, so that a batch acknowledged to its
	// forwarder survives a kill -9. See README.md, "Write-ahead log".
	WriteAheadLog WriteAheadLogConfig `mapstructure:"write_ahead_log"`

	// RemovedGRPC takes the grpc section of configurations written for versions that served
	// OTLP/gRPC here, so that Validate can say where it went rather than only that the key
	// is unknown.
	RemovedGRPC map[string]any `mapstructure:"grpc"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// WriteAheadLogConfig configures the write-ahead log of accepted batches.
type WriteAheadLogConfig struct {
	// Enabled turns the log on; it needs Storage.
	Enabled bool `mapstructure:"enabled"`
	// MaxAge is how long a batch whose spans were not all acknowledged is kept: longer
	// than the longest backend outage that must not lose counts to a kill -9.
	MaxAge time.Duration `mapstructure:"max_age"`
	// MaxSizeMiB bounds the bodies held; beyond it batches are refused with 503 (the
	// forwarder retries) until acknowledgements make room.
	MaxSizeMiB int64 `mapstructure:"max_size_mib"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// SandboxesConfig bounds the per-sandbox join state: which batches were accepted (replay
// detection), invocations that started and await their end or report, and pending cold
// starts. Losing an entry never counts an invocation twice; it can cost a report its
// parent link, or a cold start its mark.
type SandboxesConfig struct {
	// MaxSandboxes is how many sandboxes are remembered at once; beyond it the least
	// recently active is forgotten.
	MaxSandboxes int `mapstructure:"max_sandboxes"`
	// IdleTimeout is how long a sandbox that sent nothing is remembered. A report arrives
	// at the sandbox's next thaw, so keep it longer than the gaps between invocations of
	// rarely used functions that matter to you.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ confmap.Validator = (*Config)(nil)

// Validate checks the receiver configuration.
func (cfg *Config) Validate() error {
	errs := []error{
		configcheck.Positive("sandboxes::max_sandboxes", cfg.Sandboxes.MaxSandboxes),
		configcheck.Positive("sandboxes::idle_timeout", cfg.Sandboxes.IdleTimeout),
		configcheck.Positive("checkpoint_interval", cfg.CheckpointInterval),
	}
	if cfg.HTTP.NetAddr.Endpoint == "" {
		errs = append(errs, errMissingEndpoint)
	}
	if cfg.RemovedGRPC != nil {
		errs = append(errs, errGRPCRemoved)
	}
	if wal := cfg.WriteAheadLog; wal.Enabled {
		if cfg.Storage == nil {
			errs = append(errs, errors.New("write_ahead_log::enabled needs storage: the id of a storage extension (file_storage) to keep the log in"))
		}
		errs = append(errs,
			configcheck.Positive("write_ahead_log::max_age", wal.MaxAge),
			configcheck.Positive("write_ahead_log::max_size_mib", wal.MaxSizeMiB))
	}
	return errors.Join(errs...)
}
