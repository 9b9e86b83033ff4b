package container

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
)

// Cgroup drivers: who makes a container's cgroup. With cgroupfs (the
// default) runc makes /<namespace>/<id> (or /<cgroup-parent>/<id>) in
// the cgroup file system; with systemd runc asks systemd for a transient
// scope berth-<id>.scope in system.slice (or the --cgroup-parent slice),
// as Docker does with native.cgroupdriver=systemd. On a host whose init
// is systemd, systemd then knows every cgroup and does not meddle.
const (
	CgroupDriverCgroupfs = "cgroupfs"
	CgroupDriverSystemd  = "systemd"
)

// systemdScopePrefix names the scopes: berth-<id>.scope.
const systemdScopePrefix = "berth"

// withSystemdCgroup sets runc's systemd cgroups path, slice:prefix:name.
// A --cgroup-parent must then be a slice ("berth-apps.slice").
func withSystemdCgroup(parent, id string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if parent == "" {
			parent = "system.slice"
		}
		if !strings.HasSuffix(parent, ".slice") || strings.Contains(parent, "/") {
			return fmt.Errorf("cgroup parent %q: with the systemd cgroup driver it must be a slice name like \"berth-apps.slice\": %w", parent, errdefs.ErrInvalidArgument)
		}
		s.Linux.CgroupsPath = parent + ":" + systemdScopePrefix + ":" + id
		return nil
	}
}

// cgroupRelPath is the container's cgroup under a hierarchy's root for a
// spec's cgroups path: cgroupfs paths as they are, systemd's
// slice:prefix:name as systemd lays it out (a-b.slice is a.slice/a-b.slice).
func cgroupRelPath(cgroupsPath string) string {
	slice, rest, ok := strings.Cut(cgroupsPath, ":")
	if !ok {
		return cgroupsPath
	}
	prefix, name, _ := strings.Cut(rest, ":")
	dir := "/"
	if slice != "" && slice != "-.slice" {
		parts := strings.Split(strings.TrimSuffix(slice, ".slice"), "-")
		for i := range parts {
			dir = filepath.Join(dir, strings.Join(parts[:i+1], "-")+".slice")
		}
	}
	return filepath.Join(dir, prefix+"-"+name+".scope")
}
