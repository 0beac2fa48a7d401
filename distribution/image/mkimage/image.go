// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// defaultPath is the PATH BuildKit gives an image built FROM scratch.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// buildOptions say which image to build from which Dockerfile.
type buildOptions struct {
	dockerfile string            // the Dockerfile's path
	context    string            // the build context: where COPY sources are found
	arch       string            // GOARCH of the image (its OS is linux)
	buildArgs  map[string]string // --build-arg NAME=value
	epoch      time.Time         // every file's mtime and the image's creation time
	log        io.Writer         // what each instruction did
	verbose    bool              // list every file of a layer, however many
}

// listedFiles is how many files of a layer the log lists without -v; a larger layer is
// summed up in a line.
const listedFiles = 256

// dirEntry is a directory of the image: its mode and owner.
type dirEntry struct {
	mode  int64
	owner owner
}

// owner is a numeric uid and gid.
type owner struct{ uid, gid int }

func (o owner) String() string { return fmt.Sprintf("%d:%d", o.uid, o.gid) }

// builder runs the last stage of a Dockerfile without running a container: that stage is
// FROM scratch and has no RUN, so every file comes from a COPY (or a WORKDIR) and the
// rest is image configuration. It follows BuildKit's rules where they matter to the
// result: a directory source copies its contents, and the files and directories under it
// keep their modes; a COPY without --chown makes everything root's; the missing parents of
// a destination are 0755 and, with a COPY --chown or a WORKDIR under USER, that owner's;
// ENV takes precedence over ARG.
//
// Where BuildKit's result has changed between versions, it refuses instead of choosing
// one. Since Docker 28.1 (moby/buildkit#4945, fixed by tonistiigi/fsutil#228; intended,
// moby/buildkit#6801) a COPY --chmod gives its mode to the directories it creates and to
// copied directories, and re-modes an existing destination written with a trailing /
// (moby/buildkit#5943); before, those were 0755 and left alone. So --chmod is taken only
// for a file into a directory the image already has. A copied directory itself must be
// 0755, and a directory the image already has is copied over only with its own mode and
// owner, so that keeping and replacing them give the same image.
type builder struct {
	opt    buildOptions
	stages []stage // the Dockerfile's, for COPY --from

	args, env map[string]string // the variables in scope
	argUsed   map[string]bool   // which --build-arg an ARG took
	user      owner             // USER, for WORKDIR
	cfg       v1.Config
	// dirs and files are what the image holds so far, by absolute path.
	dirs  map[string]dirEntry
	files map[string]bool
	adds  []mutate.Addendum
}

// layerFile is one entry of a layer: a header and, for a file, where its content is.
type layerFile struct {
	hdr *tar.Header
	src string
}

// build reads the Dockerfile and builds the image its last stage describes.
func build(opt buildOptions) (v1.Image, error) {
	src, err := os.ReadFile(opt.dockerfile)
	if err != nil {
		return nil, err
	}
	stages, err := parseDockerfile(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", opt.dockerfile, err)
	}
	b := &builder{
		opt: opt, stages: stages,
		args: map[string]string{}, env: map[string]string{}, argUsed: map[string]bool{},
		cfg:  v1.Config{Env: []string{defaultPath}},
		dirs: map[string]dirEntry{"/": {mode: 0o755}}, files: map[string]bool{},
	}
	if err := b.run(stages[len(stages)-1]); err != nil {
		return nil, fmt.Errorf("%s: %w", opt.dockerfile, err)
	}
	img, err := mutate.Append(empty.Image, b.adds...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = opt.arch, "linux"
	cf.Created = v1.Time{Time: opt.epoch}
	cf.Config = b.cfg
	return mutate.ConfigFile(img, cf)
}

// run goes through the stage's instructions in order.
func (b *builder) run(s stage) error {
	if s.base != "scratch" || len(s.from.flags) > 0 {
		return s.from.errorf("the image's stage must be plain FROM scratch (this tool pulls no base image), got %q", s.from.args)
	}
	for _, in := range s.instructions {
		fmt.Fprintf(b.opt.log, "  %s\n", shorten(in.String(), maxMessageBytes))
		var (
			files []layerFile
			err   error
		)
		switch in.keyword {
		case "ARG":
			err = b.arg(in)
		case "ENV":
			err = b.setEnv(in)
		case "LABEL":
			err = b.label(in)
		case "USER":
			err = b.setUser(in)
		case "WORKDIR":
			files, err = b.workdir(in)
		case "COPY":
			files, err = b.copy(in)
		case "VOLUME":
			err = b.volume(in)
		case "EXPOSE":
			err = b.expose(in)
		case "HEALTHCHECK":
			err = b.healthcheck(in)
		case "ENTRYPOINT":
			b.cfg.Entrypoint, err = execForm(in, in.args)
		case "CMD":
			b.cfg.Cmd, err = execForm(in, in.args)
		default:
			err = in.errorf("not supported in the image's stage; this tool knows ARG, ENV, LABEL, USER, WORKDIR, COPY, VOLUME, EXPOSE, HEALTHCHECK, ENTRYPOINT and CMD")
		}
		if err != nil {
			return err
		}
		if err := b.commit(in, files); err != nil {
			return err
		}
	}
	for _, name := range sortedKeys(b.opt.buildArgs) {
		if !b.argUsed[name] {
			return fmt.Errorf("build arg %s: no ARG of the image's stage declares it", name)
		}
	}
	if b.cfg.Entrypoint == nil {
		return fmt.Errorf("the image's stage has no ENTRYPOINT")
	}
	return nil
}

// commit adds the instruction to the image's history, with a layer when it made files.
func (b *builder) commit(in instruction, files []layerFile) error {
	h := v1.History{Created: v1.Time{Time: b.opt.epoch}, CreatedBy: in.String(), Comment: "mkimage", EmptyLayer: len(files) == 0}
	if len(files) == 0 {
		b.adds = append(b.adds, mutate.Addendum{History: h})
		return nil
	}
	list := b.opt.verbose || len(files) <= listedFiles
	if !list {
		var size int64
		for _, f := range files {
			size += f.hdr.Size
		}
		fmt.Fprintf(b.opt.log, "      %d entries, %.1f MiB (mkimage -v lists them)\n", len(files), float64(size)/(1<<20))
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		if list {
			fmt.Fprintf(b.opt.log, "      %04o %-11s /%s\n", f.hdr.Mode, owner{f.hdr.Uid, f.hdr.Gid}, f.hdr.Name)
		}
		if err := tw.WriteHeader(f.hdr); err != nil {
			return err
		}
		if f.src == "" {
			continue
		}
		fh, err := os.Open(f.src)
		if err != nil {
			return err
		}
		n, err := io.Copy(tw, fh)
		fh.Close()
		if err != nil {
			return err
		}
		if n != f.hdr.Size {
			return fmt.Errorf("%s changed while it was read", f.src)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithCompressedCaching)
	if err != nil {
		return err
	}
	b.adds = append(b.adds, mutate.Addendum{Layer: layer, History: h})
	return nil
}

func (b *builder) expand(s string) (string, error) {
	vars := make(map[string]string, len(b.args)+len(b.env))
	for k, v := range b.args {
		vars[k] = v
	}
	for k, v := range b.env {
		vars[k] = v
	}
	return expandVars(s, vars)
}

// predefinedArgs are BuildKit's platform ARGs for the image being built.
func (b *builder) predefinedArgs() map[string]string {
	return map[string]string{
		"TARGETPLATFORM": "linux/" + b.opt.arch, "TARGETOS": "linux", "TARGETARCH": b.opt.arch, "TARGETVARIANT": "",
		"BUILDPLATFORM": runtime.GOOS + "/" + runtime.GOARCH, "BUILDOS": runtime.GOOS, "BUILDARCH": runtime.GOARCH,
	}
}

// arg declares variables: ARG NAME or ARG NAME=default, several per line. The default
// is expanded only when no build arg replaces it.
func (b *builder) arg(in instruction) error {
	raw := func(s string) (string, error) { return s, nil }
	pairs, err := keyValues(in, true, raw)
	if err != nil {
		return err
	}
	for _, kv := range pairs {
		value, given := b.opt.buildArgs[kv.name]
		if predefined, ok := b.predefinedArgs()[kv.name]; ok {
			if given || kv.value != nil {
				return in.errorf("%s is set by the platform being built, not by a default or a build arg", kv.name)
			}
			value = predefined
		} else if !given && kv.value != nil {
			if value, err = b.expand(*kv.value); err != nil {
				return in.errorf("%s: %v", kv.name, err)
			}
		}
		b.argUsed[kv.name] = given
		b.args[kv.name] = value
	}
	return nil
}

func (b *builder) setEnv(in instruction) error {
	pairs, err := keyValues(in, false, b.expand)
	if err != nil {
		return err
	}
	for _, kv := range pairs {
		b.env[kv.name] = *kv.value
		entry := kv.name + "=" + *kv.value
		// A variable set again keeps its place, as in BuildKit's configuration.
		if i := slices.IndexFunc(b.cfg.Env, func(e string) bool { return strings.HasPrefix(e, kv.name+"=") }); i >= 0 {
			b.cfg.Env[i] = entry
		} else {
			b.cfg.Env = append(b.cfg.Env, entry)
		}
	}
	return nil
}

func (b *builder) label(in instruction) error {
	pairs, err := keyValues(in, false, b.expand)
	if err != nil {
		return err
	}
	if b.cfg.Labels == nil {
		b.cfg.Labels = map[string]string{}
	}
	for _, kv := range pairs {
		b.cfg.Labels[kv.name] = *kv.value
	}
	return nil
}

// parseOwner reads uid:gid (a lone uid is also the gid, as Docker reads it). Names would
// need the image's /etc/passwd at build time, and a numeric USER is what Kubernetes'
// runAsNonRoot can check, so only numbers are taken.
func parseOwner(s string) (owner, error) {
	u, g, hasGroup := strings.Cut(s, ":")
	if !hasGroup {
		g = u
	}
	uid, err1 := strconv.ParseUint(u, 10, 31)
	gid, err2 := strconv.ParseUint(g, 10, 31)
	if err1 != nil || err2 != nil {
		return owner{}, fmt.Errorf("want a numeric uid:gid, got %q", excerpt(s))
	}
	return owner{int(uid), int(gid)}, nil
}

func (b *builder) setUser(in instruction) error {
	value, err := b.expand(in.args)
	if err != nil {
		return in.errorf("%v", err)
	}
	if b.user, err = parseOwner(value); err != nil {
		return in.errorf("%v", err)
	}
	b.cfg.User = value
	return nil
}

// workdir sets the working directory and, as BuildKit does, creates it owned by USER.
func (b *builder) workdir(in instruction) ([]layerFile, error) {
	dir, err := b.expand(in.args)
	if err != nil {
		return nil, in.errorf("%v", err)
	}
	dir = b.abs(dir)
	b.cfg.WorkingDir = dir
	return b.mkdirAll(in, dir, b.user)
}

// abs is p made absolute against the working directory.
func (b *builder) abs(p string) string {
	if path.IsAbs(p) {
		return path.Clean(p)
	}
	return path.Join("/", b.cfg.WorkingDir, p)
}

// mkdirAll creates dir and its missing parents, each 0755 and owned by o.
func (b *builder) mkdirAll(in instruction, dir string, o owner) ([]layerFile, error) {
	if _, ok := b.dirs[dir]; ok {
		return nil, nil
	}
	created, err := b.mkdirAll(in, path.Dir(dir), o)
	if err != nil {
		return nil, err
	}
	add, err := b.mkdir(in, dir, dirEntry{0o755, o})
	return append(created, add...), err
}

// mkdir makes dir, whose parent the image has, with mode and owner e. A directory the
// image already has is left as it is, which needs e to be what it has: BuildKit has both
// kept and replaced an existing directory's mode.
func (b *builder) mkdir(in instruction, dir string, e dirEntry) ([]layerFile, error) {
	if have, ok := b.dirs[dir]; ok {
		if have != e {
			return nil, in.errorf("%s is already in the image as %04o %s; copying %04o %s over it is not supported", dir, have.mode, have.owner, e.mode, e.owner)
		}
		return nil, nil
	}
	if b.files[dir] {
		return nil, in.errorf("%s is a file, not a directory", dir)
	}
	b.dirs[dir] = e
	return []layerFile{{hdr: &tar.Header{
		Typeflag: tar.TypeDir, Name: strings.TrimPrefix(dir, "/") + "/", Mode: e.mode,
		Uid: e.owner.uid, Gid: e.owner.gid, ModTime: b.opt.epoch,
	}}}, nil
}

// copy is COPY [--from=stage] [--chown=uid:gid] [--chmod=mode] src... dest.
func (b *builder) copy(in instruction) ([]layerFile, error) {
	o := owner{}
	var mode int64 = -1
	for name, value := range in.flags {
		var err error
		switch name {
		case "from":
		case "chown":
			o, err = parseOwner(value)
		case "chmod":
			mode, err = strconv.ParseInt(value, 8, 32)
			switch {
			case err != nil || mode&^0o7777 != 0:
				err = fmt.Errorf("%q is not a file mode", value)
			case looseMode(mode) != "":
				err = fmt.Errorf("--chmod=%s: %s; at most 0755", value, looseMode(mode))
			}
		default:
			err = fmt.Errorf("option --%s is not supported", name)
		}
		if err != nil {
			return nil, in.errorf("%v", err)
		}
	}
	// A file of the build context has the checkout's mode: the umask's, of which git keeps
	// only the x bit. What the build stage makes, make image-files makes with install,
	// which sets each mode whatever the umask: the same here and in the build stage.
	if _, staged := in.flags["from"]; mode < 0 && !staged {
		return nil, in.errorf("give --chmod, or copy from the build stage: a file of the build context has the checkout's mode")
	}
	if strings.HasPrefix(in.args, "[") {
		return nil, in.errorf("the JSON form is not supported; write COPY src... dest")
	}
	words := strings.Fields(in.args)
	if len(words) < 2 {
		return nil, in.errorf("want at least one source and a destination")
	}
	for i, w := range words {
		var err error
		if words[i], err = b.expand(w); err != nil {
			return nil, in.errorf("%v", err)
		}
	}
	srcs, dest := words[:len(words)-1], words[len(words)-1]
	destIsDir := strings.HasSuffix(dest, "/")
	if len(srcs) > 1 && !destIsDir {
		return nil, in.errorf("with several sources the destination must end with /")
	}
	if mode >= 0 && destIsDir {
		return nil, in.errorf("--chmod with a destination ending in /: BuildKit may give that directory the mode too (moby/buildkit#5943); name the file")
	}
	dest = b.abs(dest)

	var files []layerFile
	for _, src := range srcs {
		host, err := b.source(in, src)
		if err != nil {
			return nil, err
		}
		fi, err := os.Stat(host)
		if err != nil {
			return nil, in.errorf("%v (make image-files puts what the build stage makes under _build/image)", err)
		}
		var add []layerFile
		switch {
		case fi.IsDir() && mode >= 0:
			return nil, in.errorf("%s: --chmod of a directory gives the directories in it the mode too since Docker 28.1 (moby/buildkit#4945); stage the tree with its modes instead", src)
		case fi.IsDir():
			add, err = b.copyDir(in, host, dest, o)
		default:
			target := dest
			if destIsDir {
				target = path.Join(dest, path.Base(src))
			}
			if _, ok := b.dirs[path.Dir(target)]; mode >= 0 && !ok {
				return nil, in.errorf("--chmod with %s missing: since Docker 28.1 the directories a COPY --chmod creates get its mode (moby/buildkit#4945, moby/moby#49851); make them first", path.Dir(target))
			}
			add, err = b.copyFile(in, host, target, o, mode)
		}
		if err != nil {
			return nil, err
		}
		files = append(files, add...)
	}
	return files, nil
}

// looseMode says what is refused in a mode (Unix bits, as --chmod writes it), "" when
// nothing: write for group or others, and the setuid, setgid and sticky bits. A loose
// umask leaves the first behind, and neither belongs in this image, whether the mode comes
// from --chmod or from the staged tree.
func looseMode(mode int64) string {
	switch {
	case mode&0o7000 != 0:
		return "setuid, setgid or sticky bit"
	case mode&0o022 != 0:
		return "writable by group or others"
	}
	return ""
}

// sourceMode is the mode a file or directory copied without --chmod keeps: looseMode
// refuses what --chmod may not give either, and a directory that some can list but not
// enter (a file's mode given to a directory, as in 0644) is refused too.
func sourceMode(in instruction, host string, fi os.FileInfo) (int64, error) {
	mode := int64(fi.Mode().Perm())
	for bit, unix := range map[os.FileMode]int64{os.ModeSetuid: 0o4000, os.ModeSetgid: 0o2000, os.ModeSticky: 0o1000} {
		if fi.Mode()&bit != 0 {
			mode |= unix
		}
	}
	if why := looseMode(mode); why != "" {
		return 0, in.errorf("%s has mode %s (%s): stage it with install -m (at most 0755)", host, fi.Mode(), why)
	}
	if readable, searchable := mode&0o444, mode&0o111; fi.IsDir() && readable>>2 != searchable {
		return 0, in.errorf("%s has mode %s: a directory its readers cannot enter", host, fi.Mode())
	}
	return mode, nil
}

// copyDir copies the contents of a directory (not the directory itself, as COPY does)
// into dest, which it creates when missing, with their modes and owner o. The directory
// itself must be 0755: BuildKit creates dest 0755 and has both kept that and given it the
// source's mode.
func (b *builder) copyDir(in instruction, host, dest string, o owner) ([]layerFile, error) {
	fi, err := os.Stat(host)
	if err != nil {
		return nil, in.errorf("%v", err)
	}
	if fi.Mode().Perm() != 0o755 {
		return nil, in.errorf("%s is %s: a copied directory must be 0755 (make image-files sets it)", host, fi.Mode())
	}
	files, err := b.mkdirAll(in, path.Dir(dest), o)
	if err != nil {
		return nil, err
	}
	add, err := b.mkdir(in, dest, dirEntry{0o755, o})
	if err != nil {
		return nil, err
	}
	tree, err := b.copyTree(in, host, dest, o)
	return append(append(files, add...), tree...), err
}

// copyTree copies what the directory host holds into the image's directory dest, each
// file and directory with its own mode and owner o.
func (b *builder) copyTree(in instruction, host, dest string, o owner) ([]layerFile, error) {
	entries, err := os.ReadDir(host) // sorted by name
	if err != nil {
		return nil, in.errorf("%v", err)
	}
	var files []layerFile
	for _, e := range entries {
		src, target := filepath.Join(host, e.Name()), path.Join(dest, e.Name())
		if !e.IsDir() {
			add, err := b.copyFile(in, src, target, o, -1)
			if err != nil {
				return nil, err
			}
			files = append(files, add...)
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, in.errorf("%v", err)
		}
		mode, err := sourceMode(in, src, info)
		if err != nil {
			return nil, err
		}
		add, err := b.mkdir(in, target, dirEntry{mode, o})
		if err != nil {
			return nil, err
		}
		files = append(files, add...)
		if add, err = b.copyTree(in, src, target, o); err != nil {
			return nil, err
		}
		files = append(files, add...)
	}
	return files, nil
}

// copyFile copies one regular file to target, creating its missing parents. mode is
// --chmod's, or -1 for the file's own.
func (b *builder) copyFile(in instruction, host, target string, o owner, mode int64) ([]layerFile, error) {
	fi, err := os.Lstat(host)
	if err != nil {
		return nil, in.errorf("%v", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, in.errorf("%s is not a regular file", host)
	}
	if mode < 0 {
		if mode, err = sourceMode(in, host, fi); err != nil {
			return nil, err
		}
	}
	if _, ok := b.dirs[target]; ok {
		return nil, in.errorf("%s is a directory in the image", target)
	}
	files, err := b.mkdirAll(in, path.Dir(target), o)
	if err != nil {
		return nil, err
	}
	b.files[target] = true
	return append(files, layerFile{src: host, hdr: &tar.Header{
		Typeflag: tar.TypeReg, Name: strings.TrimPrefix(target, "/"), Mode: mode, Size: fi.Size(),
		Uid: o.uid, Gid: o.gid, ModTime: b.opt.epoch,
	}}), nil
}

// source finds a COPY source on this machine. Without --from it is in the build context.
// With --from=stage it must be under the directory where that stage copied the context
// (WORKDIR, then COPY . .): what the stage's RUN makes there, `make image-files` has made
// in the context here.
func (b *builder) source(in instruction, src string) (string, error) {
	if strings.ContainsAny(src, "*?[") {
		return "", in.errorf("%s: wildcards are not supported", src)
	}
	clean := path.Clean(src)
	if from, ok := in.flags["from"]; ok {
		dir, err := b.contextDir(in, from)
		if err != nil {
			return "", err
		}
		rel, ok := strings.CutPrefix(clean, dir+"/")
		if !ok {
			return "", in.errorf("%s: only paths under %s, where stage %s copies the build context, can be taken from it without running it", src, dir, from)
		}
		return b.inContext(in, src, rel)
	}
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", in.errorf("%s is outside the build context", src)
	}
	return b.inContext(in, src, strings.TrimPrefix(clean, "/"))
}

// inContext is rel, a clean slash-separated path, in the build context, with the symlinks
// on its way resolved. One that leads out of the context is refused: docker build sends
// only the context, so its link would break there, and here it would put whatever it
// points to into the image. A tree copied from the result has its own symlinks refused
// by copyFile, which reads no link.
func (b *builder) inContext(in instruction, src, rel string) (string, error) {
	host := filepath.Join(b.opt.context, filepath.FromSlash(rel))
	// Both absolute, so that a link to an absolute path inside a relative context is in it.
	context, err := filepath.Abs(b.opt.context)
	if err == nil {
		context, err = filepath.EvalSymlinks(context)
	}
	if err != nil {
		return "", in.errorf("the build context: %v", err)
	}
	resolved, err := filepath.Abs(host)
	if err == nil {
		resolved, err = filepath.EvalSymlinks(resolved)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return host, nil // copy reports it, with where staged files come from
	} else if err != nil {
		return "", in.errorf("%v", err)
	}
	if inside, err := filepath.Rel(context, resolved); err != nil || inside == ".." || strings.HasPrefix(inside, ".."+string(filepath.Separator)) {
		return "", in.errorf("%s is %s through a symlink, outside the build context %s", src, resolved, context)
	}
	return resolved, nil
}

// contextDir is where stage name copies the build context: its WORKDIR at its COPY . .
func (b *builder) contextDir(in instruction, name string) (string, error) {
	for _, s := range b.stages {
		if s.name != strings.ToLower(name) {
			continue
		}
		dir, found := "/", ""
		for _, sin := range s.instructions {
			switch {
			case sin.keyword == "WORKDIR":
				if strings.Contains(sin.args, "$") {
					return "", sin.errorf("variables in the WORKDIR of a stage copied from are not supported")
				}
				dir = path.Join(dir, sin.args)
				if path.IsAbs(sin.args) {
					dir = path.Clean(sin.args)
				}
			case sin.keyword == "COPY" && len(sin.flags) == 0 && strings.Join(strings.Fields(sin.args), " ") == ". .":
				found = dir
			}
		}
		if found == "" || found == "/" {
			return "", in.errorf("stage %s must copy the build context into its WORKDIR (WORKDIR /dir, then COPY . .)", name)
		}
		return found, nil
	}
	return "", in.errorf("no stage named %s", name)
}

func (b *builder) volume(in instruction) error {
	var dirs []string
	if strings.HasPrefix(in.args, "[") {
		var err error
		if dirs, err = execForm(in, in.args); err != nil {
			return err
		}
	} else {
		dirs = strings.Fields(in.args)
	}
	if b.cfg.Volumes == nil {
		b.cfg.Volumes = map[string]struct{}{}
	}
	for _, d := range dirs {
		d, err := b.expand(d)
		if err != nil {
			return in.errorf("%v", err)
		}
		if !path.IsAbs(d) {
			return in.errorf("%s: a volume must be an absolute path", d)
		}
		b.cfg.Volumes[path.Clean(d)] = struct{}{}
	}
	return nil
}

func (b *builder) expose(in instruction) error {
	if b.cfg.ExposedPorts == nil {
		b.cfg.ExposedPorts = map[string]struct{}{}
	}
	for _, w := range strings.Fields(in.args) {
		w, err := b.expand(w)
		if err != nil {
			return in.errorf("%v", err)
		}
		port, proto, hasProto := strings.Cut(w, "/")
		if !hasProto {
			proto = "tcp"
		}
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 || proto != "tcp" && proto != "udp" && proto != "sctp" {
			return in.errorf("%q is not port[/tcp|udp|sctp]", w)
		}
		b.cfg.ExposedPorts[port+"/"+proto] = struct{}{}
	}
	return nil
}

// healthcheck is HEALTHCHECK [--interval --timeout --start-period --retries] CMD [...] or
// HEALTHCHECK NONE. --start-interval has no field in the image configuration that
// go-containerregistry writes, so it is refused rather than dropped.
func (b *builder) healthcheck(in instruction) error {
	if in.args == "NONE" && len(in.flags) == 0 {
		b.cfg.Healthcheck = &v1.HealthConfig{Test: []string{"NONE"}}
		return nil
	}
	cmd, ok := strings.CutPrefix(in.args, "CMD ")
	if !ok {
		return in.errorf("want CMD [...] or NONE, got %q", in.args)
	}
	test, err := execForm(in, strings.TrimSpace(cmd))
	if err != nil {
		return err
	}
	hc := &v1.HealthConfig{Test: append([]string{"CMD"}, test...)}
	for name, value := range in.flags {
		var d time.Duration
		switch name {
		case "interval", "timeout", "start-period":
			if d, err = time.ParseDuration(value); err != nil || d <= 0 {
				return in.errorf("--%s=%s is not a positive duration", name, value)
			}
		}
		switch name {
		case "interval":
			hc.Interval = d
		case "timeout":
			hc.Timeout = d
		case "start-period":
			hc.StartPeriod = d
		case "retries":
			if hc.Retries, err = strconv.Atoi(value); err != nil || hc.Retries < 1 {
				return in.errorf("--retries=%s is not a positive number", value)
			}
		default:
			return in.errorf("option --%s is not supported", name)
		}
	}
	b.cfg.Healthcheck = hc
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
