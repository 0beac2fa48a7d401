// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdametricsconnector // import "github.com/otelcol-lambda/otelcol-lambda/connector/lambdametricsconnector"

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"

	"github.com/otelcol-lambda/otelcol-lambda/internal/configcheck"
	"github.com/otelcol-lambda/otelcol-lambda/internal/lambdaconv"
	"github.com/otelcol-lambda/otelcol-lambda/internal/series"
)

// Config is the configuration of the lambda_metrics connector.
type Config struct {
	// MetricsFlushInterval is how often the cumulative metrics are sent on. They are also
	// sent once more on shutdown.
	MetricsFlushInterval time.Duration `mapstructure:"metrics_flush_interval"`

	// MetricsExpiration is how long a series may go without a new measurement before it is
	// forgotten and no longer exported (a function that is gone stops being exported). When
	// it comes back it starts again from zero, which rate() and increase() handle as a reset.
	MetricsExpiration time.Duration `mapstructure:"metrics_expiration"`

	// CardinalityLimit is the number of series each metric may hold. Measurements for further
	// series go to one overflow series per metric, marked otel.metric.overflow=true.
	CardinalityLimit int `mapstructure:"cardinality_limit"`

	// Dimensions are the span attributes, beside the function's identity (faas.name,
	// faas.version, cloud.account.id, cloud.region), that become data point attributes of
	// the invocation and report metrics. Keep them low-cardinality: request ids, sandbox ids
	// and trace ids are refused.
	Dimensions []string `mapstructure:"dimensions"`

	// MaxEventSourcesPerFunction bounds the distinct combinations of dimension values (event
	// sources: queue, topic, stream, route) one function version may have series for, within
	// metrics_expiration. The values come from the event, which whoever may invoke the
	// function chooses: past the bound, a new combination is counted under the function's own
	// labels with the dimensions left out and otel.metric.overflow=true, so that one function
	// cannot fill cardinality_limit for all the others.
	MaxEventSourcesPerFunction int `mapstructure:"max_event_sources_per_function"`

	// Histograms configures the buckets of the histograms.
	Histograms HistogramsConfig `mapstructure:"histograms"`

	// Exemplars configures the exemplars of faas.invoke_duration.
	Exemplars ExemplarsConfig `mapstructure:"exemplars"`

	// Prices are the prices aws.lambda.cost is estimated with, per architecture (host.arch:
	// amd64 or arm64) and optionally per region. A report whose function matches no entry
	// adds no cost.
	Prices []PriceConfig `mapstructure:"prices"`

	// SDKSpans counts generic SERVER and CONSUMER spans of instrumented functions as
	// invocations, for functions that send only SDK traces.
	SDKSpans SDKSpansConfig `mapstructure:"sdk_spans"`

	// Storage, when set, is the id of a storage extension (file_storage) that keeps the
	// flush being written, for lambda_telemetry's write-ahead log: after a kill -9 during a
	// write, the flush is written again at start (Prometheus ignores a sample it has) and
	// its spans are not replayed, so none is counted twice. See README.md.
	Storage *component.ID `mapstructure:"storage"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// HistogramsConfig configures the connector's histograms.
type HistogramsConfig struct {
	// Exponential, when set, makes every histogram a base-2 exponential histogram (a native
	// histogram in Prometheus) instead of one with explicit buckets.
	Exponential *ExponentialHistogramConfig `mapstructure:"exponential"`
	// InvokeDuration are the bucket bounds of faas.invoke_duration.
	InvokeDuration []time.Duration `mapstructure:"invoke_duration"`
	// InitDuration are the bucket bounds of faas.init_duration.
	InitDuration []time.Duration `mapstructure:"init_duration"`
	// EventAge are the bucket bounds of aws.lambda.event_age.
	EventAge []time.Duration `mapstructure:"event_age"`
	// MemUsage are the bucket bounds of faas.mem_usage, in bytes.
	MemUsage []int64 `mapstructure:"mem_usage"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// ExponentialHistogramConfig configures exponential histograms.
type ExponentialHistogramConfig struct {
	// MaxSize is the largest number of buckets of one histogram; it downscales to stay within.
	MaxSize int32 `mapstructure:"max_size"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// ExemplarsConfig configures exemplars.
type ExemplarsConfig struct {
	// Enabled attaches to each bucket of faas.invoke_duration the trace and span id of the
	// last invocation that fell into it during the flush interval.
	Enabled bool `mapstructure:"enabled"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// PriceConfig is the price of Lambda for one architecture, in one region or in all regions
// not listed on their own. cost = requests * per_request + GB * billed seconds *
// per_gb_second + GB * SnapStart restores * per_gb_restored, where GB is the configured
// memory in MB (Lambda's MB are MiB) / 1024, and restores count only for the runtimes whose
// restores AWS charges (Python, .NET).
type PriceConfig struct {
	// Region is the cloud.region the price applies to; empty for every other region.
	Region string `mapstructure:"region"`
	// Architecture is the host.arch the price applies to: amd64 or arm64.
	Architecture string `mapstructure:"architecture"`
	// PerRequest is the price of one request, in USD.
	PerRequest float64 `mapstructure:"per_request"`
	// PerGBSecond is the price of one GB-second of billed duration, in USD.
	PerGBSecond float64 `mapstructure:"per_gb_second"`
	// PerGBRestored is the price of restoring one GB of a SnapStart snapshot, in USD.
	PerGBRestored float64 `mapstructure:"per_gb_restored"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// SDKSpansConfig configures counting invocations from generic spans.
type SDKSpansConfig struct {
	// Enabled counts a span as an invocation when it is not one of the lambda_telemetry
	// receiver's spans, its kind is SERVER or CONSUMER, its resource has faas.name and the
	// otelcol-lambda extension did not forward it (no aws.lambda.extension.instance_id,
	// which the receiver sets on what the extension forwards): the extension's platform
	// events count those invocations already. faas.instance says nothing here: the AWS
	// Lambda resource detectors of the SDKs set it too.
	Enabled bool `mapstructure:"enabled"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ confmap.Validator = (*Config)(nil)

// highCardinality are attributes that must never become labels.
var highCardinality = []string{
	lambdaconv.AttrFaaSInvocationID,
	lambdaconv.AttrFaaSInstance,
	lambdaconv.AttrCloudResourceID,
	lambdaconv.AttrLambdaErrorType,
	lambdaconv.AttrEventSourceARN,
}

// identity are the attributes that every series carries already.
var identity = []string{
	lambdaconv.AttrFaaSName,
	lambdaconv.AttrFaaSVersion,
	lambdaconv.AttrCloudAccountID,
	lambdaconv.AttrCloudRegion,
	lambdaconv.AttrErrorType,
	lambdaconv.AttrFaaSColdstart,
	attrInitializationType,
	series.AttrOverflow, // marks the overflow series and a function's overflowed event sources
}

// Validate checks the connector configuration.
func (c *Config) Validate() error {
	errs := []error{
		configcheck.Positive("metrics_flush_interval", c.MetricsFlushInterval),
		configcheck.Positive("metrics_expiration", c.MetricsExpiration),
		configcheck.Positive("cardinality_limit", c.CardinalityLimit),
		configcheck.Positive("max_event_sources_per_function", c.MaxEventSourcesPerFunction),
	}
	for i, d := range c.Dimensions {
		switch {
		case d == "":
			errs = append(errs, fmt.Errorf("invalid dimensions[%d]: empty attribute name", i))
		case slices.Contains(highCardinality, d):
			errs = append(errs, fmt.Errorf("invalid dimensions[%d]: %q is high-cardinality and never a label", i, d))
		case slices.Contains(identity, d):
			errs = append(errs, fmt.Errorf("invalid dimensions[%d]: %q is a label of its own already", i, d))
		case slices.Contains(c.Dimensions[:i], d):
			errs = append(errs, fmt.Errorf("invalid dimensions[%d]: %q is listed twice", i, d))
		}
	}
	if len(c.Dimensions) > maxDimensions {
		errs = append(errs, fmt.Errorf("invalid dimensions: %d attributes, at most %d", len(c.Dimensions), maxDimensions))
	}
	if e := c.Histograms.Exponential; e != nil {
		errs = append(errs, configcheck.AtLeast("histograms::exponential::max_size", e.MaxSize, 2))
	}
	errs = append(errs,
		validateBuckets("histograms::invoke_duration", c.Histograms.InvokeDuration),
		validateBuckets("histograms::init_duration", c.Histograms.InitDuration),
		validateBuckets("histograms::event_age", c.Histograms.EventAge),
		validateBuckets("histograms::mem_usage", c.Histograms.MemUsage))
	type priceKey struct{ region, arch string }
	seen := map[priceKey]bool{}
	for i, p := range c.Prices {
		if p.Architecture == "" {
			errs = append(errs, fmt.Errorf("invalid prices[%d]: architecture is required (amd64 or arm64)", i))
		}
		if !price(p.PerRequest) || !price(p.PerGBSecond) || !price(p.PerGBRestored) {
			errs = append(errs, fmt.Errorf("invalid prices[%d]: per_request, per_gb_second and per_gb_restored must be finite and not negative", i))
		}
		k := priceKey{p.Region, p.Architecture}
		if seen[k] {
			errs = append(errs, fmt.Errorf("invalid prices[%d]: region %q and architecture %q are priced twice", i, p.Region, p.Architecture))
		}
		seen[k] = true
	}
	return errors.Join(errs...)
}

// price reports whether v is a price: +Inf would make the cumulative cost +Inf for good,
// NaN would drop the whole cost of every flush it enters.
func price(v float64) bool { return v >= 0 && !math.IsInf(v, 1) }

// validateBuckets checks the bounds of one histogram: durations or byte counts.
func validateBuckets[T time.Duration | int64](key string, b []T) error {
	if len(b) == 0 {
		return fmt.Errorf("invalid %s: at least one bucket bound is required", key)
	}
	for i := range b {
		if b[i] <= 0 || (i > 0 && b[i] <= b[i-1]) {
			return fmt.Errorf("invalid %s: bounds must be positive and strictly increasing", key)
		}
	}
	return nil
}
