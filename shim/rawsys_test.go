package shim

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestRawFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	// Larger than the first read buffer, so reading grows it.
	want := bytes.Repeat([]byte("0123456789abcdef"), 1000)
	if err := rawWriteFile(path, want, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := rawReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes back, wrote %d", len(got), len(want))
	}
	// Rewriting truncates.
	if err := rawWriteFile(path, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "short" {
		t.Fatalf("after rewrite: %q, %v", got, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode: %v, %v", fi, err)
	}
	if _, err := rawReadFile(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v, want ENOENT", err)
	}
	// A /proc file (size 0 in stat) is read whole.
	b, err := rawReadFile("/proc/self/status")
	if err != nil || !bytes.Contains(b, []byte("Threads:")) {
		t.Fatalf("/proc/self/status: %v\n%s", err, b)
	}
}

func TestRawMount(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	target := filepath.Join(dir, "m")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := rawMount("tmpfs", target, "tmpfs", unix.MS_NOSUID, "size=64k,mode=0700"); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(target, unix.MNT_DETACH)
	var st unix.Statfs_t
	if err := unix.Statfs(target, &st); err != nil || st.Type != unix.TMPFS_MAGIC {
		t.Fatalf("statfs %s: type %x, %v; want tmpfs", target, st.Type, err)
	}
	if fi, err := os.Stat(target); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("mount options not applied: %v, %v", fi, err)
	}
	if err := rawMount("none", filepath.Join(dir, "missing"), "tmpfs", 0, ""); !errors.Is(err, unix.ENOENT) {
		t.Fatalf("mount on a missing dir: %v, want ENOENT", err)
	}
}
