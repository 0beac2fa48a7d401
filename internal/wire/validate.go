// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package wire // import "github.com/otelcol-lambda/otelcol-lambda/internal/wire"

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
)

// Limits of the facts a forwarder sends about its sandbox, as Lambda allows them. The
// gateway turns function name, version, region and account into metric labels and the
// rest into resource attributes: a value outside these limits comes from a broken or
// hostile client, and the batch is refused with a message naming the field and the limit,
// never truncated into a label.
const (
	// MaxFunctionNameLen is the longest function name Lambda accepts.
	MaxFunctionNameLen = 64
	// MaxQualifierLen is the longest version or alias.
	MaxQualifierLen = 128
	// MaxFunctionARNLen bounds a function ARN: the longest partition and region, an
	// account, a 64-character name and a 128-character qualifier fit.
	MaxFunctionARNLen = 256
	// MaxRegionLen bounds a region name ("us-gov-west-1", "ap-southeast-5").
	MaxRegionLen = 32
	// MaxRuntimeLen bounds a runtime identifier ("provided.al2023", "python:3.12.v19").
	MaxRuntimeLen = 64
	// MaxExtensionInstanceIDLen bounds a forwarder's instance id (ours is 32 hex digits).
	MaxExtensionInstanceIDLen = 128
	// MaxDroppedEvents bounds what a forwarder may report dropping since its last batch.
	MaxDroppedEvents = 1 << 40
)

// maxTimeoutMs is the longest function timeout a forwarder may report, with the margin
// telemetryapi allows every duration.
const maxTimeoutMs = float64((telemetryapi.MaxFunctionTimeout + telemetryapi.DurationMargin) / time.Millisecond)

// FieldError reports a fact of a batch outside what Lambda allows.
type FieldError struct {
	// Field names the fact as the forwarder sent it: a header, or a key of the envelope.
	Field string
	// Value is the value received, cut to 64 bytes.
	Value string
	// Want says what Lambda allows.
	Want string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("invalid %s %s: want %s", e.Field, strconv.Quote(e.Value), e.Want)
}

// sandboxField is one text fact of a sandbox, with its names in both forms of a batch.
type sandboxField struct {
	header, key string
	get         func(*Sandbox) string
	check       func(string) bool
	want        string
}

var sandboxFields = []sandboxField{
	{HeaderFunctionName, "functionName", func(s *Sandbox) string { return s.FunctionName },
		isFunctionName, "1 to 64 characters of a-z, A-Z, 0-9, - and _, as Lambda allows in a function name"},
	{HeaderFunctionVersion, "functionVersion", func(s *Sandbox) string { return s.FunctionVersion },
		isQualifier, "$LATEST, a version number or an alias: 1 to 128 characters of a-z, A-Z, 0-9, -, _ and ., after a $ or not"},
	{HeaderFunctionARN, "functionArn", func(s *Sandbox) string { return s.FunctionARN },
		isFunctionARN, "a Lambda function ARN, arn:<partition>:lambda:<region>:<12-digit account>:function:<name>[:<qualifier>], of at most 256 characters"},
	{HeaderRegion, "region", func(s *Sandbox) string { return s.Region },
		isRegion, "an AWS region such as us-east-1: lower-case words and a number joined by -, at most 32 characters"},
	{HeaderAccountID, "accountId", func(s *Sandbox) string { return s.AccountID },
		isAccountID, "an AWS account id: 12 digits"},
	{HeaderArchitecture, "architecture", func(s *Sandbox) string { return s.Architecture },
		isArchitecture, "x86_64 or arm64"},
	{HeaderRuntime, "runtime", func(s *Sandbox) string { return s.Runtime },
		IsRuntime,
		"a runtime identifier: 1 to 64 characters of a-z, A-Z, 0-9, ., _, : and -"},
	{HeaderExtensionInstanceID, "extensionInstanceId", func(s *Sandbox) string { return s.ExtensionInstanceID },
		func(v string) bool { return isToken(v, MaxExtensionInstanceIDLen) },
		"1 to 128 characters of a-z, A-Z, 0-9, ., _, : and -"},
}

// The headers a batch's facts are read from: the sandbox's, and the batch's own.
var (
	sandboxHeaders = []string{HeaderFunctionName, HeaderFunctionVersion, HeaderFunctionARN, HeaderRegion, HeaderAccountID,
		HeaderMemorySizeMB, HeaderArchitecture, HeaderRuntime, HeaderTimeoutMs, HeaderExtensionInstanceID}
	batchHeaders = []string{HeaderBatchSequence, HeaderReportsWithoutRuntimeDone, HeaderDroppedEvents}
)

// Headers returns the names of every header a batch is read from.
func Headers() []string { return append(slices.Clone(sandboxHeaders), batchHeaders...) }

// checkSingleValues refuses any of the headers names sent more than once (gRPC metadata
// alike): which value a batch was counted for would depend on which one a reader took, and
// a proxy in front may have checked another.
func checkSingleValues(h http.Header, names []string) error {
	for _, name := range names {
		if vs := h.Values(name); len(vs) > 1 {
			return &FieldError{Field: name + " header", Value: cut(vs[0]),
				Want: fmt.Sprintf("the header once, not %d times", len(vs))}
		}
	}
	return nil
}

// headerNumber reads a number header as SetHeaders writes one: decimal digits without a
// sign or a leading zero, and a fraction or not ("128", "3000.5"); an absent header is 0.
// "+128", "0128", "1e3", "0x80" and " 128" all parse as numbers, and are refused.
func headerNumber(h http.Header, key string) (float64, error) {
	v := h.Get(key)
	if v == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if !isDecimal(v) || err != nil || math.IsInf(f, 1) {
		return 0, &FieldError{Field: key + " header", Value: cut(v),
			Want: "a decimal number without sign or leading zero, such as 128 or 3000.5"}
	}
	return f, nil
}

// isDecimal accepts 0|[1-9][0-9]*, with a fraction .[0-9]+ or not.
func isDecimal(v string) bool {
	whole, fraction, hasFraction := strings.Cut(v, ".")
	if !isDigits(whole) || len(whole) > 1 && whole[0] == '0' {
		return false
	}
	return !hasFraction || isDigits(fraction)
}

// validate checks the sandbox's facts; absent ones (empty, 0) are not checked. The error
// names a fact as a header when inHeaders, else as a key of the envelope.
func (s *Sandbox) validate(inHeaders bool) error {
	name := func(header, key string) string {
		if inHeaders {
			return header + " header"
		}
		return "sandbox." + key
	}
	for _, f := range sandboxFields {
		if v := f.get(s); v != "" && !f.check(v) {
			return &FieldError{Field: name(f.header, f.key), Value: cut(v), Want: f.want}
		}
	}
	if err := s.agreesWithARN(name); err != nil {
		return err
	}
	if m := s.MemorySizeMB; m != 0 && !(m >= telemetryapi.MinMemorySizeMB && m <= telemetryapi.MaxMemorySizeMB) {
		return &FieldError{Field: name(HeaderMemorySizeMB, "memorySizeMB"), Value: strconv.FormatFloat(m, 'g', -1, 64),
			Want: fmt.Sprintf("%d to %d, Lambda's memory sizes in MB", telemetryapi.MinMemorySizeMB, telemetryapi.MaxMemorySizeMB)}
	}
	if t := s.TimeoutMs; t != 0 && !(t > 0 && t <= maxTimeoutMs) {
		return &FieldError{Field: name(HeaderTimeoutMs, "timeoutMs"), Value: strconv.FormatFloat(t, 'g', -1, 64),
			Want: fmt.Sprintf("more than 0 and at most %g ms, Lambda's longest timeout with a margin", maxTimeoutMs)}
	}
	return nil
}

// agreesWithARN refuses a function name, region or account that contradicts the function
// ARN (already checked for shape): the series would carry one function's name and another's
// resource id.
func (s *Sandbox) agreesWithARN(name func(header, key string) string) error {
	if s.FunctionARN == "" {
		return nil
	}
	parts := strings.Split(s.FunctionARN, ":")
	for _, f := range []struct {
		header, key, value, fromARN, what string
	}{
		{HeaderFunctionName, "functionName", s.FunctionName, parts[6], "name"},
		{HeaderRegion, "region", s.Region, parts[3], "region"},
		{HeaderAccountID, "accountId", s.AccountID, parts[4], "account"},
	} {
		if f.value != "" && f.value != f.fromARN {
			return &FieldError{Field: name(f.header, f.key), Value: cut(f.value),
				Want: fmt.Sprintf("the function ARN's %s, %s", f.what, f.fromARN)}
		}
	}
	return nil
}

// validate checks the batch's facts besides the sandbox.
func (b *Batch) validate(inHeaders bool) error {
	if b.DroppedEvents > MaxDroppedEvents {
		field := "droppedEvents"
		if inHeaders {
			field = HeaderDroppedEvents + " header"
		}
		return &FieldError{Field: field, Value: strconv.FormatUint(b.DroppedEvents, 10),
			Want: fmt.Sprintf("at most %d", uint64(MaxDroppedEvents))}
	}
	return nil
}

// cut shortens a value for an error message, on a rune boundary.
func cut(v string) string {
	const max = 64
	if len(v) <= max {
		return v
	}
	i := max
	for i > 0 && !utf8.RuneStart(v[i]) {
		i--
	}
	return v[:i] + "…"
}

func isFunctionName(v string) bool {
	return len(v) >= 1 && len(v) <= MaxFunctionNameLen && allBytes(v, isNameByte)
}

func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// isQualifier accepts a version ($LATEST, 42, and $-prefixed ones Lambda may add) or an
// alias.
func isQualifier(v string) bool {
	if len(v) > MaxQualifierLen {
		return false
	}
	v = strings.TrimPrefix(v, "$")
	return v != "" && allBytes(v, func(c byte) bool { return isNameByte(c) || c == '.' })
}

func isRegion(v string) bool {
	if len(v) > MaxRegionLen {
		return false
	}
	parts := strings.Split(v, "-")
	if len(parts) < 3 {
		return false
	}
	last := parts[len(parts)-1]
	if len(last) > 2 || !isDigits(last) {
		return false
	}
	for _, p := range parts[:len(parts)-1] {
		if p == "" || !allBytes(p, func(c byte) bool { return 'a' <= c && c <= 'z' }) {
			return false
		}
	}
	return true
}

func isAccountID(v string) bool { return len(v) == 12 && isDigits(v) }

func isArchitecture(v string) bool { return v == "x86_64" || v == "arm64" }

// isFunctionARN accepts arn:<partition>:lambda:<region>:<account>:function:<name>, with an
// optional :<qualifier>.
func isFunctionARN(v string) bool {
	if len(v) > MaxFunctionARNLen {
		return false
	}
	parts := strings.Split(v, ":")
	if len(parts) != 7 && len(parts) != 8 {
		return false
	}
	partition := parts[1]
	if parts[0] != "arn" || parts[2] != "lambda" || parts[5] != "function" ||
		!(partition == "aws" || strings.HasPrefix(partition, "aws-") && allBytes(partition, func(c byte) bool { return 'a' <= c && c <= 'z' || c == '-' })) {
		return false
	}
	return isRegion(parts[3]) && isAccountID(parts[4]) && isFunctionName(parts[6]) &&
		(len(parts) == 7 || isQualifier(parts[7]))
}

// isToken accepts 1 to max characters of a-z, A-Z, 0-9, ., _, : and -.
// IsRuntime reports whether v is a runtime identifier the gateway takes in
// Lambda-Runtime: a forwarder that sends another one has every batch refused.
func IsRuntime(v string) bool { return isToken(v, MaxRuntimeLen) }

func isToken(v string, max int) bool {
	return len(v) >= 1 && len(v) <= max &&
		allBytes(v, func(c byte) bool { return isNameByte(c) || c == '.' || c == ':' })
}

func allBytes(v string, ok func(byte) bool) bool {
	for i := 0; i < len(v); i++ {
		if !ok(v[i]) {
			return false
		}
	}
	return true
}
