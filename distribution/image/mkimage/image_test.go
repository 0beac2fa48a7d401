// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// writeTree writes files (path relative to dir: content) under dir; a path ending in /
// is an empty directory.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// setModes gives the paths under dir (relative, slash-separated) their modes, as
// make image-files does with install: what writeTree made depends on the umask.
func setModes(t *testing.T, dir string, modes map[string]os.FileMode) {
	t.Helper()
	for name, mode := range modes {
		if err := os.Chmod(filepath.Join(dir, filepath.FromSlash(name)), mode); err != nil {
			t.Fatal(err)
		}
	}
}

// buildTarball builds the Dockerfile in context and writes its tarball; it returns the
// image as crane push reads it back from that tarball.
func buildTarball(t *testing.T, context string, opt buildOptions) (v1.Image, string) {
	t.Helper()
	opt.context = context
	if opt.dockerfile == "" {
		opt.dockerfile = filepath.Join(context, "Dockerfile")
	}
	if opt.arch == "" {
		opt.arch = "arm64"
	}
	if opt.log == nil {
		opt.log = io.Discard
	}
	img, err := build(opt)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "image.tar")
	tag, err := name.NewTag("example/test:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := writeTarball(out, tag, img); err != nil {
		t.Fatal(err)
	}
	loaded, err := tarball.ImageFromPath(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	return loaded, out
}

// fileEntry is what the image holds at a path.
type fileEntry struct {
	typ      byte
	mode     int64
	uid, gid int
	content  string
}

// filesystem is the image's files, layers applied in order, and the mtimes they carry.
func filesystem(t *testing.T, img v1.Image) (map[string]fileEntry, []time.Time) {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	files := map[string]fileEntry{}
	var mtimes []time.Time
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, mtimes
		}
		if err != nil {
			t.Fatal(err)
		}
		content, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files["/"+strings.TrimSuffix(hdr.Name, "/")] = fileEntry{hdr.Typeflag, hdr.Mode, hdr.Uid, hdr.Gid, string(content)}
		mtimes = append(mtimes, hdr.ModTime)
	}
}

const fixtureDockerfile = `# syntax=docker/dockerfile:1
ARG UNUSED_BY_THE_IMAGE=1
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
COPY . .
RUN make things

FROM scratch
ARG TARGETARCH
ARG VERSION=0.0.1
ARG NOTE="from the default"
LABEL org.opencontainers.image.version="${VERSION}" \
      note=$NOTE	arch=${TARGETARCH}
# A staged tree over the root, every mode its own; a file --chmod into a directory it made.
COPY --from=build /src/out/linux-${TARGETARCH}/rootfs/ /
COPY --chmod=0640 conf/b.yaml /etc/app/b.yaml
# A directory's contents; a --chown that creates parents gives them its owner too.
COPY --from=build --chown=7:8 /src/out/more/ /opt/data/more/
COPY --from=build --chown=10001:10001 /src/out/empty/ /srv/state/
USER 10001:10001
WORKDIR /home/app/work
ENV A=1 B="two words"
ENV A=$B-again
VOLUME ["/srv/state"]
EXPOSE 4318 53/udp
HEALTHCHECK --interval=7s --timeout=2s --start-period=1m --retries=4 CMD ["/usr/bin/app", "check"]
ENTRYPOINT ["/usr/bin/app"]
CMD ["--config", "/etc/app/a.yaml"]
`

func fixtureContext(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile":                            fixtureDockerfile,
		"conf/b.yaml":                           "b: 2\n",
		"out/linux-arm64/rootfs/etc/app/a.yaml": "a: 1\n",
		"out/linux-arm64/rootfs/usr/bin/app":    "an arm64 program",
		"out/linux-arm64/rootfs/var/private/":   "",
		"out/linux-amd64/rootfs/usr/bin/app":    "an amd64 program",
		"out/more/c.yaml":                       "c: 3\n",
		"out/more/d.yaml":                       "d: 4\n",
		"out/empty/":                            "",
		"not-copied/secret.txt":                 "never in the image",
	})
	modes := map[string]os.FileMode{
		"out/more": 0o755, "out/more/c.yaml": 0o640, "out/more/d.yaml": 0o644, "out/empty": 0o755,
		"out/linux-amd64/rootfs": 0o755, "out/linux-amd64/rootfs/usr": 0o755, "out/linux-amd64/rootfs/usr/bin": 0o755,
		"out/linux-amd64/rootfs/usr/bin/app": 0o755,
	}
	for name, mode := range map[string]os.FileMode{
		"": 0o755, "etc": 0o755, "etc/app": 0o755, "etc/app/a.yaml": 0o644,
		"usr": 0o755, "usr/bin": 0o755, "usr/bin/app": 0o755, "var": 0o755, "var/private": 0o700,
	} {
		modes[path.Join("out/linux-arm64/rootfs", name)] = mode
	}
	setModes(t, dir, modes)
	return dir
}

// TestBuildFollowsTheDockerfile checks the image configuration and every file against
// what the fixture's last stage says, with BuildKit's rules for owners and modes.
func TestBuildFollowsTheDockerfile(t *testing.T) {
	epoch := time.Unix(1700000000, 0).UTC()
	img, _ := buildTarball(t, fixtureContext(t), buildOptions{buildArgs: map[string]string{"VERSION": "9.9.9"}, epoch: epoch})

	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "arm64" || !cf.Created.Time.Equal(epoch) {
		t.Errorf("platform and creation: %s/%s %s", cf.OS, cf.Architecture, cf.Created.Time)
	}
	want := v1.Config{
		Entrypoint: []string{"/usr/bin/app"},
		Cmd:        []string{"--config", "/etc/app/a.yaml"},
		User:       "10001:10001",
		WorkingDir: "/home/app/work",
		Env:        []string{defaultPath, "A=two words-again", "B=two words"},
		Labels:     map[string]string{"org.opencontainers.image.version": "9.9.9", "note": "from the default", "arch": "arm64"},
		Volumes:    map[string]struct{}{"/srv/state": {}},
		ExposedPorts: map[string]struct{}{
			"4318/tcp": {}, "53/udp": {},
		},
		Healthcheck: &v1.HealthConfig{
			Test:     []string{"CMD", "/usr/bin/app", "check"},
			Interval: 7 * time.Second, Timeout: 2 * time.Second, StartPeriod: time.Minute, Retries: 4,
		},
	}
	if !reflect.DeepEqual(cf.Config, want) {
		t.Errorf("configuration:\n got %+v\nwant %+v", cf.Config, want)
	}

	files, mtimes := filesystem(t, img)
	dir := func(mode int64, uid, gid int) fileEntry { return fileEntry{tar.TypeDir, mode, uid, gid, ""} }
	file := func(mode int64, uid, gid int, content string) fileEntry {
		return fileEntry{tar.TypeReg, mode, uid, gid, content}
	}
	wantFiles := map[string]fileEntry{
		"/etc":                  dir(0o755, 0, 0),
		"/etc/app":              dir(0o755, 0, 0),
		"/etc/app/a.yaml":       file(0o644, 0, 0, "a: 1\n"),
		"/etc/app/b.yaml":       file(0o640, 0, 0, "b: 2\n"),
		"/usr":                  dir(0o755, 0, 0),
		"/usr/bin":              dir(0o755, 0, 0),
		"/usr/bin/app":          file(0o755, 0, 0, "an arm64 program"),
		"/var":                  dir(0o755, 0, 0),
		"/var/private":          dir(0o700, 0, 0),
		"/opt":                  dir(0o755, 7, 8),
		"/opt/data":             dir(0o755, 7, 8),
		"/opt/data/more":        dir(0o755, 7, 8),
		"/opt/data/more/c.yaml": file(0o640, 7, 8, "c: 3\n"),
		"/opt/data/more/d.yaml": file(0o644, 7, 8, "d: 4\n"),
		"/srv":                  dir(0o755, 10001, 10001),
		"/srv/state":            dir(0o755, 10001, 10001),
		"/home":                 dir(0o755, 10001, 10001),
		"/home/app":             dir(0o755, 10001, 10001),
		"/home/app/work":        dir(0o755, 10001, 10001),
	}
	if !reflect.DeepEqual(files, wantFiles) {
		for _, p := range sortedKeys(files) {
			if files[p] != wantFiles[p] {
				t.Errorf("%s: got %+v, want %+v", p, files[p], wantFiles[p])
			}
		}
		for _, p := range sortedKeys(wantFiles) {
			if _, ok := files[p]; !ok {
				t.Errorf("%s missing", p)
			}
		}
	}
	for _, m := range mtimes {
		if !m.Equal(epoch) {
			t.Errorf("an mtime of %s, not SOURCE_DATE_EPOCH", m)
		}
	}

	// One history entry per instruction of the stage, a layer for each that made files.
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	withLayer := 0
	for _, h := range cf.History {
		if !h.EmptyLayer {
			withLayer++
		}
	}
	if len(cf.History) != 17 || withLayer != len(layers) || len(layers) != 5 {
		t.Errorf("%d history entries, %d with a layer, %d layers; want 17, 5, 5", len(cf.History), withLayer, len(layers))
	}
}

// TestBuildIsReproducible builds the same inputs twice (in two contexts, at two times):
// the same bytes, and the digest printed is the one crane push keeps.
func TestBuildIsReproducible(t *testing.T) {
	var sums [][]byte
	for range 2 {
		opt := buildOptions{epoch: time.Unix(0, 0).UTC()}
		ctx := fixtureContext(t)
		loaded, out := buildTarball(t, ctx, opt)
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		sums = append(sums, data)

		opt.context, opt.dockerfile, opt.arch, opt.log = ctx, filepath.Join(ctx, "Dockerfile"), "arm64", io.Discard
		built, err := build(opt)
		if err != nil {
			t.Fatal(err)
		}
		printed, err := built.Digest()
		if err != nil {
			t.Fatal(err)
		}
		pushed, err := loaded.Digest()
		if err != nil {
			t.Fatal(err)
		}
		if printed != pushed {
			t.Errorf("the digest printed, %s, is not the one the tarball pushes, %s", printed, pushed)
		}
	}
	if !bytes.Equal(sums[0], sums[1]) {
		t.Error("two builds of the same inputs differ")
	}
}

// TestRefusesWhatItDoesNotUnderstand: anything this tool cannot reproduce exactly is an
// error that names the line, never an image that differs from what docker build makes.
func TestRefusesWhatItDoesNotUnderstand(t *testing.T) {
	const head = "FROM golang:1.26 AS build\nWORKDIR /src\nCOPY . .\nFROM scratch\n"
	for name, tc := range map[string]struct {
		dockerfile, wantErr string
		buildArgs           map[string]string
	}{
		"a base image":                   {"FROM debian:13\nENTRYPOINT [\"/x\"]\n", "must be plain FROM scratch", nil},
		"RUN in the image":               {head + "RUN true\n", "line 5: RUN: not supported", nil},
		"ADD":                            {head + "ADD a /a\n", "ADD: not supported", nil},
		"shell-form ENTRYPOINT":          {head + "ENTRYPOINT /x --flag\n", "only the exec form", nil},
		"shell-form CMD":                 {head + "ENTRYPOINT [\"/x\"]\nCMD --flag\n", "only the exec form", nil},
		"shell-form health":              {head + "HEALTHCHECK CMD curl -f http://x/\n", "only the exec form", nil},
		"start-interval":                 {head + "HEALTHCHECK --start-interval=1s CMD [\"/x\"]\n", "--start-interval is not supported", nil},
		"a named user":                   {head + "USER nobody\n", "numeric uid:gid", nil},
		"a named chown":                  {head + "COPY --chown=app:app --chmod=0644 a /a\n", "numeric uid:gid", nil},
		"COPY --link":                    {head + "COPY --link --chmod=0644 a /a\n", "--link has no value", nil},
		"COPY --exclude":                 {head + "COPY --exclude=*.md --chmod=0644 a /a\n", "--exclude is not supported", nil},
		"a context file without --chmod": {head + "COPY a /a\n", "give --chmod, or copy from the build stage", nil},
		// Since Docker 28.1 a --chmod also moded the directories it makes or copies.
		"--chmod making a parent":  {head + "COPY --chmod=0644 a /etc/a\n", "--chmod with /etc missing", nil},
		"--chmod into a dir/":      {head + "COPY --chmod=0644 a /\n", "destination ending in /", nil},
		"--chmod of a directory":   {head + "COPY --chmod=0755 tree /tree\n", "--chmod of a directory", nil},
		"a group-writable file":    {head + "COPY --from=build /src/loose /loose\n", "stage it with install -m", nil},
		"a group-writable subdir":  {head + "COPY --from=build /src/tree/ /\n", "stage it with install -m", nil},
		"a directory at 0644":      {head + "COPY --from=build /src/lax/ /\n", "a directory its readers cannot enter", nil},
		"a copied dir not 0755":    {head + "COPY --from=build /src/tree/open/ /open/\n", "must be 0755", nil},
		"another owner over a dir": {head + "COPY --from=build --chown=1:1 /src/tree/sub/ /\n", "already in the image as 0755 0:0", nil},
		"a wildcard":               {head + "COPY --chmod=0644 *.yaml /x.yaml\n", "wildcards are not supported", nil},
		"outside the context":      {head + "COPY --chmod=0644 ../a /a\n", "outside the build context", nil},
		"several to a file":        {head + "COPY --chmod=0644 a b /etc/x\n", "must end with /", nil},
		"a missing source":         {head + "COPY --chmod=0644 nothing /x\n", "no such file", nil},
		"from outside workdir":     {head + "COPY --from=build --chmod=0644 /etc/passwd /etc/passwd\n", "only paths under /src", nil},
		"from an unknown stage":    {head + "COPY --from=other --chmod=0644 /src/a /a\n", "no stage named other", nil},
		"from a stage without the context": {"FROM golang:1.26 AS build\nWORKDIR /src\nFROM scratch\nCOPY --from=build --chmod=0644 /src/a /a\n",
			"must copy the build context into its WORKDIR", nil},
		"an undeclared variable": {head + "ENV A=$NOPE\n", "$NOPE: no ARG or ENV", nil},
		"a default expression":   {head + "ARG A\nENV B=${A:-x}\n", "only ${NAME}", nil},
		"legacy ENV":             {head + "ENV A 1\n", "legacy", nil},
		"single quotes":          {head + "LABEL a='b c'\n", "single quotes", nil},
		"an unused build arg":    {head + "ENTRYPOINT [\"/x\"]\n", "build arg VERSON: no ARG", map[string]string{"VERSON": "1"}},
		"a platform build arg":   {head + "ARG TARGETARCH\n", "set by the platform", map[string]string{"TARGETARCH": "s390x"}},
		"a bad port":             {head + "EXPOSE 4318/http\n", "not port", nil},
		"a relative volume":      {head + "VOLUME data\n", "absolute path", nil},
		"no entrypoint":          {head + "CMD [\"x\"]\n", "no ENTRYPOINT", nil},
		"the escape directive":   {"# escape=`\n" + head, "escape parser directive", nil},
		"an open continuation":   {head + "ENV A=1 \\\n", "ends inside a continued instruction", nil},
		"not a Dockerfile":       {"# nothing\n", "no FROM", nil},
		// Each ARG ten times the last: 100 KB from five lines, 10 GB from ten.
		"a value that expands without bound":   {head + nestedArgs(5) + "LABEL x=${A4}\n", "line 9: ARG: A4: the value expands to more than 64 KiB", nil},
		"--chmod with setuid":                  {"FROM scratch\nCOPY --chmod=0755 a /a\nCOPY --chmod=4755 b /b\n", "line 3: COPY: --chmod=4755: setuid", nil},
		"--chmod writable by others":           {"FROM scratch\nCOPY --chmod=0755 a /a\nCOPY --chmod=0777 b /b\n", "line 3: COPY: --chmod=0777", nil},
		"a NUL in a label":                     {head + "LABEL a=\"x\x00y\"\n", "line 5: LABEL: a: a control character", nil},
		"a newline in an ENV from a build arg": {head + "ARG A\nENV B=$A\n", "line 6: ENV: B: a control character", map[string]string{"A": "x\ny"}},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, map[string]string{"Dockerfile": tc.dockerfile, "a": "a", "b": "b", "loose": "loose",
				"tree/open/": "", "tree/sub/f": "f", "lax/conf/": ""})
			setModes(t, dir, map[string]os.FileMode{"loose": 0o664, "tree": 0o755, "tree/open": 0o775, "tree/sub": 0o755, "tree/sub/f": 0o644, "lax": 0o755, "lax/conf": 0o644})
			_, err := build(buildOptions{dockerfile: filepath.Join(dir, "Dockerfile"), context: dir, arch: "amd64",
				buildArgs: tc.buildArgs, log: io.Discard})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
}

// nestedArgs declares A0 to A<n-1>, each ten times the one before.
func nestedArgs(n int) string {
	var b strings.Builder
	b.WriteString("ARG A0=aaaaaaaaaa\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "ARG A%d=%s\n", i, strings.Repeat(fmt.Sprintf("${A%d}", i-1), 10))
	}
	return b.String()
}

// TestLongInputIsNamedNotEchoed: a line too long to read and an instruction too long to
// quote are reported by their line, with an error a terminal can show.
func TestLongInputIsNamedNotEchoed(t *testing.T) {
	const head = "FROM scratch\nENTRYPOINT [\"/x\"]\n"
	for name, tc := range map[string]struct{ dockerfile, wantErr string }{
		"a line over the limit": {head + "LABEL a=" + strings.Repeat("x", 1<<20) + "\n", "line 3: longer than 1 MiB"},
		"an unterminated quote": {head + "LABEL a=\"" + strings.Repeat("x", 1<<19) + "\n", "line 3: LABEL: unterminated quote"},
		"an unterminated ${":    {head + "ENV A=${" + strings.Repeat("x", 1<<19) + "\n", "line 3: ENV: A: unterminated ${"},
		"a long shell-form CMD": {head + "CMD " + strings.Repeat("x ", 1<<18) + "\n", "line 3: CMD: only the exec form"},
		"a long USER":           {head + "USER " + strings.Repeat("x", 1<<14) + "\n", "line 3: USER: want a numeric uid:gid"},
		"a long source path":    {head + "COPY --chmod=0644 " + strings.Repeat("x/", 1<<14) + " /a\n", "line 3: COPY:"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, map[string]string{"Dockerfile": tc.dockerfile})
			_, err := build(buildOptions{dockerfile: filepath.Join(dir, "Dockerfile"), context: dir, arch: "amd64", log: io.Discard})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %.300v, want an error with %q", err, tc.wantErr)
			}
			if len(err.Error()) > 2048 { // a few lines of a terminal, wherever the Dockerfile is
				t.Errorf("the error is %d bytes long: %.300s", len(err.Error()), err)
			}
		})
	}
}

// TestRefusesSymlinksOutOfTheContext: a source whose path goes through a symlink to
// somewhere outside the build context is not read, whether the link is the source, a
// directory on its path, or the staged tree itself.
func TestRefusesSymlinksOutOfTheContext(t *testing.T) {
	outside := t.TempDir()
	writeTree(t, outside, map[string]string{"rootfs/secret": "outside", "f": "outside"})
	setModes(t, outside, map[string]os.FileMode{"rootfs": 0o755, "rootfs/secret": 0o644, "f": 0o644})
	const head = "FROM golang:1.26 AS build\nWORKDIR /src\nCOPY . .\nFROM scratch\nENTRYPOINT [\"/x\"]\n"
	for name, copyLine := range map[string]string{
		"a linked staged tree": "COPY --from=build /src/_build/image/rootfs/ /\n",
		"a linked directory":   "COPY --chmod=0644 linkdir/f /f\n",
		"a linked file":        "COPY --chmod=0644 linkfile /f\n",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, map[string]string{"Dockerfile": head + copyLine, "_build/image/": "", "inside": "inside"})
			for link, target := range map[string]string{
				"_build/image/rootfs": filepath.Join(outside, "rootfs"),
				"linkdir":             outside,
				"linkfile":            filepath.Join(outside, "f"),
			} {
				if err := os.Symlink(target, filepath.Join(dir, filepath.FromSlash(link))); err != nil {
					t.Fatal(err)
				}
			}
			_, err := build(buildOptions{dockerfile: filepath.Join(dir, "Dockerfile"), context: dir, arch: "amd64", log: io.Discard})
			if err == nil || !strings.Contains(err.Error(), "line 6: COPY:") || !strings.Contains(err.Error(), "outside the build context") {
				t.Errorf("got %v, want the COPY refused as outside the build context", err)
			}
		})
	}

	// A symlink that stays inside the context is followed, as docker build follows it.
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\nENTRYPOINT [\"/x\"]\nCOPY --chmod=0644 alias /f\n", "inside": "inside"})
	if err := os.Symlink("inside", filepath.Join(dir, "alias")); err != nil {
		t.Fatal(err)
	}
	img, _ := buildTarball(t, dir, buildOptions{})
	if files, _ := filesystem(t, img); files["/f"].content != "inside" {
		t.Errorf("/f: %+v, want the content of the link's target", files["/f"])
	}
}

// TestLogSummarizesLargeLayers: a layer of many files is one line of the log unless -v
// asks for every file.
func TestLogSummarizesLargeLayers(t *testing.T) {
	const staged = 3 * listedFiles
	dir := t.TempDir()
	tree := map[string]string{"Dockerfile": "FROM golang:1.26 AS build\nWORKDIR /src\nCOPY . .\nFROM scratch\nENTRYPOINT [\"/x\"]\nCOPY --from=build /src/tree/ /data/\n", "tree/": ""}
	modes := map[string]os.FileMode{"tree": 0o755}
	for i := range staged {
		name := fmt.Sprintf("tree/f%04d", i)
		tree[name], modes[name] = "x", 0o644
	}
	writeTree(t, dir, tree)
	setModes(t, dir, modes)
	for _, verbose := range []bool{false, true} {
		var log bytes.Buffer
		buildTarball(t, dir, buildOptions{log: &log, verbose: verbose})
		listed := strings.Count(log.String(), " /data/f")
		switch {
		case verbose && listed != staged:
			t.Errorf("-v: %d of %d files listed", listed, staged)
		case !verbose && listed > listedFiles:
			t.Errorf("%d files listed, want at most %d and a summary", listed, listedFiles)
		case !verbose && !strings.Contains(log.String(), fmt.Sprintf("%d entries", staged+1)):
			t.Errorf("no summary of the layer's %d entries in:\n%.2000s", staged+1, log.String())
		}
	}
}

// repoRoot is the repository this module sits in.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestDistributionImage builds distribution/Dockerfile from a context that holds the
// repository's files it copies and stand-ins for what the build stage makes, and checks
// the invariants that tie the image to distribution/config.yaml and builder-config.yaml.
func TestDistributionImage(t *testing.T) {
	root := repoRoot(t)
	ctx := t.TempDir()
	// What make image-files stages, the repository's files where the image holds them.
	const rootfs = "_build/image/linux-amd64/rootfs/"
	staged := map[string]string{
		"otelcol-lambda":                    "the gateway",
		"healthcheck":                       "the probe",
		"etc/ssl/certs/ca-certificates.crt": "certificates",
		"etc/passwd":                        "distribution/image/passwd",
		"etc/group":                         "distribution/image/group",
		"etc/otelcol-lambda/config.yaml":    "distribution/config.yaml",
	}
	for name, content := range staged {
		if strings.HasPrefix(content, "distribution/") {
			data, err := os.ReadFile(filepath.Join(root, content))
			if err != nil {
				t.Fatal(err)
			}
			content = string(data)
		}
		writeTree(t, ctx, map[string]string{rootfs + name: content})
	}
	writeTree(t, ctx, map[string]string{"_build/image/storage/": ""})
	modes := map[string]os.FileMode{"_build/image/storage": 0o755}
	if err := filepath.WalkDir(filepath.Join(ctx, rootfs), func(p string, d os.DirEntry, err error) error {
		rel, _ := filepath.Rel(ctx, p)
		switch {
		case err != nil:
			return err
		case d.IsDir() || path.Dir(filepath.ToSlash(rel)) == path.Clean(rootfs):
			modes[filepath.ToSlash(rel)] = 0o755 // the directories and the programs
		default:
			modes[filepath.ToSlash(rel)] = 0o644
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	setModes(t, ctx, modes)
	img, _ := buildTarball(t, ctx, buildOptions{dockerfile: filepath.Join(root, "distribution", "Dockerfile"), arch: "amd64"})
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg := cf.Config
	files, _ := filesystem(t, img)
	env := map[string]string{}
	for _, e := range cfg.Env {
		k, v, _ := strings.Cut(e, "=")
		env[k] = v
	}

	// A non-root numeric user that /etc/passwd names.
	user, err := parseOwner(cfg.User)
	if err != nil || user.uid == 0 || user.gid == 0 {
		t.Errorf("USER %q: want a non-root uid:gid (%v)", cfg.User, err)
	}
	if passwd := files["/etc/passwd"].content; !strings.Contains(passwd, fmt.Sprintf(":x:%d:%d:", user.uid, user.gid)) {
		t.Errorf("/etc/passwd has no entry for %s:\n%s", cfg.User, passwd)
	}
	if files["/etc/ssl/certs/ca-certificates.crt"].content != "certificates" {
		t.Error("no CA certificates at /etc/ssl/certs/ca-certificates.crt")
	}

	// The entrypoint, the health check's program and the configuration files exist.
	executable := func(p string) {
		if f, ok := files[p]; !ok || f.typ != tar.TypeReg || f.mode&0o111 == 0 {
			t.Errorf("%s is not an executable file in the image: %+v", p, f)
		}
	}
	executable(cfg.Entrypoint[0])
	if cfg.Healthcheck == nil || len(cfg.Healthcheck.Test) < 2 || cfg.Healthcheck.Test[0] != "CMD" {
		t.Fatalf("HEALTHCHECK: %+v", cfg.Healthcheck)
	}
	executable(cfg.Healthcheck.Test[1])
	for i, arg := range cfg.Cmd {
		if arg == "--config" {
			if f, ok := files[cfg.Cmd[i+1]]; !ok || f.typ != tar.TypeReg {
				t.Errorf("CMD's --config %s is not in the image", cfg.Cmd[i+1])
			}
		}
	}

	// The storage directory is the volume, the working directory, and the user's.
	storage := env["OTELCOL_LAMBDA_STORAGE_DIR"]
	if _, ok := cfg.Volumes[storage]; !ok || cfg.WorkingDir != storage {
		t.Errorf("OTELCOL_LAMBDA_STORAGE_DIR %q: volumes %v, working directory %q", storage, cfg.Volumes, cfg.WorkingDir)
	}
	if f := files[storage]; f.typ != tar.TypeDir || f.uid != user.uid || f.gid != user.gid || f.mode&0o700 != 0o700 {
		t.Errorf("%s is not a directory the user owns: %+v", storage, f)
	}
	for p := storage; p != "/"; p = filepath.Dir(p) {
		if f := files[filepath.Dir(p)]; filepath.Dir(p) != "/" && (f.uid != 0 || f.mode != 0o755) {
			t.Errorf("%s, a parent of the storage directory, is not root's 0755: %+v", filepath.Dir(p), f)
		}
	}

	// Every endpoint of the configuration listens on all interfaces and is exposed.
	endpoints := map[string]string{
		"OTELCOL_LAMBDA_HTTP_ENDPOINT":   "",
		"OTELCOL_LAMBDA_GRPC_ENDPOINT":   "",
		"OTELCOL_LAMBDA_HEALTH_ENDPOINT": "",
	}
	config, err := os.ReadFile(filepath.Join(root, "distribution", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for name := range endpoints {
		def := regexp.MustCompile(`\$\{env:` + name + `:-[^:]+:(\d+)\}`).FindSubmatch(config)
		if def == nil {
			t.Fatalf("distribution/config.yaml has no ${env:%s:-host:port}", name)
		}
		if env[name] != "0.0.0.0:"+string(def[1]) {
			t.Errorf("%s=%q, want 0.0.0.0:%s (the configuration's port on every interface)", name, env[name], def[1])
		}
		endpoints[name] = string(def[1]) + "/tcp"
	}
	telemetryPort := regexp.MustCompile(`\$\{env:OTELCOL_LAMBDA_TELEMETRY_PORT:-(\d+)\}`).FindSubmatch(config)
	if telemetryPort == nil || env["OTELCOL_LAMBDA_TELEMETRY_HOST"] != "0.0.0.0" {
		t.Errorf("the telemetry endpoint: port %q, OTELCOL_LAMBDA_TELEMETRY_HOST=%q", telemetryPort, env["OTELCOL_LAMBDA_TELEMETRY_HOST"])
	} else {
		endpoints["OTELCOL_LAMBDA_TELEMETRY_PORT"] = string(telemetryPort[1]) + "/tcp"
	}
	var wantPorts []string
	for _, p := range endpoints {
		wantPorts = append(wantPorts, p)
	}
	slices.Sort(wantPorts)
	if got := sortedKeys(cfg.ExposedPorts); !slices.Equal(got, wantPorts) {
		t.Errorf("EXPOSE %v, want the configuration's ports %v", got, wantPorts)
	}

	// The version label's default is the distribution's version.
	builderConfig, err := os.ReadFile(filepath.Join(root, "builder-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	version := regexp.MustCompile(`(?m)^  version: (\S+)$`).FindSubmatch(builderConfig)
	if version == nil || cfg.Labels["org.opencontainers.image.version"] != string(version[1]) {
		t.Errorf("org.opencontainers.image.version %q, builder-config.yaml's version %q", cfg.Labels["org.opencontainers.image.version"], version)
	}
}
