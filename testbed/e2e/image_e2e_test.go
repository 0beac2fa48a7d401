// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-lambda/otelcol-lambda/testbed/harness"
	"github.com/otelcol-lambda/otelcol-lambda/testbed/rwsink"
)

// The container image that `make image` builds, run as a container runtime would run it:
// its layers unpacked into a root filesystem, its own ENTRYPOINT and CMD, ENV, USER and
// WORKDIR, in a chroot with /proc mounted. Only what a user overrides is overridden: the
// ports (to free loopback ports, through the same variables) and the remote-write URL.

// imageTarball is the tarball `make image` wrote, which `make e2e` names in
// OTELCOL_LAMBDA_IMAGE.
func imageTarball(t *testing.T) string {
	t.Helper()
	p := os.Getenv("OTELCOL_LAMBDA_IMAGE")
	if p == "" {
		msg := "OTELCOL_LAMBDA_IMAGE is not set: run 'make image', then name its tarball (_build/image/otelcol-lambda-<version>-linux-<arch>.tar); make e2e does both"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	_, err := os.Stat(p)
	require.NoError(t, err, "OTELCOL_LAMBDA_IMAGE")
	return p
}

// imageConfig is the part of an image's configuration a runtime uses.
type imageConfig struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		Entrypoint  []string            `json:"Entrypoint"`
		Cmd         []string            `json:"Cmd"`
		Env         []string            `json:"Env"`
		User        string              `json:"User"`
		WorkingDir  string              `json:"WorkingDir"`
		Volumes     map[string]struct{} `json:"Volumes"`
		Healthcheck *struct {
			Test []string `json:"Test"`
		} `json:"Healthcheck"`
	} `json:"config"`
}

// env is the value of name in the image's environment.
func (c imageConfig) env(name string) string {
	for _, e := range c.Config.Env {
		if v, ok := strings.CutPrefix(e, name+"="); ok {
			return v
		}
	}
	return ""
}

// credential is the image's USER, which must be numeric (uid:gid).
func (c imageConfig) credential(t *testing.T) *syscall.Credential {
	t.Helper()
	u, g, ok := strings.Cut(c.Config.User, ":")
	uid, err1 := strconv.ParseUint(u, 10, 32)
	gid, err2 := strconv.ParseUint(g, 10, 32)
	require.True(t, ok && err1 == nil && err2 == nil, "USER %q is not a numeric uid:gid", c.Config.User)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// unpackImage reads a docker-archive tarball (manifest.json, the configuration, the
// layers) and applies its layers in order to a new root directory, owners and modes as
// the layers say.
func unpackImage(t *testing.T, tarball string) (string, imageConfig) {
	t.Helper()
	f, err := os.Open(tarball)
	require.NoError(t, err)
	defer f.Close()
	blobs := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		blobs[hdr.Name], err = io.ReadAll(tr)
		require.NoError(t, err)
	}
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	require.NoError(t, json.Unmarshal(blobs["manifest.json"], &manifest), "manifest.json")
	require.Len(t, manifest, 1, "one image in the tarball")
	var cfg imageConfig
	require.NoError(t, json.Unmarshal(blobs[manifest[0].Config], &cfg), "the configuration %s", manifest[0].Config)
	require.Equal(t, "linux/"+runtime.GOARCH, cfg.OS+"/"+cfg.Architecture, "an image for this machine")

	root := t.TempDir()
	// A runtime's root directory is everyone's to traverse; the test's is not.
	require.NoError(t, os.Chmod(root, 0o755))
	for _, name := range manifest[0].Layers {
		layer, ok := blobs[name]
		require.True(t, ok, "layer %s is not in the tarball", name)
		require.NoError(t, applyLayer(root, layer), "layer %s", name)
	}
	return root, cfg
}

// applyLayer extracts one layer (gzip-compressed or not) into root. Whiteouts, links and
// devices are refused: an image FROM scratch built by COPY has none.
func applyLayer(root string, layer []byte) error {
	var r io.Reader = bytes.NewReader(layer)
	if bytes.HasPrefix(layer, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return err
		}
		r = zr
	}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean("/" + hdr.Name)
		if strings.HasPrefix(path.Base(name), ".wh.") {
			return fmt.Errorf("%s: a whiteout", hdr.Name)
		}
		p := filepath.Join(root, filepath.FromSlash(name))
		mode := os.FileMode(hdr.Mode & 0o777)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, mode); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.WriteFile(p, nil, mode); err != nil {
				return err
			}
			out, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			if err := errors.Join(err, out.Close()); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: entry type %q is not expected in this image", hdr.Name, hdr.Typeflag)
		}
		if err := os.Lchown(p, hdr.Uid, hdr.Gid); err != nil {
			return err
		}
		if err := os.Chmod(p, mode); err != nil {
			return err
		}
	}
}

// containerProcess is a process of the image: chrooted into its root, as its user.
type containerProcess struct {
	cmd    *exec.Cmd
	output *harness.LockedBuffer
	done   chan struct{}
	err    error
}

// startContainer runs argv in root as a container runtime would: its own mount namespace
// with a procfs at /proc (the gateway reads its memory limit and its process figures
// there), a chroot, the image's user and working directory, env and nothing else. The
// namespace belongs to the goroutine's locked thread, which stays alive until the
// process ends (the parent-death signal is sent when that thread exits) and then dies with
// it, and the namespace with both; mounts never propagate back.
func startContainer(t *testing.T, root string, cfg imageConfig, env, argv []string) *containerProcess {
	t.Helper()
	p := &containerProcess{output: &harness.LockedBuffer{}, done: make(chan struct{})}
	cred := cfg.credential(t)
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := containerMounts(root); err != nil {
			started <- fmt.Errorf("the container's mount namespace: %w", err)
			return
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env, cmd.Dir = env, cfg.Config.WorkingDir
		cmd.Stdout, cmd.Stderr = p.output, p.output
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		p.cmd = cmd
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	require.NoError(t, <-started, "starting %v in the image", argv)
	t.Cleanup(func() {
		// Killed here, the gateway's exit error is "signal: killed": its output matters
		// only because the test failed.
		err := p.stop(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("the container's output (exit: %v):\n%s", err, harness.Tail(p.output.String(), 8192))
		}
	})
	return p
}

// containerMounts moves the calling thread into a mount namespace of its own and mounts a
// procfs at root/proc there. One step at a time: a mount made after a failed unshare
// would change the host's mounts.
func containerMounts(root string) error {
	if err := syscall.Unshare(syscall.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare: %w", err)
	}
	// Private first, so that the procfs mount does not propagate back to the host.
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making / private: %w", err)
	}
	proc := filepath.Join(root, "proc")
	if err := os.MkdirAll(proc, 0o555); err != nil {
		return err
	}
	return syscall.Mount("proc", proc, "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, "")
}

// stop signals the process and waits for it to exit; it returns its exit error.
func (p *containerProcess) stop(sig syscall.Signal) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("still running 30s after %v: killed", sig)
	}
	return p.err
}

// runInImage runs argv to its end in root, as the image's user with env (HEALTHCHECK's
// command, as the runtime runs it in the container); it returns its exit status.
func runInImage(t *testing.T, root string, cfg imageConfig, env, argv []string) (int, string) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env, cmd.Dir = env, cfg.Config.WorkingDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: cfg.credential(t)}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), string(out)
	}
	require.NoError(t, err, "running %v in the image", argv)
	return 0, string(out)
}

// processIDs reads the real, effective, saved and filesystem uids and gids of a process.
func processIDs(t *testing.T, pid int) (uids, gids []string) {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Uid:"); ok {
			uids = strings.Fields(v)
		}
		if v, ok := strings.CutPrefix(sc.Text(), "Gid:"); ok {
			gids = strings.Fields(v)
		}
	}
	require.NoError(t, sc.Err())
	return uids, gids
}

// assertReadableBy walks the image's root filesystem and checks that cred may read every
// file and read and enter every directory, by the owner, group or other bits that apply
// to it.
func assertReadableBy(t *testing.T, root string, cred *syscall.Credential) {
	t.Helper()
	require.NoError(t, filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == filepath.Join(root, "proc") {
			return filepath.SkipDir // the procfs mount point, made by startContainer
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		perm := uint32(info.Mode().Perm())
		switch {
		case st.Uid == cred.Uid:
			perm >>= 6
		case st.Gid == cred.Gid:
			perm >>= 3
		}
		need := uint32(4) // read
		if d.IsDir() {
			need |= 1 // and enter
		}
		rel, _ := filepath.Rel(root, p)
		assert.Equal(t, need, perm&need, "/%s (%s, owner %d:%d) for the image's user %d:%d", filepath.ToSlash(rel), info.Mode(), st.Uid, st.Gid, cred.Uid, cred.Gid)
		return nil
	}))
}

// TestImageServesAsItsOwnUser runs the image's entrypoint and command, with its
// environment and user, from its unpacked root filesystem: the health check answers (and
// the image's HEALTHCHECK command says so), a Telemetry API batch is accepted and its
// invocations reach remote write, the process runs as the image's non-root user, and the
// storage volume's directory is the user's (the gateway writes its replay state there).
func TestImageServesAsItsOwnUser(t *testing.T) {
	tarball := imageTarball(t)
	if os.Geteuid() != 0 {
		msg := "running the image needs root (chroot, a mount namespace, another uid), as CI has"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	root, cfg := unpackImage(t, tarball)
	c := cfg.Config
	require.NotEmpty(t, c.Entrypoint, "ENTRYPOINT")
	cred := cfg.credential(t)
	require.NotZero(t, cred.Uid, "the image runs as root")
	require.NotZero(t, cred.Gid, "the image runs as group root")

	// The ports moved as a user would move them: through the same variables, to free
	// loopback ports.
	free := freeAddrs(t, 4)
	httpAddr, grpcAddr, healthAddr, telemetryAddr := free[0], free[1], free[2], free[3]
	telemetryHost, telemetryPort, err := net.SplitHostPort(telemetryAddr)
	require.NoError(t, err)
	sink := rwsink.New()
	sinkURL, stopSink, err := harness.Serve(sink)
	require.NoError(t, err)
	t.Cleanup(func() { _ = stopSink() })
	env := append(append([]string{}, c.Env...),
		"OTELCOL_LAMBDA_HTTP_ENDPOINT="+httpAddr,
		"OTELCOL_LAMBDA_GRPC_ENDPOINT="+grpcAddr,
		"OTELCOL_LAMBDA_HEALTH_ENDPOINT="+healthAddr,
		"OTELCOL_LAMBDA_TELEMETRY_HOST="+telemetryHost,
		"OTELCOL_LAMBDA_TELEMETRY_PORT="+telemetryPort,
		"PROMETHEUS_REMOTE_WRITE_URL="+sinkURL+"/api/v1/write",
	)

	// Every file of the image is the user's to read (the overlays and the CA certificates
	// too, which this run does not open), every directory its to enter.
	assertReadableBy(t, root, cred)

	gw := startContainer(t, root, cfg, env, append(append([]string{}, c.Entrypoint...), c.Cmd...))
	require.Eventually(t, func() bool {
		select {
		case <-gw.done:
			return true // reported below
		default:
		}
		resp, err := http.Get("http://" + healthAddr + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 60*time.Second, 100*time.Millisecond, "the health check never answered 200")
	select {
	case <-gw.done:
		t.Fatalf("the gateway exited during start-up (%v):\n%s", gw.err, harness.Tail(gw.output.String(), 4096))
	default:
	}

	// The image's own HEALTHCHECK, run in the container as the runtime runs it.
	require.NotNil(t, c.Healthcheck, "HEALTHCHECK")
	require.Greater(t, len(c.Healthcheck.Test), 1)
	require.Equal(t, "CMD", c.Healthcheck.Test[0], "HEALTHCHECK in exec form")
	healthcheck := c.Healthcheck.Test[1:]
	code, out := runInImage(t, root, cfg, env, healthcheck)
	assert.Zero(t, code, "HEALTHCHECK %v while the gateway serves: %s", healthcheck, out)

	// Its own metrics, where the variables moved them.
	resp, err := http.Get("http://" + telemetryAddr + "/metrics")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the gateway's own metrics")

	// The gateway runs as the image's user, every one of its ids.
	uid, gid := strconv.Itoa(int(cred.Uid)), strconv.Itoa(int(cred.Gid))
	uids, gids := processIDs(t, gw.cmd.Process.Pid)
	assert.Equal(t, []string{uid, uid, uid, uid}, uids, "the gateway's uids (real, effective, saved, filesystem)")
	assert.Equal(t, []string{gid, gid, gid, gid}, gids, "the gateway's gids")

	// A batch as the extension sends it is accepted (200, every event counted) ...
	fn := lambdaFn{name: "e2e-image", region: "eu-west-1", arch: "amd64", memMiB: 128, sandbox: "e2e-image-1"}
	sandbox := newLambdaSandbox(t, fn, time.Now().Add(-time.Minute).Truncate(time.Millisecond))
	for i := range 3 {
		sandbox.invocation(invocationSpec{seq: byte(1 + i), requestID: fmt.Sprintf("image-%d", i), dur: 20 * time.Millisecond})
	}
	sandbox.post("http://" + httpAddr)
	// ... and its invocations reach remote write, from inside the container.
	require.Eventually(t, func() bool {
		return sink.Sum("faas_invocations_total", map[string]string{"faas_name": fn.name}) == 3
	}, 60*time.Second, 250*time.Millisecond, "faas_invocations_total of %s never reached 3 at the remote-write sink", fn.name)

	// The storage directory (the volume) is the user's, and the gateway wrote there.
	storage := cfg.env("OTELCOL_LAMBDA_STORAGE_DIR")
	require.NotEmpty(t, storage, "OTELCOL_LAMBDA_STORAGE_DIR in the image's environment")
	assert.Contains(t, c.Volumes, storage, "the storage directory is a VOLUME")
	entries, err := os.ReadDir(filepath.Join(root, storage))
	require.NoError(t, err)
	require.NotEmpty(t, entries, "file_storage wrote nothing in %s", storage)
	for _, e := range entries {
		info, err := e.Info()
		require.NoError(t, err)
		st := info.Sys().(*syscall.Stat_t)
		assert.Equal(t, [2]uint32{cred.Uid, cred.Gid}, [2]uint32{st.Uid, st.Gid}, "owner of %s/%s", storage, e.Name())
	}

	// SIGTERM, as docker stop sends it: a clean exit; then the health check fails.
	require.NoError(t, gw.stop(syscall.SIGTERM), harness.Tail(gw.output.String(), 4096))
	assert.Contains(t, gw.output.String(), "Shutdown complete.")
	code, _ = runInImage(t, root, cfg, env, healthcheck)
	assert.NotZero(t, code, "HEALTHCHECK %v with the gateway stopped", healthcheck)
}
