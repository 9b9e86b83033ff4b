package container

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/oci"
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

// berth resolves a USER that names a user or a group as containerd's
// oci.WithUser does, on the same files.
func TestNamedUserAsContainerd(t *testing.T) {
	roots := map[string]bindRoot{
		"passwd and group": userRoot(t, testPasswd, testGroup),
		"no group":         userRoot(t, testPasswd, ""),
		"no passwd":        userRoot(t, "", testGroup),
		"neither":          userRoot(t, "", ""),
	}
	for _, user := range []string{
		"1000", "1", "0", "4242", "app", "daemon", "app:wheel", "app:10", "1000:wheel", "4242:staff", "app:", ":wheel", "1000:",
		"nosuch", "app:nosuch", "nosuch:wheel", "a:b:c", "-1:wheel", "app:-5", "99999999999:wheel", "app:2147483648",
	} {
		for what, root := range roots {
			want, wantErr := applyUserOpt(root, oci.WithUser(user))
			got, err := applyUserOpt(root, withNamedUser(user))
			if (err == nil) != (wantErr == nil) || err == nil && fmt.Sprint(got) != fmt.Sprint(want) || !sameErrClass(err, wantErr) {
				t.Errorf("%s, %s: got %+v, %v; containerd's WithUser gives %+v, %v", user, what, got, err, want, wantErr)
			}
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

// --user or USER with a uid alone runs with the group of the uid's
// passwd entry, as with dockerd (docker run --user 1000 node id: gid
// 1000), and group 0 for a uid that has none; uid:gid is taken as it is.
func TestUIDTakesPasswdGroup(t *testing.T) {
	root, bare := userRoot(t, testPasswd, testGroup), userRoot(t, "", "")
	for _, c := range []struct {
		user, imageUser string
		root            bindRoot
		uid, gid        uint32
	}{
		{"1000", "", root, 1000, 1001},
		{"", "1000", root, 1000, 1001},
		{"1", "1000", root, 1, 1},
		{"4242", "", root, 4242, 0},
		{"1000", "", bare, 1000, 0},
		{"1000:50", "", bare, 1000, 50},
		{"1000:", "", bare, 1000, 0},
	} {
		u, err := applyUserOpt(c.root, withUser(c.user, c.imageUser))
		if err != nil || u.UID != c.uid || u.GID != c.gid || !slices.Contains(u.AdditionalGids, c.gid) {
			t.Errorf("--user %q, USER %q: %+v, %v; want uid %d gid %d", c.user, c.imageUser, u, err, c.uid, c.gid)
		}
	}
}
