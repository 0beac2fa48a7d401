// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHealthURLsProbeLoopbackForAnUnspecifiedHost(t *testing.T) {
	for endpoint, want := range map[string][]string{
		"":                {"http://127.0.0.1:13133/"}, // distribution/config.yaml's default
		"0.0.0.0:13133":   {"http://127.0.0.1:13133/"}, // the image's default
		":14000":          {"http://127.0.0.1:14000/", "http://[::1]:14000/"},
		"[::]:13133":      {"http://127.0.0.1:13133/", "http://[::1]:13133/"},
		"10.1.2.3:13133":  {"http://10.1.2.3:13133/"},
		"[fd00::1]:13133": {"http://[fd00::1]:13133/"},
		"gateway:13133":   {"http://gateway:13133/"},
	} {
		got, err := healthURLs(endpoint)
		assert.NoError(t, err, "endpoint %q", endpoint)
		assert.Equal(t, want, got, "endpoint %q", endpoint)
	}
}

// TestProbeFirstFallsBackOnlyWhenNothingListens: a refused connection moves on to the
// next address; an answer, even a 503, is the health check's result.
func TestProbeFirstFallsBackOnlyWhenNothingListens(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }))
	defer srv.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	assert.NoError(t, probeFirst([]string{closed.URL + "/", srv.URL + "/"}, 5*time.Second))
	assert.ErrorContains(t, probeFirst([]string{closed.URL + "/", closed.URL + "/"}, 5*time.Second), "connection refused")
	status = http.StatusServiceUnavailable
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer other.Close()
	assert.ErrorContains(t, probeFirst([]string{srv.URL + "/", other.URL + "/"}, 5*time.Second), "503", "a 503 is not a reason to try the next address")
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

// asMain makes the test binary the healthcheck command, so that a test runs it as the
// container does: an environment in, an exit status and a message out.
const asMain = "HEALTHCHECK_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMain) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runHealthcheck runs the command with OTELCOL_LAMBDA_HEALTH_ENDPOINT=endpoint and returns
// its exit status and what it wrote to stderr.
func runHealthcheck(t *testing.T, endpoint string) (int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), asMain+"=1", "OTELCOL_LAMBDA_HEALTH_ENDPOINT="+endpoint)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// TestHealthcheckCommand: an endpoint that listens everywhere is probed where an IPv4
// listener answers, and an endpoint that is not host:port is an error that says so rather
// than a probe of some other address.
func TestHealthcheckCommand(t *testing.T) {
	healthy := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	healthy.Listener = ln
	healthy.Start()
	defer healthy.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	require.NoError(t, err)

	for endpoint, want := range map[string]struct {
		exit   int
		stderr string
	}{
		"127.0.0.1:" + port: {0, ""},
		"0.0.0.0:" + port:   {0, ""},
		":" + port:          {0, ""},
		// Dual stack: 127.0.0.1 answers even where the container has no ::1.
		"[::]:" + port:                 {0, ""},
		"127.0.0.1:":                   {1, `"127.0.0.1:" has no port`},
		"127.0.0.1":                    {1, `want host:port`},
		"http://127.0.0.1:" + port:     {1, `a URL: want host:port`},
		"127.0.0.1:http":               {1, `"http" is not a port number`},
		"127.0.0.1:" + port + "/path/": {1, `is not a port number`},
	} {
		exit, stderr := runHealthcheck(t, endpoint)
		assert.Equal(t, want.exit, exit, "endpoint %q: %s", endpoint, stderr)
		assert.Contains(t, stderr, want.stderr, "endpoint %q", endpoint)
	}
}
