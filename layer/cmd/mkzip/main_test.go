// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"archive/zip"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/layer/wrapper"
)

type entry struct {
	mode os.FileMode
	body string
}

func readZip(t *testing.T, path string) map[string]entry {
	t.Helper()
	zr, err := zip.OpenReader(path)
	require.NoError(t, err)
	defer zr.Close()
	out := map[string]entry{}
	for _, f := range zr.File {
		rc, err := f.Open()
		require.NoError(t, err)
		body, err := io.ReadAll(rc)
		require.NoError(t, err)
		rc.Close()
		out[f.Name] = entry{mode: f.Mode(), body: string(body)}
	}
	return out
}

// TestEveryZipHasTheWrapper: make layer writes one zip per architecture, each with
// mkzip; each must hold the extension and /opt/otelcol-lambda-wrapper, executable.
func TestEveryZipHasTheWrapper(t *testing.T) {
	dir := t.TempDir()
	for _, arch := range []string{"x86_64", "arm64"} {
		bin := filepath.Join(dir, arch, "otelcol-lambda-extension")
		require.NoError(t, os.MkdirAll(filepath.Dir(bin), 0o755))
		require.NoError(t, os.WriteFile(bin, []byte("binary for "+arch), 0o755))
		out := filepath.Join(dir, arch+".zip")
		require.NoError(t, write(out, []string{"extensions/otelcol-lambda-extension=" + bin}))

		got := readZip(t, out)
		assert.Equal(t, map[string]entry{
			"extensions/":                         {mode: os.ModeDir | 0o755},
			"extensions/otelcol-lambda-extension": {mode: 0o755, body: "binary for " + arch},
			"otelcol-lambda-wrapper":              {mode: 0o755, body: string(wrapper.Script)},
		}, got, arch)
	}
}

func TestWrapperNameIsReserved(t *testing.T) {
	file := filepath.Join(t.TempDir(), "other")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o755))
	err := write(filepath.Join(t.TempDir(), "layer.zip"), []string{"otelcol-lambda-wrapper=" + file})
	assert.ErrorContains(t, err, "added to every zip")
}
