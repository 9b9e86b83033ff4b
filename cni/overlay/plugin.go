package overlay

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/vishvananda/netlink"
)

// PluginType is the CNI type (and binary name) of berth's overlay plugin.
const PluginType = "berth-cni-overlay"

// PluginConf is the plugin's entry in an overlay network's conflist.
// Addresses are not the plugin's to choose: the cluster-wide IPAM in
// berthd allocates one and passes it as the "ips" capability (and the MAC
// derived from it as "mac").
type PluginConf struct {
	types.PluginConf
	Spec
	// Subnet of the network; Internal: no default route in containers.
	Subnet   netip.Prefix `json:"subnet"`
	Internal bool         `json:"internal,omitempty"`

	RuntimeConfig struct {
		IPs []string `json:"ips,omitempty"`
		MAC string   `json:"mac,omitempty"`
	} `json:"runtimeConfig"`
}

// PluginFuncs are the plugin's CNI verbs, for skel.PluginMainFuncs.
func PluginFuncs() skel.CNIFuncs {
	return skel.CNIFuncs{Add: cmdAdd, Del: cmdDel, Check: cmdCheck}
}

// PluginVersions are the CNI spec versions the plugin speaks.
func PluginVersions() version.PluginInfo {
	return version.PluginSupports("0.4.0", "1.0.0", "1.1.0")
}

func parseConf(b []byte) (*PluginConf, error) {
	var c PluginConf
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("berth-cni-overlay: parse config: %w", err)
	}
	if err := c.Spec.Validate(); err != nil {
		return nil, err
	}
	if !c.Subnet.IsValid() {
		return nil, fmt.Errorf("berth-cni-overlay: config has no subnet")
	}
	return &c, nil
}

func (c *PluginConf) gateway() netip.Prefix {
	if !c.Gateway.IsValid() {
		return netip.Prefix{}
	}
	return netip.PrefixFrom(c.Gateway.Addr(), c.Subnet.Bits())
}

func cmdAdd(args *skel.CmdArgs) error {
	c, err := parseConf(args.StdinData)
	if err != nil {
		return err
	}
	if len(c.RuntimeConfig.IPs) != 1 {
		return fmt.Errorf("berth-cni-overlay: want exactly one address in runtimeConfig.ips (berthd's cluster IPAM gives it), got %d", len(c.RuntimeConfig.IPs))
	}
	addr, err := netip.ParsePrefix(c.RuntimeConfig.IPs[0])
	if err != nil {
		a, aerr := netip.ParseAddr(c.RuntimeConfig.IPs[0])
		if aerr != nil {
			return fmt.Errorf("berth-cni-overlay: address %q: %w", c.RuntimeConfig.IPs[0], err)
		}
		addr = netip.PrefixFrom(a, c.Subnet.Bits())
	}
	if !c.Subnet.Contains(addr.Addr()) {
		return fmt.Errorf("berth-cni-overlay: address %s is not in subnet %s", addr.Addr(), c.Subnet)
	}
	addr = netip.PrefixFrom(addr.Addr(), c.Subnet.Bits())
	mac := MACFor(addr.Addr())
	if c.RuntimeConfig.MAC != "" {
		if mac, err = net.ParseMAC(c.RuntimeConfig.MAC); err != nil {
			return fmt.Errorf("berth-cni-overlay: mac %q: %w", c.RuntimeConfig.MAC, err)
		}
	}
	h, err := netlink.NewHandle()
	if err != nil {
		return err
	}
	defer h.Close()
	spec := c.Spec
	spec.Gateway = c.gateway()
	mtu, err := Ensure(h, spec)
	if err != nil {
		return err
	}
	leg := Leg{NetNS: args.Netns, IfName: args.IfName, Bridge: c.Bridge, MTU: mtu, Address: addr, MAC: mac}
	if !c.Internal && c.Gateway.IsValid() {
		leg.Gateway = c.Gateway.Addr()
	}
	at, err := Attach(h, leg)
	if err != nil {
		return err
	}
	res := &types100.Result{
		CNIVersion: types100.ImplementedSpecVersion,
		Interfaces: []*types100.Interface{
			{Name: c.Bridge},
			{Name: at.HostVeth},
			{Name: args.IfName, Mac: at.MAC.String(), Sandbox: args.Netns, Mtu: mtu},
		},
		IPs: []*types100.IPConfig{{
			Interface: types100.Int(2),
			Address:   net.IPNet{IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(addr.Bits(), 32)},
		}},
	}
	if leg.Gateway.IsValid() {
		res.IPs[0].Gateway = leg.Gateway.AsSlice()
		res.Routes = []*types.Route{{Dst: net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}, GW: leg.Gateway.AsSlice()}}
	}
	return types.PrintResult(res, c.CNIVersion)
}

// cmdDel removes the container's leg only: the bridge and the vxlan
// device belong to the network and go with it (berthd's Destroy).
func cmdDel(args *skel.CmdArgs) error {
	if _, err := parseConf(args.StdinData); err != nil {
		return err
	}
	return Detach(args.Netns, args.IfName)
}

func cmdCheck(args *skel.CmdArgs) error {
	c, err := parseConf(args.StdinData)
	if err != nil {
		return err
	}
	h, err := netlink.NewHandle()
	if err != nil {
		return err
	}
	defer h.Close()
	for _, name := range []string{c.Bridge, c.VXLAN} {
		if _, err := h.LinkByName(name); err != nil {
			return fmt.Errorf("berth-cni-overlay: %s: %w", name, err)
		}
	}
	return nil
}
