package shim

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	tw "github.com/berthproject/berth/shim/internal/taskwire"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
}

func isMountPoint(t *testing.T, p string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == p {
			return true
		}
	}
	return false
}

// An image with many layers gives overlay options longer than a page; the
// shim mounts it with relative lowerdirs.
func TestMountOverlayManyLayers(t *testing.T) {
	needRoot(t)
	dir, err := os.MkdirTemp("/tmp", "bm")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	var lowers []string
	for i := range 80 {
		// Like a snapshotter's layout: a long common root, short layer dirs.
		l := filepath.Join(dir, strings.Repeat("r", 60), "snapshots", fmt.Sprint(i), "fs")
		if err := os.MkdirAll(l, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(l, fmt.Sprintf("f%d", i)), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		lowers = append([]string{l}, lowers...) // topmost first
	}
	upper, work, target := filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "rootfs")
	for _, d := range []string{upper, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	m := &tw.Mount{Type: "overlay", Source: "overlay", Options: []string{
		"index=off", "workdir=" + work, "upperdir=" + upper, "lowerdir=" + strings.Join(lowers, ":"),
	}}
	if n := len(strings.Join(m.Options, ",")); n < os.Getpagesize() {
		t.Fatalf("options only %d bytes long", n)
	}
	if err := mountRootfs([]*tw.Mount{m}, target); err != nil {
		t.Fatal(err)
	}
	defer unmountAll(target)
	for _, f := range []string{"f0", "f79"} {
		if _, err := os.Stat(filepath.Join(target, f)); err != nil {
			t.Fatalf("layer file %s: %v", f, err)
		}
	}
	// The shim's own working directory did not change.
	if wd, _ := os.Getwd(); strings.HasPrefix(wd, dir) {
		t.Fatalf("working directory changed to %s", wd)
	}
	unmountAll(target)
	if isMountPoint(t, target) {
		t.Fatal("still mounted")
	}
	unmountAll(target) // idempotent
}

func TestMountBindReadOnly(t *testing.T) {
	needRoot(t)
	src, target := t.TempDir(), filepath.Join(t.TempDir(), "rootfs")
	if err := os.WriteFile(filepath.Join(src, "hello"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := &tw.Mount{Type: "bind", Source: src, Options: []string{"rbind", "ro"}}
	if err := mountRootfs([]*tw.Mount{m}, target); err != nil {
		t.Fatal(err)
	}
	defer unmountAll(target)
	if b, err := os.ReadFile(filepath.Join(target, "hello")); err != nil || string(b) != "hi" {
		t.Fatalf("read through bind: %q %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(target, "new"), nil, 0o644); !os.IsPermission(err) && err != unix.EROFS && !strings.Contains(fmt.Sprint(err), "read-only") {
		t.Fatalf("write to a read-only bind: %v", err)
	}
	unmountAll(target)
	if isMountPoint(t, target) {
		t.Fatal("still mounted")
	}
}
