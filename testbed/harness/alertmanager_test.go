// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package harness

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A notification as Alertmanager 0.25's webhook sends it (notify/webhook, version 4).
const webhookNotification = `{"receiver":"page","status":"resolved","alerts":[{"status":"resolved",
"labels":{"alertname":"LambdaHighErrorRate","faas_name":"orders","severity":"page"},
"annotations":{"summary":"Lambda orders fails 20% of its invocations"},
"startsAt":"2026-12-01T08:00:00.5Z","endsAt":"2026-12-01T08:05:00Z","generatorURL":"http://127.0.0.1:9090/graph","fingerprint":"5c3a"}],
"groupLabels":{"alertname":"LambdaHighErrorRate","faas_name":"orders"},"commonLabels":{"alertname":"LambdaHighErrorRate"},
"commonAnnotations":{},"externalURL":"http://127.0.0.1:9093","version":"4","groupKey":"{}/{severity=\"page\"}:{alertname=\"LambdaHighErrorRate\"}","truncatedAlerts":0}`

func TestAlertWebhookKeepsAlertmanagersNotifications(t *testing.T) {
	webhook := &AlertWebhook{}
	url, stop, err := Serve(webhook)
	require.NoError(t, err)
	defer func() { require.NoError(t, stop()) }()

	send := func(method, body string) int {
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusOK, send(http.MethodPost, webhookNotification))
	assert.Equal(t, http.StatusBadRequest, send(http.MethodPost, `{"alerts":[`), "a broken body")
	assert.Equal(t, http.StatusBadRequest, send(http.MethodPost, strings.Replace(webhookNotification, `"version":"4"`, `"version":"5"`, 1)),
		"another payload version")
	assert.Equal(t, http.StatusMethodNotAllowed, send(http.MethodGet, ""))
	assert.Equal(t, http.StatusBadRequest, send(http.MethodPost, webhookNotification+webhookNotification),
		"two notifications in one body: the second would be lost")
	assert.Equal(t, http.StatusRequestEntityTooLarge,
		send(http.MethodPost, `{"version":"4","receiver":"`+strings.Repeat("x", maxWebhookBody)+`"}`), "a body over the limit")

	assert.Equal(t, []Notification{{
		Receiver: "page", Status: "resolved",
		GroupLabels: map[string]string{"alertname": "LambdaHighErrorRate", "faas_name": "orders"},
		Alerts: []NotifiedAlert{{
			Status:      "resolved",
			Labels:      map[string]string{"alertname": "LambdaHighErrorRate", "faas_name": "orders", "severity": "page"},
			Annotations: map[string]string{"summary": "Lambda orders fails 20% of its invocations"},
			StartsAt:    time.Date(2026, 12, 1, 8, 0, 0, 5e8, time.UTC),
			EndsAt:      time.Date(2026, 12, 1, 8, 5, 0, 0, time.UTC),
		}},
	}}, webhook.Notifications(), "only the good notification is kept")
}

func TestAlertmanagerAPIListsAndPostsAlerts(t *testing.T) {
	var posted []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/-/ready":
			_, _ = w.Write([]byte("OK"))
		case r.URL.Path == "/api/v2/alerts" && r.Method == http.MethodGet:
			if got := r.URL.Query()["filter"]; len(got) != 2 || got[0] != `alertname="LambdaTimeouts"` || got[1] != `severity="ticket"` {
				http.Error(w, "unexpected filter", http.StatusBadRequest)
				return
			}
			_, _ = w.Write([]byte(`[{"labels":{"alertname":"LambdaTimeouts"},"annotations":{},"fingerprint":"ab",
				"status":{"state":"suppressed","inhibitedBy":["cd"],"silencedBy":[]},"receivers":[{"name":"ticket"}]}]`))
		case r.URL.Path == "/api/v2/alerts" && r.Method == http.MethodPost:
			body, _ := io.ReadAll(r.Body)
			if err := json.Unmarshal(body, &posted); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
			}
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	api := AlertmanagerAPI{URL: srv.URL}
	ctx := context.Background()

	require.NoError(t, api.Ready(ctx))
	assert.Error(t, AlertmanagerAPI{URL: srv.URL + "/nothing"}.Ready(ctx))

	alerts, err := api.Alerts(ctx, `alertname="LambdaTimeouts"`, `severity="ticket"`)
	require.NoError(t, err)
	require.Len(t, alerts, 1)
	assert.Equal(t, map[string]string{"alertname": "LambdaTimeouts"}, alerts[0].Labels)
	assert.Equal(t, "suppressed", alerts[0].Status.State)
	assert.Equal(t, []string{"cd"}, alerts[0].Status.InhibitedBy)
	_, err = api.Alerts(ctx, `alertname="other"`)
	assert.ErrorContains(t, err, "unexpected filter", "the answer to a refused request is the error")

	endsAt := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	require.NoError(t, api.PostAlerts(ctx, PostedAlert{Labels: map[string]string{"alertname": "A"}, EndsAt: endsAt}, PostedAlert{Labels: map[string]string{"alertname": "B"}}))
	assert.Equal(t, []map[string]any{
		{"labels": map[string]any{"alertname": "A"}, "endsAt": "2026-12-01T09:00:00Z"},
		{"labels": map[string]any{"alertname": "B"}},
	}, posted, "no endsAt leaves the alert to Alertmanager's resolve_timeout")
	assert.Error(t, AlertmanagerAPI{URL: srv.URL + "/nothing"}.PostAlerts(ctx, PostedAlert{Labels: map[string]string{"alertname": "A"}}))
}

func TestPrometheusAPIListsItsActiveAlertmanagers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"status":"success","data":{"activeAlertmanagers":[{"url":"http://127.0.0.1:9093/api/v2/alerts"}],
			"droppedAlertmanagers":[{"url":"http://127.0.0.1:9094/api/v2/alerts"}]}}`))
	}))
	defer srv.Close()
	urls, err := PrometheusAPI{URL: srv.URL}.Alertmanagers(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []string{"http://127.0.0.1:9093/api/v2/alerts"}, urls)
}
