package mountat

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestOverlayRelativeLowerdirs mounts an overlay whose lowerdirs are
// relative to dir and checks that the merged view has both layers, and that
// the caller's working directory did not move.
func TestOverlayRelativeLowerdirs(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("mounting needs root")
	}
	dir := t.TempDir()
	for _, d := range []string{"l1", "l2", "merged"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "l1", "a"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "l2", "b"), []byte("b"), 0o644); err != nil {
		t.Fatal(err)
	}
	cwd, _ := os.Getwd()
	merged := filepath.Join(dir, "merged")
	if err := Mount(dir, "overlay", merged, "overlay", unix.MS_RDONLY, "lowerdir=l1:l2"); err != nil {
		t.Fatalf("overlay with relative lowerdirs: %v", err)
	}
	defer unix.Unmount(merged, unix.MNT_DETACH)
	for _, f := range []string{"a", "b"} {
		if b, err := os.ReadFile(filepath.Join(merged, f)); err != nil || string(b) != f {
			t.Errorf("%s in the merged view: %q, %v", f, b, err)
		}
	}
	if now, _ := os.Getwd(); now != cwd {
		t.Errorf("the caller's working directory moved from %s to %s", cwd, now)
	}
	if err := Mount(dir, "overlay", merged, "overlay", unix.MS_RDONLY, "lowerdir=nosuch:l2"); err == nil {
		t.Error("an overlay over a missing lowerdir mounted")
	}
}
