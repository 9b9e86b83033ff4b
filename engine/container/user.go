package container

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// berth resolves USER and --group-add in the container's /etc/passwd and
// /etc/group itself, USER as dockerd does and --group-add as containerd's
// oci.WithAppendAdditionalGroups, rather than calling containerd's options
// (whose oci.WithUser gives a named user no supplementary groups): they
// read the snapshot through containerd's internal/fsview, which evaluates
// mount templates with text/template's executor, and a binary that can
// reach that executor keeps every exported method of every type (its
// reflect.Value.MethodByName call defeats the linker's dead-code
// elimination): about 4 MB of berthd's code and idle memory
// (docs/performance.md "Idle daemons").

// withNamedUser sets the process's user from a USER other than uid:gid
// (which needs no file: withUser) as dockerd does, and as berth exec -u
// does (dockerUser): a name, or a uid alone, takes the group of its
// /etc/passwd entry (0 for a uid without one) and the groups that list
// it in /etc/group; name:group, uid:group and name:gid take the group
// given.
func withNamedUser(userstr string) oci.SpecOpts {
	return func(ctx context.Context, cl oci.Client, c *containers.Container, s *oci.Spec) error {
		return withRootFS(ctx, cl, c, func(root fs.FS) error {
			read := func(name string) io.Reader {
				b, err := fs.ReadFile(root, name)
				if err != nil {
					return nil // as a missing file
				}
				return bytes.NewReader(b)
			}
			u, err := dockerUser(userstr, read("etc/passwd"), read("etc/group"))
			if err != nil {
				return err
			}
			s.Process.User.UID, s.Process.User.GID, s.Process.User.AdditionalGids = u.UID, u.GID, u.AdditionalGids
			return nil
		})
	}
}

// dockerUser turns user[:group] into IDs as dockerd does (moby/sys/user's
// GetExecUser) from the container's /etc/passwd and /etc/group (nil: the
// file is missing): the primary group is a supplementary one too, then
// the user's groups in /etc/group.
func dockerUser(spec string, passwd, group io.Reader) (specs.User, error) {
	u, err := user.GetExecUser(spec, nil, passwd, group)
	if err != nil {
		return specs.User{}, fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
	}
	out := specs.User{UID: uint32(u.Uid), GID: uint32(u.Gid), AdditionalGids: []uint32{uint32(u.Gid)}}
	for _, g := range u.Sgids {
		out.AdditionalGids = append(out.AdditionalGids, uint32(g))
	}
	return out, nil
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
