package cni

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berthproject/berth/cni/netns"
	"github.com/containerd/errdefs"
	"github.com/containernetworking/cni/libcni"
	cnitypes "github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
)

// Network modes of a Sandbox.
const (
	ModeNone      = "none"      // own netns with only lo
	ModeHost      = "host"      // the host's stack, no netns
	ModeContainer = "container" // another container's netns (container:<netns path>)
	ModeNetwork   = "network"   // own netns attached to one or more networks
)

// SetupRequest describes the network of a container being started.
type SetupRequest struct {
	ContainerID string
	// Name is the container name; on user-defined networks it resolves
	// through the embedded DNS (with the aliases and the 12-char short ID).
	Name string
	// Hostname of the container (default: the short ID; host mode: the
	// host's hostname).
	Hostname string
	// NetworkMode: "bridge" (default network; also the default when empty
	// and Networks is empty), "none", "host", "container:<netns path>" or a
	// network name/ID. With a network name, Networks may add more networks;
	// with "" the first of Networks is the primary one.
	NetworkMode string
	// Networks to attach to, with per-network settings. An entry for the
	// NetworkMode network carries that network's settings.
	Networks []Attachment
	// Ports to publish (on the primary network). Discarded in host mode,
	// rejected for none and container modes.
	Ports []PortMapping
	// DNS servers (--dns). On networks with the embedded DNS they become its
	// upstreams for this container; elsewhere they go to resolv.conf.
	DNS        []string
	DNSSearch  []string
	DNSOptions []string
	// ExtraHosts: "name:ip" entries for /etc/hosts (--add-host); ip
	// "host-gateway" means the primary network's gateway.
	ExtraHosts []string
	// NetNSReady, if set, is called once the container's own network
	// namespace exists at NetNSPath, before its interfaces are configured.
	// A runtime may create the container in it from then on (its process
	// must not run before Setup returns).
	NetNSReady func()
}

// Attachment is a container's membership in one network.
type Attachment struct {
	Network string     // name or ID
	IPv4    netip.Addr // optional static address (--ip)
	Aliases []string   // network-scoped DNS aliases (user-defined networks)
	MAC     string     // optional MAC address
}

// Endpoint is a container's interface on one network.
type Endpoint struct {
	Network   string       `json:"network"`
	NetworkID string       `json:"networkID"`
	Driver    string       `json:"driver"`
	IfName    string       `json:"ifName"` // eth0, eth1, ... inside the netns
	IPv4      netip.Prefix `json:"ipv4,omitzero"`
	Gateway   netip.Addr   `json:"gateway,omitzero"`
	MAC       string       `json:"mac,omitempty"`
	Aliases   []string     `json:"aliases,omitempty"`
	// DefaultRoute: the container routes outside traffic through Gateway
	// (false on internal networks).
	DefaultRoute bool `json:"defaultRoute,omitempty"`
	// DNSServer is the embedded DNS address for this network, if any.
	DNSServer netip.Addr `json:"dnsServer,omitzero"`
	// Ports published through this endpoint.
	Ports []PortMapping `json:"ports,omitempty"`

	RequestedIPv4 netip.Addr `json:"requestedIPv4,omitzero"`
	RequestedMAC  string     `json:"requestedMAC,omitempty"`
}

// Sandbox is the network side of one container: its netns and endpoints. It
// is also what berth keeps on disk (<root>/cni/sandboxes/<id>.json) to tear
// the network down after a restart.
type Sandbox struct {
	ContainerID string `json:"containerID"`
	Name        string `json:"name,omitempty"`
	Hostname    string `json:"hostname"`
	Mode        string `json:"mode"`
	// NetNSPath is the netns to put the container in (OCI spec
	// linux.namespaces network path); empty in host mode.
	NetNSPath  string        `json:"netnsPath,omitempty"`
	Endpoints  []Endpoint    `json:"endpoints,omitempty"`
	DNS        []string      `json:"dns,omitempty"`
	DNSSearch  []string      `json:"dnsSearch,omitempty"`
	DNSOptions []string      `json:"dnsOptions,omitempty"`
	ExtraHosts []string      `json:"extraHosts,omitempty"`
	Created    time.Time     `json:"created"`
	Ports      []PortMapping `json:"ports,omitempty"` // all published ports, host ports resolved
}

// Endpoint returns the endpoint on network (name), or nil.
func (sb *Sandbox) Endpoint(network string) *Endpoint {
	for i := range sb.Endpoints {
		if sb.Endpoints[i].Network == network {
			return &sb.Endpoints[i]
		}
	}
	return nil
}

func (sb *Sandbox) clone() *Sandbox {
	b, _ := json.Marshal(sb)
	var out Sandbox
	_ = json.Unmarshal(b, &out)
	return &out
}

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
	return writeFile(m.statePath(sb.ContainerID), b, 0o600, false)
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
			_, _ = m.ports.reserve(id, sb.Ports)
		}
		m.registerDNS(sb)
	}
	return nil
}

// Sandbox returns the current network state of a container (ErrNotFound if
// Setup has not run for it).
func (m *Manager) Sandbox(ctx context.Context, containerID string) (*Sandbox, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sb, ok := m.sandboxes[containerID]
	if !ok {
		return nil, fmt.Errorf("network of container %s: %w", containerID, errdefs.ErrNotFound)
	}
	return sb.clone(), nil
}

// plan resolves the networks of a request into endpoints (IfName eth0...).
func (m *Manager) plan(req SetupRequest) ([]Endpoint, error) {
	primary := req.NetworkMode
	if primary == "" {
		primary = DefaultNetwork
		if len(req.Networks) > 0 {
			primary = req.Networks[0].Network
		}
	}
	if primary == "default" {
		primary = DefaultNetwork
	}
	atts := []Attachment{{Network: primary}}
	for _, a := range req.Networks {
		if a.Network == primary {
			atts[0] = a
		} else {
			atts = append(atts, a)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var eps []Endpoint
	for i, a := range atts {
		n, err := m.lookupLocked(a.Network)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(eps, func(e Endpoint) bool { return e.Network == n.Name }) {
			return nil, errInvalid("network %s given twice", n.Name)
		}
		ep, err := m.newEndpoint(&n.Network, a, fmt.Sprintf("eth%d", i))
		if err != nil {
			return nil, err
		}
		eps = append(eps, ep)
	}
	return eps, nil
}

func (m *Manager) newEndpoint(n *Network, a Attachment, ifName string) (Endpoint, error) {
	if len(a.Aliases) > 0 && !n.DNS {
		return Endpoint{}, errInvalid("network-scoped aliases are supported only on user-defined networks with DNS (not %s)", n.Name)
	}
	if a.IPv4.IsValid() && (!n.Subnet.Contains(a.IPv4) || a.IPv4 == n.Gateway) {
		return Endpoint{}, errInvalid("address %s is not a free host address of network %s (%s)", a.IPv4, n.Name, n.Subnet)
	}
	ep := Endpoint{
		Network: n.Name, NetworkID: n.ID, Driver: n.Driver, IfName: ifName,
		Aliases: slices.Clone(a.Aliases), RequestedIPv4: a.IPv4, RequestedMAC: a.MAC,
		DefaultRoute: !n.Internal,
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
	if slices.ContainsFunc(req.Networks, func(a Attachment) bool { return a.IPv4.IsValid() }) {
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
		ExtraHosts: slices.Clone(req.ExtraHosts), Created: time.Now().UTC(),
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
		if !m.drivers[n.Driver].Features(&n.Network).Ports {
			return nil, errInvalid("network %s (driver %s) does not support published ports", n.Name, n.Driver)
		}
		if sb.Ports, err = m.ports.reserve(id, ports); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				m.ports.release(id)
			}
		}()
		sb.Endpoints[0].Ports = sb.Ports
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
	if err := m.saveSandbox(sb); err != nil {
		return nil, err
	}
	m.registerDNS(sb)
	return m.Sandbox(ctx, id)
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
	if ep.RequestedIPv4.IsValid() {
		m.mu.Lock()
		bits := 32
		if n, ok := m.networks[ep.Network]; ok {
			bits = n.Subnet.Bits()
		}
		m.mu.Unlock()
		caps["ips"] = []string{netip.PrefixFrom(ep.RequestedIPv4, bits).String()}
	}
	if ep.RequestedMAC != "" {
		caps["mac"] = ep.RequestedMAC
	}
	return &libcni.RuntimeConf{ContainerID: sb.ContainerID, NetNS: sb.NetNSPath, IfName: ep.IfName, CapabilityArgs: caps}
}

// runtimeList is the network's plugin chain for one endpoint: portmap is
// left out when the endpoint publishes no ports (one exec less per ADD/DEL).
func runtimeList(n *storedNetwork, withPorts bool) *libcni.NetworkConfigList {
	if withPorts {
		return n.list
	}
	l := *n.list
	l.Plugins = slices.DeleteFunc(slices.Clone(l.Plugins), func(p *libcni.PluginConfig) bool {
		return p.Network.Type == "portmap"
	})
	return &l
}

func (m *Manager) cniAdd(ctx context.Context, sb *Sandbox, ep *Endpoint) error {
	m.mu.Lock()
	n, ok := m.networks[ep.Network]
	m.mu.Unlock()
	if !ok {
		return notFoundNetwork(ep.Network)
	}
	res, err := m.cni.AddNetworkList(ctx, runtimeList(n, len(ep.Ports) > 0), m.runtimeConf(sb, ep))
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
		if p, ok := netipPrefix(ipc.Address.IP, ipc.Address.Mask); ok {
			ep.IPv4 = p
			if gw, ok := netip.AddrFromSlice(ipc.Gateway.To4()); ok {
				ep.Gateway = gw
			}
			break
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
		if err := m.cni.DelNetworkList(ctx, runtimeList(n, len(ep.Ports) > 0), rt); err != nil {
			return fmt.Errorf("detach container %s from network %s: %w", shortID(sb.ContainerID), ep.Network, err)
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
	return append(names, ep.Aliases...)
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
			m.dns.Register(ep.Network, sb.ContainerID, ep.IPv4.Addr(), m.dnsNames(sb, ep), dnsUpstreams(sb.DNS))
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
	delErr := m.delEndpoints(ctx, sb, sb.NetNSPath)
	// The host ports are given back only once CNI DEL removed their
	// forwarding rules: a port given back earlier could be taken by a
	// host program while the rule still sends its traffic to the
	// container. (A failed DEL keeps them, with the state, for the retry.)
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
	ifName := ""
	for i := 0; ifName == ""; i++ {
		name := fmt.Sprintf("eth%d", i)
		if !slices.ContainsFunc(sb.Endpoints, func(e Endpoint) bool { return e.IfName == name }) {
			ifName = name
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
		}
	}()
	if err := m.saveSandbox(sb); err != nil {
		return nil, err
	}
	if err := m.cniAdd(ctx, sb, &sb.Endpoints[idx]); err != nil {
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
	return m.saveSandbox(sb)
}

// GC cleans up after a crash. valid lists every container that still
// exists (running or not yet torn down): everything else is removed — its
// sandbox state and netns, and every attachment in libcni's cache (IPs,
// port-forwarding rules). Then berth's firewall chains are re-synced.
func (m *Manager) GC(ctx context.Context, valid []string) error {
	m.settle()
	keep := map[string]bool{}
	for _, id := range valid {
		keep[id] = true
	}
	var errs []error
	m.mu.Lock()
	var stale []string
	for id := range m.sandboxes {
		if !keep[id] {
			stale = append(stale, id)
		}
	}
	m.mu.Unlock()
	if entries, err := os.ReadDir(m.cfg.sandboxesDir()); err == nil {
		for _, e := range entries {
			if id, ok := strings.CutSuffix(e.Name(), ".json"); ok && !keep[id] && !slices.Contains(stale, id) && isValidName(id) {
				stale = append(stale, id)
			}
		}
	}
	for _, id := range stale {
		errs = append(errs, m.Teardown(ctx, id))
	}

	// libcni GC per network: DEL of every cached attachment not named valid.
	cached, err := m.cni.GetCachedAttachments("")
	if err != nil {
		errs = append(errs, err)
	}
	m.mu.Lock()
	lists := map[string]*libcni.NetworkConfigList{}
	for name, n := range m.networks {
		lists[name] = n.list
	}
	m.mu.Unlock()
	validAtt := map[string][]cnitypes.GCAttachment{}
	for _, a := range cached {
		if keep[a.ContainerID] {
			validAtt[a.Network] = append(validAtt[a.Network], cnitypes.GCAttachment{ContainerID: a.ContainerID, IfName: a.IfName})
		} else if _, known := lists[a.Network]; !known {
			errs = append(errs, m.delCached(ctx, a)) // network gone: use the cached config
		}
	}
	for name, list := range lists {
		errs = append(errs, m.cni.GCNetworkList(ctx, list, &libcni.GCArgs{ValidAttachments: validAtt[name]}))
	}

	// Pinned netns files of containers that no longer exist.
	names, err := netns.List(m.cfg.netnsDir())
	errs = append(errs, err)
	for _, id := range names {
		if !keep[id] {
			errs = append(errs, netns.Delete(filepath.Join(m.cfg.netnsDir(), id)))
		}
	}
	errs = append(errs, m.syncFirewall())
	return errors.Join(errs...)
}
