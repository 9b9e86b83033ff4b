//go:build linux

package snapshotter

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/mount"
)

// TestDeepChain builds a 200-layer chain and mounts an active snapshot on
// layer 130 and on layer 200, both with containerd's mount package (what
// containerd and its shims run) and with MountAll (what berth's shim runs).
// The root path is long on purpose: the absolute lowerdirs are far more
// than a page, so both mounters must go through relative lowerdirs.
func TestDeepChain(t *testing.T) {
	needRoot(t)
	ctx := testContext(t)
	dir := shortTempDir(t)
	root := filepath.Join(dir, strings.Repeat("a-long-snapshotter-root-", 4))
	sn := newTestSnapshotter(t, root)

	parent := ""
	for i := 1; i <= 200; i++ {
		name := fmt.Sprintf("layer-%d", i)
		commitLayer(t, ctx, sn, name, parent, func(upper string) {
			writeFile(t, filepath.Join(upper, "layers", name), name)
			writeFile(t, filepath.Join(upper, "top"), name)
			if i == 1 {
				writeFile(t, filepath.Join(upper, "bottom"), "bottom")
			}
		})
		parent = name
	}

	for _, depth := range []int{130, 200} {
		t.Run(fmt.Sprint(depth), func(t *testing.T) {
			key := fmt.Sprintf("active-%d", depth)
			mounts, err := sn.Prepare(ctx, key, fmt.Sprintf("layer-%d", depth))
			if err != nil {
				t.Fatal(err)
			}
			if n := len(strings.Join(mounts[0].Options, ",")); n <= 4096 {
				t.Fatalf("options are %d bytes: the test needs more than a page", n)
			}
			check := func(target string) {
				t.Helper()
				if got := readFile(t, filepath.Join(target, "bottom")); got != "bottom" {
					t.Fatalf("bottom layer file: %q", got)
				}
				if got, want := readFile(t, filepath.Join(target, "top")), fmt.Sprintf("layer-%d", depth); got != want {
					t.Fatalf("top file %q, want %q", got, want)
				}
				entries, err := os.ReadDir(filepath.Join(target, "layers"))
				if err != nil {
					t.Fatal(err)
				}
				if len(entries) != depth {
					t.Fatalf("%d layer files visible, want %d", len(entries), depth)
				}
				writeFile(t, filepath.Join(target, "new"), "rw")
			}

			withContainerd, err := os.MkdirTemp(dir, "mnt")
			if err != nil {
				t.Fatal(err)
			}
			if err := mount.All(mounts, withContainerd); err != nil {
				t.Fatalf("containerd mount.All: %v", err)
			}
			check(withContainerd)
			if err := mount.UnmountAll(withContainerd, 0); err != nil {
				t.Fatal(err)
			}

			withBerth := mountTemp(t, mounts, dir)
			check(withBerth)
			if err := Unmount(withBerth); err != nil {
				t.Fatal(err)
			}
			if err := sn.Remove(ctx, key); err != nil {
				t.Fatal(err)
			}
		})
	}
	if m := mountsUnder(t, dir); len(m) != 0 {
		t.Fatalf("mounts left: %v", m)
	}
}
