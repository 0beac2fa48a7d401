// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package wrapper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/layer/internal/config"
)

// lambdaAPI is the Runtime API address Lambda gave the runtime.
const lambdaAPI = "169.254.100.1:9001"

// shells are the POSIX shells the script is run with: sh on Lambda's images is bash; dash
// is stricter.
func shells(t *testing.T) []string {
	var found []string
	for _, sh := range []string{"sh", "dash", "bash"} {
		if path, err := exec.LookPath(sh); err == nil {
			found = append(found, path)
		}
	}
	require.NotEmpty(t, found, "no sh to run the wrapper with")
	return found
}

// run runs the wrapper as Lambda does, with a command that prints the runtime API it got
// and its arguments, and returns that output.
func run(t *testing.T, shell, file, dir string) string {
	t.Helper()
	// Only so that a hang fails the test instead of stalling it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, shell, filepath.Join(wd(t), Name),
		shell, "-c", `printf '%s|%s|%s' "$AWS_LAMBDA_RUNTIME_API" "$1" "$2"`, "runtime", "--handler", "index.handler x")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "AWS_LAMBDA_RUNTIME_API=" + lambdaAPI}
	if file != "" {
		cmd.Env = append(cmd.Env, config.EnvRuntimeAPIFile+"="+file)
	}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	return string(out)
}

func wd(t *testing.T) string {
	dir, err := os.Getwd()
	require.NoError(t, err)
	return dir
}

func TestWrapperPointsTheRuntimeAtThePublishedAddress(t *testing.T) {
	for _, shell := range shells(t) {
		t.Run(filepath.Base(shell), func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "runtime-api")
			for _, content := range []string{"127.0.0.1:41234\n", "127.0.0.1:41234"} {
				require.NoError(t, os.WriteFile(file, []byte(content), 0o644))
				assert.Equal(t, "127.0.0.1:41234|--handler|index.handler x", run(t, shell, file, t.TempDir()), "%q", content)
			}
		})
	}
}

func TestWrapperLeavesTheRuntimeAloneWithoutAnAddress(t *testing.T) {
	unchanged := lambdaAPI + "|--handler|index.handler x"
	files := map[string]string{
		"empty":           "",
		"blank line":      "\n",
		"words":           "not an address\n",
		"no port":         "127.0.0.1:\n",
		"no host":         ":41234\n",
		"port too big":    "127.0.0.1:65536\n",
		"port zero":       "127.0.0.1:0\n",
		"long port":       "127.0.0.1:0000041234\n",
		"trailing text":   "127.0.0.1:41234 x\n",
		"carriage return": "127.0.0.1:41234\r\n",
		"url":             "http://127.0.0.1:41234\n",
		"shell":           "$(touch pwned):1\n",
		"binary":          "\x00\xff\x01:1\n",
		"a second line":   "127.0.0.1:41234\nx\n",
		"65 bytes":        strings.Repeat("h", 63) + ":1\n",
	}
	for _, shell := range shells(t) {
		t.Run(filepath.Base(shell), func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range files {
				file := filepath.Join(dir, "runtime-api")
				require.NoError(t, os.WriteFile(file, []byte(content), 0o644))
				assert.Equal(t, unchanged, run(t, shell, file, dir), name)
			}
			assert.NoFileExists(t, filepath.Join(dir, "pwned"))

			assert.Equal(t, unchanged, run(t, shell, filepath.Join(dir, "absent"), dir), "absent")
			assert.Equal(t, unchanged, run(t, shell, dir, dir), "a directory")

			// A relative path is ignored, as the extension ignores it.
			require.NoError(t, os.WriteFile(filepath.Join(dir, "relative"), []byte("127.0.0.1:1\n"), 0o644))
			assert.NotContains(t, run(t, shell, "relative", dir), "127.0.0.1:1|", "relative")

			if os.Geteuid() != 0 { // root reads anything
				file := filepath.Join(dir, "unreadable")
				require.NoError(t, os.WriteFile(file, []byte("127.0.0.1:41234\n"), 0o000))
				assert.Equal(t, unchanged, run(t, shell, file, dir), "unreadable")
			}
		})
	}
}

func TestWrapperExecsTheRuntime(t *testing.T) {
	// exec: the runtime's exit status is the process's, and no shell stays around.
	cmd := exec.Command("sh", filepath.Join(wd(t), Name), "sh", "-c", "exit 7")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), config.EnvRuntimeAPIFile + "=" + filepath.Join(t.TempDir(), "absent")}
	err := cmd.Run()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "%v", err)
	assert.Equal(t, 7, exit.ExitCode())

	cmd = exec.Command("sh", filepath.Join(wd(t), Name), "sh", "-c", `echo "$$ $PPID"`)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), config.EnvRuntimeAPIFile + "=" + filepath.Join(t.TempDir(), "absent")}
	out, err := cmd.Output()
	require.NoError(t, err)
	var pid, ppid int
	_, err = fmt.Sscan(string(out), &pid, &ppid)
	require.NoError(t, err)
	assert.Equal(t, cmd.Process.Pid, pid, "the runtime replaced the wrapper's shell")
}

func TestScriptMatchesTheExtension(t *testing.T) {
	onDisk, err := os.ReadFile(Name)
	require.NoError(t, err)
	assert.Equal(t, onDisk, Script)
	assert.True(t, bytes.Contains(Script, []byte(config.EnvRuntimeAPIFile)), "reads the variable the extension reads")
	assert.True(t, bytes.Contains(Script, []byte(":-"+config.DefaultRuntimeAPIFile+"}")), "defaults to the extension's default")
	assert.True(t, bytes.HasPrefix(Script, []byte("#!/bin/sh\n")))
}

// TestWrapperBoundsWhatItReads: whatever the file holds, the wrapper reads a bounded part
// of it and starts the runtime, unchanged: a long line cost dash time quadratic in its
// length, and an address past the kernel's bound on one environment string (128 KiB)
// failed the exec, so that the runtime never started.
func TestWrapperBoundsWhatItReads(t *testing.T) {
	unchanged := lambdaAPI + "|--handler|index.handler x"
	files := map[string]string{
		"200 kB host":         strings.Repeat("1", 200_000) + ":1\n",
		"2 MB line":           strings.Repeat("1", 2_000_000) + ":1\n",
		"8 MB without a line": strings.Repeat("a", 8<<20),
	}
	for _, shell := range shells(t) {
		t.Run(filepath.Base(shell), func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "runtime-api")
			for name, content := range files {
				require.NoError(t, os.WriteFile(file, []byte(content), 0o644))
				assert.Equal(t, unchanged, run(t, shell, file, dir), name)
			}

			longest := strings.Repeat("h", 62) + ":1" // 64 bytes: taken
			require.NoError(t, os.WriteFile(file, []byte(longest+"\n"), 0o644))
			assert.Equal(t, longest+"|--handler|index.handler x", run(t, shell, file, dir), "64 bytes")

			// Neither is a regular file: a FIFO would block the open, /dev/zero never end.
			fifo := filepath.Join(dir, "fifo")
			require.NoError(t, syscall.Mkfifo(fifo, 0o644))
			assert.Equal(t, unchanged, run(t, shell, fifo, dir), "a FIFO")
			zero := filepath.Join(dir, "zero")
			require.NoError(t, os.Symlink("/dev/zero", zero))
			assert.Equal(t, unchanged, run(t, shell, zero, dir), "a link to /dev/zero")
		})
	}
}

// TestWrapperReadsTheExtensionsFile: for any value of the variable, the wrapper reads the
// file the extension's configuration names, or, when the configuration refuses the value,
// neither file that value could mean (both then use the default).
func TestWrapperReadsTheExtensionsFile(t *testing.T) {
	dir := t.TempDir()
	addresses := map[string]string{ // file name in dir: the address it holds
		"runtime-api":   "127.0.0.1:40001",
		"runtime-api ":  "127.0.0.1:40002",
		" runtime-api":  "127.0.0.1:40003",
		"runtime-api\t": "127.0.0.1:40004",
	}
	for name, addr := range addresses {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(addr+"\n"), 0o644))
	}
	values := []string{
		dir + "/runtime-api", " " + dir + "/runtime-api", dir + "/runtime-api ", dir + "/ runtime-api",
		dir + "/runtime-api\t", "\t" + dir + "/runtime-api", dir + "/runtime-api\n", "runtime-api",
	}
	for _, shell := range shells(t) {
		t.Run(filepath.Base(shell), func(t *testing.T) {
			for _, value := range values {
				cfg, problems := config.Load(func(name string) string {
					if name == config.EnvRuntimeAPIFile {
						return value
					}
					return ""
				})
				got, _, _ := strings.Cut(run(t, shell, value, dir), "|")
				if len(problems) > 0 {
					require.Equal(t, config.DefaultRuntimeAPIFile, cfg.RuntimeAPIFile)
					for _, addr := range addresses {
						assert.NotEqual(t, addr, got, "%q: refused by the extension, taken by the wrapper", value)
					}
					continue
				}
				want, ok := addresses[strings.TrimPrefix(cfg.RuntimeAPIFile, dir+"/")]
				require.True(t, ok, "%q: the extension took %q", value, cfg.RuntimeAPIFile)
				assert.Equal(t, want, got, "%q: the wrapper reads the extension's file", value)
			}
		})
	}
}
