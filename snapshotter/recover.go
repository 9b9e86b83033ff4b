//go:build linux

package snapshotter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/core/snapshots/storage"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/docker/go-units"
	"github.com/moby/sys/mountinfo"
)

// Recover makes metadata and directories agree again after a crash. It runs
// in one write transaction, so nothing else changes meanwhile:
//
//   - a directory under snapshots/ that no snapshot owns (a temporary "new-"
//     directory, or one whose snapshot's creation was not committed or whose
//     removal was) is removed, unless something is mounted on or under it:
//     the snapshotter never unmounts what it did not mount, so such a
//     directory is left and logged;
//   - a snapshot whose directory is missing is removed from the metadata,
//     together with the snapshots built on it (they cannot be mounted
//     without it).
//
// New runs it before the snapshotter is used.
func (s *Snapshotter) Recover(ctx context.Context) error {
	var orphans []string
	if err := s.ms.WithTransaction(ctx, true, func(ctx context.Context) (err error) {
		if err := s.dropMissing(ctx); err != nil {
			return err
		}
		orphans, err = s.orphanDirs(ctx)
		return err
	}); err != nil {
		return err
	}
	for _, d := range orphans {
		log.G(ctx).WithField("path", filepath.Join(s.snapshotsDir(), d)).Info("removing snapshot directory without metadata")
		s.removeDir(ctx, d)
	}
	return nil
}

// orphanDirs lists the entries of snapshots/ that no snapshot owns and that
// have nothing mounted on or under them. Call it inside a transaction.
func (s *Snapshotter) orphanDirs(ctx context.Context) ([]string, error) {
	ids, err := idMap(ctx)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(s.snapshotsDir())
	if err != nil {
		return nil, err
	}
	var busy []*mountinfo.Info
	var orphans []string
	for _, e := range entries {
		if _, ok := ids[e.Name()]; ok {
			continue
		}
		if busy == nil {
			busy, err = mountinfo.GetMounts(mountinfo.PrefixFilter(s.snapshotsDir()))
			if err != nil {
				return nil, err
			}
			if busy == nil {
				busy = []*mountinfo.Info{}
			}
		}
		dir := filepath.Join(s.snapshotsDir(), e.Name())
		if mounted(busy, dir) {
			log.G(ctx).WithField("path", dir).Warn("snapshot directory without metadata has a mount on it; leaving it")
			continue
		}
		orphans = append(orphans, e.Name())
	}
	return orphans, nil
}

func mounted(mounts []*mountinfo.Info, dir string) bool {
	for _, m := range mounts {
		if m.Mountpoint == dir || strings.HasPrefix(m.Mountpoint, dir+"/") {
			return true
		}
	}
	return false
}

// dropMissing removes from the metadata every snapshot whose directory is
// missing, and its descendants, children first.
func (s *Snapshotter) dropMissing(ctx context.Context) error {
	ids, err := idMap(ctx)
	if err != nil {
		return err
	}
	broken := map[string]bool{}
	for id, name := range ids {
		if _, err := os.Stat(s.upperPath(id)); os.IsNotExist(err) {
			broken[name] = true
		} else if err != nil {
			return err
		}
	}
	if len(broken) == 0 {
		return nil
	}
	parents := map[string]string{}
	if err := storage.WalkInfo(ctx, func(_ context.Context, info snapshots.Info) error {
		parents[info.Name] = info.Parent
		return nil
	}); err != nil {
		return err
	}
	// A snapshot is dropped when it or any ancestor is broken.
	var isDropped func(name string) bool
	isDropped = func(name string) bool {
		if name == "" {
			return false
		}
		if broken[name] {
			return true
		}
		if isDropped(parents[name]) {
			broken[name] = true
			return true
		}
		return false
	}
	children := map[string]int{}
	for name := range parents {
		if isDropped(name) {
			children[parents[name]]++
		}
	}
	for len(broken) > 0 {
		progress := false
		for name := range broken {
			if children[name] > 0 {
				continue
			}
			log.G(ctx).WithField("snapshot", name).Warn("removing snapshot metadata: its directory (or an ancestor's) is missing")
			if _, _, err := storage.Remove(ctx, name); err != nil {
				return fmt.Errorf("remove broken snapshot %q: %w", name, err)
			}
			delete(broken, name)
			children[parents[name]]--
			progress = true
		}
		if !progress {
			return fmt.Errorf("cannot order removal of broken snapshots")
		}
	}
	return nil
}

// idMap maps snapshot ids to names; a new store has none.
func idMap(ctx context.Context) (map[string]string, error) {
	ids, err := storage.IDMap(ctx)
	if errdefs.IsNotFound(err) {
		return map[string]string{}, nil
	}
	return ids, err
}

func parseSize(v string) (uint64, error) {
	n, err := units.RAMInBytes(v)
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, fmt.Errorf("negative size")
	}
	return uint64(n), nil
}
