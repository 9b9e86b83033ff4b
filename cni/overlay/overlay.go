// Package overlay is the data plane of berth's overlay networks, shared by
// the CNI plugin (cmd/berth-cni-overlay) and the control plane in berthd
// (engine/network/overlay): per network and node a vxlan device (one VNI
// per network, nolearning, proxy ARP, UDP port 4789) enslaved to a bridge
// that holds the network's gateway address, the forwarding (FDB) entries
// that send a remote MAC, or broadcast and unknown traffic, to the
// underlay address of the node behind it, and the neighbour entries from
// which the vxlan device answers ARP for remote containers.
//
// Every function takes the netlink handle of the namespace to work in
// (the node's), so that tests can drive several "hosts" from one process.
// Nothing here talks to the cluster store.
package overlay

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Port is the vxlan UDP port (IANA's).
const Port = 4789

// Overhead is what vxlan adds to a frame on an IPv4 underlay: outer IPv4
// (20) + UDP (8) + vxlan (8) + inner Ethernet (14) bytes.
const Overhead = 50

// Spec names a network's devices on one node.
type Spec struct {
	VNI    int    `json:"vni"`
	Bridge string `json:"bridge"`
	VXLAN  string `json:"vxlan"`
	// Local is this node's underlay address: the vxlan source address,
	// and the address whose interface gives the underlay MTU. Invalid:
	// the interface of the default route, no fixed source.
	Local netip.Addr `json:"local,omitzero"`
	// MTU of the overlay; 0: the underlay's minus Overhead.
	MTU int `json:"mtu,omitempty"`
	// Gateway is the address the bridge holds (the network's gateway,
	// with the subnet's length): the same on every node, never seen on
	// the wire since the vxlan device answers ARP only for remote
	// containers. Invalid: none.
	Gateway netip.Prefix `json:"gateway,omitzero"`
}

// Validate checks what a caller could get wrong.
func (s Spec) Validate() error {
	if s.VNI < 1 || s.VNI > 1<<24-1 {
		return fmt.Errorf("overlay: vni %d out of range 1-16777215", s.VNI)
	}
	for _, n := range []string{s.Bridge, s.VXLAN} {
		if n == "" || len(n) > 15 {
			return fmt.Errorf("overlay: interface name %q: want 1 to 15 characters", n)
		}
	}
	if s.MTU != 0 && (s.MTU < 68 || s.MTU > 65535) {
		return fmt.Errorf("overlay: mtu %d out of range", s.MTU)
	}
	return nil
}

// Underlay returns the interface of the underlay: the one holding local,
// or (local invalid) the one of the default route.
func Underlay(h *netlink.Handle, local netip.Addr) (netlink.Link, error) {
	if local.IsValid() {
		addrs, err := h.AddrList(nil, netlink.FAMILY_V4)
		if err != nil {
			return nil, err
		}
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok && ip == local {
				return h.LinkByIndex(a.LinkIndex)
			}
		}
		return nil, fmt.Errorf("overlay: no interface has the underlay address %s", local)
	}
	routes, err := h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, err
	}
	for _, r := range routes {
		if (r.Dst == nil || r.Dst.IP.IsUnspecified()) && r.LinkIndex > 0 {
			return h.LinkByIndex(r.LinkIndex)
		}
	}
	return nil, errors.New("overlay: no underlay address given and no default route")
}

// Ensure creates (or finds) the network's bridge and vxlan device, the
// vxlan enslaved to the bridge, both up, the gateway on the bridge. It is
// idempotent, and returns the overlay MTU.
func Ensure(h *netlink.Handle, s Spec) (mtu int, err error) {
	if err := s.Validate(); err != nil {
		return 0, err
	}
	under, err := Underlay(h, s.Local)
	if err != nil {
		return 0, err
	}
	mtu = s.MTU
	if mtu == 0 {
		mtu = under.Attrs().MTU - Overhead
	}
	created, err := ensureBridge(h, s.Bridge, mtu)
	if err != nil {
		return 0, err
	}
	createdBridge := created != nil
	br, err := h.LinkByName(s.Bridge)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil && createdBridge {
			_ = h.LinkDel(br)
		}
	}()
	vx, err := ensureVXLAN(h, s, under, mtu)
	if err != nil {
		return 0, err
	}
	if vx.Attrs().MasterIndex != br.Attrs().Index {
		if err := h.LinkSetMaster(vx, br); err != nil {
			return 0, fmt.Errorf("overlay: enslave %s to %s: %w", s.VXLAN, s.Bridge, err)
		}
	}
	if s.Gateway.IsValid() {
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: s.Gateway.Addr().AsSlice(), Mask: net.CIDRMask(s.Gateway.Bits(), 32)}}
		if err := h.AddrAdd(br, addr); err != nil && !errors.Is(err, unix.EEXIST) {
			return 0, fmt.Errorf("overlay: add %s to %s: %w", s.Gateway, s.Bridge, err)
		}
	}
	for _, l := range []netlink.Link{vx, br} {
		if err := h.LinkSetUp(l); err != nil {
			return 0, fmt.Errorf("overlay: bring up %s: %w", l.Attrs().Name, err)
		}
	}
	return mtu, nil
}

// RandomMAC is a random locally administered unicast MAC address, for a
// bridge (as Docker gives its bridges one): without an address of its own
// the kernel gives a bridge the lowest of its ports' addresses, so a
// container joining could change the gateway's MAC under the containers
// already there, whose neighbour entries then send their traffic to the
// gateway (DNS, the host) nowhere until they expire.
func RandomMAC() net.HardwareAddr {
	mac := make(net.HardwareAddr, 6)
	_, _ = rand.Read(mac)
	mac[0] = mac[0]&0xfe | 0x02
	return mac
}

// ensureBridge returns the bridge it created, or nil if name existed (as
// a bridge).
func ensureBridge(h *netlink.Handle, name string, mtu int) (*netlink.Bridge, error) {
	if l, err := h.LinkByName(name); err == nil {
		if _, ok := l.(*netlink.Bridge); !ok {
			return nil, fmt.Errorf("overlay: interface %s exists and is not a bridge", name)
		}
		return nil, nil
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MTU = name, mtu
	// Its own MAC: it would otherwise follow its ports' (RandomMAC).
	attrs.HardwareAddr = RandomMAC()
	br := &netlink.Bridge{LinkAttrs: attrs}
	if err := h.LinkAdd(br); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return nil, nil // a concurrent ADD made it
		}
		return nil, fmt.Errorf("overlay: create bridge %s: %w", name, err)
	}
	return br, nil
}

func ensureVXLAN(h *netlink.Handle, s Spec, under netlink.Link, mtu int) (netlink.Link, error) {
	if l, err := h.LinkByName(s.VXLAN); err == nil {
		vx, ok := l.(*netlink.Vxlan)
		if !ok || vx.VxlanId != s.VNI {
			return nil, fmt.Errorf("overlay: interface %s exists and is not the vxlan device of vni %d", s.VXLAN, s.VNI)
		}
		return vx, nil
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MTU = s.VXLAN, mtu
	vx := &netlink.Vxlan{
		LinkAttrs:    attrs,
		VxlanId:      s.VNI,
		VtepDevIndex: under.Attrs().Index,
		Port:         Port,
		Learning:     false, // the control plane writes every entry
		Proxy:        true,  // answer ARP from the neighbour table: no ARP crosses the underlay
	}
	if s.Local.IsValid() {
		vx.SrcAddr = s.Local.AsSlice()
	}
	if err := h.LinkAdd(vx); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return h.LinkByName(s.VXLAN)
		}
		return nil, fmt.Errorf("overlay: create vxlan %s (vni %d): %w", s.VXLAN, s.VNI, err)
	}
	return h.LinkByName(s.VXLAN)
}

// Destroy deletes the network's vxlan device and bridge (and with them
// every FDB and neighbour entry on them). Missing devices are not an
// error.
func Destroy(h *netlink.Handle, s Spec) error {
	var errs []error
	for _, name := range []string{s.VXLAN, s.Bridge} {
		l, err := h.LinkByName(name)
		if err != nil {
			continue
		}
		if err := h.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("overlay: delete %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

var zeroMAC = net.HardwareAddr{0, 0, 0, 0, 0, 0}

func fdbEntry(vx netlink.Link, mac net.HardwareAddr, peer netip.Addr) *netlink.Neigh {
	return &netlink.Neigh{
		LinkIndex:    vx.Attrs().Index,
		Family:       unix.AF_BRIDGE,
		State:        netlink.NUD_PERMANENT | netlink.NUD_NOARP,
		Flags:        netlink.NTF_SELF,
		IP:           peer.AsSlice(),
		HardwareAddr: mac,
	}
}

// AddPeer sends the network's broadcast and unknown traffic to peer too
// (an all-zero FDB entry appended for it). Idempotent.
func AddPeer(h *netlink.Handle, vxlan string, peer netip.Addr) error {
	vx, err := h.LinkByName(vxlan)
	if err != nil {
		return err
	}
	if err := h.NeighAppend(fdbEntry(vx, zeroMAC, peer)); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("overlay: fdb append 00:00:00:00:00:00 dst %s dev %s: %w", peer, vxlan, err)
	}
	return nil
}

// DelPeer removes peer's all-zero FDB entry. A missing one is not an error.
func DelPeer(h *netlink.Handle, vxlan string, peer netip.Addr) error {
	vx, err := h.LinkByName(vxlan)
	if err != nil {
		return nil
	}
	return ignoreMissing(h.NeighDel(fdbEntry(vx, zeroMAC, peer)))
}

// Remote is a container on another node: its MAC and address on the
// overlay, and the underlay address of its node.
type Remote struct {
	MAC  net.HardwareAddr
	IP   netip.Addr
	Node netip.Addr
}

// AddRemote writes the FDB entry (MAC → node) and the neighbour entry
// (IP → MAC) of a remote container. Idempotent; a changed entry is
// replaced.
func AddRemote(h *netlink.Handle, vxlan string, r Remote) error {
	vx, err := h.LinkByName(vxlan)
	if err != nil {
		return err
	}
	if err := h.NeighSet(fdbEntry(vx, r.MAC, r.Node)); err != nil {
		return fmt.Errorf("overlay: fdb %s dst %s dev %s: %w", r.MAC, r.Node, vxlan, err)
	}
	if err := h.NeighSet(neighEntry(vx, r)); err != nil {
		return fmt.Errorf("overlay: neighbour %s lladdr %s dev %s: %w", r.IP, r.MAC, vxlan, err)
	}
	return nil
}

// DelRemote removes what AddRemote wrote. Missing entries are not an
// error.
func DelRemote(h *netlink.Handle, vxlan string, r Remote) error {
	vx, err := h.LinkByName(vxlan)
	if err != nil {
		return nil
	}
	return errors.Join(ignoreMissing(h.NeighDel(neighEntry(vx, r))), ignoreMissing(h.NeighDel(fdbEntry(vx, r.MAC, r.Node))))
}

func neighEntry(vx netlink.Link, r Remote) *netlink.Neigh {
	return &netlink.Neigh{
		LinkIndex:    vx.Attrs().Index,
		Family:       unix.AF_INET,
		State:        netlink.NUD_PERMANENT,
		IP:           r.IP.AsSlice(),
		HardwareAddr: r.MAC,
	}
}

func ignoreMissing(err error) error {
	if err == nil || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) {
		return nil
	}
	return err
}

// Entries lists the FDB entries (MAC → underlay address) and neighbour
// entries (IP → MAC) the control plane wrote on vxlan: for tests, leak
// checks and `inspect`.
func Entries(h *netlink.Handle, vxlan string) (fdb map[string][]netip.Addr, neigh map[netip.Addr]string, err error) {
	vx, err := h.LinkByName(vxlan)
	if err != nil {
		return nil, nil, err
	}
	fdb, neigh = map[string][]netip.Addr{}, map[netip.Addr]string{}
	fl, err := h.NeighList(vx.Attrs().Index, unix.AF_BRIDGE)
	if err != nil {
		return nil, nil, err
	}
	for _, n := range fl {
		if ip, ok := netip.AddrFromSlice(n.IP.To4()); ok && n.IP != nil {
			fdb[n.HardwareAddr.String()] = append(fdb[n.HardwareAddr.String()], ip)
		}
	}
	nl, err := h.NeighList(vx.Attrs().Index, unix.AF_INET)
	if err != nil {
		return nil, nil, err
	}
	for _, n := range nl {
		if ip, ok := netip.AddrFromSlice(n.IP.To4()); ok && n.State&netlink.NUD_PERMANENT != 0 {
			neigh[ip] = n.HardwareAddr.String()
		}
	}
	return fdb, neigh, nil
}

// ESPSupported reports whether the kernel of h's namespace can do IPsec
// ESP (CONFIG_INET_ESP with AES-GCM): it adds a probe state between two
// loopback addresses and deletes it at once.
func ESPSupported(h *netlink.Handle) error {
	key := make([]byte, 20)
	st := &netlink.XfrmState{
		Src: net.IPv4(127, 0, 0, 1), Dst: net.IPv4(127, 0, 0, 2),
		Proto: netlink.XFRM_PROTO_ESP, Mode: netlink.XFRM_MODE_TRANSPORT,
		Spi: 0x0b3e7700, Reqid: 0x0b3e7700,
		Aead: &netlink.XfrmStateAlgo{Name: "rfc4106(gcm(aes))", Key: key, ICVLen: 128},
	}
	if err := h.XfrmStateAdd(st); err != nil {
		return err
	}
	return h.XfrmStateDel(st)
}
