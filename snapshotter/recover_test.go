//go:build linux

package snapshotter

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

func names(t *testing.T, sn snapshots.Snapshotter) []string {
	t.Helper()
	var out []string
	if err := sn.Walk(testContext(t), func(_ context.Context, info snapshots.Info) error {
		out = append(out, info.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// TestRecoverMissingDirectory: a snapshot whose directory vanished is
// dropped from the metadata at the next start, with the snapshots built on
// it; unrelated snapshots stay.
func TestRecoverMissingDirectory(t *testing.T) {
	needRoot(t)
	ctx := testContext(t)
	root := filepath.Join(shortTempDir(t), "root")
	sn, err := New(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	var lost string
	commitLayer(t, ctx, sn, "base", "", nil)
	commitLayer(t, ctx, sn, "lost", "base", func(upper string) { lost = filepath.Dir(upper) })
	if _, err := sn.Prepare(ctx, "on-lost", "lost"); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Prepare(ctx, "on-base", "base"); err != nil {
		t.Fatal(err)
	}
	if err := sn.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(lost); err != nil {
		t.Fatal(err)
	}

	sn = newTestSnapshotter(t, root)
	if got := strings.Join(names(t, sn), " "); got != "base on-base" {
		t.Fatalf("after recovery: %s, want base on-base", got)
	}
}

// TestRecoverLeavesMounted: a directory without metadata is removed at
// start, unless something is mounted on it: the snapshotter unmounts
// nothing it did not mount. Once unmounted, Cleanup removes it.
func TestRecoverLeavesMounted(t *testing.T) {
	needRoot(t)
	ctx := testContext(t)
	dir := shortTempDir(t)
	root := filepath.Join(dir, "root")
	sn, err := New(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	if err := sn.Close(); err != nil {
		t.Fatal(err)
	}
	stray := filepath.Join(root, "snapshots", "new-stray")
	busy := filepath.Join(root, "snapshots", "999")
	writeFile(t, filepath.Join(stray, "fs", "f"), "x")
	writeFile(t, filepath.Join(busy, "fs", "f"), "x")
	src := filepath.Join(dir, "src")
	writeFile(t, filepath.Join(src, "keep"), "someone else's")
	if err := unix.Mount(src, filepath.Join(busy, "fs"), "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(filepath.Join(busy, "fs"), unix.MNT_DETACH) })

	sn = newTestSnapshotter(t, root)
	if _, err := os.Stat(stray); !os.IsNotExist(err) {
		t.Fatalf("stray directory not removed: %v", err)
	}
	if got := readFile(t, filepath.Join(busy, "fs", "keep")); got != "someone else's" {
		t.Fatalf("mount on a stray directory was touched: %q", got)
	}
	if got := readFile(t, filepath.Join(src, "keep")); got != "someone else's" {
		t.Fatalf("mounted content was touched: %q", got)
	}

	if err := unix.Unmount(filepath.Join(busy, "fs"), 0); err != nil {
		t.Fatal(err)
	}
	if err := sn.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(busy); !os.IsNotExist(err) {
		t.Fatalf("unmounted stray directory not cleaned up: %v", err)
	}
}

// TestRootInUse: a second snapshotter on a root in use fails at once
// instead of waiting for the metadata lock; after Close the root is free.
func TestRootInUse(t *testing.T) {
	needRoot(t)
	ctx := testContext(t)
	root := filepath.Join(shortTempDir(t), "root")
	first, err := New(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(ctx, root); !errdefs.IsUnavailable(err) {
		t.Fatalf("second snapshotter on the same root: %v, want Unavailable", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second, err := New(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	_ = second.Close()
}
