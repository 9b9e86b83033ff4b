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
		out = append(out, &berthv1.NetworkAttachment{Network: n.Network, Ipv4: n.IPv4, Aliases: n.Aliases, Mac: n.MAC})
	}
	return out
}

func networkAttachmentsFromProto(ps []*berthv1.NetworkAttachment) []container.NetworkAttachment {
	if ps == nil {
		return nil
	}
	out := make([]container.NetworkAttachment, 0, len(ps))
	for _, p := range ps {
		out = append(out, container.NetworkAttachment{Network: p.GetNetwork(), IPv4: p.GetIpv4(), Aliases: p.GetAliases(), MAC: p.GetMac()})
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
	}
	if n.Networks != nil {
		p.Networks = make(map[string]*berthv1.EndpointSettings, len(n.Networks))
		for name, e := range n.Networks {
			p.Networks[name] = &berthv1.EndpointSettings{
				NetworkId:   e.NetworkID,
				IpAddress:   e.IPAddress,
				IpPrefixLen: int64(e.IPPrefixLen),
				Gateway:     e.Gateway,
				MacAddress:  e.MacAddress,
				Aliases:     e.Aliases,
			}
		}
	}
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
	}
	if p.GetNetworks() != nil {
		n.Networks = make(map[string]container.EndpointSettings, len(p.GetNetworks()))
		for name, e := range p.GetNetworks() {
			n.Networks[name] = container.EndpointSettings{
				NetworkID:   e.GetNetworkId(),
				IPAddress:   e.GetIpAddress(),
				IPPrefixLen: int(e.GetIpPrefixLen()),
				Gateway:     e.GetGateway(),
				MacAddress:  e.GetMacAddress(),
				Aliases:     e.GetAliases(),
			}
		}
	}
	return n
}
