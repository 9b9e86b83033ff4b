package container

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// bindRoot is a snapshot service whose one snapshot is a directory, as a
// bind snapshot (berth-snapshotter's first layer) is.
type bindRoot struct {
	snapshots.Snapshotter
	dir string
}

func (b bindRoot) Mounts(context.Context, string) ([]mount.Mount, error) {
	return []mount.Mount{{Type: "bind", Source: b.dir, Options: []string{"ro", "rbind"}}}, nil
}

func (b bindRoot) SnapshotService(string) snapshots.Snapshotter { return b }

// userRoot is a root file system with the given /etc/passwd and
// /etc/group ("" leaves the file out).
func userRoot(t *testing.T, passwd, group string) bindRoot {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]string{"passwd": passwd, "group": group} {
		if s == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, "etc", name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return bindRoot{dir: dir}
}

func applyUserOpt(root bindRoot, opt oci.SpecOpts) (specs.User, error) {
	s := &oci.Spec{Process: &specs.Process{}, Linux: &specs.Linux{}}
	c := &containers.Container{Snapshotter: "bind", SnapshotKey: "c"}
	err := opt(context.Background(), root, c, s)
	return s.Process.User, err
}

const (
	testPasswd = "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\napp:x:1000:1001::/app:/bin/sh\n"
	testGroup  = "root:x:0:\ndaemon:x:1:\nwheel:x:10:root\nstaff:x:50:app\napp:x:1001:\nnogroup:x:65534:\n"
)

// A USER other than uid:gid resolves as with dockerd (moby/sys/user's
// GetExecUser over the image's files): a name or a uid alone takes its
// passwd entry's group and the groups that list it; an explicit group
// replaces both.
func TestUserAsDockerd(t *testing.T) {
	root, noGroup, bare := userRoot(t, testPasswd, testGroup), userRoot(t, testPasswd, ""), userRoot(t, "", "")
	for _, c := range []struct {
		user string
		root bindRoot
		want string // uid gid [groups], or the error
	}{
		{"app", root, "1000 1001 [1001 50]"},
		{"1000", root, "1000 1001 [1001 50]"},
		{"root", root, "0 0 [0 10]"},
		{"daemon", root, "1 1 [1]"},
		{"app:wheel", root, "1000 10 [10]"},
		{"app:10", root, "1000 10 [10]"},
		{"1000:wheel", root, "1000 10 [10]"},
		{"4242:staff", root, "4242 50 [50]"},
		{"4242", root, "4242 0 [0]"},
		{"1000", noGroup, "1000 1001 [1001]"},
		{"1000", bare, "1000 0 [0]"},
		{"app:4242", noGroup, "1000 4242 [4242]"},
		{"nosuch", root, "unable to find user nosuch: no matching entries in passwd file"},
		{"nosuch", bare, "unable to find user nosuch: no matching entries in passwd file"},
		{"app:nosuch", root, "unable to find group nosuch: no matching entries in group file"},
		{"app:wheel", noGroup, "unable to find group wheel: no matching entries in group file"},
		// Numbers the kernel refuses, as dockerd refuses them.
		{"2147483648:0", root, `user "2147483648:0": uids and gids must be in range 0-2147483647`},
		{"0:4294967295", root, `user "0:4294967295": uids and gids must be in range 0-2147483647`},
		{"2147483647:2147483647", root, "2147483647 2147483647"},
	} {
		got, err := applyUserOpt(c.root, withUser(c.user, ""))
		s := fmt.Sprintf("%d %d %v", got.UID, got.GID, got.AdditionalGids)
		if err != nil {
			s = err.Error()
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("--user %s: %v is not an invalid-argument error", c.user, err)
			}
		}
		if !strings.HasPrefix(s, c.want) {
			t.Errorf("--user %s: %s, want %s", c.user, s, c.want)
		}
	}
}

// --group-add resolves as containerd's oci.WithAppendAdditionalGroups.
func TestAdditionalGroupsAsContainerd(t *testing.T) {
	roots := map[string]bindRoot{
		"group":    userRoot(t, testPasswd, testGroup),
		"no group": userRoot(t, testPasswd, ""),
	}
	for _, groups := range [][]string{
		{"27"}, {"wheel"}, {"staff", "27", "wheel"}, {"nosuch"}, {"0"}, {"1001", "app"},
	} {
		for what, root := range roots {
			for _, gid := range []uint32{0, 1001} {
				start := func(o oci.SpecOpts) oci.SpecOpts {
					return oci.Compose(oci.WithUIDGID(1000, gid), o)
				}
				want, wantErr := applyUserOpt(root, start(oci.WithAppendAdditionalGroups(groups...)))
				got, err := applyUserOpt(root, start(withAdditionalGroups(groups...)))
				if (err == nil) != (wantErr == nil) || err == nil && !slices.Equal(got.AdditionalGids, want.AdditionalGids) || !sameErrClass(err, wantErr) {
					t.Errorf("%q, %s, gid %d: got %+v, %v; containerd gives %+v, %v", groups, what, gid, got, err, want, wantErr)
				}
			}
		}
	}
}

// sameErrClass: withUser and the API tell a missing file and a missing
// entry apart by these.
func sameErrClass(a, b error) bool {
	for _, target := range []error{fs.ErrNotExist, oci.ErrNoUsersFound, oci.ErrNoGroupsFound} {
		if errors.Is(a, target) != errors.Is(b, target) {
			return false
		}
	}
	return true
}
