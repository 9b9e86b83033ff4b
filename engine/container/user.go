package container

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/moby/sys/user"
)

// berth resolves user and group names in the container's /etc/passwd and
// /etc/group itself, as containerd's oci.WithUser and
// oci.WithAppendAdditionalGroups do, rather than calling them: they read
// the snapshot through containerd's internal/fsview, which evaluates mount
// templates with text/template's executor, and a binary that can reach
// that executor keeps every exported method of every type (its
// reflect.Value.MethodByName call defeats the linker's dead-code
// elimination): about 4 MB of berthd's code and idle memory
// (docs/performance.md "Idle daemons").

// withNamedUser sets the process's user from a USER other than uid:gid
// (which needs no file: withUser): name, name:group, name:gid,
// uid:group, or a uid alone, whose group is its /etc/passwd entry's, or
// 0 without one (as containerd's oci.WithUserID and dockerd do).
func withNamedUser(userstr string) oci.SpecOpts {
	return func(ctx context.Context, cl oci.Client, c *containers.Container, s *oci.Spec) error {
		defer ensurePrimaryGID(s)
		s.Process.User.AdditionalGids = nil
		parts := strings.Split(userstr, ":")
		if len(parts) > 2 {
			return fmt.Errorf("invalid USER value %s", userstr)
		}
		var uid, gid uint32
		var uname, gname string
		for i, p := range parts {
			what := [2]string{"uid", "gid"}[i]
			v, err := strconv.Atoi(p)
			switch {
			case err == nil && (v < 0 || v > math.MaxInt32), errors.Is(err, strconv.ErrRange):
				return fmt.Errorf("invalid USER value %q: %s out of range", userstr, what)
			case err != nil && i == 0:
				uname = p
			case err != nil:
				gname = p
			case i == 0:
				uid = uint32(v)
			default:
				gid = uint32(v)
			}
		}
		if len(parts) == 2 && uname == "" && gname == "" {
			s.Process.User.UID, s.Process.User.GID = uid, gid // "1000:", ":"
			return nil
		}
		return withRootFS(ctx, cl, c, func(root fs.FS) error {
			if len(parts) == 1 && uname == "" {
				u, err := oci.UserFromFS(root, func(u user.User) bool { return u.Uid == int(uid) })
				switch {
				case err == nil:
					gid = uint32(u.Gid)
				case !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, oci.ErrNoUsersFound):
					return err
				}
			}
			if uname != "" {
				u, err := oci.UserFromFS(root, func(u user.User) bool { return u.Name == uname })
				if err != nil {
					return err
				}
				uid = uint32(u.Uid)
				if len(parts) == 1 {
					gid = uint32(u.Gid)
				}
			}
			if gname != "" {
				g, err := oci.GIDFromFS(root, func(g user.Group) bool { return g.Name == gname })
				if err != nil {
					return err
				}
				gid = g
			}
			s.Process.User.UID, s.Process.User.GID = uid, gid
			return nil
		})
	}
}

// withAdditionalGroups adds groups (names or numbers) to the process's
// supplementary groups (--group-add), in their order.
func withAdditionalGroups(groups ...string) oci.SpecOpts {
	return func(ctx context.Context, cl oci.Client, c *containers.Container, s *oci.Spec) error {
		defer ensurePrimaryGID(s)
		add := func(root fs.FS) error {
			for _, name := range groups {
				if gid, err := strconv.ParseUint(name, 10, 32); err == nil {
					s.Process.User.AdditionalGids = append(s.Process.User.AdditionalGids, uint32(gid))
					continue
				}
				gid, err := oci.GIDFromFS(root, func(g user.Group) bool { return g.Name == name })
				switch {
				case errors.Is(err, fs.ErrNotExist):
					return fmt.Errorf("unable to find group %s: %w", name, err)
				case errors.Is(err, oci.ErrNoGroupsFound):
					return fmt.Errorf("unable to find group %s", name)
				case err != nil:
					return err
				}
				s.Process.User.AdditionalGids = append(s.Process.User.AdditionalGids, gid)
			}
			return nil
		}
		numeric := func(g string) bool { _, err := strconv.ParseUint(g, 10, 32); return err == nil }
		if !slices.ContainsFunc(groups, func(g string) bool { return !numeric(g) }) {
			return add(nil)
		}
		return withRootFS(ctx, cl, c, add)
	}
}

// ensurePrimaryGID lists the primary group among the supplementary ones,
// as containerd's options do (a process keeps its group when it drops
// supplementary groups with setgroups).
func ensurePrimaryGID(s *oci.Spec) {
	u := &s.Process.User
	if !slices.Contains(u.AdditionalGids, u.GID) {
		u.AdditionalGids = append([]uint32{u.GID}, u.AdditionalGids...)
	}
}

// withRootFS calls fn with the container's root file system, read-only: a
// bind snapshot's directory as it is, anything else mounted in a temporary
// directory.
func withRootFS(ctx context.Context, cl oci.Client, c *containers.Container, fn func(fs.FS) error) error {
	if c.Snapshotter == "" || c.SnapshotKey == "" {
		return errors.New("rootfs snapshot not created for container")
	}
	mounts, err := cl.SnapshotService(c.Snapshotter).Mounts(ctx, c.SnapshotKey)
	if err != nil {
		return err
	}
	open := func(dir string) error {
		r, err := os.OpenRoot(dir)
		if err != nil {
			return err
		}
		defer r.Close()
		return fn(r.FS())
	}
	if len(mounts) == 1 && mounts[0].Type == "bind" {
		return open(mounts[0].Source)
	}
	return mount.WithReadonlyTempMount(ctx, mounts, open)
}
