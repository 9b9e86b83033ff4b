//go:build linux

// Package snapshotter is berth's overlayfs snapshotter. It implements
// containerd's snapshots.Snapshotter and is served to containerd as the proxy
// plugin "berth" by cmd/berth-snapshotter.
//
// On-disk layout under the root:
//
//	metadata.db              bbolt metadata (containerd's core/snapshots/storage)
//	snapshots/<id>/fs        the snapshot's content (overlay upperdir / lowerdir)
//	snapshots/<id>/work      overlay workdir (active snapshots only)
//	snapshots/new-*          directories being created (temporary names)
//
// <id> is the short numeric id the metadata store assigns, which keeps the
// overlay mount options of deep images short.
package snapshotter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/core/snapshots/storage"
	"github.com/containerd/continuity/fs"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
)

// LabelSize is the snapshot label that limits the size of an active
// snapshot's writable layer. Its value is a size in Docker's notation
// ("10M", "1.5g", "1048576"; binary multiples, as `--storage-opt size=`).
// It is honoured on Prepare only, enforced with project quotas, and Prepare
// fails with errdefs.ErrNotImplemented when the backing filesystem of the
// root cannot enforce it. The label carries containerd's
// "containerd.io/snapshot/" prefix so that containerd passes it through to
// a proxy snapshotter.
const LabelSize = "containerd.io/snapshot/berth.size"

// Opt configures a Snapshotter.
type Opt func(*config) error

type config struct {
	mountOptions []string
}

// WithMountOptions adds options to every overlay mount the snapshotter returns.
func WithMountOptions(options ...string) Opt {
	return func(c *config) error {
		c.mountOptions = append(c.mountOptions, options...)
		return nil
	}
}

// Snapshotter is an overlayfs snapshotter. Create it with New.
type Snapshotter struct {
	root         string
	ms           *storage.MetaStore
	lock         *os.File // flock'ed while open
	mountOptions []string

	// quota is nil when the backing filesystem cannot enforce project
	// quotas; quotaErr then says why.
	quota    *projectQuota
	quotaErr error

	closeOnce sync.Once
	closeErr  error
}

var _ snapshots.Snapshotter = (*Snapshotter)(nil)
var _ snapshots.Cleaner = (*Snapshotter)(nil)

// New opens (or creates) a snapshotter rooted at root. Before it returns it
// runs the recovery pass (see Recover), so a snapshotter that was killed at
// any point is consistent again.
func New(ctx context.Context, root string, opts ...Opt) (*Snapshotter, error) {
	var c config
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(root, "snapshots"), 0o700); err != nil {
		return nil, err
	}
	dtype, err := fs.SupportsDType(root)
	if err != nil {
		return nil, err
	}
	if !dtype {
		return nil, fmt.Errorf("%s does not support d_type (an XFS must be made with ftype=1): %w", root, errdefs.ErrNotImplemented)
	}
	// One process per root: bbolt would otherwise wait for its file lock
	// forever. The kernel drops the lock when the process dies.
	lock, err := os.OpenFile(filepath.Join(root, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = lock.Close()
		return nil, fmt.Errorf("snapshotter root %s is in use by another process: %w", root, errdefs.ErrUnavailable)
	}
	ms, err := storage.NewMetaStore(filepath.Join(root, "metadata.db"))
	if err != nil {
		_ = lock.Close()
		return nil, err
	}
	s := &Snapshotter{root: root, ms: ms, lock: lock, mountOptions: c.mountOptions}
	if !hasOption(s.mountOptions, "index") && indexSupported() {
		s.mountOptions = append(s.mountOptions, "index=off")
	}
	s.quota, s.quotaErr = newProjectQuota(s.snapshotsDir())
	if s.quotaErr != nil {
		log.G(ctx).WithError(s.quotaErr).Debug("project quotas not available; size limits will be refused")
	}
	if err := s.Recover(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("recovery of %s: %w", root, err)
	}
	return s, nil
}

// Root is the directory the snapshotter keeps its state in.
func (s *Snapshotter) Root() string { return s.root }

// QuotaSupported reports whether LabelSize can be enforced on this root.
func (s *Snapshotter) QuotaSupported() bool { return s.quota != nil }

func (s *Snapshotter) snapshotsDir() string { return filepath.Join(s.root, "snapshots") }
func (s *Snapshotter) dir(id string) string { return filepath.Join(s.root, "snapshots", id) }
func (s *Snapshotter) upperPath(id string) string {
	return filepath.Join(s.root, "snapshots", id, "fs")
}
func (s *Snapshotter) workPath(id string) string {
	return filepath.Join(s.root, "snapshots", id, "work")
}

// Stat returns the info of a snapshot.
func (s *Snapshotter) Stat(ctx context.Context, key string) (info snapshots.Info, err error) {
	err = s.ms.WithTransaction(ctx, false, func(ctx context.Context) error {
		_, info, _, err = storage.GetInfo(ctx, key)
		return err
	})
	return info, err
}

// Update updates the labels of a snapshot.
func (s *Snapshotter) Update(ctx context.Context, info snapshots.Info, fieldpaths ...string) (newInfo snapshots.Info, err error) {
	err = s.ms.WithTransaction(ctx, true, func(ctx context.Context) error {
		newInfo, err = storage.UpdateInfo(ctx, info, fieldpaths...)
		return err
	})
	return newInfo, err
}

// Usage returns the disk usage of the snapshot's own layer, accounted like
// `du -s --block-size=1` (allocated blocks × 512, each inode once,
// directories included). A committed snapshot's usage was computed once at
// commit and is read from the metadata; an active snapshot's upper
// directory is walked on each call.
func (s *Snapshotter) Usage(ctx context.Context, key string) (usage snapshots.Usage, err error) {
	var (
		id   string
		info snapshots.Info
	)
	if err := s.ms.WithTransaction(ctx, false, func(ctx context.Context) error {
		id, info, usage, err = storage.GetInfo(ctx, key)
		return err
	}); err != nil {
		return snapshots.Usage{}, err
	}
	if info.Kind == snapshots.KindActive {
		du, err := fs.DiskUsage(ctx, s.upperPath(id))
		if err != nil {
			return snapshots.Usage{}, err
		}
		usage = snapshots.Usage(du)
	}
	return usage, nil
}

// Prepare creates an active snapshot. See LabelSize for a size limit.
func (s *Snapshotter) Prepare(ctx context.Context, key, parent string, opts ...snapshots.Opt) ([]mount.Mount, error) {
	return s.createSnapshot(ctx, snapshots.KindActive, key, parent, opts)
}

// View creates a read-only view of parent.
func (s *Snapshotter) View(ctx context.Context, key, parent string, opts ...snapshots.Opt) ([]mount.Mount, error) {
	return s.createSnapshot(ctx, snapshots.KindView, key, parent, opts)
}

// Mounts returns the mounts of an active snapshot or view.
func (s *Snapshotter) Mounts(ctx context.Context, key string) (_ []mount.Mount, err error) {
	var snap storage.Snapshot
	if err := s.ms.WithTransaction(ctx, false, func(ctx context.Context) error {
		snap, err = storage.GetSnapshot(ctx, key)
		return err
	}); err != nil {
		return nil, fmt.Errorf("mounts of %q: %w", key, err)
	}
	return s.mounts(snap), nil
}

// Commit turns the active snapshot key into the committed snapshot name.
// The layer's usage is computed here, once: committed layers never change.
func (s *Snapshotter) Commit(ctx context.Context, name, key string, opts ...snapshots.Opt) error {
	return s.ms.WithTransaction(ctx, true, func(ctx context.Context) error {
		id, info, _, err := storage.GetInfo(ctx, key)
		if err != nil {
			return err
		}
		if info.Kind != snapshots.KindActive {
			return fmt.Errorf("snapshot %q is not active: %w", key, errdefs.ErrFailedPrecondition)
		}
		du, err := fs.DiskUsage(ctx, s.upperPath(id))
		if err != nil {
			return fmt.Errorf("usage of %q: %w", key, err)
		}
		if _, err := storage.CommitActive(ctx, key, name, snapshots.Usage(du), opts...); err != nil {
			return fmt.Errorf("commit %q as %q: %w", key, name, err)
		}
		return nil
	})
}

// Remove removes a snapshot. Its metadata goes first, in one transaction;
// the directory is removed after the transaction committed. A crash in
// between leaves a directory without metadata, which Recover removes.
func (s *Snapshotter) Remove(ctx context.Context, key string) error {
	var id string
	if err := s.ms.WithTransaction(ctx, true, func(ctx context.Context) (err error) {
		id, _, err = storage.Remove(ctx, key)
		if err != nil {
			return fmt.Errorf("remove %q: %w", key, err)
		}
		return nil
	}); err != nil {
		return err
	}
	s.removeDir(ctx, id)
	return nil
}

// removeDir removes a snapshot directory whose metadata is gone. Failures
// are logged, not returned: the snapshot no longer exists, and the next
// Cleanup or start removes what is left.
func (s *Snapshotter) removeDir(ctx context.Context, name string) {
	dir := filepath.Join(s.snapshotsDir(), name)
	var projectID uint32
	if s.quota != nil {
		projectID, _ = getProjectID(dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		log.G(ctx).WithError(err).WithField("path", dir).Warn("failed to remove snapshot directory")
		return
	}
	if projectID != 0 && s.quota.owns(projectID) {
		if err := s.quota.setLimit(projectID, 0); err != nil {
			log.G(ctx).WithError(err).WithField("project", projectID).Warn("failed to clear quota limit")
		}
	}
}

// Walk calls fn for every snapshot that matches the filters.
func (s *Snapshotter) Walk(ctx context.Context, fn snapshots.WalkFunc, filters ...string) error {
	return s.ms.WithTransaction(ctx, false, func(ctx context.Context) error {
		var fnErr error
		err := storage.WalkInfo(ctx, func(ctx context.Context, info snapshots.Info) error {
			fnErr = fn(ctx, info)
			return fnErr
		}, filters...)
		if err != nil && fnErr == nil && errdefs.IsNotFound(err) {
			return nil // a new store has no buckets yet: nothing to walk
		}
		return err
	})
}

// Cleanup removes snapshot directories that have no metadata.
func (s *Snapshotter) Cleanup(ctx context.Context) error {
	var orphans []string
	if err := s.ms.WithTransaction(ctx, true, func(ctx context.Context) (err error) {
		orphans, err = s.orphanDirs(ctx)
		return err
	}); err != nil {
		return err
	}
	for _, d := range orphans {
		s.removeDir(ctx, d)
	}
	return nil
}

// Close closes the metadata store and releases the root. It is safe to
// call more than once.
func (s *Snapshotter) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.ms.Close()
		_ = s.lock.Close()
	})
	return s.closeErr
}

func (s *Snapshotter) createSnapshot(ctx context.Context, kind snapshots.Kind, key, parent string, opts []snapshots.Opt) (_ []mount.Mount, err error) {
	var base snapshots.Info
	for _, o := range opts {
		if err := o(&base); err != nil {
			return nil, err
		}
	}
	limit, err := s.sizeLimit(kind, base.Labels)
	if err != nil {
		return nil, err
	}

	var (
		snap      storage.Snapshot
		td, path  string
		projectID uint32
	)
	defer func() {
		if err == nil {
			return
		}
		if td != "" {
			if err1 := os.RemoveAll(td); err1 != nil {
				log.G(ctx).WithError(err1).WithField("path", td).Warn("failed to remove temporary snapshot directory")
			}
		}
		if path != "" {
			if err1 := os.RemoveAll(path); err1 != nil {
				log.G(ctx).WithError(err1).WithField("path", path).Error("failed to remove snapshot directory; the next start removes it")
			}
		}
		if projectID != 0 {
			_ = s.quota.setLimit(projectID, 0)
		}
	}()

	if err := s.ms.WithTransaction(ctx, true, func(ctx context.Context) (err error) {
		snap, err = storage.CreateSnapshot(ctx, kind, key, parent, opts...)
		if err != nil {
			return fmt.Errorf("create snapshot %q: %w", key, err)
		}
		td, err = os.MkdirTemp(s.snapshotsDir(), "new-")
		if err != nil {
			return err
		}
		if limit > 0 {
			// The project id goes on the snapshot directory before fs and
			// work exist, so both inherit it: overlayfs renames from work
			// into fs, and XFS refuses renames across projects.
			if projectID, err = s.quota.projectID(snap.ID); err != nil {
				return err
			}
			if err := setProjectID(td, projectID); err != nil {
				return fmt.Errorf("set project id on %s: %w", td, err)
			}
			if err := s.quota.setLimit(projectID, limit); err != nil {
				return fmt.Errorf("set quota of %d bytes on %s: %w", limit, td, err)
			}
		}
		if err := os.Mkdir(filepath.Join(td, "fs"), 0o755); err != nil {
			return err
		}
		if kind == snapshots.KindActive {
			if err := os.Mkdir(filepath.Join(td, "work"), 0o711); err != nil {
				return err
			}
		}
		if len(snap.ParentIDs) > 0 {
			// The new layer's root has the owner of its parent's root.
			st, err := os.Stat(s.upperPath(snap.ParentIDs[0]))
			if err != nil {
				return fmt.Errorf("stat parent of %q: %w", key, err)
			}
			sys := st.Sys().(*syscall.Stat_t)
			if err := os.Lchown(filepath.Join(td, "fs"), int(sys.Uid), int(sys.Gid)); err != nil {
				return err
			}
		}
		// The directory gets its final name inside the transaction: a crash
		// before the commit leaves a directory without metadata (removed by
		// Recover), never metadata without a directory.
		path = s.dir(snap.ID)
		if err := os.Rename(td, path); err != nil {
			return fmt.Errorf("rename %s: %w", td, err)
		}
		td = ""
		// No fsync of snapshots/ here: a kill needs none, and after a power
		// loss that kept the metadata but lost the rename, Recover drops
		// the snapshot whose directory is missing.
		return nil
	}); err != nil {
		return nil, err
	}
	return s.mounts(snap), nil
}

// sizeLimit parses and checks the LabelSize label: 0 when there is none.
func (s *Snapshotter) sizeLimit(kind snapshots.Kind, labels map[string]string) (uint64, error) {
	v, ok := labels[LabelSize]
	if !ok {
		return 0, nil
	}
	limit, err := parseSize(v)
	if err != nil {
		return 0, fmt.Errorf("label %s=%q: %v: %w", LabelSize, v, err, errdefs.ErrInvalidArgument)
	}
	if kind != snapshots.KindActive {
		return 0, fmt.Errorf("label %s applies to active snapshots only: %w", LabelSize, errdefs.ErrInvalidArgument)
	}
	if limit == 0 {
		return 0, nil
	}
	if s.quota == nil {
		return 0, fmt.Errorf("size limit %s=%s cannot be enforced: the backing filesystem of the snapshotter root %s does not support project quotas (%v); use XFS mounted with prjquota: %w",
			LabelSize, v, s.root, s.quotaErr, errdefs.ErrNotImplemented)
	}
	return limit, nil
}

func (s *Snapshotter) mounts(snap storage.Snapshot) []mount.Mount {
	if len(snap.ParentIDs) == 0 {
		// Nothing to overlay: a bind mount of the layer itself.
		rw := "rw"
		if snap.Kind == snapshots.KindView {
			rw = "ro"
		}
		return []mount.Mount{{Type: "bind", Source: s.upperPath(snap.ID), Options: []string{rw, "rbind"}}}
	}
	var options []string
	if snap.Kind == snapshots.KindActive {
		options = append(options,
			"workdir="+s.workPath(snap.ID),
			"upperdir="+s.upperPath(snap.ID))
	} else if len(snap.ParentIDs) == 1 {
		return []mount.Mount{{Type: "bind", Source: s.upperPath(snap.ParentIDs[0]), Options: []string{"ro", "rbind"}}}
	}
	lower := make([]string, len(snap.ParentIDs))
	for i, id := range snap.ParentIDs {
		lower[i] = s.upperPath(id)
	}
	options = append(options, "lowerdir="+strings.Join(lower, ":"))
	options = append(options, s.mountOptions...)
	return []mount.Mount{{Type: "overlay", Source: "overlay", Options: options}}
}

func hasOption(options []string, key string) bool {
	for _, o := range options {
		if o == key || strings.HasPrefix(o, key+"=") {
			return true
		}
	}
	return false
}

func indexSupported() bool {
	_, err := os.Stat("/sys/module/overlay/parameters/index")
	return err == nil
}
