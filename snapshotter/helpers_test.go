//go:build linux

package snapshotter

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/moby/sys/mountinfo"
)

func needRoot(t testing.TB) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
}

func testContext(t testing.TB) context.Context {
	return namespaces.WithNamespace(t.Context(), "berth-test")
}

// shortTempDir is a temp dir under /tmp with a short name, for sockets.
func shortTempDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("/tmp", "bt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

func newTestSnapshotter(t testing.TB, root string) *Snapshotter {
	t.Helper()
	sn, err := New(testContext(t), root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sn.Close() })
	return sn
}

// serveProxy serves sn on a unix socket and returns containerd's proxy
// snapshotter over containerd's ttrpc client for it, the path berth's
// containerd takes (dialProxy).
func serveProxy(sn snapshots.Snapshotter, sock string) (snapshots.Snapshotter, func() error, error) {
	l, err := Listen(sock)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, sn, l) }()
	client, conn, err := dialProxy(sock)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	stop := func() error {
		conn.Close()
		cancel()
		return <-done
	}
	return client, stop, nil
}

// upperDir is where an active snapshot's own changes go, from its mounts.
func upperDir(t testing.TB, mounts []mount.Mount) string {
	t.Helper()
	if len(mounts) != 1 {
		t.Fatalf("want one mount, got %v", mounts)
	}
	m := mounts[0]
	if m.Type == "bind" {
		return m.Source
	}
	for _, o := range m.Options {
		if v, ok := strings.CutPrefix(o, "upperdir="); ok {
			return v
		}
	}
	t.Fatalf("no upperdir in %v", m.Options)
	return ""
}

func writeFile(t testing.TB, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// mountsUnder lists the mount points at or below dir.
func mountsUnder(t testing.TB, dir string) []string {
	t.Helper()
	ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.Mountpoint)
	}
	return out
}

// mountTemp mounts mounts on a new directory under dir and unmounts it at
// the end of the test.
func mountTemp(t testing.TB, mounts []mount.Mount, dir string) string {
	t.Helper()
	target, err := os.MkdirTemp(dir, "mnt")
	if err != nil {
		t.Fatal(err)
	}
	if err := MountAll(mounts, target); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Unmount(target) })
	return target
}

// commitLayer prepares key on parent, lets fill write into its upper
// directory, and commits it as name.
func commitLayer(t testing.TB, ctx context.Context, sn snapshots.Snapshotter, name, parent string, fill func(upper string)) {
	t.Helper()
	key := name + "-active"
	mounts, err := sn.Prepare(ctx, key, parent)
	if err != nil {
		t.Fatal(err)
	}
	if fill != nil {
		fill(upperDir(t, mounts))
	}
	if err := sn.Commit(ctx, name, key); err != nil {
		t.Fatal(err)
	}
}
