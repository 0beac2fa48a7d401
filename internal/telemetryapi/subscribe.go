// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package telemetryapi // import "github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"

import (
	"errors"
	"fmt"
	"net/url"
)

// SubscribePath is where an extension PUTs its [SubscribeRequest], under
// http://${AWS_LAMBDA_RUNTIME_API}.
const SubscribePath = "/2022-07-01/telemetry"

// HeaderExtensionIdentifier carries the id the Extensions API gave the
// extension at registration; the subscribe request must have it.
const HeaderExtensionIdentifier = "Lambda-Extension-Identifier"

// Schema versions a subscriber may ask for. Lambda Managed Instances need
// 2025-01-29, which is backward compatible.
const (
	SchemaVersion20220701 = "2022-07-01"
	SchemaVersion20221213 = "2022-12-13"
	SchemaVersion20250129 = "2025-01-29"
)

// Telemetry streams a subscriber chooses in [SubscribeRequest.Types].
const (
	StreamPlatform  = "platform"
	StreamFunction  = "function"
	StreamExtension = "extension"
)

// Destination protocols.
const (
	ProtocolHTTP = "HTTP"
	ProtocolTCP  = "TCP"
)

// Buffering limits Lambda enforces, and the values it uses when a field is
// omitted.
const (
	BufferingMaxItemsMin     = 1000
	BufferingMaxItemsMax     = 10000
	BufferingMaxItemsDefault = 1000

	BufferingMaxBytesMin     = 262144
	BufferingMaxBytesMax     = 1048576
	BufferingMaxBytesDefault = 262144

	BufferingTimeoutMsMin     = 25
	BufferingTimeoutMsMax     = 30000
	BufferingTimeoutMsDefault = 1000
)

// ErrorTypeValidation is the errorType of Lambda's answer to an invalid
// subscribe request (HTTP 400).
const ErrorTypeValidation = "ValidationError"

// SubscribeRequest is the body of the Telemetry API subscribe request.
type SubscribeRequest struct {
	SchemaVersion string      `json:"schemaVersion"`
	Types         []string    `json:"types"`
	Buffering     Buffering   `json:"buffering,omitzero"`
	Destination   Destination `json:"destination"`
}

// Buffering tells Lambda when to send a batch: when it holds MaxItems events
// or MaxBytes bytes, or TimeoutMs after its first event. A zero field is
// omitted, and Lambda then uses its default.
type Buffering struct {
	MaxItems  int `json:"maxItems,omitempty"`
	MaxBytes  int `json:"maxBytes,omitempty"`
	TimeoutMs int `json:"timeoutMs,omitempty"`
}

// Destination is where Lambda sends batches. For HTTP the URI is
// http://sandbox.localdomain:<port>[/path]; Method and Encoding are
// optional (some subscribers send POST and JSON).
type Destination struct {
	Protocol string `json:"protocol"`
	URI      string `json:"URI"`
	Method   string `json:"method,omitempty"`
	Encoding string `json:"encoding,omitempty"`
}

// Validate reports every field Lambda would reject, each error naming its
// field.
func (r *SubscribeRequest) Validate() error {
	var errs []error
	switch r.SchemaVersion {
	case SchemaVersion20220701, SchemaVersion20221213, SchemaVersion20250129:
	default:
		errs = append(errs, fmt.Errorf("invalid schemaVersion: %q, must be one of %s, %s, %s",
			r.SchemaVersion, SchemaVersion20220701, SchemaVersion20221213, SchemaVersion20250129))
	}
	if len(r.Types) == 0 {
		errs = append(errs, errors.New("invalid types: empty, must name at least one of platform, function, extension"))
	}
	for i, t := range r.Types {
		switch t {
		case StreamPlatform, StreamFunction, StreamExtension:
		default:
			errs = append(errs, fmt.Errorf("invalid types[%d]: %q, must be platform, function or extension", i, t))
		}
	}
	errs = appendRangeError(errs, "buffering.maxItems", r.Buffering.MaxItems, BufferingMaxItemsMin, BufferingMaxItemsMax)
	errs = appendRangeError(errs, "buffering.maxBytes", r.Buffering.MaxBytes, BufferingMaxBytesMin, BufferingMaxBytesMax)
	errs = appendRangeError(errs, "buffering.timeoutMs", r.Buffering.TimeoutMs, BufferingTimeoutMsMin, BufferingTimeoutMsMax)
	switch r.Destination.Protocol {
	case ProtocolHTTP:
		if u, err := url.Parse(r.Destination.URI); err != nil || u.Scheme != "http" || u.Host == "" {
			errs = append(errs, fmt.Errorf("invalid destination.URI: %q, must be an http:// URL", r.Destination.URI))
		}
	case ProtocolTCP:
		if r.Destination.URI == "" {
			errs = append(errs, errors.New("invalid destination.URI: empty"))
		}
	default:
		errs = append(errs, fmt.Errorf("invalid destination.protocol: %q, must be HTTP or TCP", r.Destination.Protocol))
	}
	return errors.Join(errs...)
}

// appendRangeError checks an optional buffering field: zero means the
// default.
func appendRangeError(errs []error, field string, v, lo, hi int) []error {
	if v != 0 && (v < lo || v > hi) {
		errs = append(errs, fmt.Errorf("invalid %s: %d, must be between %d and %d", field, v, lo, hi))
	}
	return errs
}

// ErrorResponse is the body Lambda answers an invalid subscribe request with
// (HTTP 400, ErrorType ErrorTypeValidation) and other API errors.
type ErrorResponse struct {
	ErrorType    string `json:"errorType"`
	ErrorMessage string `json:"errorMessage"`
}

func (e *ErrorResponse) Error() string {
	return "telemetryapi: " + e.ErrorType + ": " + e.ErrorMessage
}
