package container

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/archive"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/continuity/fs"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	"github.com/moby/sys/mountinfo"

	containertypes "github.com/berthproject/berth/pkg/types/container"
)

// Changes lists the paths of the container's file system that differ from
// its image (`berth diff`), as Docker does: added (A), changed (C) and
// deleted (D) paths, sorted, a changed directory listed with what changed
// below it. Volumes, binds and the mount points the runtime makes (/proc,
// /etc/hosts...) are not the container's changes and are left out.
func (s *Service) Changes(ctx context.Context, ref string) ([]containertypes.Change, error) {
	r, err := s.lookup(ref)
	if err != nil {
		return nil, err
	}
	ctx = s.ctx(ctx)
	c, err := s.containerStore().Get(ctx, r.id)
	if err != nil {
		return nil, err
	}
	if c.SnapshotKey == "" {
		return nil, fmt.Errorf("container %s has no file system of its own: %w", r.name, errdefs.ErrFailedPrecondition)
	}
	sn := s.client.SnapshotService(c.Snapshotter)
	info, err := sn.Stat(ctx, c.SnapshotKey)
	if err != nil {
		return nil, fmt.Errorf("the file system of %s: %w", r.name, err)
	}
	upper, err := sn.Mounts(ctx, c.SnapshotKey)
	if err != nil {
		return nil, fmt.Errorf("the file system of %s: %w", r.name, err)
	}
	type change struct {
		kind fs.ChangeKind
		path string
		dir  bool
	}
	var all []change
	collect := func(k fs.ChangeKind, p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if k == fs.ChangeKindUnmodified || path.Base(p) == ".wh..opq" {
			return nil // an opaque directory: listed as changed itself
		}
		all = append(all, change{kind: k, path: p, dir: fi != nil && fi.IsDir()})
		return nil
	}
	walk := func(lowerRoot string) error {
		if up := overlayUpper(upper); up != "" && lowerRoot != "" {
			// The overlay's upper directory holds the changes (deletions
			// as its whiteouts). Mounting it again, as a lower directory
			// of a read-only overlay, while the container's own overlay
			// has it as its upper is undefined behaviour in the kernel's
			// words (moby's TestNoOverlayfsWarningsAboutUndefinedBehaviors).
			return fs.DiffDirChanges(ctx, lowerRoot, up, fs.DiffSourceOverlayFS, collect)
		}
		return mount.WithReadonlyTempMount(ctx, upper, func(upperRoot string) error {
			return fs.Changes(ctx, lowerRoot, upperRoot, collect)
		})
	}
	if info.Parent == "" {
		err = walk("")
	} else {
		key := "berth-diff-" + r.id + "-" + newID()[:12]
		lower, verr := sn.View(ctx, key, info.Parent)
		if verr != nil {
			return nil, fmt.Errorf("the image file system of %s: %w", r.name, verr)
		}
		err = mount.WithReadonlyTempMount(ctx, lower, walk)
		if rerr := sn.Remove(context.WithoutCancel(ctx), key); rerr != nil {
			s.log.Warn("diff: remove view", "key", key, "error", rerr)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("compare the file system of %s with its image: %w", r.name, err)
	}

	// As Docker, every directory above a change is changed too (overlay
	// copies it up): a walk only sees a directory change its own metadata.
	mountPoints := runtimeMountPoints(c)
	kinds := map[string]containertypes.ChangeKind{}
	for _, ch := range all {
		if mountPoints[ch.path] || hasMountAbove(mountPoints, ch.path) {
			continue
		}
		if ch.kind == fs.ChangeKindModify && ch.dir && hasMountBelow(mountPoints, ch.path) {
			// Changed by the runtime's mount points in it (/etc/hosts
			// made in the upper directory): listed below if anything
			// else in it changed.
			continue
		}
		kind := containertypes.ChangeModify
		switch ch.kind {
		case fs.ChangeKindAdd:
			kind = containertypes.ChangeAdd
		case fs.ChangeKindDelete:
			kind = containertypes.ChangeDelete
		}
		kinds[ch.path] = kind
		for d := path.Dir(ch.path); d != "/" && d != "."; d = path.Dir(d) {
			if _, ok := kinds[d]; !ok {
				kinds[d] = containertypes.ChangeModify
			}
		}
	}
	out := make([]containertypes.Change, 0, len(kinds))
	for p, k := range kinds {
		out = append(out, containertypes.Change{Kind: k, Path: p})
	}
	slices.SortFunc(out, func(a, b containertypes.Change) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// runtimeMountPoints are the destinations of the container's mounts (the
// runtime's /proc, /dev, /etc/hosts..., volumes, binds, tmpfs).
func runtimeMountPoints(c containers.Container) map[string]bool {
	out := map[string]bool{}
	if c.Spec == nil {
		return out
	}
	v, err := typeurl.UnmarshalAny(c.Spec)
	if err != nil {
		return out
	}
	spec, ok := v.(*oci.Spec)
	if !ok {
		return out
	}
	for _, m := range spec.Mounts {
		out[path.Clean("/"+m.Destination)] = true
	}
	return out
}

// hasMountBelow: a mount point is a descendant of directory p.
func hasMountBelow(mountPoints map[string]bool, p string) bool {
	for m := range mountPoints {
		if strings.HasPrefix(m, p+"/") {
			return true
		}
	}
	return false
}

// hasMountAbove: a mount point is an ancestor of p.
func hasMountAbove(mountPoints map[string]bool, p string) bool {
	for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
		if mountPoints[d] {
			return true
		}
	}
	return false
}

// Export writes a tar of the container's root file system (`berth
// export`): its image with its changes, without its volumes, binds or
// the runtime's mounts.
func (s *Service) Export(ctx context.Context, ref string, w io.Writer) error {
	r, err := s.lookup(ref)
	if err != nil {
		return err
	}
	ctx = s.ctx(ctx)
	c, err := s.containerStore().Get(ctx, r.id)
	if err != nil {
		return err
	}
	if c.SnapshotKey == "" {
		return fmt.Errorf("container %s has no file system of its own: %w", r.name, errdefs.ErrFailedPrecondition)
	}
	mounts, err := s.client.SnapshotService(c.Snapshotter).Mounts(ctx, c.SnapshotKey)
	if err != nil {
		return fmt.Errorf("the file system of %s: %w", r.name, err)
	}
	// op keeps the container's task (and so its shim's mount of its root)
	// in place, and a start out, until the export is written: a stop
	// meanwhile waits for it.
	r.op.Lock()
	defer r.op.Unlock()
	if up := overlayUpper(mounts); up != "" {
		// A running container's overlay is read where its shim mounted it,
		// as dockerd reads its mount: a second overlay with the same upper
		// directory as a lower one is undefined behaviour in the kernel's
		// words (moby's TestNoOverlayfsWarningsAboutUndefinedBehaviors).
		root, err := liveOverlay(up)
		if err != nil {
			return fmt.Errorf("the file system of %s: %w", r.name, err)
		}
		if root != "" {
			return archive.WriteDiff(ctx, w, "", root)
		}
	}
	// No task: no overlay uses its upper directory but this one.
	return mount.WithReadonlyTempMount(ctx, mounts, func(root string) error {
		return archive.WriteDiff(ctx, w, "", root)
	})
}

// overlayUpper is the upper directory of a snapshot's overlay mount; ""
// when it has none (a snapshot without parent is a bind mount).
func overlayUpper(ms []mount.Mount) string {
	if len(ms) != 1 || ms[0].Type != "overlay" {
		return ""
	}
	for _, o := range ms[0].Options {
		if v, ok := strings.CutPrefix(o, "upperdir="); ok {
			return v
		}
	}
	return ""
}

// liveOverlay is the mount point of the overlay that has upper as its
// upper directory (a running container's root, which its shim mounted in
// berthd's mount namespace); "" when there is none.
func liveOverlay(upper string) (string, error) {
	ms, err := mountinfo.GetMounts(func(i *mountinfo.Info) (skip, stop bool) {
		if i.FSType != "overlay" {
			return true, false
		}
		found := slices.Contains(strings.Split(i.VFSOptions, ","), "upperdir="+upper)
		return !found, found
	})
	if err != nil || len(ms) == 0 {
		return "", err
	}
	return ms[0].Mountpoint, nil
}
