// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Command mkzip writes a Lambda layer zip: mkzip -o layer.zip extensions/name=path/to/file.
// Entries keep Unix permissions (Lambda runs extensions/* as executables) and a fixed
// modification time, so that the same binary gives the same zip. Every zip also holds the
// wrapper script at otelcol-lambda-wrapper (mode 0755), which Lambda unpacks to
// /opt/otelcol-lambda-wrapper, the path functions give AWS_LAMBDA_EXEC_WRAPPER.
package main // import "github.com/otelcol-lambda/otelcol-lambda/layer/cmd/mkzip"

import (
	"archive/zip"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/otelcol-lambda/otelcol-lambda/layer/wrapper"
)

// fixedTime is the modification time of every entry.
var fixedTime = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

func main() {
	out := flag.String("o", "", "the zip to write")
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: mkzip -o layer.zip <name in zip>=<file> ...")
		os.Exit(2)
	}
	if err := write(*out, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "mkzip:", err)
		os.Exit(1)
	}
}

func write(out string, specs []string) (err error) {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	zw := zip.NewWriter(f)
	dirs := map[string]bool{}
	for _, spec := range specs {
		name, file, ok := strings.Cut(spec, "=")
		if !ok || name == "" || file == "" {
			return fmt.Errorf("bad entry %q: want <name in zip>=<file>", spec)
		}
		if name == wrapper.Name {
			return fmt.Errorf("bad entry %q: %s is the wrapper script, added to every zip", spec, wrapper.Name)
		}
		// Directory entries first, as zip tools write them.
		for dir := path.Dir(name); dir != "." && !dirs[dir]; dir = path.Dir(dir) {
			dirs[dir] = true
			h := &zip.FileHeader{Name: dir + "/", Modified: fixedTime}
			h.SetMode(os.ModeDir | 0o755)
			if _, err := zw.CreateHeader(h); err != nil {
				return err
			}
		}
		if err := addFile(zw, name, file); err != nil {
			return err
		}
	}
	if err := addWrapper(zw); err != nil {
		return err
	}
	return zw.Close()
}

// addWrapper adds the wrapper script at the zip's root, executable whatever the mode of
// the checked-out file.
func addWrapper(zw *zip.Writer) error {
	h := &zip.FileHeader{Name: wrapper.Name, Method: zip.Deflate, Modified: fixedTime}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return err
	}
	_, err = w.Write(wrapper.Script)
	return err
}

func addFile(zw *zip.Writer, name, file string) error {
	src, err := os.Open(file)
	if err != nil {
		return err
	}
	defer src.Close()
	info, err := src.Stat()
	if err != nil {
		return err
	}
	h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: fixedTime}
	h.SetMode(info.Mode().Perm() | 0o444)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, src)
	return err
}
