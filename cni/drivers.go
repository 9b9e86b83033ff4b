package cni

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/cni/overlay"
	networktypes "github.com/berthproject/berth/pkg/types/network"
)

// bridgeDriver: a Linux bridge per network (CNI bridge + host-local),
// the gateway address on the bridge, berth's nftables rules for
// isolation and masquerade.
type bridgeDriver struct{ defaultBridge string }

func (bridgeDriver) Name() string { return networktypes.DriverBridge }

func (d bridgeDriver) Prepare(_ context.Context, n *networktypes.Network) error {
	for k := range n.Options {
		switch k {
		case "com.docker.network.bridge.name", "bridge_name", "mtu", "com.docker.network.driver.mtu":
		default:
			return errInvalid("bridge driver: unknown option %q", k)
		}
	}
	switch {
	case n.Default:
		n.Interface = d.defaultBridge
	case optionsLookup(n.Options, "com.docker.network.bridge.name", "bridge_name") != "":
		n.Interface = optionsLookup(n.Options, "com.docker.network.bridge.name", "bridge_name")
	default:
		n.Interface = "br-" + n.ID[:12]
	}
	if len(n.Interface) > 15 {
		return errInvalid("bridge name %q is longer than 15 characters", n.Interface)
	}
	if mtu := optionsLookup(n.Options, "mtu", "com.docker.network.driver.mtu"); mtu != "" {
		if v, err := strconv.Atoi(mtu); err != nil || v < 68 || v > 65535 {
			return errInvalid("bridge driver: invalid mtu %q", mtu)
		}
	}
	n.DNS = !n.Default
	return nil
}

func (bridgeDriver) Plugins(n *networktypes.Network, ipamDir string) ([]map[string]any, error) {
	br := map[string]any{
		"type":             "bridge",
		"bridge":           n.Interface,
		"isGateway":        true,
		"isDefaultGateway": false, // the default route comes from IPAM routes (none when internal)
		"ipMasq":           false, // masquerade is berth's, per network, in its nftables table
		"hairpinMode":      true,
		"capabilities":     map[string]bool{"ips": true, "mac": true},
		"ipam":             ipam(n, ipamDir),
	}
	if mtu := optionsLookup(n.Options, "mtu", "com.docker.network.driver.mtu"); mtu != "" {
		v, _ := strconv.Atoi(mtu)
		br["mtu"] = v
	}
	// No portmap: published ports are berth's, in its nftables table.
	return []map[string]any{br}, nil
}

// Ensure creates the bridge with the gateway address, as the bridge plugin
// would at the first ADD: the embedded DNS can then answer from the start,
// and parallel first ADDs do not race to create it.
func (bridgeDriver) Ensure(_ context.Context, n *networktypes.Network) error {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = n.Interface
	if mtu := optionsLookup(n.Options, "mtu", "com.docker.network.driver.mtu"); mtu != "" {
		attrs.MTU, _ = strconv.Atoi(mtu)
	}
	// A MAC address of its own (overlay.RandomMAC says why).
	attrs.HardwareAddr = overlay.RandomMAC()
	if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("create bridge %s: %w", n.Interface, err)
	}
	br, err := netlink.LinkByName(n.Interface)
	if err != nil {
		return fmt.Errorf("create bridge %s: %w", n.Interface, err)
	}
	if _, ok := br.(*netlink.Bridge); !ok {
		return errInvalid("interface %s exists and is not a bridge", n.Interface)
	}
	// A bridge made before (by an older berth) keeps following its ports
	// until its address is set once.
	if b, err := os.ReadFile("/sys/class/net/" + n.Interface + "/addr_assign_type"); err == nil && strings.TrimSpace(string(b)) != addrAssignSet {
		if err := netlink.LinkSetHardwareAddr(br, overlay.RandomMAC()); err != nil {
			return fmt.Errorf("set the MAC address of bridge %s: %w", n.Interface, err)
		}
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: n.Gateway.AsSlice(), Mask: net.CIDRMask(n.Subnet.Bits(), 32)}}
	if err := netlink.AddrAdd(br, addr); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add %s to bridge %s: %w", addr.IPNet, n.Interface, err)
	}
	if n.EnableIPv6 && n.Subnet6.IsValid() {
		// The bridge may have been made with IPv6 off (the host's
		// default): turn it on, and take no router advertisements.
		if err := ipv6Sysctls(n.Interface); err != nil {
			return err
		}
		// No duplicate address detection: the gateway is usable at once
		// (the embedded DNS, the first container's route).
		addr6 := &netlink.Addr{IPNet: &net.IPNet{IP: n.Gateway6.AsSlice(), Mask: net.CIDRMask(n.Subnet6.Bits(), 128)}, Flags: unix.IFA_F_NODAD}
		if err := netlink.AddrAdd(br, addr6); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("add %s to bridge %s: %w", addr6.IPNet, n.Interface, err)
		}
	}
	if err := netlink.LinkSetUp(br); err != nil {
		return fmt.Errorf("bring up bridge %s: %w", n.Interface, err)
	}
	return nil
}

// addrAssignSet is NET_ADDR_SET in addr_assign_type: the address was set
// from user space and the bridge keeps it.
const addrAssignSet = "3"

// ipv6Sysctls enables IPv6 on a bridge without accepting router
// advertisements on it, as Docker does for its IPv6 bridges.
func ipv6Sysctls(ifname string) error {
	for k, v := range map[string]string{"disable_ipv6": "0", "accept_ra": "0"} {
		p := "/proc/sys/net/ipv6/conf/" + ifname + "/" + k
		if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == v {
			continue
		}
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			return fmt.Errorf("IPv6 on bridge %s: %w", ifname, err)
		}
	}
	return nil
}

func (bridgeDriver) Features(*networktypes.Network) Features {
	return Features{Ports: true, Firewall: true, HostReachable: true}
}

// Destroy deletes the bridge (the CNI bridge plugin never does).
func (bridgeDriver) Destroy(_ context.Context, n *networktypes.Network) error {
	l, err := netlink.LinkByName(n.Interface)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("find bridge %s: %w", n.Interface, err)
	}
	if _, ok := l.(*netlink.Bridge); !ok {
		return nil // not ours to delete
	}
	if err := netlink.LinkDel(l); err != nil {
		return fmt.Errorf("delete bridge %s: %w", n.Interface, err)
	}
	return nil
}

// macvlanDriver: containers get a macvlan child of a parent interface and
// sit directly on the parent's L2 segment. The host cannot talk to its own
// macvlan children through the parent, so there is no embedded DNS and no
// published ports on macvlan networks.
type macvlanDriver struct{}

func (macvlanDriver) Name() string { return networktypes.DriverMacvlan }

func (macvlanDriver) Prepare(_ context.Context, n *networktypes.Network) error {
	for k := range n.Options {
		switch k {
		case "parent", "macvlan_mode":
		default:
			return errInvalid("macvlan driver: unknown option %q", k)
		}
	}
	parent := n.Options["parent"]
	if parent == "" {
		return errInvalid("macvlan driver: option parent=IFACE is required")
	}
	if _, err := netlink.LinkByName(parent); err != nil {
		return errInvalid("macvlan driver: parent interface %q: %v", parent, err)
	}
	switch n.Options["macvlan_mode"] {
	case "", "bridge", "private", "vepa", "passthru":
	default:
		return errInvalid("macvlan driver: unknown macvlan_mode %q", n.Options["macvlan_mode"])
	}
	n.Interface = parent
	n.DNS = false
	return nil
}

func (macvlanDriver) Plugins(n *networktypes.Network, ipamDir string) ([]map[string]any, error) {
	mode := n.Options["macvlan_mode"]
	if mode == "" {
		mode = "bridge"
	}
	return []map[string]any{{
		"type":         "macvlan",
		"master":       n.Interface,
		"mode":         mode,
		"capabilities": map[string]bool{"ips": true, "mac": true},
		"ipam":         ipam(n, ipamDir),
	}}, nil
}

func (macvlanDriver) Ensure(context.Context, *networktypes.Network) error { return nil }

func (macvlanDriver) Features(*networktypes.Network) Features { return Features{} }

func (macvlanDriver) Destroy(context.Context, *networktypes.Network) error { return nil }
