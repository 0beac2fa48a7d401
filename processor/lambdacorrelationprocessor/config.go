// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package lambdacorrelationprocessor // import "github.com/otelcol-lambda/otelcol-lambda/processor/lambdacorrelationprocessor"

import (
	"errors"
	"fmt"
	"path"
	"time"

	"go.opentelemetry.io/collector/confmap"

	"github.com/otelcol-lambda/otelcol-lambda/internal/configcheck"
)

// Config is the configuration of the lambda_correlation processor.
type Config struct {
	// Window is how long an invocation span, or a function's root span, is held waiting for
	// its partner. A pair moves on as soon as it is complete; a span whose partner does not
	// come within the window moves on unchanged. Keep it at most the lambda_metrics
	// connector's metrics_flush_interval, so that RED is never delayed more than that.
	Window time.Duration `mapstructure:"window"`

	// MaxPending is the most spans held at once. Beyond it the oldest held span moves on
	// unchanged before its window ends (counted as evicted).
	MaxPending int `mapstructure:"max_pending"`

	// TraceRewrites bounds the memory of the invocation spans moved into their function's
	// trace, by which report spans arriving later follow them.
	TraceRewrites TraceRewritesConfig `mapstructure:"trace_rewrites"`

	// StaticSources name the event source of functions whose spans do not (uninstrumented
	// functions): the first entry whose function pattern matches applies to an invocation
	// span that names no event source once the join is done.
	StaticSources []StaticSourceConfig `mapstructure:"static_sources"`

	// ForwardedPlatformSpans is what happens to the lambda_telemetry receiver's span type
	// and platform attributes (internal/lambdaconv.IsInternalAttribute) on spans that this
	// gateway's receiver did not make from Telemetry API events: spans from OTLP, whoever
	// sent them. "strip" (the default) removes them and counts the spans, so that no client
	// can forge invocations, cold starts, durations or cost. "trust" keeps them: only for a
	// gateway that takes receiver-made spans from another otelcol-lambda tier over OTLP, and
	// whose OTLP endpoints nothing else can reach (network policy, mTLS or auth), because
	// every client that can reach them can then count invocations.
	ForwardedPlatformSpans string `mapstructure:"forwarded_platform_spans"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// Values of ForwardedPlatformSpans.
const (
	forwardedStrip = "strip"
	forwardedTrust = "trust"
)

// TraceRewritesConfig bounds the memory of trace id rewrites.
type TraceRewritesConfig struct {
	// MaxEntries is the most rewrites remembered; the oldest are forgotten first.
	MaxEntries int `mapstructure:"max_entries"`
	// TTL is how long a rewrite is remembered: the longest a report may come after its
	// invocation and still join its trace.
	TTL time.Duration `mapstructure:"ttl"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// StaticSourceConfig is the event source of the functions whose name matches Function.
type StaticSourceConfig struct {
	// Function is a function name or a glob pattern (path.Match syntax: *, ?, [a-z]).
	Function string `mapstructure:"function"`
	// Trigger is the faas.trigger value: http, pubsub, datasource, timer or other.
	Trigger string `mapstructure:"trigger"`
	// MessagingSystem is the messaging.system value, e.g. aws_sqs, aws.sns, kafka.
	MessagingSystem string `mapstructure:"messaging_system"`
	// Destination is the messaging.destination.name: the queue, topic or stream name.
	Destination string `mapstructure:"destination"`
	// HTTPRoute is the http.route of an API Gateway integration, e.g. /orders/{id}.
	HTTPRoute string `mapstructure:"http_route"`
	// ARN is the event source's ARN (aws.lambda.event_source.arn).
	ARN string `mapstructure:"arn"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var (
	errStaticNoFunction = errors.New("function is empty")
	errStaticNothing    = errors.New("names no event source: set trigger, messaging_system, destination, http_route or arn")
	errStaticTrigger    = errors.New("trigger must be http, pubsub, datasource, timer or other")
	errForwarded        = errors.New("must be strip or trust")
)

var _ confmap.Validator = (*Config)(nil)

// Validate checks the processor configuration.
func (c *Config) Validate() error {
	errs := []error{
		configcheck.Positive("window", c.Window),
		configcheck.Positive("max_pending", c.MaxPending),
		configcheck.Positive("trace_rewrites::max_entries", c.TraceRewrites.MaxEntries),
		configcheck.Positive("trace_rewrites::ttl", c.TraceRewrites.TTL),
	}
	switch c.ForwardedPlatformSpans {
	case forwardedStrip, forwardedTrust:
	default:
		// No silent default: a typo must neither open the trust boundary nor close it.
		errs = append(errs, fmt.Errorf("invalid forwarded_platform_spans %q: %w", c.ForwardedPlatformSpans, errForwarded))
	}
	for i, s := range c.StaticSources {
		if s.Function == "" {
			errs = append(errs, fmt.Errorf("invalid static_sources[%d]: %w", i, errStaticNoFunction))
		} else if _, err := path.Match(s.Function, ""); err != nil {
			errs = append(errs, fmt.Errorf("invalid static_sources[%d]::function %q: %w", i, s.Function, err))
		}
		if s.Trigger == "" && s.MessagingSystem == "" && s.Destination == "" && s.HTTPRoute == "" && s.ARN == "" {
			errs = append(errs, fmt.Errorf("invalid static_sources[%d]: %w", i, errStaticNothing))
		}
		switch s.Trigger {
		case "", "http", "pubsub", "datasource", "timer", "other":
		default:
			errs = append(errs, fmt.Errorf("invalid static_sources[%d]::trigger %q: %w", i, s.Trigger, errStaticTrigger))
		}
	}
	return errors.Join(errs...)
}
