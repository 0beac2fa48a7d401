// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// browsers are the headless browsers Screenshot tries, in order: Debian's
// chromium-headless-shell (small, what `make screenshots` installs), then a full Chromium.
var browsers = []string{"chromium-headless-shell", "chromium"}

// ScreenshotSize is the browser window a screenshot shows, in CSS pixels.
type ScreenshotSize struct{ Width, Height int }

// Screenshot renders url in a headless Chromium and writes a PNG of it to path. The page
// gets a few seconds of virtual time for its scripts (the Prometheus and Alertmanager UIs
// load their data with XHRs) before the picture is taken.
func Screenshot(ctx context.Context, url, path string, size ScreenshotSize) error {
	browser, err := headlessBrowser()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	// Headless, no sandbox (tests run as root in CI containers), no GPU, and nothing that
	// reaches beyond loopback (no component updates, no crash reports).
	cmd := exec.CommandContext(ctx, browser,
		"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--disable-extensions", "--disable-component-update", "--disable-breakpad",
		"--no-first-run", "--no-default-browser-check",
		"--window-size="+strconv.Itoa(size.Width)+","+strconv.Itoa(size.Height),
		"--virtual-time-budget=5000",
		"--screenshot="+path,
		url,
	)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s --screenshot %s: %w\n%s", browser, url, err, out)
	}
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s wrote no screenshot of %s: %w", browser, url, err)
	}
	if info.Size() == 0 {
		return fmt.Errorf("%s wrote an empty screenshot of %s", browser, url)
	}
	return nil
}

// headlessBrowser is the first of browsers on PATH.
func headlessBrowser() (string, error) {
	for _, name := range browsers {
		if path, err := exec.LookPath(name); err == nil {
			return path, nil
		}
	}
	return "", errors.New("no headless browser (chromium-headless-shell or chromium) on PATH: `make screenshots` installs chromium-headless-shell")
}
