//go:build linux

package snapshotter

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestMountAllViews: MountAll mounts views read-only, a one-layer view as
// a bind mount and a deeper one as an overlay without upperdir.
func TestMountAllViews(t *testing.T) {
	needRoot(t)
	ctx := testContext(t)
	dir := shortTempDir(t)
	sn := newTestSnapshotter(t, filepath.Join(dir, "root"))
	commitLayer(t, ctx, sn, "l1", "", func(upper string) { writeFile(t, filepath.Join(upper, "one"), "1") })
	commitLayer(t, ctx, sn, "l2", "l1", func(upper string) { writeFile(t, filepath.Join(upper, "two"), "2") })

	for parent, want := range map[string][]string{"l1": {"one"}, "l2": {"one", "two"}} {
		mounts, err := sn.View(ctx, "view-"+parent, parent)
		if err != nil {
			t.Fatal(err)
		}
		target := mountTemp(t, mounts, dir)
		for _, f := range want {
			if _, err := os.Stat(filepath.Join(target, f)); err != nil {
				t.Fatalf("view of %s (%s mount): %v", parent, mounts[0].Type, err)
			}
		}
		err = os.WriteFile(filepath.Join(target, "w"), nil, 0o644)
		if !errors.Is(err, syscall.EROFS) {
			t.Fatalf("write into view of %s (%s mount): %v, want EROFS", parent, mounts[0].Type, err)
		}
		if err := Unmount(target); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRelativeLowerdirs(t *testing.T) {
	dir, opts := relativeLowerdirs([]string{"index=off", "lowerdir=/r/snapshots/12/fs:/r/snapshots/3/fs:/r/snapshots/100/fs", "upperdir=/r/snapshots/13/fs"})
	if dir != "/r/snapshots" {
		t.Fatalf("common dir %q", dir)
	}
	if opts[1] != "lowerdir=12/fs:3/fs:100/fs" || opts[2] != "upperdir=/r/snapshots/13/fs" || opts[0] != "index=off" {
		t.Fatalf("options %q", opts)
	}
	if dir, _ := relativeLowerdirs([]string{"lowerdir=/a/fs:/b/fs"}); dir != "" {
		t.Fatalf("no common dir below / expected, got %q", dir)
	}
}
