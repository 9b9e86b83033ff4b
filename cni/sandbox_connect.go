// Connect and Disconnect: one more network for a running container, or one less.

package cni

import (
	"context"
	"fmt"
	"slices"

	"github.com/containerd/errdefs"
)

func (m *Manager) Connect(ctx context.Context, containerID string, att Attachment) (_ *Endpoint, err error) {
	l := m.ctrLock(containerID)
	l.Lock()
	defer l.Unlock()
	m.mu.Lock()
	sb, ok := m.sandboxes[containerID]
	var n *storedNetwork
	var lerr error
	if ok {
		n, lerr = m.lookupLocked(att.Network)
	}
	m.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("network of container %s: %w", shortID(containerID), errdefs.ErrNotFound)
	}
	if lerr != nil {
		return nil, lerr
	}
	if sb.Mode != ModeNetwork {
		return nil, fmt.Errorf("container %s in network mode %s cannot be connected to a network: %w", shortID(containerID), sb.Mode, errdefs.ErrFailedPrecondition)
	}
	if sb.Endpoint(n.Name) != nil {
		return nil, fmt.Errorf("container %s is already connected to network %s: %w", shortID(containerID), n.Name, errdefs.ErrAlreadyExists)
	}
	taken := []string{"lo"}
	for _, e := range sb.Endpoints {
		taken = append(taken, e.IfName)
	}
	ifName := att.IfName
	switch {
	case ifName == "":
		ifName = freeIfName(taken)
	case slices.Contains(taken, ifName):
		return nil, ifNameExists(ifName)
	default:
		if err := checkIfName(ifName); err != nil {
			return nil, err
		}
	}
	ep, err := m.newEndpoint(&n.Network, att, ifName)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	sb.Endpoints = append(sb.Endpoints, ep)
	idx := len(sb.Endpoints) - 1
	m.mu.Unlock()
	defer func() {
		if err != nil {
			m.mu.Lock()
			sb.Endpoints = slices.Delete(sb.Endpoints, idx, idx+1)
			m.mu.Unlock()
			_ = m.saveSandbox(sb)
			// The default route goes back to the networks left.
			_ = m.syncDefaultRoutes(sb)
		}
	}()
	if err := m.saveSandbox(sb); err != nil {
		return nil, err
	}
	if err := m.cniAdd(ctx, sb, &sb.Endpoints[idx]); err != nil {
		_ = m.cniDel(context.WithoutCancel(ctx), sb, &sb.Endpoints[idx])
		return nil, err
	}
	// The new network may take the default route (a higher GwPriority).
	if err := m.syncDefaultRoutes(sb); err != nil {
		_ = m.cniDel(context.WithoutCancel(ctx), sb, &sb.Endpoints[idx])
		return nil, err
	}
	if err := m.saveSandbox(sb); err != nil {
		_ = m.cniDel(context.WithoutCancel(ctx), sb, &sb.Endpoints[idx])
		return nil, err
	}
	m.registerDNS(sb)
	m.mu.Lock()
	out := sb.Endpoints[idx]
	m.mu.Unlock()
	return &out, nil
}

// Disconnect detaches a container from a network: CNI DEL, DNS records and
// (if the endpoint published them) port reservations go at once.
func (m *Manager) Disconnect(ctx context.Context, containerID, network string) error {
	l := m.ctrLock(containerID)
	l.Lock()
	defer l.Unlock()
	m.mu.Lock()
	sb, ok := m.sandboxes[containerID]
	var name string
	if n, err := m.lookupLocked(network); err == nil {
		name = n.Name
	} else {
		name = network
	}
	m.mu.Unlock()
	if !ok {
		return fmt.Errorf("network of container %s: %w", shortID(containerID), errdefs.ErrNotFound)
	}
	idx := slices.IndexFunc(sb.Endpoints, func(e Endpoint) bool { return e.Network == name })
	if idx < 0 {
		return fmt.Errorf("container %s is not connected to network %s: %w", shortID(containerID), network, errdefs.ErrNotFound)
	}
	ep := sb.Endpoints[idx]
	m.dns.Unregister(name, containerID)
	if err := m.cniDel(ctx, sb, &ep); err != nil {
		m.registerDNS(sb)
		return err
	}
	if len(ep.Ports) > 0 {
		m.ports.release(containerID)
	}
	m.mu.Lock()
	if len(ep.Ports) > 0 {
		sb.Ports = nil
	}
	sb.Endpoints = slices.Delete(sb.Endpoints, idx, idx+1)
	m.mu.Unlock()
	if err := m.saveSandbox(sb); err != nil {
		return err
	}
	// If the network gave the default route, the next best one does now.
	return m.syncDefaultRoutes(sb)
}

// GC cleans up after a crash. valid lists every container that still
// exists (running or not yet torn down): everything else is removed — its
// sandbox state and netns, and every attachment in libcni's cache (IPs,
// port-forwarding rules). Then berth's firewall chains are re-synced.
