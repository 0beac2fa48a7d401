// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Command healthcheck is the container image's HEALTHCHECK: the image is FROM scratch, so
// there is no curl or wget. It GETs the gateway's health_check endpoint and exits 0 when
// it answers 200, 1 otherwise (the endpoint answers 503 until the pipelines run).
//
// It reads the endpoint from OTELCOL_LAMBDA_HEALTH_ENDPOINT, as distribution/config.yaml
// does, so a container that moves the port keeps a working health check; a host that
// listens everywhere (0.0.0.0, ::, none) is probed on loopback.
package main // import "github.com/otelcol-lambda/otelcol-lambda/distribution/image/healthcheck"

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// defaultEndpoint is distribution/config.yaml's health_check default.
const defaultEndpoint = "127.0.0.1:13133"

// probeTimeout is below the Dockerfile's HEALTHCHECK --timeout, so that a hung answer is
// reported by the probe rather than killed without a word.
const probeTimeout = 3 * time.Second

func main() {
	if err := probe(healthURL(os.Getenv("OTELCOL_LAMBDA_HEALTH_ENDPOINT")), probeTimeout); err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(1)
	}
}

// healthURL is the URL to probe for a health_check endpoint setting (host:port).
func healthURL(endpoint string) string {
	if endpoint == "" {
		endpoint = defaultEndpoint
	}
	host, port, err := net.SplitHostPort(endpoint)
	if err != nil {
		// Not host:port; let the request say what is wrong with it.
		return "http://" + endpoint + "/"
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

// probe GETs url and wants a 200 within timeout.
func probe(url string, timeout time.Duration) error {
	client := http.Client{Timeout: timeout}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return nil
}
