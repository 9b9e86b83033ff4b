package cni

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/containernetworking/cni/libcni"

	"github.com/berthproject/berth/pkg/atomicfile"
	networktypes "github.com/berthproject/berth/pkg/types/network"
)

// cniVersion of the conflists berth writes. 1.0.0 rather than 1.1.0: the
// plugins berth uses implement no GC verb, and libcni's cache-based GC of
// stale attachments works with any version.
const cniVersion = "1.0.0"

// Driver builds the CNI configuration of one kind of network. berth ships
// bridge and macvlan; a multi-host overlay would be another Driver (a vxlan
// device attached to a bridge plus a control plane for forwarding entries
// and cluster-wide IPAM), passed in Config.Drivers.
type Driver interface {
	Name() string
	// Prepare validates the driver options of a new network and fills its
	// driver fields (Interface, DNS). Subnet and gateway are already set.
	Prepare(ctx context.Context, n *networktypes.Network) error
	// Plugins returns the plugin entries of the network's conflist.
	Plugins(n *networktypes.Network, ipamDir string) ([]map[string]any, error)
	// Ensure creates the host-side resources of a network (the bridge with
	// its gateway address); called at create and at every start, so it must
	// be idempotent.
	Ensure(ctx context.Context, n *networktypes.Network) error
	// Features reports what the network supports.
	Features(n *networktypes.Network) Features
	// Destroy removes the host-side resources of a network being removed.
	Destroy(ctx context.Context, n *networktypes.Network) error
}

// EndpointAllocator is implemented by a driver whose addresses are
// allocated across hosts (overlay): berth asks it for an endpoint's
// address and MAC before CNI ADD (the plugin gets them as the "ips" and
// "mac" capabilities), and gives them back after CNI DEL.
type EndpointAllocator interface {
	AllocateEndpoint(ctx context.Context, n *networktypes.Network, req EndpointRequest) (ip netip.Addr, mac string, err error)
	ReleaseEndpoint(ctx context.Context, n *networktypes.Network, containerID string) error
}

// EndpointRequest describes an endpoint about to be attached.
type EndpointRequest struct {
	ContainerID string
	// Names the embedded DNS resolves to the endpoint (name, short ID,
	// aliases).
	Names []string
	// IPv4 and MAC the user asked for (--ip, --mac-address), if any.
	IPv4 netip.Addr
	MAC  string
}

// Features of a network, as reported by its driver.
type Features struct {
	// Ports: published ports work (DNAT to Interface in berth's table).
	Ports bool
	// Firewall: berth's isolation/masquerade rules apply to Interface.
	Firewall bool
	// HostReachable: the host can reach containers through the gateway
	// (required for the embedded DNS listener).
	HostReachable bool
}

func newID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// conflist is the on-disk form of a network.
type conflist struct {
	CNIVersion string                `json:"cniVersion"`
	Name       string                `json:"name"`
	Berth      *networktypes.Network `json:"berth"`
	Plugins    []map[string]any      `json:"plugins"`
}

type storedNetwork struct {
	networktypes.Network
	list *libcni.NetworkConfigList
}

func (m *Manager) confPath(name string) string {
	return filepath.Join(m.cfg.networksDir(), name+".conflist")
}

func (m *Manager) renderConflist(n *networktypes.Network) ([]byte, *libcni.NetworkConfigList, error) {
	d, ok := m.drivers[n.Driver]
	if !ok {
		return nil, nil, fmt.Errorf("network driver %q: %w", n.Driver, errdefs.ErrInvalidArgument)
	}
	plugins, err := d.Plugins(n, m.cfg.ipamDir())
	if err != nil {
		return nil, nil, err
	}
	b, err := json.MarshalIndent(conflist{CNIVersion: cniVersion, Name: n.Name, Berth: n, Plugins: plugins}, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	list, err := libcni.NetworkConfFromBytes(b)
	if err != nil {
		return nil, nil, fmt.Errorf("conflist of network %s: %w", n.Name, err)
	}
	return b, list, nil
}

// loadNetworks reads every conflist under <root>/networks that berth wrote.
func (m *Manager) loadNetworks() error {
	files, err := libcni.ConfFiles(m.cfg.networksDir(), []string{".conflist"})
	if err != nil {
		return err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var c conflist
		if err := json.Unmarshal(b, &c); err != nil || c.Berth == nil {
			continue // not berth's
		}
		if _, ok := m.drivers[c.Berth.Driver]; !ok {
			log.L.Warnf("network %s: unknown driver %q, ignored", c.Berth.Name, c.Berth.Driver)
			continue
		}
		list, err := libcni.NetworkConfFromBytes(b)
		if err != nil {
			return fmt.Errorf("load %s: %w", f, err)
		}
		m.networks[c.Berth.Name] = &storedNetwork{Network: *c.Berth, list: list}
	}
	return nil
}

// writeFile replaces path with data, durably (pkg/atomicfile), creating
// its directory if need be.
func writeFile(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(path, data, perm)
}

// validateAddressing checks subnet, gateway and ip-range of a new network
// and fills the gateway defaults (first address of each subnet).
func validateAddressing(n *networktypes.Network) error {
	if !n.Subnet.Addr().Is4() {
		return fmt.Errorf("subnet %s is not an IPv4 subnet (an IPv6 subnet goes with --ipv6, alongside an IPv4 one): %w", n.Subnet, errdefs.ErrInvalidArgument)
	}
	n.Subnet = n.Subnet.Masked()
	if n.Subnet.Bits() > 30 {
		return fmt.Errorf("subnet %s is too small: %w", n.Subnet, errdefs.ErrInvalidArgument)
	}
	if !n.Gateway.IsValid() {
		n.Gateway = n.Subnet.Addr().Next()
	}
	if !n.Subnet.Contains(n.Gateway) || n.Gateway == n.Subnet.Addr() || n.Gateway == lastAddr(n.Subnet) {
		return fmt.Errorf("gateway %s is not a host address of subnet %s: %w", n.Gateway, n.Subnet, errdefs.ErrInvalidArgument)
	}
	if n.IPRange.IsValid() {
		n.IPRange = n.IPRange.Masked()
		if !n.Subnet.Contains(n.IPRange.Addr()) || n.IPRange.Bits() < n.Subnet.Bits() {
			return fmt.Errorf("ip-range %s is not inside subnet %s: %w", n.IPRange, n.Subnet, errdefs.ErrInvalidArgument)
		}
	}
	return validateAddressing6(n)
}

// validateAddressing6 checks the IPv6 side of a network: an IPv6 subnet
// and gateway only with EnableIPv6; Subnet6 is set (the caller allocates
// one when the user gave none).
func validateAddressing6(n *networktypes.Network) error {
	if !n.EnableIPv6 {
		if n.Subnet6.IsValid() || n.Gateway6.IsValid() {
			return errInvalid("IPv6 subnet %s given to a network without IPv6: add --ipv6 (EnableIPv6) to make it dual-stack", n.Subnet6)
		}
		return nil
	}
	if !n.Subnet6.IsValid() {
		return errInvalid("network %s: IPv6 enabled without an IPv6 subnet", n.Name)
	}
	if !n.Subnet6.Addr().Is6() || n.Subnet6.Addr().Is4In6() {
		return errInvalid("subnet %s is not an IPv6 subnet", n.Subnet6)
	}
	n.Subnet6 = n.Subnet6.Masked()
	if n.Subnet6.Bits() > 124 {
		return errInvalid("IPv6 subnet %s is too small (at most /124)", n.Subnet6)
	}
	if n.Subnet6.Addr().IsLinkLocalUnicast() || n.Subnet6.Addr().IsMulticast() || n.Subnet6.Addr().IsLoopback() {
		return errInvalid("IPv6 subnet %s is not a unicast global or unique-local subnet", n.Subnet6)
	}
	if !n.Gateway6.IsValid() {
		n.Gateway6 = n.Subnet6.Addr().Next()
	}
	if !n.Gateway6.Is6() || !n.Subnet6.Contains(n.Gateway6) || n.Gateway6 == n.Subnet6.Addr() {
		return errInvalid("IPv6 gateway %s is not a host address of subnet %s", n.Gateway6, n.Subnet6)
	}
	return nil
}

// lastAddr is the last address of p (IPv4 or IPv6).
func lastAddr(p netip.Prefix) netip.Addr {
	p = p.Masked()
	if p.Addr().Is4() {
		a := p.Addr().As4()
		host := uint32(1)<<(32-p.Bits()) - 1
		v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
		v |= host
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	a := p.Addr().As16()
	for i := p.Bits(); i < 128; i++ {
		a[i/8] |= 1 << (7 - i%8)
	}
	return netip.AddrFrom16(a)
}

func overlaps(a, b netip.Prefix) bool { return a.Overlaps(b) }

// ipamRange is the host-local range of a network.
func ipamRange(n *networktypes.Network) map[string]any {
	r := map[string]any{"subnet": n.Subnet.String(), "gateway": n.Gateway.String()}
	if n.IPRange.IsValid() {
		start, end := n.IPRange.Addr(), lastAddr(n.IPRange)
		if start == n.Subnet.Addr() {
			start = start.Next()
		}
		if end == lastAddr(n.Subnet) {
			end = end.Prev()
		}
		r["rangeStart"], r["rangeEnd"] = start.String(), end.String()
	} else if n.Default && n.Subnet.Addr().Is4() {
		// The end of the subnet is for build steps (BuildConflist).
		r["rangeEnd"] = buildRange(n.Subnet).Addr().Prev().String()
	}
	return r
}

func ipam(n *networktypes.Network, ipamDir string) map[string]any {
	ranges := [][]map[string]any{{ipamRange(n)}}
	if n.EnableIPv6 && n.Subnet6.IsValid() {
		ranges = append(ranges, []map[string]any{{"subnet": n.Subnet6.String(), "gateway": n.Gateway6.String()}})
	}
	m := map[string]any{
		"type":    "host-local",
		"ranges":  ranges,
		"dataDir": ipamDir,
	}
	// No routes: of a container's networks, one gives the default route
	// (GatewayEndpoints), and berth sets it after the plugins ran.
	return m
}

func optionsLookup(opts map[string]string, keys ...string) string {
	for _, k := range keys {
		if v, ok := opts[k]; ok {
			return v
		}
	}
	return ""
}

func errInvalid(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), errdefs.ErrInvalidArgument)
}

// notFoundNetwork is Docker's "network NAME not found".
func notFoundNetwork(name string) error {
	return fmt.Errorf("network %s not found: %w", name, errdefs.ErrNotFound)
}

// isValidName tells whether name can name a network or a container's
// files: 1 to 128 of [a-zA-Z0-9_.-], the first alphanumeric, no "..". (A
// regular expression with {0,127} compiled to 40 kB of berthd's heap.)
func isValidName(name string) bool {
	if len(name) == 0 || len(name) > 128 || strings.Contains(name, "..") {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '.' && c != '-') {
			return false
		}
	}
	return true
}
