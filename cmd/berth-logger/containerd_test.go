package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/berthproject/berth/pkg/attach"
	"github.com/berthproject/berth/pkg/containerio"
	"github.com/berthproject/berth/pkg/logfile"
)

const libexec = "/usr/local/lib/berth"

// startContainerd runs a containerd of its own under dir and returns a
// client; it is stopped by PID at cleanup.
func startContainerd(t *testing.T, dir string) *containerd.Client {
	t.Helper()
	sock := filepath.Join(dir, "c.sock")
	cfg := filepath.Join(dir, "config.toml")
	disabled := []string{
		"io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime",
		"io.containerd.podsandbox.controller.v1.podsandbox", "io.containerd.sandbox.controller.v1.shim",
		"io.containerd.grpc.v1.sandbox-controllers", "io.containerd.nri.v1.nri",
		"io.containerd.internal.v1.opt", "io.containerd.monitor.container.v1.restart",
	}
	config := fmt.Sprintf(`version = 3
root = %q
state = %q
disabled_plugins = ["%s"]
[grpc]
  address = %q
[plugins."io.containerd.shim.v1.manager"]
  socket_dir = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), strings.Join(disabled, `", "`), sock, filepath.Join(dir, "s"))
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(libexec, "containerd"), "--config", cfg)
	cmd.Env = []string{"PATH=" + libexec + ":/usr/bin:/bin"}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "containerd.log"))
			t.Logf("containerd log:\n%s", b)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("containerd did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	client, err := containerd.New(sock, containerd.WithTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

// busyboxRootfs makes a root filesystem with Debian's static busybox.
func busyboxRootfs(t *testing.T, dir string) string {
	t.Helper()
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "proc", "dev", "sys", "tmp"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skip("no /bin/busybox (busybox-static)")
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", "sh")); err != nil {
		t.Fatal(err)
	}
	return rootfs
}

// A real containerd with its runc shim starts berth-logger from the URI
// berthd gives it: the container's output reaches the log file and an
// attach client, and the logger finishes when the task is deleted.
func TestLoggerUnderContainerdRuncShim(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := os.Stat(filepath.Join(libexec, "containerd-shim-runc-v2")); err != nil {
		t.Skip("containerd is not installed in " + libexec + " (make deps)")
	}
	dir, err := os.MkdirTemp("/tmp", "btl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	client := startContainerd(t, dir)
	rootfs := busyboxRootfs(t, dir)
	ctx := namespaces.WithNamespace(context.Background(), "berthtest")
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	o := containerio.Options{
		LogPath:      filepath.Join(dir, "c1", "c1-json.log"),
		MaxSize:      containerio.DefaultMaxSize,
		MaxFiles:     containerio.DefaultMaxFiles,
		AttachSocket: filepath.Join(dir, "c1.sock"),
	}
	u, err := url.Parse(containerio.LoggerURI(loggerBin, o))
	if err != nil {
		t.Fatal(err)
	}
	ctr, err := client.NewContainer(ctx, "c1",
		containerd.WithRuntime("io.containerd.runc.v2", nil),
		containerd.WithNewSpec(oci.WithRootFSPath(rootfs),
			oci.WithProcessArgs("/bin/sh", "-c", "echo hello; echo oops >&2; printf 'no newline'")))
	if err != nil {
		t.Fatal(err)
	}
	defer ctr.Delete(context.WithoutCancel(ctx))
	task, err := ctr.NewTask(ctx, cio.LogURI(u))
	if err != nil {
		t.Fatal(err)
	}
	defer task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
	// The logger is ready when the task exists: attach before start.
	ac, err := attach.Dial(ctx, o.AttachSocket)
	if err != nil {
		t.Fatalf("attach to a created task: %v", err)
	}
	defer ac.Close()
	exitCh, err := task.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	st := <-exitCh
	if code, _, err := st.Result(); err != nil || code != 0 {
		t.Fatalf("exit %d, %v", code, err)
	}
	// Deleting the task closes the logger's pipes (and signals it).
	if _, err := task.Delete(ctx); err != nil {
		t.Fatal(err)
	}

	var out, errs strings.Builder
	for {
		s, p, err := ac.ReadFrame()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("attach: %v", err)
		}
		map[byte]*strings.Builder{attach.Stdout: &out, attach.Stderr: &errs}[s].Write(p)
	}
	if out.String() != "hello\nno newline" || errs.String() != "oops\n" {
		t.Fatalf("attach got stdout %q stderr %q", out.String(), errs.String())
	}
	// The logger closes the log after the attach clients' EOF... or
	// before: Sink.Close closes the log first, so it is final now.
	if !logfile.IsClosed(o.LogPath) {
		t.Fatal("log not closed after the task was deleted")
	}
	lo, le := entries(t, o.LogPath)
	if lo != "hello\nno newline" || le != "oops\n" {
		t.Fatalf("log stdout %q stderr %q", lo, le)
	}
}
