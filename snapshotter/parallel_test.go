//go:build linux

package snapshotter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/containerd/containerd/v2/core/snapshots"
)

// TestParallel prepares, mounts, writes, unmounts and removes 20 snapshots
// at once, on one committed parent: each sees its own file and the
// parent's, and afterwards nothing is left mounted or on disk.
func TestParallel(t *testing.T) {
	needRoot(t)
	ctx := testContext(t)
	dir := shortTempDir(t)
	root := filepath.Join(dir, "root")
	sn := newTestSnapshotter(t, root)
	commitLayer(t, ctx, sn, "base", "", func(upper string) {
		writeFile(t, filepath.Join(upper, "shared"), "base")
	})
	mnts := filepath.Join(dir, "mnt")

	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if err := useSnapshot(ctx, sn, fmt.Sprintf("c%d", i), "base", filepath.Join(mnts, fmt.Sprint(i))); err != nil {
				errs <- fmt.Errorf("snapshot %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if m := mountsUnder(t, dir); len(m) != 0 {
		t.Fatalf("mounts left: %v", m)
	}
	var names []string
	if err := sn.Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		names = append(names, info.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0] != "base" {
		t.Fatalf("snapshots left: %v", names)
	}
	entries, err := os.ReadDir(filepath.Join(root, "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("snapshot directories left: %d", len(entries))
	}
	if got, err := os.ReadFile(filepath.Join(root, "snapshots", entries[0].Name(), "fs", "shared")); err != nil || string(got) != "base" {
		t.Fatalf("base layer: %q, %v", got, err)
	}
}

func useSnapshot(ctx context.Context, sn snapshots.Snapshotter, key, parent, target string) error {
	mounts, err := sn.Prepare(ctx, key, parent)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	if err := MountAll(mounts, target); err != nil {
		return err
	}
	werr := os.WriteFile(filepath.Join(target, "own"), []byte(key), 0o644)
	if werr == nil {
		werr = os.WriteFile(filepath.Join(target, "shared"), []byte(key), 0o644) // copy-up
	}
	var got []byte
	if werr == nil {
		got, werr = os.ReadFile(filepath.Join(target, "shared"))
	}
	if err := Unmount(target); err != nil {
		return err
	}
	if werr != nil {
		return werr
	}
	if string(got) != key {
		return fmt.Errorf("read %q from own copy, want %q", got, key)
	}
	return sn.Remove(ctx, key)
}
