package container

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	containertypes "github.com/berthproject/berth/pkg/types/container"
)

// TestResolveMounts checks the mounts that need no volume service: binds
// (a missing -v source is made, a missing --mount source is an error),
// tmpfs options and the spec they produce.
func TestResolveMounts(t *testing.T) {
	s := &Service{}
	dir := t.TempDir()
	p := &mountPlan{readonly: true}
	made := filepath.Join(dir, "made")
	e, err := s.resolveMount(context.Background(), p, containertypes.MountSpec{Type: "bind", Source: made, Target: "/m/"}, fromV, "")
	if err != nil || e.Destination != "/m" || !reflect.DeepEqual(e.Options, []string{"rbind", "rprivate", "rw"}) {
		t.Fatalf("-v bind: %+v %v", e, err)
	}
	p.entries = append(p.entries, e)
	if _, err := s.resolveMount(context.Background(), p, containertypes.MountSpec{Type: "bind", Source: filepath.Join(dir, "gone"), Target: "/g"}, fromMount, ""); !errdefs.IsInvalidArgument(err) {
		t.Errorf("--mount of a missing source: %v", err)
	}
	e, err = s.resolveMount(context.Background(), p, containertypes.MountSpec{Type: "tmpfs", Target: "/t"}, fromTmpfs, "size=1m,mode=1777")
	if err != nil || !reflect.DeepEqual(e.Options, []string{"noexec", "nosuid", "nodev", "rw", "size=1m", "mode=1777"}) {
		t.Fatalf("--tmpfs: %+v %v", e, err)
	}
	p.entries = append(p.entries, e)
	e, err = s.resolveMount(context.Background(), p, containertypes.MountSpec{Type: "tmpfs", Target: "/m/sub", ReadOnly: true, TmpfsSize: 4096, TmpfsMode: 0o700}, fromMount, "")
	if err != nil || !reflect.DeepEqual(e.Options, []string{"nosuid", "nodev", "ro", "size=4096", "mode=700"}) {
		t.Fatalf("--mount tmpfs: %+v %v", e, err)
	}
	p.entries = append([]mountEntry{e}, p.entries...)
	for _, bad := range []containertypes.MountSpec{
		{Type: "bind", Source: "rel", Target: "/x"},
		{Type: "tmpfs", Target: "/"},
		{Type: "tmpfs", Target: "rel"},
		{Type: "tmpfs", Source: "x", Target: "/x"},
		{Type: "nfs", Target: "/x"},
		{Type: "tmpfs", Target: "/x", VolumeNoCopy: true},
		{Type: "bind", Source: dir, Target: "/x", TmpfsSize: 1},
		{Type: "bind", Source: dir, Target: "/x", BindPropagation: "sideways"},
		{Type: "volume", Target: "/x"}, // no volume service here
	} {
		if _, err := s.resolveMount(context.Background(), p, bad, fromMount, ""); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}

	sp := &oci.Spec{Root: &specs.Root{Path: "rootfs"}, Mounts: []specs.Mount{{Destination: "/dev/shm", Type: "tmpfs"}, {Destination: "/t", Type: "bind"}}}
	sortByDepth(p.entries)
	if err := p.specOpt()(context.Background(), nil, nil, sp); err != nil {
		t.Fatal(err)
	}
	var dsts []string
	for _, m := range sp.Mounts {
		dsts = append(dsts, m.Destination)
	}
	if !sp.Root.Readonly || !reflect.DeepEqual(dsts, []string{"/dev/shm", "/m", "/t", "/m/sub"}) {
		t.Errorf("spec: readonly=%v mounts %v", sp.Root.Readonly, dsts)
	}
}

// TestBindPropagationDaemonRoot: binds of berthd's root, of a directory
// below it or above it get rslave by default and may only be rslave or
// rshared (dockerd's rule); other binds default to rprivate.
func TestBindPropagationDaemonRoot(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	s := &Service{opts: Options{Root: root}}
	for _, tc := range []struct {
		src, want, got string
		ok             bool
	}{
		{root, "", "rslave", true},
		{filepath.Join(root, "containers"), "", "rslave", true},
		{base, "", "rslave", true}, // the root is below it
		{root, "rshared", "rshared", true},
		{root, "rslave", "rslave", true},
		{root, "private", "", false},
		{filepath.Join(root, "containers"), "slave", "", false},
		{base, "shared", "", false},
		{root + "2", "", "rprivate", true}, // a sibling, not below
		{filepath.Join(base, "other"), "private", "private", true},
		{filepath.Join(base, "other"), "sideways", "", false},
	} {
		got, err := s.bindPropagation(tc.src, tc.want)
		if (err == nil) != tc.ok || got != tc.got {
			t.Errorf("bind of %s with %q: got %q, %v", tc.src, tc.want, got, err)
		}
		if err != nil && !errdefs.IsInvalidArgument(err) {
			t.Errorf("bind of %s with %q: error class: %v", tc.src, tc.want, err)
		}
	}
}

// TestSubpathRefused: a subpath that is not lexically inside its volume or
// image, or that is given to another mount type, is refused at create.
func TestSubpathRefused(t *testing.T) {
	s := &Service{}
	for _, m := range []containertypes.MountSpec{
		{Type: "volume", Source: "v", Target: "/x", Subpath: "../../etc/passwd"},
		{Type: "volume", Source: "v", Target: "/x", Subpath: "/etc"},
		{Type: "volume", Source: "v", Target: "/x", Subpath: "a/../../b"},
		{Type: "image", Source: "busybox", Target: "/x", Subpath: "../x"},
		{Type: "volume", Target: "/x", Subpath: "a"}, // anonymous
		{Type: "bind", Source: "/tmp", Target: "/x", Subpath: "a"},
		{Type: "tmpfs", Target: "/x", Subpath: "a"},
	} {
		_, err := s.resolveMount(context.Background(), &mountPlan{}, m, fromMount, "")
		if !errdefs.IsInvalidArgument(err) {
			t.Errorf("%+v: %v, want an invalid-argument error", m, err)
		}
	}
}

// TestOpenBeneath: a subpath is opened below its base, following symbolic
// links that stay inside; one that leads out, or a missing path, is an
// error worded as dockerd's.
func TestOpenBeneath(t *testing.T) {
	base := t.TempDir()
	for _, d := range []string{"subdir", "hack"} {
		if err := os.Mkdir(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(base, "subdir", "hello.txt"), []byte("world\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, to := range map[string]string{"root": "/", "good": "../subdir", "bad": "root", "up": "../.."} {
		if err := os.Symlink(to, filepath.Join(base, "hack", name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, ok := range []string{".", "subdir", "hack/good", "hack/good/hello.txt", "subdir/../subdir"} {
		fd, err := openBeneath(base, ok)
		if err != nil {
			t.Errorf("%s: %v", ok, err)
			continue
		}
		unix.Close(fd)
	}
	for sub, want := range map[string]string{
		"hack/root":          "path concatenation escapes the base directory",
		"hack/bad":           "path concatenation escapes the base directory",
		"hack/up":            "path concatenation escapes the base directory",
		"nothing":            "cannot access path",
		"subdir/hello.txt/x": "cannot access path",
	} {
		fd, err := openBeneath(base, sub)
		if err == nil {
			unix.Close(fd)
			t.Errorf("%s opened", sub)
		} else if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", sub, err, want)
		}
	}
}

// TestUnstage: what a start that berthd did not finish left in the staging
// directory (binds of a file and a directory, stacked mounts) is detached
// and removed.
func TestUnstage(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts")
	}
	s := &Service{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "staging")
	if err := os.MkdirAll(filepath.Join(dir, "0"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "1"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, m := range [][2]string{{src, "0"}, {src, "0"}, {filepath.Join(src, "f"), "1"}} {
		if err := unix.Mount(m[0], filepath.Join(dir, m[1]), "", unix.MS_BIND, ""); err != nil {
			t.Fatal(err)
		}
	}
	s.unstage(dir)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("staging dir still there: %v", err)
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mi), dir) {
		t.Errorf("mounts left under %s", dir)
	}
}
