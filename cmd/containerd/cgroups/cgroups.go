// Package cgroups stands in for containerd's cgroups module in berth's
// containerd, which makes no cgroup. containerd's daemon links it for two
// things: the cgroup mode of the host (Mode, for the cgroup v1
// deprecation warning of the runtime plugin), which is here as it is
// there, and its config's [cgroup] path, a cgroup it moves itself into
// (cmd/containerd/server's apply: cgroup1.Load or New with a StaticPath,
// or cgroup2.Load, then AddProc), which berth's config never sets: here
// loading that cgroup fails, naming berth's containerd, and containerd
// does not start. Containers' cgroups are runc's, made by the shim. The
// real module brought its cgroup v1 and v2 managers, their statistics'
// protobuf types, cilium/ebpf (device filters), godbus and go-systemd
// (systemd's cgroups) with it: 1.1 MB of binary (docs/performance.md
// "Idle daemons").
package cgroups

import (
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

var (
	checkMode sync.Once
	cgMode    CGMode
)

const unifiedMountpoint = "/sys/fs/cgroup"

// CGMode is the cgroups mode of the host system.
type CGMode int

const (
	// Unavailable cgroup mountpoint
	Unavailable CGMode = iota
	// Legacy cgroups v1
	Legacy
	// Hybrid with cgroups v1 and v2 controllers mounted
	Hybrid
	// Unified with only cgroups v2 mounted
	Unified
)

// Mode returns the cgroups mode running on the host (containerd's cgroups
// v3.1.3, utils.go).
func Mode() CGMode {
	checkMode.Do(func() {
		var st unix.Statfs_t
		if err := unix.Statfs(unifiedMountpoint, &st); err != nil {
			cgMode = Unavailable
			return
		}
		switch st.Type {
		case unix.CGROUP2_SUPER_MAGIC:
			cgMode = Unified
		default:
			cgMode = Legacy
			if err := unix.Statfs(filepath.Join(unifiedMountpoint, "unified"), &st); err != nil {
				return
			}
			if st.Type == unix.CGROUP2_SUPER_MAGIC {
				cgMode = Hybrid
			}
		}
	})
	return cgMode
}
