package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"

	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/pkg/fsarchive"
	containertypes "github.com/berthproject/berth/pkg/types/container"
)

// containerFS is a container's file system as berthd reaches it: the
// running container's root as its processes see it (with its volumes and
// tmpfs mounts), or the stopped container's snapshot mounted on a temp dir
// plus its volumes and binds.
type containerFS struct {
	root     string // host path of "/"
	mounts   []mountEntry
	running  bool
	readonly bool
}

// resolve maps a container path to the host directory that holds it and the
// path below that directory. On a running container everything resolves
// through /proc/<pid>/root; on a stopped one a path under a volume or bind
// goes to its host source.
func (f containerFS) resolve(p string) (root, rel string, writable bool) {
	p = path.Clean("/" + p)
	if f.running {
		return f.root, p, true // the kernel enforces read-only mounts
	}
	var best *mountEntry
	for i := range f.mounts {
		e := &f.mounts[i]
		if e.SpecType != "bind" {
			continue
		}
		if p == e.Destination || strings.HasPrefix(p, e.Destination+"/") {
			if best == nil || len(e.Destination) > len(best.Destination) {
				best = e
			}
		}
	}
	if best != nil {
		return best.SpecSource, strings.TrimPrefix(p, best.Destination), best.RW
	}
	return f.root, p, !f.readonly
}

// withFS runs fn on the container's file system. A stopped container's
// snapshot stays mounted (and the container cannot start) until fn returns.
func (s *Service) withFS(ctx context.Context, ref string, fn func(f containerFS) error) error {
	r, err := s.lookup(ref)
	if err != nil {
		return err
	}
	ctx = s.ctx(ctx)
	c, cfg, err := s.load(ctx, r.id)
	if err != nil {
		return err
	}
	f := containerFS{mounts: mountsOf(c), readonly: cfg.ReadonlyRootfs}
	running := func(pid int) error {
		root, err := openProcRoot(pid)
		if err != nil {
			return fmt.Errorf("container %s: %w", ref, err)
		}
		defer root.Close()
		f.root, f.running = "/proc/self/fd/"+strconv.Itoa(int(root.Fd())), true
		return fn(f)
	}
	if pid := s.livePID(ctx, r.id); pid > 0 {
		return running(pid)
	}
	r.op.Lock()
	defer r.op.Unlock()
	if pid := s.livePID(ctx, r.id); pid > 0 { // started meanwhile
		return running(pid)
	}
	mounts, err := s.client.SnapshotService(c.Snapshotter).Mounts(ctx, c.SnapshotKey)
	if err != nil {
		return fmt.Errorf("mounting the container's filesystem: %w", err)
	}
	return mount.WithTempMount(ctx, mounts, func(root string) error {
		f.root = root
		return fn(f)
	})
}

// openProcRoot opens the root directory of process pid as its processes
// see it. A pid can be reused once its process is gone, so the process's
// start time is read before and after the open: equal times prove the
// handle belongs to the container's process, not to a newcomer (which
// could be a host process whose root is the host's).
func openProcRoot(pid int) (*os.File, error) {
	before := procStartTime(pid)
	if before.IsZero() {
		return nil, fmt.Errorf("the container's process is gone: %w", errdefs.ErrFailedPrecondition)
	}
	fd, err := unix.Open("/proc/"+strconv.Itoa(pid)+"/root", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("the container's process is gone: %w", errdefs.ErrFailedPrecondition)
	}
	f := os.NewFile(uintptr(fd), "root")
	if after := procStartTime(pid); !after.Equal(before) {
		f.Close()
		return nil, fmt.Errorf("the container's process is gone: %w", errdefs.ErrFailedPrecondition)
	}
	return f, nil
}

// livePID is the pid of the container's running (or paused) task, else 0.
func (s *Service) livePID(ctx context.Context, id string) int {
	st, err := s.taskState(ctx, id)
	if err != nil || st.Status == tasktypes.Status_STOPPED || st.Pid == 0 {
		return 0
	}
	return int(st.Pid)
}

// StatPath describes a path of the container (a final symlink is not
// followed unless the path ends in "/" or "/.").
func (s *Service) StatPath(ctx context.Context, ref, p string) (containertypes.PathStat, error) {
	var out containertypes.PathStat
	err := s.withFS(ctx, ref, func(f containerFS) error {
		r, name, err := openPath(f, ref, p)
		if err != nil {
			return err
		}
		defer r.Close()
		st, err := fsarchive.Lstat(r, name)
		if err != nil {
			return pathError(ref, p, err)
		}
		if name == "." {
			st.Name = path.Base(path.Clean("/" + p)) // a followed link keeps its own name
		}
		out = containertypes.PathStat(st)
		return nil
	})
	return out, err
}

// openPath opens the directory that holds the container's path p and
// returns p's name in it: the parent of p and its base name, or, for a path
// that follows its last symlink (FollowsLast), p itself (which must be a
// directory) and ".".
func openPath(f containerFS, ref, p string) (*os.Root, string, error) {
	root, rel, _ := f.resolve(p)
	dir, name := fsarchive.SplitPath(rel)
	if fsarchive.FollowsLast(p) {
		dir, name = rel, "."
	}
	r, err := fsarchive.OpenRootIn(root, dir)
	if err != nil {
		return nil, "", pathError(ref, p, err)
	}
	return r, name, nil
}

// ReadDir lists the directory p of the container (the dashboard's file
// browser): each entry as StatPath describes it, in name order.
func (s *Service) ReadDir(ctx context.Context, ref, p string) ([]containertypes.PathStat, error) {
	var out []containertypes.PathStat
	err := s.withFS(ctx, ref, func(f containerFS) error {
		root, rel, _ := f.resolve(p)
		list, err := fsarchive.ReadDirInRoot(root, rel)
		if err != nil {
			return pathError(ref, p, err)
		}
		for _, st := range list {
			out = append(out, containertypes.PathStat(st))
		}
		return nil
	})
	return out, err
}

// CopyFrom writes a tar of the container's path p to w: one top-level
// entry named fsarchive.ArchiveTop(p) (a directory with everything below it;
// symlinks are stored, not followed, except a last one p follows).
func (s *Service) CopyFrom(ctx context.Context, ref, p string, w io.Writer) error {
	return s.withFS(ctx, ref, func(f containerFS) error {
		r, name, err := openPath(f, ref, p)
		if err != nil {
			return err
		}
		defer r.Close()
		if _, err := r.Lstat(name); err != nil {
			return pathError(ref, p, err)
		}
		return fsarchive.Tar(w, r, name, fsarchive.ArchiveTop(p))
	})
}

// CopyTo extracts the tar read from rd into the container at o.Path with
// Docker's `cp` rules. Nothing is written outside the container's file
// system: paths resolve inside it (symlinks included) and the archive's
// entries cannot leave their target.
func (s *Service) CopyTo(ctx context.Context, ref string, o containertypes.CopyToOptions, rd io.Reader) error {
	if o.Path == "" {
		return fmt.Errorf("no destination path given: %w", errdefs.ErrInvalidArgument)
	}
	return s.withFS(ctx, ref, func(f containerFS) error {
		root, rel, writable := f.resolve(o.Path)
		var dstStat *fsarchive.Stat
		if h, err := fsarchive.OpenInRoot(root, rel); err == nil {
			var st unix.Stat_t
			if err := unix.Fstat(int(h.Fd()), &st); err == nil {
				mode := fs.FileMode(st.Mode & 0o777)
				if st.Mode&unix.S_IFMT == unix.S_IFDIR {
					mode |= fs.ModeDir
				}
				dstStat = &fsarchive.Stat{Name: path.Base(rel), Mode: mode}
			}
			h.Close()
		} else if !errors.Is(err, fs.ErrNotExist) {
			return pathError(ref, o.Path, err)
		}
		var plan fsarchive.Plan
		if o.SrcName == "" {
			if dstStat == nil || !dstStat.Mode.IsDir() {
				return fmt.Errorf("destination %q must be a directory: %w", o.Path, errdefs.ErrInvalidArgument)
			}
			plan = fsarchive.Plan{Dir: path.Clean("/" + o.Path)}
		} else {
			p, err := fsarchive.CopyRules(o.SrcIsDir, o.SrcContents, path.Join("/", o.Path)+trailing(o.Path), dstStat)
			if err != nil {
				return err
			}
			plan = p
		}
		dirRoot, dirRel, dirWritable := f.resolve(plan.Dir)
		if !writable || !dirWritable {
			return fmt.Errorf("cannot copy to %s: it is on a read-only file system or volume: %w", o.Path, errdefs.ErrFailedPrecondition)
		}
		r, err := fsarchive.OpenRootIn(dirRoot, dirRel)
		if err != nil {
			return pathError(ref, plan.Dir, err)
		}
		defer r.Close()
		opts := fsarchive.UntarOptions{Chown: o.CopyUIDGID}
		if o.SrcName != "" {
			opts.Rename = plan.Renamer(o.SrcName)
		}
		if err := fsarchive.Untar(rd, r, opts); err != nil {
			if errors.Is(err, unix.EROFS) {
				return fmt.Errorf("cannot copy to %s: read-only file system: %w", o.Path, errdefs.ErrFailedPrecondition)
			}
			return err
		}
		return nil
	})
}

func trailing(p string) string {
	if strings.HasSuffix(p, "/") || strings.HasSuffix(p, "/.") {
		return "/"
	}
	return ""
}

// pathError names a path of a container that cannot be used.
func pathError(ref, p string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("Could not find the file %s in container %s: %w", p, ref, errdefs.ErrNotFound)
	case errors.Is(err, unix.ENOTDIR):
		return fmt.Errorf("%s in container %s: not a directory: %w", p, ref, errdefs.ErrInvalidArgument)
	case errors.Is(err, unix.EXDEV), errors.Is(err, unix.ELOOP):
		return fmt.Errorf("%s in container %s: %v: %w", p, ref, err, errdefs.ErrInvalidArgument)
	}
	return err
}
