//go:build linux

package snapshotter

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
)

// containerdBin is berth's containerd (make containerd), in $BERTH_LIBEXEC
// as in the harness.
func containerdBin() string {
	dir := os.Getenv("BERTH_LIBEXEC")
	if dir == "" {
		dir = "/usr/local/lib/berth"
	}
	return filepath.Join(dir, "containerd")
}

// TestThroughContainerd points the snapshot plugin "berth" of berth's
// containerd at the real berth-snapshotter in a private containerd, as
// berthd does, and uses it through
// containerd's client: prepare, mount, write, commit, usage, and the size
// label reaching the snapshotter (refused here, where the temp dir's
// filesystem has no project quotas).
func TestThroughContainerd(t *testing.T) {
	needRoot(t)
	containerdBin := containerdBin()
	if _, err := os.Stat(containerdBin); err != nil {
		t.Skipf("needs %s (make deps)", containerdBin)
	}
	dir := shortTempDir(t)
	snapSock := filepath.Join(dir, "snap.sock")
	p := startProc(t, filepath.Join(dir, "snap"), snapSock)
	defer p.stop(t)

	ctrSock := filepath.Join(dir, "c.sock")
	config := fmt.Sprintf(`version = 3
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime"]
[grpc]
  address = %q
[plugins."io.containerd.snapshotter.v1.berth"]
  address = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), ctrSock, snapSock)
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(containerdBin, "--config", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
	}()

	ctx := namespaces.WithNamespace(context.Background(), "berth-test")
	var c *client.Client
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err = client.New(ctrSock, client.WithTimeout(time.Second))
		if err == nil {
			if _, err = c.Version(ctx); err == nil {
				break
			}
			c.Close()
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "containerd.log"))
			t.Fatalf("containerd not ready: %v\n%s", err, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer c.Close()
	// A lease keeps containerd's garbage collector off the snapshots.
	ctx, done, err := c.WithLease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = done(context.Background()) }()
	sn := c.SnapshotService("berth")

	mounts, err := sn.Prepare(ctx, "base-active", "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(mounts[0].Source, filepath.Join(dir, "snap", "snapshots")) {
		t.Fatalf("mount %+v is not the berth snapshotter's", mounts[0])
	}
	writeFile(t, filepath.Join(mounts[0].Source, "hello"), "from the base")
	if err := sn.Commit(ctx, "base", "base-active"); err != nil {
		t.Fatal(err)
	}
	mounts, err = sn.Prepare(ctx, "container", "base")
	if err != nil {
		t.Fatal(err)
	}
	target := mountTemp(t, mounts, dir)
	if got := readFile(t, filepath.Join(target, "hello")); got != "from the base" {
		t.Fatalf("read %q", got)
	}
	writeFile(t, filepath.Join(target, "new"), strings.Repeat("n", 8192))
	if err := Unmount(target); err != nil {
		t.Fatal(err)
	}
	u, err := sn.Usage(ctx, "container")
	if err != nil {
		t.Fatal(err)
	}
	if u.Size < 8192 {
		t.Fatalf("usage %+v does not count the 8 KiB written", u)
	}

	_, err = sn.Prepare(ctx, "limited", "base", snapshots.WithLabels(map[string]string{LabelSize: "10M"}))
	if !errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), "quota") {
		t.Fatalf("size label through containerd: %v, want NotImplemented about quotas", err)
	}
	for _, key := range []string{"container", "base"} {
		if err := sn.Remove(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
}
