// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Command mkimage builds the image that a Dockerfile's last stage describes, without a
// Docker daemon, and writes it as an image tarball that `docker load` and `podman load`
// accept (and `crane push` and `skopeo copy docker-archive:` push). `make image` runs it on
// distribution/Dockerfile, so the image configuration (ENTRYPOINT, CMD, USER, ENV, EXPOSE,
// HEALTHCHECK, VOLUME, LABEL, WORKDIR) and the files (COPY) have one source.
//
// It reads that stage, which must be FROM scratch with exec-form instructions only, and
// fails on anything it does not understand rather than build something else. The build
// stage is not run: the files it makes, `make image-files` makes in the build context.
// The result is reproducible: every mtime and the creation time are SOURCE_DATE_EPOCH (0
// when unset), owners are numeric, a mode is --chmod's or, for what the build stage makes,
// the one make image-files set with install (never the umask's), layers are written in
// instruction order.
//
// It is a module of its own so that go-containerregistry stays out of the project's
// go.mod.
package main // import "github.com/otelcol-lambda/otelcol-lambda/distribution/image/mkimage"

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// buildArgFlag collects repeated -build-arg NAME=value.
type buildArgFlag map[string]string

func (f buildArgFlag) String() string { return fmt.Sprint(map[string]string(f)) }

func (f buildArgFlag) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok || !isName(name) {
		return fmt.Errorf("want NAME=value, got %q", s)
	}
	f[name] = value
	return nil
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(argv []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	opt := buildOptions{buildArgs: buildArgFlag{}, log: stdout}
	fs.StringVar(&opt.dockerfile, "dockerfile", "distribution/Dockerfile", "the Dockerfile whose last stage is the image")
	fs.StringVar(&opt.context, "context", ".", "the build context, where COPY finds its sources")
	fs.StringVar(&opt.arch, "arch", runtime.GOARCH, "the image's architecture (GOARCH); its OS is linux")
	fs.Var(buildArgFlag(opt.buildArgs), "build-arg", "NAME=value for an ARG of the last stage (repeatable)")
	fs.BoolVar(&opt.verbose, "v", false, fmt.Sprintf("list every file of a layer (without it, a layer of more than %d is summed up)", listedFiles))
	tag := fs.String("tag", "", "the image's name and tag in the tarball, e.g. otelcol-lambda:0.1.0-dev")
	out := fs.String("o", "", "the tarball to write")
	if err := fs.Parse(argv); err != nil {
		return err
	}
	if *tag == "" || *out == "" || fs.NArg() > 0 {
		return errors.New("usage: mkimage -tag name:tag -o image.tar [-dockerfile path] [-context dir] [-arch goarch] [-build-arg NAME=value] [-v]")
	}
	ref, err := name.NewTag(*tag)
	if err != nil {
		return err
	}
	if opt.epoch, err = sourceDateEpoch(); err != nil {
		return err
	}

	fmt.Fprintf(stdout, "building %s for linux/%s from the last stage of %s (context %s)\n", *tag, opt.arch, opt.dockerfile, opt.context)
	img, err := build(opt)
	if err != nil {
		return err
	}
	if err := writeTarball(*out, ref, img); err != nil {
		return err
	}
	return describe(stdout, *out, img)
}

// sourceDateEpoch is the reproducible-builds timestamp, the Unix epoch when unset.
func sourceDateEpoch() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: %w", s, err)
	}
	return time.Unix(sec, 0).UTC(), nil
}

// writeTarball writes the image next to path and renames it there, so that an interrupted
// run never leaves a truncated tarball behind.
func writeTarball(path string, ref name.Tag, img v1.Image) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".mkimage-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	// Readable by all, as a file written without CreateTemp's 0600 would be: docker load
	// may run as another user.
	if err := errors.Join(tmp.Chmod(0o644), tarball.Write(ref, img, tmp)); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// describe prints the result: what a user loads, pushes and checks.
func describe(w io.Writer, path string, img v1.Image) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	id, err := img.ConfigName()
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote %s: %.1f MiB, %d layers\n", path, float64(fi.Size())/(1<<20), len(layers))
	fmt.Fprintf(w, "  manifest digest %s (what crane push gives the registry)\n", digest)
	fmt.Fprintf(w, "  image id        %s (the configuration's digest)\n", id)
	return nil
}
