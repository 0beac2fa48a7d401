// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package wire is the contract between a forwarder inside a Lambda sandbox (our extension,
// or anything that speaks the Telemetry API schema) and the gateway's lambda_telemetry
// receiver.
//
// A batch is an HTTP POST to [TelemetryPath]. Its body is either
//   - a JSON array of Telemetry API events exactly as Lambda delivered them, with the
//     sandbox and the batch's sequence number in headers ([Sandbox.SetHeaders]); this is
//     what our extension sends, because the events stay byte for byte as Lambda wrote them
//     and the gateway decodes them once; or
//   - a JSON [Envelope] object holding the same facts, for forwarders that prefer one
//     document.
//
// Function OTLP data is forwarded unchanged to the OTLP/HTTP paths with the same sandbox
// headers, so that the gateway can add the sandbox's resource.
//
// The package uses the standard library only: the extension links it.
package wire // import "github.com/otelcol-lambda/otelcol-lambda/internal/wire"

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// TelemetryPath is where batches of Telemetry API events are posted.
const TelemetryPath = "/v1/lambda/telemetry"

// PushgatewayScope is the instrumentation scope of the metrics a forwarder takes in
// through its Pushgateway API. The gateway writes them without a scope, so that they reach
// Prometheus with the labels a Pushgateway would give them and no otel_scope_name.
const PushgatewayScope = "otelcol-lambda-extension/pushgateway"

// Headers that describe the sandbox and the batch.
const (
	HeaderFunctionName        = "Lambda-Function-Name"
	HeaderFunctionVersion     = "Lambda-Function-Version"
	HeaderFunctionARN         = "Lambda-Function-Arn"
	HeaderRegion              = "Lambda-Region"
	HeaderAccountID           = "Lambda-Account-Id"
	HeaderMemorySizeMB        = "Lambda-Memory-Size-Mb"
	HeaderArchitecture        = "Lambda-Architecture"
	HeaderRuntime             = "Lambda-Runtime"
	HeaderTimeoutMs           = "Lambda-Timeout-Ms"
	HeaderExtensionInstanceID = "Lambda-Extension-Instance-Id"
	HeaderBatchSequence       = "Lambda-Batch-Sequence"
	// HeaderReportsWithoutRuntimeDone lists, comma-separated, the indexes in the batch of
	// the platform.report events whose platform.runtimeDone the forwarder never saw: the
	// gateway counts those invocations from their report, and no others.
	HeaderReportsWithoutRuntimeDone = "Lambda-Reports-Without-Runtime-Done"
	// HeaderDroppedEvents is how many events the forwarder had to drop since its previous
	// accepted batch (gateway unreachable, buffer full), so that the loss is visible.
	HeaderDroppedEvents = "Lambda-Dropped-Events"
)

// Sandbox identifies the execution environment a batch comes from.
type Sandbox struct {
	FunctionName    string `json:"functionName"`
	FunctionVersion string `json:"functionVersion,omitempty"`
	// FunctionARN is the function's ARN, without an alias.
	FunctionARN string `json:"functionArn,omitempty"`
	Region      string `json:"region,omitempty"`
	AccountID   string `json:"accountId,omitempty"`
	// MemorySizeMB is the configured memory in Lambda's MB (MiB).
	MemorySizeMB float64 `json:"memorySizeMB,omitempty"`
	// Architecture is x86_64 or arm64.
	Architecture string `json:"architecture,omitempty"`
	Runtime      string `json:"runtime,omitempty"`
	// TimeoutMs is the function's configured timeout, known from the first INVOKE's
	// deadline; 0 when not known yet.
	TimeoutMs float64 `json:"timeoutMs,omitempty"`
	// ExtensionInstanceID is unique per sandbox and forwarder: it scopes the batch
	// sequence and the gateway's per-sandbox state. Empty for forwarders that have none.
	ExtensionInstanceID string `json:"extensionInstanceId,omitempty"`
}

// Envelope is the one-document form of a batch.
type Envelope struct {
	Sandbox  Sandbox `json:"sandbox"`
	Sequence uint64  `json:"sequence,omitempty"`
	// ReportsWithoutRuntimeDone: see HeaderReportsWithoutRuntimeDone.
	ReportsWithoutRuntimeDone []int  `json:"reportsWithoutRuntimeDone,omitempty"`
	DroppedEvents             uint64 `json:"droppedEvents,omitempty"`
	// Events is the JSON array of Telemetry API events, verbatim.
	Events json.RawMessage `json:"events"`
}

// Batch is what a forwarder says about one batch besides its events.
type Batch struct {
	Sandbox Sandbox
	// Sequence numbers a forwarder's batches from 1; 0 means the forwarder does not number
	// them and retries cannot be recognised.
	Sequence                  uint64
	ReportsWithoutRuntimeDone []int
	DroppedEvents             uint64
}

// SetHeaders writes the batch's facts into h (empty values are left out).
func (b Batch) SetHeaders(h http.Header) {
	b.Sandbox.SetHeaders(h)
	if b.Sequence != 0 {
		h.Set(HeaderBatchSequence, strconv.FormatUint(b.Sequence, 10))
	}
	if len(b.ReportsWithoutRuntimeDone) > 0 {
		parts := make([]string, len(b.ReportsWithoutRuntimeDone))
		for i, idx := range b.ReportsWithoutRuntimeDone {
			parts[i] = strconv.Itoa(idx)
		}
		h.Set(HeaderReportsWithoutRuntimeDone, strings.Join(parts, ","))
	}
	if b.DroppedEvents != 0 {
		h.Set(HeaderDroppedEvents, strconv.FormatUint(b.DroppedEvents, 10))
	}
}

// SetHeaders writes the sandbox into h (empty values are left out).
func (s Sandbox) SetHeaders(h http.Header) {
	set := func(k, v string) {
		if v != "" {
			h.Set(k, v)
		}
	}
	setNumber := func(k string, v float64) {
		if v != 0 {
			h.Set(k, strconv.FormatFloat(v, 'f', -1, 64))
		}
	}
	set(HeaderFunctionName, s.FunctionName)
	set(HeaderFunctionVersion, s.FunctionVersion)
	set(HeaderFunctionARN, s.FunctionARN)
	set(HeaderRegion, s.Region)
	set(HeaderAccountID, s.AccountID)
	setNumber(HeaderMemorySizeMB, s.MemorySizeMB)
	set(HeaderArchitecture, s.Architecture)
	set(HeaderRuntime, s.Runtime)
	setNumber(HeaderTimeoutMs, s.TimeoutMs)
	set(HeaderExtensionInstanceID, s.ExtensionInstanceID)
}

// SandboxFromHeaders reads a sandbox from h. Absent headers leave fields empty; a header
// sent more than once, a number not written as SetHeaders writes it, or a value outside
// what Lambda allows (see [MaxFunctionNameLen] and the other limits), is an error that
// names the header.
func SandboxFromHeaders(h http.Header) (Sandbox, error) {
	if err := checkSingleValues(h, sandboxHeaders); err != nil {
		return Sandbox{}, err
	}
	s := Sandbox{
		FunctionName:        h.Get(HeaderFunctionName),
		FunctionVersion:     h.Get(HeaderFunctionVersion),
		FunctionARN:         h.Get(HeaderFunctionARN),
		Region:              h.Get(HeaderRegion),
		AccountID:           h.Get(HeaderAccountID),
		Architecture:        h.Get(HeaderArchitecture),
		Runtime:             h.Get(HeaderRuntime),
		ExtensionInstanceID: h.Get(HeaderExtensionInstanceID),
	}
	s.deriveAccount()
	var err error
	if s.MemorySizeMB, err = headerNumber(h, HeaderMemorySizeMB); err != nil {
		return Sandbox{}, err
	}
	if s.TimeoutMs, err = headerNumber(h, HeaderTimeoutMs); err != nil {
		return Sandbox{}, err
	}
	if err := s.validate(true); err != nil {
		return Sandbox{}, err
	}
	return s, nil
}

// BatchFromHeaders reads the batch facts of the bare-array form from h.
func BatchFromHeaders(h http.Header) (Batch, error) {
	if err := checkSingleValues(h, batchHeaders); err != nil {
		return Batch{}, err
	}
	sandbox, err := SandboxFromHeaders(h)
	if err != nil {
		return Batch{}, err
	}
	b := Batch{Sandbox: sandbox}
	if v := h.Get(HeaderBatchSequence); v != "" {
		if b.Sequence, err = strconv.ParseUint(v, 10, 64); err != nil {
			return Batch{}, fmt.Errorf("invalid %s header %q: want a whole number", HeaderBatchSequence, cut(v))
		}
	}
	if v := h.Get(HeaderDroppedEvents); v != "" {
		if b.DroppedEvents, err = strconv.ParseUint(v, 10, 64); err != nil {
			return Batch{}, fmt.Errorf("invalid %s header %q: want a whole number", HeaderDroppedEvents, cut(v))
		}
	}
	if v := h.Get(HeaderReportsWithoutRuntimeDone); v != "" {
		for part := range strings.SplitSeq(v, ",") {
			idx, err := strconv.Atoi(strings.TrimSpace(part))
			if err != nil || idx < 0 {
				return Batch{}, fmt.Errorf("invalid %s header %q: want comma-separated event indexes", HeaderReportsWithoutRuntimeDone, cut(v))
			}
			b.ReportsWithoutRuntimeDone = append(b.ReportsWithoutRuntimeDone, idx)
		}
	}
	if err := b.validate(true); err != nil {
		return Batch{}, err
	}
	return b, nil
}

// deriveAccount takes the account id from the function ARN when the forwarder did not say
// it: arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>].
func (s *Sandbox) deriveAccount() {
	if s.AccountID != "" || s.FunctionARN == "" {
		return
	}
	parts := strings.SplitN(s.FunctionARN, ":", 6)
	if len(parts) == 6 && parts[0] == "arn" && parts[2] == "lambda" && isDigits(parts[4]) {
		s.AccountID = parts[4]
	}
}

func isDigits(v string) bool {
	for _, c := range v {
		if c < '0' || c > '9' {
			return false
		}
	}
	return v != ""
}

var errNoEvents = errors.New(`the envelope has no "events" array`)

// DecodeEnvelope decodes the one-document form. A fact of the sandbox outside what Lambda
// allows is an error that names its key, as SandboxFromHeaders names headers.
func DecodeEnvelope(data []byte) (Batch, json.RawMessage, error) {
	var env Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return Batch{}, nil, fmt.Errorf("cannot decode the batch envelope: %w", err)
	}
	if len(env.Events) == 0 || string(env.Events) == "null" {
		return Batch{}, nil, errNoEvents
	}
	for _, idx := range env.ReportsWithoutRuntimeDone {
		if idx < 0 {
			return Batch{}, nil, fmt.Errorf("invalid reportsWithoutRuntimeDone index %d", idx)
		}
	}
	env.Sandbox.deriveAccount()
	b := Batch{
		Sandbox:                   env.Sandbox,
		Sequence:                  env.Sequence,
		ReportsWithoutRuntimeDone: env.ReportsWithoutRuntimeDone,
		DroppedEvents:             env.DroppedEvents,
	}
	if err := b.Sandbox.validate(false); err != nil {
		return Batch{}, nil, err
	}
	if err := b.validate(false); err != nil {
		return Batch{}, nil, err
	}
	return b, env.Events, nil
}
