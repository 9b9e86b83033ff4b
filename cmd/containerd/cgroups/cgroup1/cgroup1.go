// Package cgroup1 stands in for containerd's cgroup v1 manager in berth's
// containerd (see package cgroups): loading or making a cgroup fails.
package cgroup1

import (
	"errors"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ErrCgroupDeleted is the real package's error for a cgroup that is gone.
var ErrCgroupDeleted = errors.New("cgroup deleted")

var errUnsupported = errors.New("containerd's own cgroup ([cgroup] path) is not supported by berth's containerd: remove [cgroup] path from its config (berthd writes none)")

// Path returns a cgroup's path in a hierarchy.
type Path func(subsystem string) (string, error)

// StaticPath is path in every hierarchy.
func StaticPath(path string) Path {
	return func(string) (string, error) { return path, nil }
}

// Cgroup is a cgroup: there is never one.
type Cgroup interface {
	AddProc(pid uint64) error
}

// Load fails: berth's containerd loads no cgroup.
func Load(Path) (Cgroup, error) { return nil, errUnsupported }

// New fails: berth's containerd makes no cgroup.
func New(Path, *specs.LinuxResources) (Cgroup, error) { return nil, errUnsupported }
