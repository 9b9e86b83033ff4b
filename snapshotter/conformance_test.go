//go:build linux

package snapshotter

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/core/snapshots/testsuite"
)

// TestConformance runs containerd's snapshotter suite, unchanged, against
// the snapshotter in-process.
//
// The suite is told the snapshotter is "overlayfs": it then expects, as of
// containerd's own overlay snapshotter, that renaming a directory that
// comes from a lower layer fails with EXDEV (overlayfs without
// redirect_dir, which berth leaves off so that layers stay plain
// directories that containerd's differ can export).
func TestConformance(t *testing.T) {
	needRoot(t)
	testsuite.SnapshotterSuite(t, "overlayfs", func(ctx context.Context, root string) (snapshots.Snapshotter, func() error, error) {
		sn, err := New(ctx, root)
		if err != nil {
			return nil, nil, err
		}
		return sn, sn.Close, nil
	})
}

// TestConformanceProxy runs the same suite through ttrpc: the snapshotter
// is served on a unix socket and driven through containerd's generated
// ttrpc client and proxy snapshotter, the way berth's containerd uses it.
func TestConformanceProxy(t *testing.T) {
	needRoot(t)
	testsuite.SnapshotterSuite(t, "overlayfs", func(ctx context.Context, root string) (snapshots.Snapshotter, func() error, error) {
		sn, err := New(ctx, root)
		if err != nil {
			return nil, nil, err
		}
		sockDir, err := os.MkdirTemp("/tmp", "bt")
		if err != nil {
			sn.Close()
			return nil, nil, err
		}
		client, stop, err := serveProxy(sn, filepath.Join(sockDir, "s.sock"))
		if err != nil {
			sn.Close()
			os.RemoveAll(sockDir)
			return nil, nil, err
		}
		return client, func() error {
			err := stop()
			if cerr := sn.Close(); err == nil {
				err = cerr
			}
			os.RemoveAll(sockDir)
			return err
		}, nil
	})
}
