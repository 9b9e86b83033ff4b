package overlay

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Leg is a container's interface on an overlay network.
type Leg struct {
	NetNS  string // the container's network namespace (a path)
	IfName string // its name inside, e.g. eth0
	Bridge string // the network's bridge on this node
	MTU    int
	// Address with the subnet's length, and the MAC the control plane
	// announced for it (the other nodes' FDB and neighbour entries hold
	// it, so the interface must carry exactly this one).
	Address netip.Prefix
	MAC     net.HardwareAddr
	// Gateway: the default route's next hop; invalid for an internal
	// network (no default route).
	Gateway netip.Addr
}

// Attached is what Attach made.
type Attached struct {
	HostVeth string
	MAC      net.HardwareAddr
}

// Attach creates the container's veth pair: one end on the bridge in the
// node's namespace (h), the other named l.IfName in l.NetNS with the
// address, the MAC and the default route. On error nothing is left.
func Attach(h *netlink.Handle, l Leg) (_ Attached, err error) {
	br, err := h.LinkByName(l.Bridge)
	if err != nil {
		return Attached{}, fmt.Errorf("overlay: bridge %s: %w", l.Bridge, err)
	}
	ns, err := vnetns.GetFromPath(l.NetNS)
	if err != nil {
		return Attached{}, fmt.Errorf("overlay: netns %s: %w", l.NetNS, err)
	}
	defer ns.Close()
	ch, err := netlink.NewHandleAt(ns)
	if err != nil {
		return Attached{}, err
	}
	defer ch.Close()
	if _, err := ch.LinkByName(l.IfName); err == nil {
		return Attached{}, fmt.Errorf("overlay: %s already exists in %s", l.IfName, l.NetNS)
	}

	suffix := randomHex(4)
	hostName, peerTmp := "vo"+suffix, "vp"+suffix
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MTU, attrs.MasterIndex = hostName, l.MTU, br.Attrs().Index
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: peerTmp, PeerNamespace: netlink.NsFd(int(ns))}
	if err := h.LinkAdd(veth); err != nil {
		return Attached{}, fmt.Errorf("overlay: create veth %s: %w", hostName, err)
	}
	defer func() {
		if err != nil {
			if hl, lerr := h.LinkByName(hostName); lerr == nil {
				_ = h.LinkDel(hl) // takes the peer with it
			}
		}
	}()
	peer, err := ch.LinkByName(peerTmp)
	if err != nil {
		return Attached{}, err
	}
	if err := ch.LinkSetName(peer, l.IfName); err != nil {
		return Attached{}, fmt.Errorf("overlay: rename to %s: %w", l.IfName, err)
	}
	if err := ch.LinkSetMTU(peer, l.MTU); err != nil {
		return Attached{}, err
	}
	if len(l.MAC) > 0 {
		if err := ch.LinkSetHardwareAddr(peer, l.MAC); err != nil {
			return Attached{}, fmt.Errorf("overlay: set mac %s: %w", l.MAC, err)
		}
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: l.Address.Addr().AsSlice(), Mask: net.CIDRMask(l.Address.Bits(), 32)}}
	if err := ch.AddrAdd(peer, addr); err != nil {
		return Attached{}, fmt.Errorf("overlay: add %s: %w", l.Address, err)
	}
	if err := ch.LinkSetUp(peer); err != nil {
		return Attached{}, err
	}
	if l.Gateway.IsValid() {
		route := &netlink.Route{LinkIndex: peer.Attrs().Index, Gw: l.Gateway.AsSlice()}
		// A container on several networks has one default route, which
		// berth's network manager moves to the network of its choice
		// (GwPriority): another network's route already there stays.
		if err := ch.RouteAdd(route); err != nil && !errors.Is(err, unix.EEXIST) {
			return Attached{}, fmt.Errorf("overlay: default route via %s: %w", l.Gateway, err)
		}
	}
	hl, err := h.LinkByName(hostName)
	if err != nil {
		return Attached{}, err
	}
	if err := h.LinkSetUp(hl); err != nil {
		return Attached{}, err
	}
	peer, err = ch.LinkByName(l.IfName)
	if err != nil {
		return Attached{}, err
	}
	return Attached{HostVeth: hostName, MAC: peer.Attrs().HardwareAddr}, nil
}

// Detach deletes the container's interface (and so its veth pair). A
// missing namespace or interface is not an error: DEL is idempotent.
func Detach(netnsPath, ifName string) error {
	if netnsPath == "" {
		return nil
	}
	ns, err := vnetns.GetFromPath(netnsPath)
	if err != nil {
		return nil // the namespace is gone, and the veth with it
	}
	defer ns.Close()
	ch, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer ch.Close()
	l, err := ch.LinkByName(ifName)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return err
	}
	return ch.LinkDel(l)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// MACFor is the MAC berth gives the container address ip on an overlay
// network, as Docker does: 02:42 and the four bytes of the address. It is
// unique wherever the address is, and the same on every node.
func MACFor(ip netip.Addr) net.HardwareAddr {
	a := ip.As4()
	return net.HardwareAddr{0x02, 0x42, a[0], a[1], a[2], a[3]}
}
