// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package extapi is a client of the Lambda Extensions API and of the Telemetry API's
// subscribe call (docs.aws.amazon.com/lambda/latest/dg/runtimes-extensions-api.html).
package extapi // import "github.com/otelcol-lambda/otelcol-lambda/layer/internal/extapi"

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/otelcol-lambda/otelcol-lambda/internal/telemetryapi"
)

// Event types an extension registers for and receives.
const (
	Invoke   = "INVOKE"
	Shutdown = "SHUTDOWN"
)

// Tracing is the tracing object of an INVOKE event.
type Tracing struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Event is what /event/next returns.
type Event struct {
	EventType          string   `json:"eventType"`
	DeadlineMs         int64    `json:"deadlineMs"`
	RequestID          string   `json:"requestId,omitempty"`
	InvokedFunctionARN string   `json:"invokedFunctionArn,omitempty"`
	Tracing            *Tracing `json:"tracing,omitempty"`
	ShutdownReason     string   `json:"shutdownReason,omitempty"`
}

// Registration is the answer to register.
type Registration struct {
	ID              string `json:"-"`
	FunctionName    string `json:"functionName"`
	FunctionVersion string `json:"functionVersion"`
	Handler         string `json:"handler"`
	AccountID       string `json:"accountId,omitempty"`
}

// Client calls the APIs at http://${AWS_LAMBDA_RUNTIME_API}.
type Client struct {
	base string
	http *http.Client
	id   string
}

// New returns a client of the APIs at runtimeAPI (host:port).
func New(runtimeAPI string) *Client {
	// No client timeout: /event/next blocks until the next event, for as long as the
	// sandbox lives.
	return &Client{base: "http://" + runtimeAPI, http: &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: 2,
		DisableCompression:  true,
	}}}
}

// ID is the extension identifier registration gave.
func (c *Client) ID() string { return c.id }

// APIError is a non-success answer of the APIs.
type APIError struct {
	Call       string
	StatusCode int
	Body       string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s: HTTP %d: %s", e.Call, e.StatusCode, strings.TrimSpace(e.Body))
}

func (c *Client) do(ctx context.Context, call, method, path string, body []byte, header http.Header, out any) (http.Header, int, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if c.id != "" {
		req.Header.Set(telemetryapi.HeaderExtensionIdentifier, c.id)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", call, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("%s: %w", call, err)
	}
	if resp.StatusCode >= 300 {
		return resp.Header, resp.StatusCode, &APIError{Call: call, StatusCode: resp.StatusCode, Body: string(data)}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.Header, resp.StatusCode, fmt.Errorf("%s: cannot decode the answer: %w", call, err)
		}
	}
	return resp.Header, resp.StatusCode, nil
}

// Register registers the extension under name for events, asking for the account id.
func (c *Client) Register(ctx context.Context, name string, events []string) (Registration, error) {
	body, _ := json.Marshal(map[string][]string{"events": events})
	h := http.Header{}
	h.Set("Lambda-Extension-Name", name)
	h.Set("Lambda-Extension-Accept-Feature", "accountId")
	h.Set("Content-Type", "application/json")
	var reg Registration
	header, _, err := c.do(ctx, "register", http.MethodPost, "/2020-01-01/extension/register", body, h, &reg)
	if err != nil {
		return Registration{}, err
	}
	reg.ID = header.Get(telemetryapi.HeaderExtensionIdentifier)
	if reg.ID == "" {
		return Registration{}, errors.New("register: no " + telemetryapi.HeaderExtensionIdentifier + " in the answer")
	}
	c.id = reg.ID
	return reg, nil
}

// Next blocks until the next event.
func (c *Client) Next(ctx context.Context) (Event, error) {
	var ev Event
	_, _, err := c.do(ctx, "event/next", http.MethodGet, "/2020-01-01/extension/event/next", nil, nil, &ev)
	return ev, err
}

// InitError reports a fatal init error (the extension must exit afterwards).
func (c *Client) InitError(ctx context.Context, errorType, message string) error {
	return c.reportError(ctx, "init/error", errorType, message)
}

// ExitError reports an error before exiting.
func (c *Client) ExitError(ctx context.Context, errorType, message string) error {
	return c.reportError(ctx, "exit/error", errorType, message)
}

func (c *Client) reportError(ctx context.Context, call, errorType, message string) error {
	body, _ := json.Marshal(map[string]any{"errorMessage": message, "errorType": errorType})
	h := http.Header{}
	h.Set("Lambda-Extension-Function-Error-Type", errorType)
	h.Set("Content-Type", "application/json")
	_, _, err := c.do(ctx, call, http.MethodPost, "/2020-01-01/extension/"+call, body, h, nil)
	return err
}

// ErrNoTelemetryAPI is returned by Subscribe when Lambda answers 202: local testing,
// where the Telemetry API does not exist.
var ErrNoTelemetryAPI = errors.New("subscribe: the Telemetry API is not available here (HTTP 202)")

// Subscribe subscribes to the Telemetry API.
func (c *Client) Subscribe(ctx context.Context, req telemetryapi.SubscribeRequest) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	_, status, err := c.do(ctx, "subscribe", http.MethodPut, telemetryapi.SubscribePath, body, h, nil)
	if err == nil && status == http.StatusAccepted {
		return ErrNoTelemetryAPI
	}
	return err
}
