// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package harness

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScreenshotWritesAPNG(t *testing.T) {
	if _, err := headlessBrowser(); err != nil {
		t.Skip(err)
	}
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `<html><body style="background:#c00"><h1>alerts</h1></body></html>`)
	}))
	defer page.Close()
	path := filepath.Join(t.TempDir(), "page.png")
	require.NoError(t, Screenshot(context.Background(), page.URL, path, ScreenshotSize{Width: 320, Height: 200}))
	png, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")), "not a PNG: % x", png[:min(8, len(png))])
}

func TestScreenshotWithoutABrowserSaysWhatToInstall(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	err := Screenshot(context.Background(), "http://127.0.0.1:1/", filepath.Join(t.TempDir(), "x.png"), ScreenshotSize{Width: 10, Height: 10})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "make screenshots")
}
