package conv

import (
	"fmt"
	"net/netip"

	"github.com/containerd/errdefs"

	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/network"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
)

// NetworkToProto converts a network (with its endpoints) for the wire.
func NetworkToProto(n *network.Network) *berthv1.Network {
	if n == nil {
		return nil
	}
	p := &berthv1.Network{
		Id:        n.ID,
		Name:      n.Name,
		Driver:    n.Driver,
		Subnet:    prefixString(n.Subnet),
		Gateway:   addrString(n.Gateway),
		IpRange:   prefixString(n.IPRange),
		Internal:  n.Internal,
		Interface: n.Interface,
		Options:   n.Options,
		Labels:    n.Labels,
		Created:   Timestamp(n.Created),
		Default:   n.Default,
		Dns:       n.DNS,

		Attachable:   n.Attachable,
		AuxAddresses: auxToProto(n.AuxAddresses),
		IpamOptions:  n.IPAMOptions,

		EnableIpv6: n.EnableIPv6,
		Subnet6:    prefixString(n.Subnet6),
		Gateway6:   addrString(n.Gateway6),
	}
	for _, e := range n.Endpoints {
		p.Endpoints = append(p.Endpoints, &berthv1.NetworkEndpoint{
			ContainerId: e.ContainerID, Name: e.Name, IfName: e.IfName, Ipv4: prefixString(e.IPv4), Ipv6: prefixString(e.IPv6), Mac: e.MAC,
		})
	}
	return p
}

// NetworkFromProto is the inverse of NetworkToProto. Malformed addresses
// are left zero.
func NetworkFromProto(p *berthv1.Network) *network.Network {
	if p == nil {
		return nil
	}
	n := &network.Network{
		ID:        p.GetId(),
		Name:      p.GetName(),
		Driver:    p.GetDriver(),
		Subnet:    parsePrefix(p.GetSubnet()),
		Gateway:   parseAddr(p.GetGateway()),
		IPRange:   parsePrefix(p.GetIpRange()),
		Internal:  p.GetInternal(),
		Interface: p.GetInterface(),
		Options:   p.GetOptions(),
		Labels:    p.GetLabels(),
		Created:   Time(p.GetCreated()),
		Default:   p.GetDefault(),
		DNS:       p.GetDns(),

		Attachable:  p.GetAttachable(),
		IPAMOptions: p.GetIpamOptions(),

		EnableIPv6: p.GetEnableIpv6(),
		Subnet6:    parsePrefix(p.GetSubnet6()),
		Gateway6:   parseAddr(p.GetGateway6()),
	}
	n.AuxAddresses, _ = auxFromProto(p.GetAuxAddresses())
	for _, e := range p.GetEndpoints() {
		n.Endpoints = append(n.Endpoints, network.EndpointRef{
			ContainerID: e.GetContainerId(), Name: e.GetName(), IfName: e.GetIfName(), IPv4: parsePrefix(e.GetIpv4()), IPv6: parsePrefix(e.GetIpv6()), MAC: e.GetMac(),
		})
	}
	return n
}

// NetworksToProto converts a list of networks.
func NetworksToProto(ns []*network.Network) []*berthv1.Network {
	out := make([]*berthv1.Network, 0, len(ns))
	for _, n := range ns {
		out = append(out, NetworkToProto(n))
	}
	return out
}

// NetworksFromProto converts a list of networks.
func NetworksFromProto(ps []*berthv1.Network) []*network.Network {
	out := make([]*network.Network, 0, len(ps))
	for _, p := range ps {
		out = append(out, NetworkFromProto(p))
	}
	return out
}

// CreateNetworkToProto converts `network create` options for the wire.
func CreateNetworkToProto(o network.CreateOptions) *berthv1.CreateNetworkRequest {
	return &berthv1.CreateNetworkRequest{
		Name:     o.Name,
		Driver:   o.Driver,
		Subnet:   prefixString(o.Subnet),
		Gateway:  addrString(o.Gateway),
		IpRange:  prefixString(o.IPRange),
		Internal: o.Internal,
		Options:  o.Options,
		Labels:   o.Labels,

		Attachable:   o.Attachable,
		AuxAddresses: auxToProto(o.AuxAddresses),
		IpamOptions:  o.IPAMOptions,

		EnableIpv6: o.EnableIPv6,
		Subnet6:    prefixString(o.Subnet6),
		Gateway6:   addrString(o.Gateway6),
	}
}

// CreateNetworkFromProto checks and converts a create request; a malformed
// address is errdefs.ErrInvalidArgument.
func CreateNetworkFromProto(r *berthv1.CreateNetworkRequest) (network.CreateOptions, error) {
	o := network.CreateOptions{
		Name: r.GetName(), Driver: r.GetDriver(), Internal: r.GetInternal(), Attachable: r.GetAttachable(),
		Options: r.GetOptions(), Labels: r.GetLabels(), IPAMOptions: r.GetIpamOptions(), EnableIPv6: r.GetEnableIpv6(),
	}
	var err error
	if o.AuxAddresses, err = auxFromProto(r.GetAuxAddresses()); err != nil {
		return o, err
	}
	if o.Subnet, err = prefixArg("subnet", r.GetSubnet()); err != nil {
		return o, err
	}
	if o.IPRange, err = prefixArg("ip-range", r.GetIpRange()); err != nil {
		return o, err
	}
	if g := r.GetGateway(); g != "" {
		if o.Gateway, err = netip.ParseAddr(g); err != nil {
			return o, fmt.Errorf("invalid gateway %q: %w", g, errdefs.ErrInvalidArgument)
		}
	}
	if o.Subnet6, err = prefixArg("IPv6 subnet", r.GetSubnet6()); err != nil {
		return o, err
	}
	if g := r.GetGateway6(); g != "" {
		if o.Gateway6, err = netip.ParseAddr(g); err != nil {
			return o, fmt.Errorf("invalid IPv6 gateway %q: %w", g, errdefs.ErrInvalidArgument)
		}
	}
	return o, nil
}

// NetworkAttachmentToProto converts one container attachment (connect).
func NetworkAttachmentToProto(a container.NetworkAttachment) *berthv1.NetworkAttachment {
	return &berthv1.NetworkAttachment{Network: a.Network, Ipv4: a.IPv4, Ipv6: a.IPv6, Aliases: a.Aliases, Mac: a.MAC, GwPriority: int64(a.GwPriority), IfName: a.IfName}
}

// NetworkAttachmentFromProto is the inverse of NetworkAttachmentToProto.
func NetworkAttachmentFromProto(p *berthv1.NetworkAttachment) container.NetworkAttachment {
	return container.NetworkAttachment{Network: p.GetNetwork(), IPv4: p.GetIpv4(), IPv6: p.GetIpv6(), Aliases: p.GetAliases(), MAC: p.GetMac(), GwPriority: int(p.GetGwPriority()), IfName: p.GetIfName()}
}

func prefixArg(name, s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, fmt.Errorf("invalid %s %q: want a CIDR such as 10.1.0.0/16: %w", name, s, errdefs.ErrInvalidArgument)
	}
	return p, nil
}

func prefixString(p netip.Prefix) string {
	if !p.IsValid() {
		return ""
	}
	return p.String()
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func parsePrefix(s string) netip.Prefix {
	p, _ := netip.ParsePrefix(s)
	return p
}

func parseAddr(s string) netip.Addr {
	a, _ := netip.ParseAddr(s)
	return a
}

func auxToProto(m map[string]netip.Addr) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, a := range m {
		out[k] = a.String()
	}
	return out
}

// auxFromProto parses aux addresses; a malformed one is
// errdefs.ErrInvalidArgument.
func auxFromProto(m map[string]string) (map[string]netip.Addr, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[string]netip.Addr, len(m))
	for k, v := range m {
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("invalid aux-address %s=%q: want an IP address: %w", k, v, errdefs.ErrInvalidArgument)
		}
		out[k] = a
	}
	return out, nil
}
