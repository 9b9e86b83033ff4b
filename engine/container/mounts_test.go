package container

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

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
