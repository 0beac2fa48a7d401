// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Command floorext is the floor for extbench: a Go extension that only registers,
// subscribes to the Telemetry API (and discards what arrives) and calls next. Whatever an
// extension costs beyond this is its own doing; what this costs is the price of being an
// extension at all (and of the emulator's own work, which runs on the same machine).
package main // import "github.com/otelcol-lambda/otelcol-lambda/testbed/cmd/floorext"

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	api := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API")
	req, _ := http.NewRequest(http.MethodPost, api+"/2020-01-01/extension/register", strings.NewReader(`{"events":["INVOKE","SHUTDOWN"]}`))
	req.Header.Set("Lambda-Extension-Name", filepath.Base(os.Args[0]))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		os.Exit(1)
	}
	id := resp.Header.Get("Lambda-Extension-Identifier")
	resp.Body.Close()

	host := os.Getenv("OTELCOL_LAMBDA_LISTENER_HOST")
	if host == "" {
		host = "sandbox.localdomain"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		os.Exit(1)
	}
	go func() {
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
		}))
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	body := `{"schemaVersion":"2022-12-13","types":["platform","function"],"buffering":{"timeoutMs":25},` +
		`"destination":{"protocol":"HTTP","URI":"http://` + net.JoinHostPort(host, port) + `"}}`
	req, _ = http.NewRequest(http.MethodPut, api+"/2022-07-01/telemetry", strings.NewReader(body))
	req.Header.Set("Lambda-Extension-Identifier", id)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}

	for {
		req, _ := http.NewRequest(http.MethodGet, api+"/2020-01-01/extension/event/next", nil)
		req.Header.Set("Lambda-Extension-Identifier", id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			os.Exit(1)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(data), `"SHUTDOWN"`) {
			return
		}
	}
}
