// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Command healthcheck is the container image's HEALTHCHECK: the image is FROM scratch, so
// there is no curl or wget. It GETs the gateway's health_check endpoint and exits 0 when
// it answers 200, 1 otherwise (the endpoint answers 503 until the pipelines run).
//
// It reads the endpoint from OTELCOL_LAMBDA_HEALTH_ENDPOINT, as distribution/config.yaml
// does, so a container that moves the port keeps a working health check. The value is
// host:port, as health_check's endpoint; anything else (a URL, no port) is an error, not a
// probe of another address. A host that listens everywhere (0.0.0.0, ::, none) is probed
// on 127.0.0.1, which answers for an IPv4 and a dual-stack listener alike, then, when
// nothing accepts the connection there and the listener may be IPv6 (::, none), on ::1.
package main // import "github.com/otelcol-lambda/otelcol-lambda/distribution/image/healthcheck"

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// defaultEndpoint is distribution/config.yaml's health_check default.
const defaultEndpoint = "127.0.0.1:13133"

// probeTimeout is below the Dockerfile's HEALTHCHECK --timeout, so that a hung answer is
// reported by the probe rather than killed without a word.
const probeTimeout = 3 * time.Second

func main() {
	urls, err := healthURLs(os.Getenv("OTELCOL_LAMBDA_HEALTH_ENDPOINT"))
	if err == nil {
		err = probeFirst(urls, probeTimeout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(1)
	}
}

// healthURLs are the URLs to probe, in order, for a health_check endpoint setting.
func healthURLs(endpoint string) ([]string, error) {
	if endpoint == "" {
		endpoint = defaultEndpoint
	}
	if strings.Contains(endpoint, "://") {
		return nil, fmt.Errorf("OTELCOL_LAMBDA_HEALTH_ENDPOINT=%q is a URL: want host:port, as health_check's endpoint", endpoint)
	}
	host, port, err := net.SplitHostPort(endpoint)
	if err != nil {
		return nil, fmt.Errorf("OTELCOL_LAMBDA_HEALTH_ENDPOINT=%q: want host:port (%w)", endpoint, err)
	}
	if port == "" {
		return nil, fmt.Errorf("OTELCOL_LAMBDA_HEALTH_ENDPOINT=%q has no port", endpoint)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return nil, fmt.Errorf("OTELCOL_LAMBDA_HEALTH_ENDPOINT=%q: %q is not a port number", endpoint, port)
	}
	hosts := []string{host}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		hosts = []string{"127.0.0.1"}
		if ip == nil || ip.To4() == nil {
			hosts = append(hosts, "::1")
		}
	}
	urls := make([]string, len(hosts))
	for i, h := range hosts {
		urls[i] = "http://" + net.JoinHostPort(h, port) + "/"
	}
	return urls, nil
}

// probeFirst probes each URL in turn until one accepts the connection, and returns what
// that one answered; an answer other than 200 is final.
func probeFirst(urls []string, timeout time.Duration) error {
	var errs []error
	for _, url := range urls {
		err := probe(url, timeout)
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "dial" {
			return err
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
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
