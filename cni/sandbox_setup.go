// Setup and Teardown of a container's network (CNI ADD/DEL per endpoint).

package cni

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/containernetworking/cni/libcni"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/cni/netns"
	networktypes "github.com/berthproject/berth/pkg/types/network"
)

// plan resolves the networks of a request into endpoints (IfName eth0...).
func (m *Manager) plan(req SetupRequest) ([]Endpoint, error) {
	primary := req.NetworkMode
	if primary == "" {
		primary = networktypes.DefaultNetwork
		if len(req.Networks) > 0 {
			primary = req.Networks[0].Network
		}
	}
	if primary == "default" {
		primary = networktypes.DefaultNetwork
	}
	atts := []Attachment{{Network: primary}}
	for _, a := range req.Networks {
		if a.Network == primary {
			atts[0] = a
		} else {
			atts = append(atts, a)
		}
	}
	// The interfaces named by the request first, then eth<N> for the
	// others, N the first index no interface has (as dockerd).
	taken := []string{"lo"}
	for _, a := range atts {
		if a.IfName == "" {
			continue
		}
		if err := checkIfName(a.IfName); err != nil {
			return nil, err
		}
		if slices.Contains(taken, a.IfName) {
			return nil, ifNameExists(a.IfName)
		}
		taken = append(taken, a.IfName)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var eps []Endpoint
	for _, a := range atts {
		n, err := m.lookupLocked(a.Network)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(eps, func(e Endpoint) bool { return e.Network == n.Name }) {
			return nil, errInvalid("network %s given twice", n.Name)
		}
		ifName := a.IfName
		if ifName == "" {
			ifName = freeIfName(taken)
			taken = append(taken, ifName)
		}
		ep, err := m.newEndpoint(&n.Network, a, ifName)
		if err != nil {
			return nil, err
		}
		eps = append(eps, ep)
	}
	return eps, nil
}

// freeIfName is eth<N>, N the first index not taken.
func freeIfName(taken []string) string {
	for i := 0; ; i++ {
		if name := fmt.Sprintf("eth%d", i); !slices.Contains(taken, name) {
			return name
		}
	}
}

// checkIfName refuses a name the kernel would not take for an interface.
func checkIfName(name string) error {
	if len(name) > 15 || name == "." || name == ".." || strings.ContainsAny(name, "/:% \t\n") {
		return errInvalid("invalid interface name %q: at most 15 characters, none of / : %% or spaces", name)
	}
	return nil
}

// ifNameExists is the error of an interface name already in the
// container, in the words of dockerd (which fails to rename its veth).
func ifNameExists(name string) error {
	return fmt.Errorf("error renaming interface to %q: file exists: the container already has an interface %s: %w", name, name, errdefs.ErrAlreadyExists)
}

func (m *Manager) newEndpoint(n *networktypes.Network, a Attachment, ifName string) (Endpoint, error) {
	if len(a.Aliases) > 0 && !n.DNS {
		return Endpoint{}, errInvalid("network-scoped aliases are supported only on user-defined networks with DNS (not %s)", n.Name)
	}
	if a.IPv4.IsValid() && (!n.Subnet.Contains(a.IPv4) || a.IPv4 == n.Gateway) {
		return Endpoint{}, errInvalid("address %s is not a free host address of network %s (%s)", a.IPv4, n.Name, n.Subnet)
	}
	if a.IPv6.IsValid() {
		switch {
		case !n.EnableIPv6:
			return Endpoint{}, errInvalid("--ip6 %s: network %s has no IPv6 (create it with --ipv6)", a.IPv6, n.Name)
		case !a.IPv6.Is6() || a.IPv6.Is4In6():
			return Endpoint{}, errInvalid("--ip6 %s is not an IPv6 address", a.IPv6)
		case !n.Subnet6.Contains(a.IPv6) || a.IPv6 == n.Gateway6 || a.IPv6 == n.Subnet6.Addr():
			return Endpoint{}, errInvalid("address %s is not a free host address of network %s (%s)", a.IPv6, n.Name, n.Subnet6)
		}
	}
	for name, aux := range n.AuxAddresses {
		if a.IPv4 == aux {
			return Endpoint{}, errInvalid("address %s of network %s is reserved for %s (--aux-address): pick another --ip", a.IPv4, n.Name, name)
		}
	}
	ep := Endpoint{
		Network: n.Name, NetworkID: n.ID, Driver: n.Driver, IfName: ifName,
		Aliases: slices.Clone(a.Aliases), RequestedIPv4: a.IPv4, RequestedIPv6: a.IPv6, RequestedMAC: a.MAC,
		DefaultRoute: !n.Internal, GwPriority: a.GwPriority, IfNameGiven: a.IfName != "",
	}
	if n.DNS && m.drivers[n.Driver].Features(n).HostReachable {
		ep.DNSServer = n.Gateway
	}
	return ep, nil
}

// Setup creates the network of a container: its netns (pinned at
// <state>/netns/<id>) with lo up, one interface per network through CNI ADD,
// published ports and DNS records. It writes nothing into the container;
// see HostsFile, ResolvConf and HostnameFile. A failed Setup leaves nothing
// behind. Errors: ErrAlreadyExists (already set up), ErrNotFound (network),
// ErrInvalidArgument, ErrConflict (host port taken).
func (m *Manager) Setup(ctx context.Context, req SetupRequest) (_ *Sandbox, err error) {
	id := req.ContainerID
	if !isValidName(id) {
		return nil, errInvalid("invalid container id %q", id)
	}
	m.waitReleased(id)
	if slices.ContainsFunc(req.Networks, func(a Attachment) bool { return a.IPv4.IsValid() || a.IPv6.IsValid() }) {
		m.settle() // the address may be one a released container still holds
	}
	l := m.ctrLock(id)
	l.Lock()
	defer l.Unlock()
	m.mu.Lock()
	_, exists := m.sandboxes[id]
	m.mu.Unlock()
	if _, serr := os.Stat(m.statePath(id)); exists || serr == nil {
		return nil, fmt.Errorf("network of container %s is already set up: %w", shortID(id), errdefs.ErrAlreadyExists)
	}

	sb := &Sandbox{
		ContainerID: id, Name: req.Name, Hostname: req.Hostname,
		DNS: slices.Clone(req.DNS), DNSSearch: slices.Clone(req.DNSSearch), DNSOptions: slices.Clone(req.DNSOptions),
		ExtraHosts: slices.Clone(req.ExtraHosts), Links: slices.Clone(req.Links), Created: time.Now().UTC(),
	}
	ports := req.Ports
	switch mode := req.NetworkMode; {
	case mode == ModeHost:
		sb.Mode, ports = ModeHost, nil
		if sb.Hostname == "" {
			sb.Hostname, _ = os.Hostname()
		}
	case strings.HasPrefix(mode, "container:"):
		sb.Mode, sb.NetNSPath = ModeContainer, strings.TrimPrefix(mode, "container:")
		if sb.NetNSPath == "" {
			return nil, errInvalid("network mode %q: missing netns path", mode)
		}
	case mode == ModeNone:
		sb.Mode = ModeNone
	default:
		sb.Mode = ModeNetwork
	}
	if sb.Hostname == "" {
		sb.Hostname = shortID(id)
	}
	if sb.Mode != ModeNetwork && len(req.Networks) > 0 {
		return nil, errInvalid("network mode %s cannot be combined with networks", req.NetworkMode)
	}
	if (sb.Mode == ModeNone || sb.Mode == ModeContainer) && len(ports) > 0 {
		return nil, errInvalid("published ports conflict with network mode %s", req.NetworkMode)
	}
	if sb.Mode == ModeNetwork {
		if sb.Endpoints, err = m.plan(req); err != nil {
			return nil, err
		}
	}
	if len(ports) > 0 {
		m.mu.Lock()
		n := m.networks[sb.Endpoints[0].Network]
		m.mu.Unlock()
		if n.Internal {
			// As Docker's bridge driver: a container whose network is
			// internal publishes nothing (nothing may reach it from
			// outside its network, the host's loopback included).
			ports = nil
		}
	}
	if len(ports) > 0 {
		m.mu.Lock()
		n := m.networks[sb.Endpoints[0].Network]
		m.mu.Unlock()
		if !m.drivers[n.Driver].Features(&n.Network).Ports {
			return nil, errInvalid("network %s (driver %s) does not support published ports", n.Name, n.Driver)
		}
		for _, p := range ports {
			if p.HostIP.Is6() && !p.HostIP.Is4In6() && !p.HostIP.IsUnspecified() && !n.EnableIPv6 {
				return nil, errInvalid("publish %s: network %s has no IPv6 (create it with --ipv6), so the container has no IPv6 address to forward to", p.HostAddr(), n.Name)
			}
		}
		if sb.Ports, err = m.ports.reserve(id, ports, n.EnableIPv6); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				m.ports.release(id)
			}
		}()
		sb.Endpoints[0].Ports = sb.Ports
		sb.PortsNFT = true
	}

	ownNetns := sb.Mode == ModeNone || sb.Mode == ModeNetwork
	if ownNetns {
		sb.NetNSPath = m.NetNSPath(id)
	}
	// From here on the sandbox is visible (networks in use cannot be
	// removed) and on disk (a crash leaves enough to tear it down).
	m.mu.Lock()
	m.sandboxes[id] = sb
	m.mu.Unlock()
	defer func() {
		if err != nil {
			m.mu.Lock()
			delete(m.sandboxes, id)
			m.mu.Unlock()
			_ = os.Remove(m.statePath(id))
		}
	}()

	if ownNetns {
		if err := netns.New(sb.NetNSPath); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				_ = netns.Delete(sb.NetNSPath)
			}
		}()
		// The task can be created in the namespace from here on; the
		// process starts only once Setup returned, so the rest (state,
		// lo, interfaces) runs meanwhile. A crash before the state is
		// written leaves a pin that the startup GC removes.
		if req.NetNSReady != nil {
			req.NetNSReady()
		}
		if err := m.saveSandbox(sb); err != nil {
			return nil, err
		}
		if err := loopbackUp(sb.NetNSPath); err != nil {
			return nil, err
		}
	}

	attempted := 0
	defer func() {
		if err != nil {
			rctx := context.WithoutCancel(ctx)
			for i := attempted - 1; i >= 0; i-- {
				_ = m.cniDel(rctx, sb, &sb.Endpoints[i])
			}
		}
	}()
	for i := range sb.Endpoints {
		attempted = i + 1
		if err := m.cniAdd(ctx, sb, &sb.Endpoints[i]); err != nil {
			return nil, err
		}
	}
	if err := m.syncDefaultRoutes(sb); err != nil {
		return nil, err
	}
	if len(sb.Ports) > 0 {
		if err := m.publish(sb); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				_ = m.fw.delPorts(sb.Ports, sb.ip6().IsValid())
			}
		}()
		if err := m.ports.startProxies(id, sb.ip6()); err != nil {
			return nil, fmt.Errorf("publish ports of container %s on [::1]: %w", shortID(id), err)
		}
	} else if sb.Mode == ModeNetwork {
		if err := m.fw.ensureForwardAccept(); err != nil {
			log.G(ctx).WithError(err).Warn("iptables FORWARD: berth's traffic may be dropped")
		}
	}
	if err := m.saveSandbox(sb); err != nil {
		return nil, err
	}
	m.registerDNS(sb)
	return m.Sandbox(ctx, id)
}

// publish forwards the container's host ports to its address on its
// primary network, in one nftables transaction.
func (m *Manager) publish(sb *Sandbox) error {
	ep := &sb.Endpoints[0]
	m.mu.Lock()
	n, ok := m.networks[ep.Network]
	m.mu.Unlock()
	if !ok {
		return notFoundNetwork(ep.Network)
	}
	if !ep.IPv4.IsValid() {
		return fmt.Errorf("publish ports of container %s: no address on network %s", shortID(sb.ContainerID), ep.Network)
	}
	if err := routeLocalnet(n.Interface); err != nil {
		return fmt.Errorf("publish ports on 127.0.0.1 through %s: %w", n.Interface, err)
	}
	err := m.fw.addPorts(sb.Ports, ep.IPv4.Addr(), sb.ip6())
	if errors.Is(err, unix.ENOENT) {
		// The table is gone: something flushed the whole ruleset (Debian's
		// nftables.service does at each start or reload). Put it back, with
		// every running container's ports, then this one's.
		if err = m.restoreFirewall(sb.ContainerID); err == nil {
			err = m.fw.addPorts(sb.Ports, ep.IPv4.Addr(), sb.ip6())
		}
	}
	if err != nil {
		return fmt.Errorf("publish ports of container %s: %w", shortID(sb.ContainerID), err)
	}
	return nil
}

// restoreFirewall programs berth's table again and the published ports of
// every sandbox but skip.
func (m *Manager) restoreFirewall(skip string) error {
	if err := m.syncFirewall(); err != nil {
		return err
	}
	m.mu.Lock()
	var sbs []*Sandbox
	for id, sb := range m.sandboxes {
		if id != skip && sb.PortsNFT && len(sb.Ports) > 0 && len(sb.Endpoints) > 0 && sb.Endpoints[0].IPv4.IsValid() {
			sbs = append(sbs, sb.clone())
		}
	}
	m.mu.Unlock()
	var errs []error
	for _, sb := range sbs {
		errs = append(errs, m.fw.addPorts(sb.Ports, sb.Endpoints[0].IPv4.Addr(), sb.ip6()))
	}
	return errors.Join(errs...)
}

// unpublish deletes the container's published-port elements (one
// transaction: once it returns no packet is forwarded to the container's
// address, which CNI DEL then gives back).
func (m *Manager) unpublish(sb *Sandbox) error {
	if !sb.PortsNFT || len(sb.Ports) == 0 {
		return nil
	}
	return m.fw.delPorts(sb.Ports, sb.ip6().IsValid())
}

func loopbackUp(path string) error {
	h, err := vnetns.GetFromPath(path)
	if err != nil {
		return err
	}
	defer h.Close()
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		return err
	}
	defer nh.Close()
	lo, err := nh.LinkByName("lo")
	if err != nil {
		return err
	}
	return nh.LinkSetUp(lo)
}

func (m *Manager) runtimeConf(sb *Sandbox, ep *Endpoint) *libcni.RuntimeConf {
	caps := map[string]any{}
	if len(ep.Ports) > 0 {
		var pm []map[string]any
		for _, p := range ep.Ports {
			e := map[string]any{"hostPort": p.HostPort, "containerPort": p.ContainerPort, "protocol": p.Proto}
			if p.HostIP.IsValid() {
				e["hostIP"] = p.HostIP.String()
			}
			pm = append(pm, e)
		}
		caps["portMappings"] = pm
	}
	if ep.RequestedIPv4.IsValid() || ep.RequestedIPv6.IsValid() {
		m.mu.Lock()
		bits, bits6 := 32, 128
		if n, ok := m.networks[ep.Network]; ok {
			bits, bits6 = n.Subnet.Bits(), n.Subnet6.Bits()
		}
		m.mu.Unlock()
		// host-local takes a requested address per range: with only an
		// IPv6 one, the IPv4 address is still allocated.
		var ips []string
		if ep.RequestedIPv4.IsValid() {
			ips = append(ips, netip.PrefixFrom(ep.RequestedIPv4, bits).String())
		}
		if ep.RequestedIPv6.IsValid() {
			ips = append(ips, netip.PrefixFrom(ep.RequestedIPv6, bits6).String())
		}
		caps["ips"] = ips
	}
	if ep.RequestedMAC != "" {
		caps["mac"] = ep.RequestedMAC
	}
	return &libcni.RuntimeConf{ContainerID: sb.ContainerID, NetNS: sb.NetNSPath, IfName: ep.IfName, CapabilityArgs: caps}
}

// runtimeList is the network's plugin chain for one endpoint. A conflist
// an older berth wrote has portmap: it is left out, except for the DEL of
// an endpoint whose ports portmap forwarded (withPortmap).
func runtimeList(n *storedNetwork, withPortmap bool) *libcni.NetworkConfigList {
	if withPortmap {
		return n.list
	}
	l := *n.list
	l.Plugins = slices.DeleteFunc(slices.Clone(l.Plugins), func(p *libcni.PluginConfig) bool {
		return p.Network.Type == "portmap"
	})
	return &l
}

// lowestFreeFirst makes host-local hand out the lowest free address of
// the network, as dockerd's IPAM does, instead of going on round-robin
// from the last one it gave: without its last_reserved_ip.<range> files
// it searches from the start of each range. (A concurrent ADD that read
// the file first only goes on round-robin once.)
func (m *Manager) lowestFreeFirst(network string) {
	files, _ := filepath.Glob(filepath.Join(m.cfg.ipamDir(), network, "last_reserved_ip.*"))
	for _, f := range files {
		_ = os.Remove(f)
	}
}

func (m *Manager) cniAdd(ctx context.Context, sb *Sandbox, ep *Endpoint) (err error) {
	m.mu.Lock()
	n, ok := m.networks[ep.Network]
	m.mu.Unlock()
	if !ok {
		return notFoundNetwork(ep.Network)
	}
	rt := m.runtimeConf(sb, ep)
	if alloc, ok := m.drivers[n.Driver].(EndpointAllocator); ok {
		ip, mac, aerr := alloc.AllocateEndpoint(ctx, &n.Network, EndpointRequest{
			ContainerID: sb.ContainerID, Names: m.dnsNames(sb, ep), IPv4: ep.RequestedIPv4, MAC: ep.RequestedMAC,
		})
		if aerr != nil {
			return fmt.Errorf("attach container %s to network %s: %w", shortID(sb.ContainerID), ep.Network, aerr)
		}
		// The rollback below reads the named result err, not a shadow.
		rt.CapabilityArgs["ips"] = []string{netip.PrefixFrom(ip, n.Subnet.Bits()).String()}
		if mac != "" {
			rt.CapabilityArgs["mac"] = mac
		}
		defer func() {
			if err != nil {
				_ = alloc.ReleaseEndpoint(context.WithoutCancel(ctx), &n.Network, sb.ContainerID)
			}
		}()
	}
	m.lowestFreeFirst(n.Name)
	res, err := m.cni.AddNetworkList(ctx, runtimeList(n, false), rt)
	if err != nil {
		return fmt.Errorf("attach container %s to network %s: %w", shortID(sb.ContainerID), ep.Network, err)
	}
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ipc := range r.IPs {
		if p, ok := netipPrefix(ipc.Address.IP, ipc.Address.Mask); ok && !ep.IPv4.IsValid() {
			ep.IPv4 = p
			if gw, ok := netip.AddrFromSlice(ipc.Gateway.To4()); ok {
				ep.Gateway = gw
			}
		} else if p, ok := netipPrefix6(ipc.Address.IP, ipc.Address.Mask); ok && !ep.IPv6.IsValid() {
			ep.IPv6 = p
			if gw, ok := netip.AddrFromSlice(ipc.Gateway.To16()); ok && ipc.Gateway.To4() == nil {
				ep.Gateway6 = gw
			}
		}
	}
	for _, ifc := range r.Interfaces {
		if ifc.Name == ep.IfName && ifc.Sandbox != "" {
			ep.MAC = ifc.Mac
		}
	}
	return nil
}

// cniDel runs CNI DEL for an endpoint, with the network's conflist or, if
// the network is gone, with the configuration libcni cached at ADD.
func (m *Manager) cniDel(ctx context.Context, sb *Sandbox, ep *Endpoint) error {
	m.mu.Lock()
	n, ok := m.networks[ep.Network]
	m.mu.Unlock()
	rt := m.runtimeConf(sb, ep)
	if ok {
		if err := m.cni.DelNetworkList(ctx, runtimeList(n, len(ep.Ports) > 0 && !sb.PortsNFT), rt); err != nil {
			return fmt.Errorf("detach container %s from network %s: %w", shortID(sb.ContainerID), ep.Network, err)
		}
		if alloc, ok := m.drivers[n.Driver].(EndpointAllocator); ok {
			if err := alloc.ReleaseEndpoint(ctx, &n.Network, sb.ContainerID); err != nil {
				return fmt.Errorf("release the address of container %s on network %s: %w", shortID(sb.ContainerID), ep.Network, err)
			}
		}
		return nil
	}
	b, crt, err := m.cni.GetNetworkListCachedConfig(&libcni.NetworkConfigList{Name: ep.Network}, rt)
	if err != nil || b == nil {
		return nil // never attached, or already deleted
	}
	list, err := libcni.NetworkConfFromBytes(b)
	if err != nil {
		return err
	}
	return m.cni.DelNetworkList(ctx, list, crt)
}

func (m *Manager) dnsNames(sb *Sandbox, ep *Endpoint) []string {
	names := []string{shortID(sb.ContainerID)}
	if sb.Name != "" {
		names = append(names, sb.Name)
	}
	names = append(names, ep.Aliases...)
	// The container's hostname resolves too, as under dockerd.
	if sb.Hostname != "" && !slices.Contains(names, sb.Hostname) {
		names = append(names, sb.Hostname)
	}
	return names
}

func dnsUpstreams(servers []string) []string {
	var out []string
	for _, s := range servers {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.AddrPortFrom(a, 53).String())
		}
	}
	return out
}

func (m *Manager) registerDNS(sb *Sandbox) {
	for i := range sb.Endpoints {
		ep := &sb.Endpoints[i]
		if ep.DNSServer.IsValid() && ep.IPv4.IsValid() {
			ips := []netip.Addr{ep.IPv4.Addr()}
			if ep.IPv6.IsValid() {
				ips = append(ips, ep.IPv6.Addr())
			}
			m.dns.RegisterAddrs(ep.Network, sb.ContainerID, ips, m.dnsNames(sb, ep), dnsUpstreams(sb.DNS))
			if i == 0 && len(sb.Links) > 0 {
				links := map[string]string{}
				for _, l := range sb.Links {
					if name, alias, ok := strings.Cut(l, ":"); ok {
						links[alias] = name
					}
				}
				m.dns.SetLinks(ep.Network, sb.ContainerID, links)
			}
		}
	}
}

// Teardown removes the network of a container: CNI DEL for every endpoint
// (releasing IPs and port-forwarding rules), DNS records, then the port
// reservations, the netns. It works from the on-disk state alone (after a berthd crash)
// and is idempotent: tearing down an unknown container is not an error. If a
// step fails the state is kept so that Teardown can be retried. When a
// Release of the container is still finishing, Teardown waits for it.
func (m *Manager) Teardown(ctx context.Context, containerID string) error {
	if !isValidName(containerID) {
		return errInvalid("invalid container id %q", containerID)
	}
	m.waitReleased(containerID)
	l := m.ctrLock(containerID)
	l.Lock()
	defer l.Unlock()
	sb := m.sandboxOrState(containerID)
	m.dns.Unregister("", containerID)
	delErr := m.unpublish(sb)
	if delErr == nil {
		delErr = m.delEndpoints(ctx, sb, sb.NetNSPath)
	}
	// The host ports are given back only once their forwarding is gone
	// (berth's elements by unpublish; an older berth's portmap rules by
	// CNI DEL): a port given back earlier could be taken by a host
	// program while the rule still sends its traffic to the container.
	// (A failed step keeps them, with the state, for the retry.)
	if delErr == nil {
		m.ports.release(containerID)
	}
	errs := []error{delErr}
	if sb.ownNetns(m.cfg.netnsDir()) {
		errs = append(errs, netns.Delete(sb.NetNSPath))
	}
	return m.forgetSandbox(containerID, errors.Join(errs...))
}

// sandboxOrState returns the sandbox of a container, from memory or its
// state file; with neither, a sandbox naming only the netns path, so that
// whatever a crash during Setup left is cleaned.
func (m *Manager) sandboxOrState(containerID string) *Sandbox {
	m.mu.Lock()
	sb, ok := m.sandboxes[containerID]
	m.mu.Unlock()
	if ok {
		return sb
	}
	if sb, err := m.readSandbox(containerID); err == nil {
		return sb
	}
	return &Sandbox{ContainerID: containerID, Mode: ModeNone, NetNSPath: filepath.Join(m.cfg.netnsDir(), containerID)}
}

// ownNetns reports whether the sandbox's netns is one berth pinned in dir.
func (sb *Sandbox) ownNetns(dir string) bool {
	return (sb.Mode == ModeNone || sb.Mode == ModeNetwork) && filepath.Dir(sb.NetNSPath) == dir
}

// delEndpoints runs CNI DEL for every endpoint of sb, the plugins entering
// the namespace at nsPath, and for attachments in libcni's cache that the
// state does not list (a crash between ADD and the state write).
func (m *Manager) delEndpoints(ctx context.Context, sb *Sandbox, nsPath string) error {
	var errs []error
	in := *sb
	in.NetNSPath = nsPath
	for i := len(sb.Endpoints) - 1; i >= 0; i-- {
		errs = append(errs, m.cniDel(ctx, &in, &sb.Endpoints[i]))
	}
	if cached, err := m.cni.GetCachedAttachments(sb.ContainerID); err == nil {
		for _, a := range cached {
			if slices.ContainsFunc(sb.Endpoints, func(e Endpoint) bool { return e.Network == a.Network && e.IfName == a.IfName }) {
				continue
			}
			errs = append(errs, m.delCached(ctx, a))
		}
	}
	return errors.Join(errs...)
}

// forgetSandbox drops the state of a torn-down container, unless err says
// the teardown failed (the state then stays for a retry).
func (m *Manager) forgetSandbox(containerID string, err error) error {
	if err != nil {
		return err
	}
	if err := os.Remove(m.statePath(containerID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	m.mu.Lock()
	delete(m.sandboxes, containerID)
	delete(m.ctrLocks, containerID)
	m.mu.Unlock()
	return nil
}

func (m *Manager) delCached(ctx context.Context, a *libcni.NetworkAttachment) error {
	list, err := libcni.NetworkConfFromBytes(a.Config)
	if err != nil {
		return err
	}
	return m.cni.DelNetworkList(ctx, list, &libcni.RuntimeConf{
		ContainerID: a.ContainerID, NetNS: a.NetNS, IfName: a.IfName, Args: a.CniArgs, CapabilityArgs: a.CapabilityArgs,
	})
}

// Connect attaches a running container (set up in network mode) to one more
// network and returns the new endpoint. Errors: ErrNotFound,
// ErrAlreadyExists (already connected), ErrFailedPrecondition (host, none or
// container mode).
