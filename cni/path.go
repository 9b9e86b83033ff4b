package cni

import "path/filepath"

// NetNSPath is where Setup pins the network namespace of a container in
// bridge or network mode. The engine puts it in the container's OCI spec at
// create time; Setup creates it at start.
func (m *Manager) NetNSPath(containerID string) string {
	return filepath.Join(m.cfg.netnsDir(), containerID)
}
