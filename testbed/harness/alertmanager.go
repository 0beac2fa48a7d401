// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"
)

// AlertmanagerAPI reads and feeds an Alertmanager through its HTTP API (v2): the one
// distribution/run.sh started (Stack).
type AlertmanagerAPI struct {
	// URL is the server's base URL.
	URL string
}

// HeldAlert is an alert as Alertmanager's API lists it: with its state and what
// inhibits it.
type HeldAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	Status      struct {
		// State is "active", "suppressed" (inhibited or silenced) or "unprocessed".
		State string `json:"state"`
		// InhibitedBy holds the fingerprints of the alerts that inhibit this one.
		InhibitedBy []string `json:"inhibitedBy"`
	} `json:"status"`
	Fingerprint string `json:"fingerprint"`
}

// PostedAlert is an alert sent to Alertmanager as Prometheus sends it.
type PostedAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// EndsAt is when the alert resolves unless sent again; zero leaves it to
	// Alertmanager's resolve_timeout.
	EndsAt time.Time `json:"endsAt,omitzero"`
}

// Ready says whether Alertmanager answers its readiness check (/-/ready).
func (a AlertmanagerAPI) Ready(ctx context.Context) error {
	_, status, err := fetch(ctx, a.URL+"/-/ready")
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("%s/-/ready answered %d", a.URL, status)
	}
	return err
}

// Alerts lists the alerts Alertmanager holds, inhibited and silenced ones included, that
// match every matcher (e.g. `alertname="LambdaTimeouts"`).
func (a AlertmanagerAPI) Alerts(ctx context.Context, matchers ...string) ([]HeldAlert, error) {
	params := url.Values{"filter": matchers}
	body, status, err := fetch(ctx, a.URL+"/api/v2/alerts?"+params.Encode())
	if err != nil {
		return nil, fmt.Errorf("alertmanager alerts: %w", err)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("alertmanager alerts: status %d: %s", status, Tail(string(body), 512))
	}
	var alerts []HeldAlert
	if err := json.Unmarshal(body, &alerts); err != nil {
		return nil, fmt.Errorf("alertmanager alerts: %w", err)
	}
	return alerts, nil
}

// PostAlerts sends alerts to Alertmanager (POST /api/v2/alerts).
func (a AlertmanagerAPI) PostAlerts(ctx context.Context, alerts ...PostedAlert) error {
	body, err := json.Marshal(alerts)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.URL+"/api/v2/alerts", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("posting alerts: %w", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("posting alerts: status %d: %s", resp.StatusCode, answer)
	}
	return nil
}

// Alertmanagers lists the Alertmanager endpoints Prometheus sends its alerts to
// (/api/v1/alertmanagers, the active ones): URLs such as
// http://127.0.0.1:9093/api/v2/alerts.
func (p PrometheusAPI) Alertmanagers(ctx context.Context) ([]string, error) {
	var data struct {
		Active []struct {
			URL string `json:"url"`
		} `json:"activeAlertmanagers"`
	}
	if err := p.get(ctx, "/api/v1/alertmanagers", &data); err != nil {
		return nil, fmt.Errorf("alertmanagers: %w", err)
	}
	urls := make([]string, 0, len(data.Active))
	for _, am := range data.Active {
		urls = append(urls, am.URL)
	}
	return urls, nil
}

// AlertWebhook is a receiver for Alertmanager's webhook_configs: it keeps every
// notification it is sent. Serve puts it on a loopback port.
type AlertWebhook struct {
	mu            sync.Mutex
	notifications []Notification
}

var _ http.Handler = (*AlertWebhook)(nil)

// webhookVersion is the version of Alertmanager's webhook payload that Notification
// decodes; another is refused, so that a changed format fails loudly.
const webhookVersion = "4"

// maxWebhookBody bounds a notification; Alertmanager's are a few kilobytes an alert.
const maxWebhookBody = 16 << 20

// Notification is one webhook notification: the alerts of one group, sent to one receiver.
type Notification struct {
	Receiver string `json:"receiver"`
	// Status is "firing" when any of the alerts fires, else "resolved".
	Status      string            `json:"status"`
	GroupLabels map[string]string `json:"groupLabels"`
	Alerts      []NotifiedAlert   `json:"alerts"`
}

// NotifiedAlert is one alert of a notification.
type NotifiedAlert struct {
	Status      string            `json:"status"` // "firing" or "resolved"
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
}

func (w *AlertWebhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(rw, "POST a notification", http.StatusMethodNotAllowed)
		return
	}
	var payload struct {
		Version string `json:"version"`
		Notification
	}
	dec := json.NewDecoder(http.MaxBytesReader(rw, r.Body, maxWebhookBody))
	err := dec.Decode(&payload)
	if err == nil {
		// One notification a request: whatever follows would be lost without a word.
		if _, next := dec.Token(); !errors.Is(next, io.EOF) {
			err = errors.New("more after the notification")
		}
	}
	if err != nil {
		status := http.StatusBadRequest
		if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		http.Error(rw, "decoding the notification: "+err.Error(), status)
		return
	}
	if payload.Version != webhookVersion {
		http.Error(rw, fmt.Sprintf("webhook payload version %q, want %q", payload.Version, webhookVersion), http.StatusBadRequest)
		return
	}
	w.mu.Lock()
	w.notifications = append(w.notifications, payload.Notification)
	w.mu.Unlock()
}

// Notifications returns the notifications received so far, in the order they came.
func (w *AlertWebhook) Notifications() []Notification {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.notifications)
}
