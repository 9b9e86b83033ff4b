package cni

import (
	"context"
	"slices"

	"github.com/berthproject/berth/cni/netns"
	"github.com/containerd/log"
)

// Release tears down the network of a container whose processes are gone,
// in two steps. At once, what makes the container visible: its DNS records
// and its place among the endpoints of its networks (so that the network
// can be removed). Then, in the background, the rest of a Teardown: CNI DEL
// of every endpoint (the plugins delete its interfaces and release its
// addresses) and the netns. Deleting a veth pair and unmounting the netns
// pin each wait for the kernel (RCU grace periods, tens of milliseconds in
// all): most of a bridge container's teardown, and nothing needs to wait for
// it.
//
// What needs those resources waits for the background step instead: a
// Teardown or Setup of the same container, a Setup asking for a fixed
// address, network removal, GC and Close. A container's published ports
// are free when Release returns: their elements are deleted and the host
// ports given back at once, the state written without them first (a
// retry must not delete the elements of a container that took the same
// port since). Ports of an older berth's portmap go with CNI DEL: that
// container is torn down synchronously (Teardown). A crash in between
// loses nothing: the state file stays until the teardown succeeded, and
// the next Teardown or GC finishes it.
func (m *Manager) Release(ctx context.Context, containerID string) error {
	if !isValidName(containerID) {
		return errInvalid("invalid container id %q", containerID)
	}
	if m.releasePending(containerID) {
		// Released already (an exit, then the removal of an --rm
		// container): the background step is under way.
		return nil
	}
	l := m.ctrLock(containerID)
	l.Lock()
	if m.releasePending(containerID) { // begun meanwhile
		l.Unlock()
		return nil
	}
	sb := m.sandboxOrState(containerID)
	if (len(sb.Ports) > 0 && !sb.PortsNFT) || len(sb.Endpoints) == 0 || !sb.ownNetns(m.cfg.netnsDir()) {
		l.Unlock()
		return m.Teardown(ctx, containerID)
	}
	m.dns.Unregister("", containerID)
	if len(sb.Ports) > 0 {
		rest, err := m.unpublishNow(sb)
		if err != nil {
			l.Unlock()
			return m.Teardown(ctx, containerID)
		}
		sb = rest
	}
	done := make(chan struct{})
	m.mu.Lock()
	delete(m.sandboxes, containerID)
	m.releasing[containerID] = done
	m.mu.Unlock()
	l.Unlock()

	go func() {
		defer close(done)
		releaseBegins(containerID)
		l.Lock()
		err := m.delEndpoints(context.WithoutCancel(ctx), sb, sb.NetNSPath)
		if err == nil {
			err = netns.Delete(sb.NetNSPath)
		}
		err = m.forgetSandbox(containerID, err)
		l.Unlock()
		if err != nil {
			log.G(ctx).WithError(err).Warnf("network teardown of container %s (retried at the next teardown or start)", shortID(containerID))
		}
		m.mu.Lock()
		delete(m.releasing, containerID)
		m.mu.Unlock()
	}()
	return nil
}

// unpublishNow deletes the published ports of sb and gives back its host
// ports, and returns sb without them, as written to its state.
func (m *Manager) unpublishNow(sb *Sandbox) (*Sandbox, error) {
	if err := m.unpublish(sb); err != nil {
		return nil, err
	}
	rest := *sb
	rest.Ports, rest.PortsNFT = nil, false
	rest.Endpoints = slices.Clone(sb.Endpoints)
	for i := range rest.Endpoints {
		rest.Endpoints[i].Ports = nil
	}
	if err := m.saveSandbox(&rest); err != nil {
		return nil, err
	}
	m.ports.release(sb.ContainerID)
	return &rest, nil
}

// releaseBegins is called as the background step of a Release begins
// (tests hold it there).
var releaseBegins = func(containerID string) {}

// releasePending reports whether the background step of a Release of the
// container is under way.
func (m *Manager) releasePending(containerID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.releasing[containerID]
	return ok
}

// waitReleased waits for the background step of a Release of the container.
func (m *Manager) waitReleased(containerID string) {
	m.mu.Lock()
	done := m.releasing[containerID]
	m.mu.Unlock()
	if done != nil {
		<-done
	}
}

// settle waits for the background steps of every Release begun so far.
func (m *Manager) settle() {
	m.mu.Lock()
	var pending []chan struct{}
	for _, done := range m.releasing {
		pending = append(pending, done)
	}
	m.mu.Unlock()
	for _, done := range pending {
		<-done
	}
}
