// Package cgroup2 stands in for containerd's cgroup v2 manager in berth's
// containerd (see package cgroups): loading a cgroup fails.
package cgroup2

import "errors"

var errUnsupported = errors.New("containerd's own cgroup ([cgroup] path) is not supported by berth's containerd: remove [cgroup] path from its config (berthd writes none)")

// Manager is a cgroup: there is never one.
type Manager struct{}

// Load fails: berth's containerd loads no cgroup.
func Load(string) (*Manager, error) {
	return nil, errUnsupported
}

// AddProc is never reached: there is no Manager.
func (*Manager) AddProc(uint64) error {
	return errUnsupported
}
