// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestHealthURLProbesLoopbackForAnUnspecifiedHost(t *testing.T) {
	for endpoint, want := range map[string]string{
		"":                "http://127.0.0.1:13133/", // distribution/config.yaml's default
		"0.0.0.0:13133":   "http://127.0.0.1:13133/", // the image's default
		":14000":          "http://127.0.0.1:14000/",
		"[::]:13133":      "http://[::1]:13133/",
		"10.1.2.3:13133":  "http://10.1.2.3:13133/",
		"[fd00::1]:13133": "http://[fd00::1]:13133/",
		"gateway:13133":   "http://gateway:13133/",
		"not-a-host-port": "http://not-a-host-port/",
	} {
		assert.Equal(t, want, healthURL(endpoint), "endpoint %q", endpoint)
	}
}

func TestProbeWantsA200(t *testing.T) {
	status := http.StatusServiceUnavailable
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"status":"Server not available"}`))
	}))
	defer srv.Close()

	err := probe(srv.URL+"/", 5*time.Second)
	assert.ErrorContains(t, err, "503 Service Unavailable")
	assert.ErrorContains(t, err, "Server not available", "the answer's body says why")

	status = http.StatusOK
	assert.NoError(t, probe(srv.URL+"/", 5*time.Second))

	srv.Close()
	assert.Error(t, probe(srv.URL+"/", 5*time.Second), "nothing listens")
}
