// Package ebpf stands in for cilium/ebpf in berth's containerd, which
// loads no eBPF program. containerd's cgroups package (cgroup2) links it
// for the device filter of cgroup2.Manager.Update and NewManager; berth's
// containerd only puts itself into a cgroup with cgroup2.Load (its config's
// [cgroup] path) and never sets a container's devices: runc does, in the
// container's own cgroup. The real package's initialization keeps its
// feature probes, BTF parser and program loader in the binary whether they
// are called or not (0.3 MB of binary, docs/performance.md "Idle daemons").
package ebpf

import (
	"errors"

	"github.com/cilium/ebpf/asm"
)

// ErrNotSupported is what every loader here returns.
var ErrNotSupported = errors.New("eBPF programs are not supported by berth's containerd")

// ProgramType is a program's kind.
type ProgramType uint32

// CGroupDevice is the kind of a cgroup v2 device filter.
const CGroupDevice ProgramType = 15

// AttachType is where a program attaches.
type AttachType uint32

// AttachCGroupDevice attaches a device filter to a cgroup.
const AttachCGroupDevice AttachType = 6

// ProgramSpec describes a program to load.
type ProgramSpec struct {
	Type         ProgramType
	Instructions asm.Instructions
	License      string
}

// Program is a loaded program: there is never one.
type Program struct{}

// NewProgram fails: berth's containerd loads no eBPF program.
func NewProgram(*ProgramSpec) (*Program, error) { return nil, ErrNotSupported }
