package cni

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/vishvananda/netlink"

	"github.com/berthproject/berth/cni/dns"
	"github.com/berthproject/berth/pkg/types/filters"
	networktypes "github.com/berthproject/berth/pkg/types/network"
)

// Manager owns berth's networks and the network side of its containers:
// network objects (conflists), sandboxes (netns + CNI attachments), published
// ports, firewall chains and the embedded DNS. All methods are safe for
// concurrent use.
type Manager struct {
	cfg     Config
	cni     *libcni.CNIConfig
	drivers map[string]Driver
	fw      *firewall
	dns     *dns.Server
	ports   *portTable

	mu        sync.Mutex // guards networks, sandboxes, ctrLocks
	networks  map[string]*storedNetwork
	sandboxes map[string]*Sandbox
	ctrLocks  map[string]*sync.Mutex
	releasing map[string]chan struct{} // containers whose Release is finishing
}

// New opens (or initialises) the network state under cfg.Root/cfg.State:
// it loads the networks, creates the default "bridge" network on first
// start, re-creates berth's firewall chains (idempotently), starts the DNS
// listeners and reloads the sandboxes of running containers (their DNS
// records and port reservations). Call GC next, with the containers that
// still exist, to clean up after a crash.
func New(ctx context.Context, cfg Config) (_ *Manager, err error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	for _, d := range []string{cfg.networksDir(), cfg.cacheDir(), cfg.ipamDir(), cfg.sandboxesDir(), cfg.netnsDir()} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return nil, err
		}
	}
	srv, err := dns.New(dns.Config{Upstreams: cfg.DNSUpstreams, ResolvConf: cfg.HostResolvConf, Port: cfg.DNSPort})
	if err != nil {
		return nil, err
	}
	m := &Manager{
		cfg: cfg,
		// An explicit Exec: libcni would otherwise set its default lazily,
		// racing between concurrent Setups.
		cni: libcni.NewCNIConfigWithCacheDir(cfg.PluginDirs, cfg.cacheDir(), &invoke.DefaultExec{
			RawExec:       &invoke.RawExec{Stderr: os.Stderr},
			PluginDecoder: version.PluginDecoder{},
		}),
		drivers: map[string]Driver{
			networktypes.DriverBridge:  bridgeDriver{defaultBridge: cfg.DefaultBridge},
			networktypes.DriverMacvlan: macvlanDriver{},
		},
		fw:        newFirewall(cfg.FirewallPrefix),
		dns:       srv,
		ports:     newPortTable(),
		networks:  map[string]*storedNetwork{},
		sandboxes: map[string]*Sandbox{},
		ctrLocks:  map[string]*sync.Mutex{},
		releasing: map[string]chan struct{}{},
	}
	for _, d := range cfg.Drivers {
		m.drivers[d.Name()] = d
	}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	if err := m.loadNetworks(); err != nil {
		return nil, err
	}
	if _, ok := m.networks[networktypes.DefaultNetwork]; !ok && cfg.DefaultBridge != NoDefaultBridge {
		if err := m.createDefault(ctx); err != nil {
			return nil, fmt.Errorf("create default network: %w", err)
		}
	}
	if err := m.syncFirewall(); err != nil {
		return nil, err
	}
	if err := removeLegacyChains(cfg.FirewallPrefix); err != nil {
		log.G(ctx).WithError(err).Warn("remove the iptables chains of an older berth")
	}
	for _, n := range m.networks {
		// After a reboot the bridges are gone: make them again.
		if err := m.drivers[n.Driver].Ensure(ctx, &n.Network); err != nil {
			return nil, err
		}
		if err := m.startDNS(&n.Network); err != nil {
			log.G(ctx).WithError(err).Warnf("network %s: no embedded DNS", n.Name)
		}
	}
	if err := m.loadSandboxes(); err != nil {
		return nil, err
	}
	return m, nil
}

// Close stops the DNS listeners and drops the port reservations held by
// this process. Networks, firewall rules and attachments stay: containers
// keep running (live restore) and a new Manager picks them up.
func (m *Manager) Close() {
	m.settle()
	m.dns.Close()
	m.ports.releaseAll()
	m.fw.close()
}

// DNS returns the embedded DNS server (for Rename and inspection).
func (m *Manager) DNS() *dns.Server { return m.dns }

// Config returns the configuration in use, defaults filled in.
func (m *Manager) Config() Config { return m.cfg }

func (m *Manager) createDefault(ctx context.Context) error {
	n := &networktypes.Network{Name: networktypes.DefaultNetwork, Driver: networktypes.DriverBridge, Default: true, Subnet: m.cfg.DefaultSubnet}
	if m.subnetInUse(n.Subnet) {
		n.Subnet = netip.Prefix{}
	}
	_, err := m.create(ctx, n)
	return err
}

// Create creates a network. Errors: ErrAlreadyExists (name taken),
// ErrInvalidArgument (bad options, subnet overlapping another network),
// ErrResourceExhausted (no free subnet in the pools).
func (m *Manager) Create(ctx context.Context, opts networktypes.CreateOptions) (*networktypes.Network, error) {
	if err := CheckNetworkName(opts.Name); err != nil {
		return nil, err
	}
	if opts.Driver == "" {
		opts.Driver = networktypes.DriverBridge
	}
	if opts.Driver == networktypes.DriverOverlay {
		// Overlay networks are the cluster's: engine/network routes their
		// creation through the cluster store, which then Adopts them here.
		return nil, fmt.Errorf("overlay networks exist across a cluster: this node is in none (berth cluster init, or berth cluster join): %w", errdefs.ErrFailedPrecondition)
	}
	if opts.Gateway.IsValid() && !opts.Subnet.IsValid() {
		return nil, errInvalid("a gateway needs a subnet")
	}
	if opts.IPRange.IsValid() && !opts.Subnet.IsValid() {
		return nil, errInvalid("an ip-range needs a subnet")
	}
	if opts.Gateway6.IsValid() && !opts.Subnet6.IsValid() {
		return nil, errInvalid("an IPv6 gateway needs an IPv6 subnet")
	}
	if len(opts.AuxAddresses) > 0 && !opts.Subnet.IsValid() {
		return nil, errInvalid("an aux-address needs a subnet (--subnet)")
	}
	n := &networktypes.Network{
		Name: opts.Name, Driver: opts.Driver, Subnet: opts.Subnet, Gateway: opts.Gateway,
		IPRange: opts.IPRange, Internal: opts.Internal,
		EnableIPv6: opts.EnableIPv6, Subnet6: opts.Subnet6, Gateway6: opts.Gateway6,
		Options: maps.Clone(opts.Options), Labels: maps.Clone(opts.Labels),
		AuxAddresses: maps.Clone(opts.AuxAddresses), IPAMOptions: maps.Clone(opts.IPAMOptions),
	}
	return m.create(ctx, n)
}

// CheckNetworkName says why name cannot name a new network, if it cannot.
func CheckNetworkName(name string) error {
	if !isValidName(name) {
		return errInvalid("invalid network name %q: use [a-zA-Z0-9][a-zA-Z0-9_.-]*", name)
	}
	switch name {
	case networktypes.DefaultNetwork, "host", "none", "default":
		return fmt.Errorf("network name %q is reserved: %w", name, errdefs.ErrInvalidArgument)
	}
	if strings.HasPrefix(name, "container:") {
		return errInvalid("invalid network name %q", name)
	}
	return nil
}

// Adopt makes a network that exists elsewhere (an overlay network, from
// the cluster store) exist on this host too, with its ID, subnet and
// gateway as given: its conflist, its driver's host resources, firewall
// rules and DNS listener. Adopting a network already here under the same
// ID does nothing; a network of that name with another ID is
// ErrAlreadyExists.
func (m *Manager) Adopt(ctx context.Context, n networktypes.Network) (*networktypes.Network, error) {
	if err := CheckNetworkName(n.Name); err != nil {
		return nil, err
	}
	if n.ID == "" || !n.Subnet.IsValid() {
		return nil, errInvalid("adopt network %q: no ID or subnet", n.Name)
	}
	n.Endpoints = nil
	n.Options, n.Labels, n.AuxAddresses = maps.Clone(n.Options), maps.Clone(n.Labels), maps.Clone(n.AuxAddresses)
	return m.create(ctx, &n)
}

func (m *Manager) create(ctx context.Context, n *networktypes.Network) (_ *networktypes.Network, err error) {
	d, ok := m.drivers[n.Driver]
	if !ok {
		return nil, errInvalid("unknown network driver %q", n.Driver)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if o, ok := m.networks[n.Name]; ok {
		if n.ID != "" && o.ID == n.ID {
			// Adopted already: by an earlier call, or by another
			// caller at the same time (the API call that created a
			// cluster network, and the control plane that saw it in
			// the store). Checked here, under the lock that creating
			// holds: a check before it lost that race.
			out := o.Network
			return &out, nil
		}
		return nil, fmt.Errorf("network with name %s already exists: %w", n.Name, errdefs.ErrAlreadyExists)
	}
	if n.ID == "" {
		n.ID = newID()
	}
	if n.Created.IsZero() {
		n.Created = time.Now().UTC()
	}
	if !n.Subnet.IsValid() {
		if n.Subnet, err = m.allocateSubnetLocked(); err != nil {
			return nil, err
		}
	} else {
		for _, o := range m.networks {
			if overlaps(o.Subnet, n.Subnet) && (o.Driver == networktypes.DriverBridge || n.Driver == networktypes.DriverBridge) {
				return nil, errInvalid("subnet %s overlaps network %s (%s)", n.Subnet, o.Name, o.Subnet)
			}
		}
	}
	if n.EnableIPv6 && !n.Subnet6.IsValid() {
		if n.Subnet6, err = m.allocateSubnet6Locked(); err != nil {
			return nil, err
		}
	} else if n.Subnet6.IsValid() {
		for _, o := range m.networks {
			if o.Subnet6.IsValid() && overlaps(o.Subnet6, n.Subnet6) {
				return nil, errInvalid("IPv6 subnet %s overlaps network %s (%s)", n.Subnet6, o.Name, o.Subnet6)
			}
		}
	}
	if err := validateAddressing(n); err != nil {
		return nil, err
	}
	if err := validateAux(n); err != nil {
		return nil, err
	}
	if err := d.Prepare(ctx, n); err != nil {
		return nil, err
	}
	for _, o := range m.networks {
		if n.Driver == networktypes.DriverBridge && o.Driver == networktypes.DriverBridge && o.Interface == n.Interface {
			return nil, errInvalid("bridge %s is used by network %s", n.Interface, o.Name)
		}
	}
	b, list, err := m.renderConflist(n)
	if err != nil {
		return nil, err
	}
	if err := writeFile(m.confPath(n.Name), b, 0o644); err != nil {
		return nil, err
	}
	m.networks[n.Name] = &storedNetwork{Network: *n, list: list}
	defer func() {
		if err != nil {
			delete(m.networks, n.Name)
			_ = os.Remove(m.confPath(n.Name))
			_ = os.RemoveAll(filepath.Join(m.cfg.ipamDir(), n.Name))
			m.dns.RemoveNetwork(n.Name)
			_ = m.syncFirewallLocked()
		}
	}()
	if err := m.reserveAux(n); err != nil {
		return nil, err
	}
	if err := d.Ensure(ctx, n); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = d.Destroy(context.WithoutCancel(ctx), n)
		}
	}()
	if err := m.syncFirewallLocked(); err != nil {
		return nil, err
	}
	if err := m.startDNS(n); err != nil {
		// The network works without names (e.g. a host DNS server holds
		// port 53 on every address); say so rather than fail.
		log.G(ctx).WithError(err).Warnf("network %s: no embedded DNS", n.Name)
	}
	out := *n
	return &out, nil
}

func (m *Manager) startDNS(n *networktypes.Network) error {
	if !m.drivers[n.Driver].Features(n).HostReachable {
		return nil
	}
	return m.dns.AddNetwork(dns.Network{
		Name: n.Name, Listen: n.Gateway, Subnet: n.Subnet, Subnet6: n.Subnet6,
		ResolveNames: n.DNS, Forward: !n.Internal,
	})
}

func (m *Manager) syncFirewall() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.syncFirewallLocked()
}

func (m *Manager) syncFirewallLocked() error {
	var nets []fwNetwork
	names := slices.Sorted(maps.Keys(m.networks))
	for _, name := range names {
		n := m.networks[name]
		if m.drivers[n.Driver] != nil && m.drivers[n.Driver].Features(&n.Network).Firewall {
			nets = append(nets, fwNetwork{Bridge: n.Interface, Subnet: n.Subnet, Subnet6: n.Subnet6, Internal: n.Internal})
		}
	}
	return m.fw.sync(nets)
}

// subnetInUse reports whether p overlaps a berth network, a host route or a
// host address (the default route aside).
func (m *Manager) subnetInUse(p netip.Prefix) bool {
	for _, n := range m.networks {
		if overlaps(n.Subnet, p) {
			return true
		}
	}
	for _, h := range hostPrefixes() {
		if overlaps(h, p) {
			return true
		}
	}
	return false
}

func hostPrefixes() []netip.Prefix {
	var out []netip.Prefix
	routes, _ := netlink.RouteList(nil, netlink.FAMILY_V4)
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		if p, ok := netipPrefix(r.Dst.IP, r.Dst.Mask); ok && p.Bits() > 0 {
			out = append(out, p)
		}
	}
	addrs, _ := netlink.AddrList(nil, netlink.FAMILY_V4)
	for _, a := range addrs {
		if p, ok := netipPrefix(a.IP, a.Mask); ok {
			out = append(out, p.Masked())
		}
	}
	return out
}

func (m *Manager) allocateSubnetLocked() (netip.Prefix, error) {
	for _, pool := range m.cfg.AddressPools {
		base := pool.Base.Masked()
		if pool.Size < base.Bits() || pool.Size > 30 {
			continue
		}
		step := uint64(1) << (32 - pool.Size)
		count := uint64(1) << (pool.Size - base.Bits())
		start := addrToU32(base.Addr())
		for i := uint64(0); i < count; i++ {
			p := netip.PrefixFrom(u32ToAddr(uint32(uint64(start)+i*step)), pool.Size)
			if !m.subnetInUse(p) {
				return p, nil
			}
		}
	}
	return netip.Prefix{}, fmt.Errorf("all predefined address pools have been fully subnetted: %w", errdefs.ErrResourceExhausted)
}

// allocateSubnet6Locked picks a free /64 of the host's ULA /48 (Docker
// 28's default IPv6 pool, derived from a random host ID kept under the
// root, see ula48).
func (m *Manager) allocateSubnet6Locked() (netip.Prefix, error) {
	base, err := m.ula48()
	if err != nil {
		return netip.Prefix{}, err
	}
	a := base.Addr().As16()
	host := hostPrefixes6()
	for i := 0; i < 1<<16; i++ {
		a[6], a[7] = byte(i>>8), byte(i)
		p := netip.PrefixFrom(netip.AddrFrom16(a), 64)
		inUse := slices.ContainsFunc(host, func(h netip.Prefix) bool { return overlaps(h, p) })
		for _, n := range m.networks {
			inUse = inUse || (n.Subnet6.IsValid() && overlaps(n.Subnet6, p))
		}
		if !inUse {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("the IPv6 address pool %s is fully subnetted: give --subnet: %w", base, errdefs.ErrResourceExhausted)
}

// ula48 is the host's ULA prefix as Docker derives it (deriveULABaseNetwork):
// fd00::/8 plus the 40 low bits of sha256(host ID) as Global ID. berth's
// host ID is 32 random bytes in <root>/cni/host-id, made once.
func (m *Manager) ula48() (netip.Prefix, error) {
	path := filepath.Join(m.cfg.Root, "cni", "host-id")
	id, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(id) == 0) {
		id = []byte(newID())
		err = writeFile(path, id, 0o600)
	}
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("host ID for the IPv6 pool: %w", err)
	}
	return ulaBase(strings.TrimSpace(string(id))), nil
}

func ulaBase(hostID string) netip.Prefix {
	sum := sha256.Sum256([]byte(hostID))
	gid := binary.BigEndian.Uint64(sum[:]) & (1<<40 - 1)
	var a [16]byte
	a[0] = 0xfd
	for i := 0; i < 5; i++ {
		a[1+i] = byte(gid >> (8 * (4 - i)))
	}
	return netip.PrefixFrom(netip.AddrFrom16(a), 48)
}

// hostPrefixes6 are the host's IPv6 routes and address prefixes (the
// default route aside).
func hostPrefixes6() []netip.Prefix {
	var out []netip.Prefix
	routes, _ := netlink.RouteList(nil, netlink.FAMILY_V6)
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		if p, ok := netip.AddrFromSlice(r.Dst.IP); ok {
			bits, _ := r.Dst.Mask.Size()
			if bits > 0 && !p.IsLinkLocalUnicast() && !p.IsMulticast() {
				out = append(out, netip.PrefixFrom(p, bits).Masked())
			}
		}
	}
	addrs, _ := netlink.AddrList(nil, netlink.FAMILY_V6)
	for _, a := range addrs {
		if p, ok := netip.AddrFromSlice(a.IP); ok && !p.IsLinkLocalUnicast() && !p.IsLoopback() {
			bits, _ := a.Mask.Size()
			out = append(out, netip.PrefixFrom(p, bits).Masked())
		}
	}
	return out
}

// lookupLocked finds a network by full ID, name or unique ID prefix, in
// that order as dockerd: a network named like another's ID is found by its
// name only when no ID is that whole ref.
func (m *Manager) lookupLocked(ref string) (*storedNetwork, error) {
	for _, n := range m.networks {
		if n.ID == ref {
			return n, nil
		}
	}
	if n, ok := m.networks[ref]; ok {
		return n, nil
	}
	var found *storedNetwork
	for _, n := range m.networks {
		if len(ref) >= 3 && strings.HasPrefix(n.ID, ref) {
			if found != nil {
				return nil, fmt.Errorf("network id prefix %s is ambiguous: %w", ref, errdefs.ErrInvalidArgument)
			}
			found = n
		}
	}
	if found == nil {
		return nil, notFoundNetwork(ref)
	}
	return found, nil
}

func (m *Manager) endpointsLocked(name string) []networktypes.EndpointRef {
	var out []networktypes.EndpointRef
	for _, sb := range m.sandboxes {
		for _, ep := range sb.Endpoints {
			if ep.Network == name {
				out = append(out, networktypes.EndpointRef{ContainerID: sb.ContainerID, Name: sb.Name, IfName: ep.IfName, IPv4: ep.IPv4, IPv6: ep.IPv6, MAC: ep.MAC})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ContainerID < out[j].ContainerID })
	return out
}

// Inspect returns a network (by name, ID or ID prefix) with its endpoints.
func (m *Manager) Inspect(ctx context.Context, ref string) (*networktypes.Network, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupLocked(ref)
	if err != nil {
		return nil, err
	}
	out := n.Network
	out.Endpoints = m.endpointsLocked(n.Name)
	return &out, nil
}

// List returns every network, sorted by name, with endpoints.
func (m *Manager) List(ctx context.Context) ([]*networktypes.Network, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*networktypes.Network, 0, len(m.networks))
	for _, name := range slices.Sorted(maps.Keys(m.networks)) {
		n := m.networks[name].Network
		n.Endpoints = m.endpointsLocked(name)
		out = append(out, &n)
	}
	return out, nil
}

// Remove deletes a network: its bridge, IPAM data, firewall rules, DNS
// listener and conflist. It fails with ErrFailedPrecondition while
// containers are attached, and for the default network.
func (m *Manager) Remove(ctx context.Context, ref string) error {
	m.settle()
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupLocked(ref)
	if err != nil {
		return err
	}
	if n.Default {
		return fmt.Errorf("%s is a pre-defined network and cannot be removed: %w", n.Name, errdefs.ErrFailedPrecondition)
	}
	return m.removeLocked(ctx, n)
}

func (m *Manager) removeLocked(ctx context.Context, n *storedNetwork) error {
	if eps := m.endpointsLocked(n.Name); len(eps) > 0 {
		ids := make([]string, len(eps))
		for i, e := range eps {
			ids[i] = shortID(e.ContainerID)
		}
		return fmt.Errorf("network %s has active endpoints (containers %s): %w", n.Name, strings.Join(ids, ", "), errdefs.ErrFailedPrecondition)
	}
	// Host resources first, the conflist last: if anything fails the network
	// still exists and Remove can be retried.
	m.dns.RemoveNetwork(n.Name)
	if err := m.drivers[n.Driver].Destroy(ctx, &n.Network); err != nil {
		_ = m.startDNS(&n.Network)
		return err
	}
	delete(m.networks, n.Name)
	if err := m.syncFirewallLocked(); err != nil {
		m.networks[n.Name] = n
		return err
	}
	if err := os.RemoveAll(filepath.Join(m.cfg.ipamDir(), n.Name)); err != nil {
		return err
	}
	if err := os.Remove(m.confPath(n.Name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Prune removes every user-defined network without endpoints whose labels
// pass Docker's label=KEY[=VALUE] (labels) and label!= (notLabels) filters
// and returns their names.
func (m *Manager) Prune(ctx context.Context, labels, notLabels []string) ([]string, error) {
	m.settle()
	m.mu.Lock()
	defer m.mu.Unlock()
	var removed []string
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(m.networks)) {
		n := m.networks[name]
		if n.Default || len(m.endpointsLocked(name)) > 0 || n.Driver == networktypes.DriverOverlay {
			continue // overlay networks are pruned through the cluster
		}
		if !filters.Labels(n.Labels, labels, notLabels) {
			continue
		}
		if err := m.removeLocked(ctx, n); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, name)
	}
	return removed, errors.Join(errs...)
}

// Rename records a container's new name: its DNS records change at once and
// the sandbox state keeps the new name across restarts.
func (m *Manager) Rename(ctx context.Context, containerID, newName string) error {
	l := m.ctrLock(containerID)
	l.Lock()
	defer l.Unlock()
	m.mu.Lock()
	sb, ok := m.sandboxes[containerID]
	var old string
	if ok {
		old, sb.Name = sb.Name, newName
	}
	m.mu.Unlock()
	if !ok {
		return fmt.Errorf("network of container %s: %w", shortID(containerID), errdefs.ErrNotFound)
	}
	m.dns.Rename(containerID, old, newName)
	return m.saveSandbox(sb)
}

// Uninstall removes everything this Manager created on the host: it tears
// down every sandbox, removes every network (the default one too), and
// deletes berth's firewall chains; then it closes the Manager. For tests
// and `berthd --uninstall`, never on a normal shutdown.
func (m *Manager) Uninstall(ctx context.Context) error {
	m.settle()
	var errs []error
	m.mu.Lock()
	ids := slices.Collect(maps.Keys(m.sandboxes))
	m.mu.Unlock()
	for _, id := range ids {
		errs = append(errs, m.Teardown(ctx, id))
	}
	m.mu.Lock()
	for _, name := range slices.Sorted(maps.Keys(m.networks)) {
		errs = append(errs, m.removeLocked(ctx, m.networks[name]))
	}
	m.mu.Unlock()
	// portmap's top-level CNI-HOSTPORT-* chains (from containers an older
	// berth started) stay: they are the plugin's, shared by every CNI user
	// on the host, and removing them while another one's ADD is between
	// creating and using them breaks that ADD.
	errs = append(errs, m.fw.remove(), removeLegacyChains(m.cfg.FirewallPrefix))
	m.Close()
	return errors.Join(errs...)
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// LocalEndpoint is an endpoint of a container on this host, as the
// cluster's control plane announces it.
type LocalEndpoint struct {
	ContainerID string
	Names       []string // the names the embedded DNS gives it
	Endpoint
}

// LocalEndpoints lists the endpoints on network (a name) of this host's
// containers, including those being set up (no address yet).
func (m *Manager) LocalEndpoints(network string) []LocalEndpoint {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []LocalEndpoint
	for _, sb := range m.sandboxes {
		for i := range sb.Endpoints {
			if ep := &sb.Endpoints[i]; ep.Network == network {
				out = append(out, LocalEndpoint{ContainerID: sb.ContainerID, Names: m.dnsNames(sb, ep), Endpoint: *ep})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ContainerID < out[j].ContainerID })
	return out
}

// Settle waits until every container's network teardown that Release
// left running in the background is done: their addresses are then given
// back.
func (m *Manager) Settle() { m.settle() }
