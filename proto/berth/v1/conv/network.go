package conv

import (
	"github.com/berthproject/berth/pkg/types/container"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
)

func networkAttachmentsToProto(ns []container.NetworkAttachment) []*berthv1.NetworkAttachment {
	if ns == nil {
		return nil
	}
	out := make([]*berthv1.NetworkAttachment, 0, len(ns))
	for _, n := range ns {
		out = append(out, &berthv1.NetworkAttachment{Network: n.Network, Ipv4: n.IPv4, Ipv6: n.IPv6, Aliases: n.Aliases, Mac: n.MAC, GwPriority: int64(n.GwPriority), IfName: n.IfName})
	}
	return out
}

func networkAttachmentsFromProto(ps []*berthv1.NetworkAttachment) []container.NetworkAttachment {
	if ps == nil {
		return nil
	}
	out := make([]container.NetworkAttachment, 0, len(ps))
	for _, p := range ps {
		out = append(out, container.NetworkAttachment{Network: p.GetNetwork(), IPv4: p.GetIpv4(), IPv6: p.GetIpv6(), Aliases: p.GetAliases(), MAC: p.GetMac(), GwPriority: int(p.GetGwPriority()), IfName: p.GetIfName()})
	}
	return out
}

func portBindingsToProto(bs []container.PortBinding) []*berthv1.PortBinding {
	if bs == nil {
		return nil
	}
	out := make([]*berthv1.PortBinding, 0, len(bs))
	for _, b := range bs {
		out = append(out, &berthv1.PortBinding{HostIp: b.HostIP, HostPort: uint32(b.HostPort), ContainerPort: uint32(b.ContainerPort), Proto: b.Proto})
	}
	return out
}

func portBindingsFromProto(ps []*berthv1.PortBinding) []container.PortBinding {
	if ps == nil {
		return nil
	}
	out := make([]container.PortBinding, 0, len(ps))
	for _, p := range ps {
		out = append(out, container.PortBinding{
			HostIP: p.GetHostIp(), HostPort: uint16(p.GetHostPort()), ContainerPort: uint16(p.GetContainerPort()), Proto: p.GetProto(),
		})
	}
	return out
}

// NetworkSettingsToProto converts the network part of Inspect.
func NetworkSettingsToProto(n container.NetworkSettings) *berthv1.NetworkSettings {
	p := &berthv1.NetworkSettings{
		SandboxKey: n.SandboxKey,
		IpAddress:  n.IPAddress,
		Gateway:    n.Gateway,
		MacAddress: n.MacAddress,
		Ports:      portBindingsToProto(n.Ports),

		GlobalIpv6Address:   n.GlobalIPv6Address,
		GlobalIpv6PrefixLen: int64(n.GlobalIPv6PrefixLen),
		Ipv6Gateway:         n.IPv6Gateway,
	}
	p.Networks = EndpointsToProto(n.Networks)
	return p
}

// NetworkSettingsFromProto is the inverse of NetworkSettingsToProto.
func NetworkSettingsFromProto(p *berthv1.NetworkSettings) container.NetworkSettings {
	n := container.NetworkSettings{
		SandboxKey: p.GetSandboxKey(),
		IPAddress:  p.GetIpAddress(),
		Gateway:    p.GetGateway(),
		MacAddress: p.GetMacAddress(),
		Ports:      portBindingsFromProto(p.GetPorts()),

		GlobalIPv6Address:   p.GetGlobalIpv6Address(),
		GlobalIPv6PrefixLen: int(p.GetGlobalIpv6PrefixLen()),
		IPv6Gateway:         p.GetIpv6Gateway(),
	}
	n.Networks = EndpointsFromProto(p.GetNetworks())
	return n
}

// EndpointsToProto converts a container's endpoints by network name.
func EndpointsToProto(m map[string]container.EndpointSettings) map[string]*berthv1.EndpointSettings {
	if m == nil {
		return nil
	}
	out := make(map[string]*berthv1.EndpointSettings, len(m))
	for name, e := range m {
		out[name] = &berthv1.EndpointSettings{
			NetworkId:   e.NetworkID,
			IpAddress:   e.IPAddress,
			IpPrefixLen: int64(e.IPPrefixLen),
			Gateway:     e.Gateway,
			MacAddress:  e.MacAddress,
			Aliases:     e.Aliases,
			GwPriority:  int64(e.GwPriority),
			IfName:      e.IfName,

			GlobalIpv6Address:   e.GlobalIPv6Address,
			GlobalIpv6PrefixLen: int64(e.GlobalIPv6PrefixLen),
			Ipv6Gateway:         e.IPv6Gateway,
		}
		if e.IPAMConfig != nil {
			out[name].IpamConfig = &berthv1.EndpointIPAMConfig{Ipv4Address: e.IPAMConfig.IPv4Address, Ipv6Address: e.IPAMConfig.IPv6Address}
		}
	}
	return out
}

// EndpointsFromProto is the inverse of EndpointsToProto.
func EndpointsFromProto(m map[string]*berthv1.EndpointSettings) map[string]container.EndpointSettings {
	if m == nil {
		return nil
	}
	out := make(map[string]container.EndpointSettings, len(m))
	for name, e := range m {
		out[name] = container.EndpointSettings{
			NetworkID:   e.GetNetworkId(),
			IPAddress:   e.GetIpAddress(),
			IPPrefixLen: int(e.GetIpPrefixLen()),
			Gateway:     e.GetGateway(),
			MacAddress:  e.GetMacAddress(),
			Aliases:     e.GetAliases(),
			GwPriority:  int(e.GetGwPriority()),
			IfName:      e.GetIfName(),

			GlobalIPv6Address:   e.GetGlobalIpv6Address(),
			GlobalIPv6PrefixLen: int(e.GetGlobalIpv6PrefixLen()),
			IPv6Gateway:         e.GetIpv6Gateway(),
		}
		if c := e.GetIpamConfig(); c != nil {
			es := out[name]
			es.IPAMConfig = &container.EndpointIPAMConfig{IPv4Address: c.GetIpv4Address(), IPv6Address: c.GetIpv6Address()}
			out[name] = es
		}
	}
	return out
}
