package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/pkg/fsarchive"
)

// Image mounts and volume subpaths (Docker's --mount type=image and
// volume-subpath, image-subpath).
//
// An image mount is a read-only view snapshot of the image, made at create,
// referenced by the container record (a containerd GC label, so that the
// view and its layers outlive a forced removal of the image) and removed
// with the container. Its source, like that of a volume subpath, is found
// at each start: the view is mounted on the host, the subpath opened
// beneath it (openat2 RESOLVE_BENEATH: a symbolic link may lead anywhere
// within, not out), the opened file bind-mounted to a staging path that
// the spec names, and once runc has made the container's mounts the host's
// are detached: the container keeps its own, the host keeps nothing.

const (
	// labelImageMountPrefix + image ID = view: the container mounts that
	// image (UsingImage).
	labelImageMountPrefix = "berth.image-mount."
	// gcSnapshotRef + snapshotter + "/" + key: the container references
	// the snapshot (containerd's GC).
	gcSnapshotRef = "containerd.io/gc.ref.snapshot."
)

// imageView makes a read-only view of the image whose layers are chainID
// for the container being created (p.id).
func (s *Service) imageView(ctx context.Context, p *mountPlan, chainID string) (string, error) {
	key := p.id + "-image-" + strconv.Itoa(len(p.views))
	if _, err := s.client.SnapshotService(s.opts.Snapshotter).View(ctx, key, chainID); err != nil {
		return "", fmt.Errorf("making the image mount's view: %w", err)
	}
	p.views = append(p.views, key)
	return key, nil
}

// removeViews removes image mounts' views (a failed create, a removed
// container).
func (s *Service) removeViews(ctx context.Context, keys []string) {
	sn := s.client.SnapshotService(s.opts.Snapshotter)
	for _, k := range keys {
		if err := sn.Remove(context.WithoutCancel(ctx), k); err != nil && !errdefs.IsNotFound(err) {
			s.log.Warn("removing an image mount's view", "key", k, "err", err)
		}
	}
}

// viewsOf are the image mounts' views of a container.
func viewsOf(c containers.Container) []string {
	var out []string
	for _, e := range mountsOf(c) {
		if e.View != "" {
			out = append(out, e.View)
		}
	}
	return out
}

// stagingDir holds a container's staged mount sources while its task is
// created.
func (s *Service) stagingDir(id string) string {
	return filepath.Join(s.opts.State, "mounts", id)
}

// stageMounts checks that shared binds can share, finds the sources of c's
// image mounts and volume subpaths,
// mounts them at staging paths and stores the spec that names them.
// release detaches them: call it once the task is created (or failed). A
// subpath that does not exist, or leads out of its volume or image, is an
// error and nothing stays mounted.
func (s *Service) stageMounts(ctx context.Context, c *containers.Container) (release func(), err error) {
	entries := mountsOf(*c)
	var staged []mountEntry
	for _, e := range entries {
		if e.staged() {
			staged = append(staged, e)
		}
		// As dockerd, at each start: a shared bind's source must be on a
		// shared mount, or nothing would propagate.
		if e.Type == "bind" && (e.Propagation == "shared" || e.Propagation == "rshared") {
			if err := ensureShared(e.SpecSource); err != nil {
				return func() {}, err
			}
		}
	}
	if len(staged) == 0 {
		return func() {}, nil
	}
	dir := s.stagingDir(c.ID)
	s.unstage(dir) // what a berthd that died mid-start left
	release = func() { s.unstage(dir) }
	defer func() {
		if err != nil {
			release()
		}
	}()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return release, err
	}
	sources := map[string]string{}
	for i, e := range staged {
		target := filepath.Join(dir, strconv.Itoa(i))
		if err := s.stageOne(ctx, c, e, target); err != nil {
			return release, err
		}
		sources[e.Destination] = target
	}
	v, err := typeurl.UnmarshalAny(c.Spec)
	if err != nil {
		return release, err
	}
	sp, ok := v.(*oci.Spec)
	if !ok {
		return release, fmt.Errorf("container %s: unexpected spec type %T", c.ID, v)
	}
	for i, m := range sp.Mounts {
		if src, ok := sources[path.Clean(m.Destination)]; ok {
			sp.Mounts[i].Source = src
		}
	}
	if c.Spec, err = typeurl.MarshalAny(sp); err != nil {
		return release, err
	}
	if _, err := s.containerStore().Update(ctx, *c, "spec"); err != nil {
		return release, err
	}
	return release, nil
}

// stageOne bind-mounts e's source at target.
func (s *Service) stageOne(ctx context.Context, c *containers.Container, e mountEntry, target string) error {
	base := e.Source // a volume's directory
	what := "volume " + e.Name
	if e.Type == "image" {
		what = "image " + e.Source
		base = target + ".image"
		mounts, err := s.client.SnapshotService(c.Snapshotter).Mounts(ctx, e.View)
		if err != nil {
			return fmt.Errorf("mounting image %s: %w", e.Source, err)
		}
		if err := os.Mkdir(base, 0o700); err != nil {
			return err
		}
		if err := mount.All(mounts, base); err != nil {
			return fmt.Errorf("mounting image %s: %w", e.Source, err)
		}
		// The bind made below keeps the image's filesystem: the view's own
		// mount can go at once.
		defer func() {
			if err := unix.Unmount(base, unix.MNT_DETACH); err != nil {
				s.log.Warn("unmounting an image mount's view", "path", base, "err", err)
			}
			os.Remove(base)
		}()
	}
	sub := e.Subpath
	if sub == "" {
		sub = "."
	}
	fd, err := openBeneath(base, sub)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		err = os.Mkdir(target, 0o700)
	} else {
		var f *os.File
		if f, err = os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err == nil {
			err = f.Close()
		}
	}
	if err != nil {
		return err
	}
	// The opened file itself, not its path again: a symbolic link swapped
	// in meanwhile cannot redirect the bind.
	if err := unix.Mount("/proc/self/fd/"+strconv.Itoa(fd), target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("mounting %s of %s: %w", e.Subpath, what, err)
	}
	return nil
}

// openBeneath opens sub below base (O_PATH) without leaving base: the
// errors read as dockerd's (its safepath package).
func openBeneath(base, sub string) (int, error) {
	dfd, err := unix.Open(base, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("cannot access path %s: %w", base, err)
	}
	defer unix.Close(dfd)
	fd, err := fsarchive.Openat2(dfd, sub, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
	})
	switch {
	case err == nil:
		return fd, nil
	case errors.Is(err, unix.EXDEV):
		return -1, fmt.Errorf("path concatenation escapes the base directory, base: %s, subpath: %s: %w", base, sub, errdefs.ErrInvalidArgument)
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR):
		return -1, fmt.Errorf("cannot access path %s: %w", filepath.Join(base, sub), errdefs.ErrNotFound)
	default:
		return -1, fmt.Errorf("cannot access path %s: %w", filepath.Join(base, sub), err)
	}
}

// unstage detaches and removes everything staged in dir.
func (s *Service) unstage(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, ent := range ents {
		p := filepath.Join(dir, ent.Name())
		// Detach until nothing is mounted there (an image's view below
		// a bind after a crash).
		for unix.Unmount(p, unix.MNT_DETACH) == nil {
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("removing a staged mount", "path", p, "err", err)
		}
	}
	os.Remove(dir)
}
