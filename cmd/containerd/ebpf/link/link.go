// Package link stands in for cilium/ebpf's link package in berth's
// containerd (see package ebpf): attaching fails, as there is never a
// program to attach.
package link

import "github.com/cilium/ebpf"

// RawAttachProgramOptions names a program and where to attach it.
type RawAttachProgramOptions struct {
	Target  int
	Program *ebpf.Program
	Attach  ebpf.AttachType
	Flags   uint32
}

// RawDetachProgramOptions names a program and where to detach it from.
type RawDetachProgramOptions struct {
	Target  int
	Program *ebpf.Program
	Attach  ebpf.AttachType
}

// RawAttachProgram fails: berth's containerd loads no eBPF program.
func RawAttachProgram(RawAttachProgramOptions) error { return ebpf.ErrNotSupported }

// RawDetachProgram fails: berth's containerd loads no eBPF program.
func RawDetachProgram(RawDetachProgramOptions) error { return ebpf.ErrNotSupported }
