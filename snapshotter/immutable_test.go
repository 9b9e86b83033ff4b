//go:build linux

package snapshotter

import (
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// treeSum hashes a directory tree: paths, modes, owners, sizes, contents.
func treeSum(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		fmt.Fprintf(h, "%s %v %d:%d %d\n", path[len(dir):], info.Mode(), st.Uid, st.Gid, info.Size())
		if info.Mode().IsRegular() {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(h, f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// TestLowerLayersImmutable changes, removes, renames and chmods files from
// committed layers through a mounted active snapshot: the container sees
// its changes, and the committed layers' directories are byte for byte as
// before.
func TestLowerLayersImmutable(t *testing.T) {
	needRoot(t)
	ctx := testContext(t)
	dir := shortTempDir(t)
	sn := newTestSnapshotter(t, filepath.Join(dir, "root"))

	var lower1, lower2 string
	commitLayer(t, ctx, sn, "l1", "", func(upper string) {
		lower1 = upper
		writeFile(t, filepath.Join(upper, "etc/config"), "original")
		writeFile(t, filepath.Join(upper, "bin/tool"), "#!/bin/sh\n")
		writeFile(t, filepath.Join(upper, "data/remove-me"), "x")
	})
	commitLayer(t, ctx, sn, "l2", "l1", func(upper string) {
		lower2 = upper
		writeFile(t, filepath.Join(upper, "etc/second"), "second")
	})
	before1, before2 := treeSum(t, lower1), treeSum(t, lower2)

	mounts, err := sn.Prepare(ctx, "container", "l2")
	if err != nil {
		t.Fatal(err)
	}
	target := mountTemp(t, mounts, dir)
	f, err := os.OpenFile(filepath.Join(target, "etc/config"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("changed by the container"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(target, "etc/second"), "changed too")
	if err := os.Chmod(filepath.Join(target, "bin/tool"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(target, "data/remove-me")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(target, "etc/second"), filepath.Join(target, "etc/renamed")); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(target, "etc/config")); got != "changed by the container" {
		t.Fatalf("container sees %q", got)
	}
	if err := Unmount(target); err != nil {
		t.Fatal(err)
	}

	if after := treeSum(t, lower1); after != before1 {
		t.Fatal("committed layer l1 changed")
	}
	if after := treeSum(t, lower2); after != before2 {
		t.Fatal("committed layer l2 changed")
	}
	if got := readFile(t, filepath.Join(lower1, "etc/config")); got != "original" {
		t.Fatalf("l1 etc/config is %q", got)
	}
}
