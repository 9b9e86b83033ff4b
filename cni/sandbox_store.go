// Sandbox state: the in-memory map, the per-container locks and the state files on disk.

package cni

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/berthproject/berth/pkg/atomicfile"
	"github.com/containerd/errdefs"
)

func (m *Manager) ctrLock(id string) *sync.Mutex {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.ctrLocks[id]
	if !ok {
		l = &sync.Mutex{}
		m.ctrLocks[id] = l
	}
	return l
}

func (m *Manager) statePath(id string) string {
	return filepath.Join(m.cfg.sandboxesDir(), id+".json")
}

func (m *Manager) saveSandbox(sb *Sandbox) error {
	m.mu.Lock()
	b, err := json.MarshalIndent(sb, "", "  ")
	m.mu.Unlock()
	if err != nil {
		return err
	}
	// Not synced: it is on every container start's path, and after a power
	// loss the namespaces it describes are gone anyway (GC then works from
	// libcni's cache).
	if err := os.MkdirAll(filepath.Dir(m.statePath(sb.ContainerID)), 0o700); err != nil {
		return err
	}
	return atomicfile.WriteUnsynced(m.statePath(sb.ContainerID), b, 0o600)
}

func (m *Manager) readSandbox(id string) (*Sandbox, error) {
	b, err := os.ReadFile(m.statePath(id))
	if err != nil {
		return nil, err
	}
	var sb Sandbox
	if err := json.Unmarshal(b, &sb); err != nil {
		return nil, fmt.Errorf("sandbox state of %s: %w", id, err)
	}
	return &sb, nil
}

func (m *Manager) loadSandboxes() error {
	entries, err := os.ReadDir(m.cfg.sandboxesDir())
	if err != nil {
		return err
	}
	for _, e := range entries {
		if atomicfile.IsTemp(e.Name(), ".json") {
			// A state write that a crash cut short (atomicfile's temp):
			// nothing writes here before the sandboxes are loaded.
			_ = os.Remove(filepath.Join(m.cfg.sandboxesDir(), e.Name()))
			continue
		}
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		sb, err := m.readSandbox(id)
		if err != nil {
			continue
		}
		m.mu.Lock()
		m.sandboxes[id] = sb
		m.mu.Unlock()
		// Best effort: the ports were ours before the restart.
		if len(sb.Ports) > 0 {
			if _, err := m.ports.reserve(id, sb.Ports, sb.ip6().IsValid()); err == nil {
				_ = m.ports.startProxies(id, sb.ip6())
			}
		}
		m.registerDNS(sb)
	}
	return nil
}

// Sandbox returns the current network state of a container (ErrNotFound if
// Setup has not run for it).
// SetExtraHosts replaces the extra /etc/hosts entries of a container's
// sandbox (its --add-host ones and its legacy links', when a linked
// container's address changes) and returns the sandbox; render the file
// again with HostsFile.
func (m *Manager) SetExtraHosts(ctx context.Context, containerID string, hosts []string) (*Sandbox, error) {
	l := m.ctrLock(containerID)
	l.Lock()
	defer l.Unlock()
	m.mu.Lock()
	sb, ok := m.sandboxes[containerID]
	if ok {
		sb.ExtraHosts = slices.Clone(hosts)
		sb = sb.clone()
	}
	m.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("network of container %s: %w", containerID, errdefs.ErrNotFound)
	}
	return sb, m.saveSandbox(sb)
}

func (m *Manager) Sandbox(ctx context.Context, containerID string) (*Sandbox, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sb, ok := m.sandboxes[containerID]
	if !ok {
		return nil, fmt.Errorf("network of container %s: %w", containerID, errdefs.ErrNotFound)
	}
	return sb.clone(), nil
}
