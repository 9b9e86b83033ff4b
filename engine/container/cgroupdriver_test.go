package container

import (
	"errors"
	"testing"

	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestCgroupRelPath(t *testing.T) {
	for in, want := range map[string]string{
		"/berth/c1":                 "/berth/c1",
		"/my-parent/c1":             "/my-parent/c1",
		"system.slice:berth:c1":     "/system.slice/berth-c1.scope",
		"berth-apps.slice:berth:c1": "/berth.slice/berth-apps.slice/berth-c1.scope",
		"a-b-c.slice:berth:c1":      "/a.slice/a-b.slice/a-b-c.slice/berth-c1.scope",
		"-.slice:berth:c1":          "/berth-c1.scope",
		":berth:c1":                 "/berth-c1.scope",
	} {
		if got := cgroupRelPath(in); got != want {
			t.Errorf("cgroupRelPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWithSystemdCgroup(t *testing.T) {
	if s := buildSpec(t, withSystemdCgroup("", "c1")); s.Linux.CgroupsPath != "system.slice:berth:c1" {
		t.Errorf("default slice: %q", s.Linux.CgroupsPath)
	}
	if s := buildSpec(t, withSystemdCgroup("berth-apps.slice", "c1")); s.Linux.CgroupsPath != "berth-apps.slice:berth:c1" {
		t.Errorf("--cgroup-parent slice: %q", s.Linux.CgroupsPath)
	}
	for _, bad := range []string{"apps", "/apps.slice/x", "a/b.slice"} {
		var s oci.Spec
		s.Linux = &specs.Linux{}
		if err := withSystemdCgroup(bad, "c1")(nil, nil, nil, &s); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("parent %q: %v, want an invalid argument", bad, err)
		}
	}
}
