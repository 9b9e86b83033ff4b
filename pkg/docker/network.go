package docker

import (
	"net"

	dnetwork "github.com/moby/moby/api/types/network"

	"github.com/berthproject/berth/pkg/types/network"
)

// NetworkInspect is the Docker inspect view of n, with its endpoints.
func NetworkInspect(n *network.Network) dnetwork.Inspect {
	out := dnetwork.Inspect{Network: networkBase(n), Containers: map[string]dnetwork.EndpointResource{}}
	for _, ep := range n.Endpoints {
		r := dnetwork.EndpointResource{Name: ep.Name, EndpointID: ep.IfName, IPv4Address: ep.IPv4, IPv6Address: ep.IPv6}
		if mac, err := net.ParseMAC(ep.MAC); err == nil {
			r.MacAddress = dnetwork.HardwareAddr(mac)
		}
		out.Containers[ep.ContainerID] = r
	}
	return out
}

// NetworkSummary is the `docker network ls` entry of n.
func NetworkSummary(n *network.Network) dnetwork.Summary {
	return dnetwork.Summary{Network: networkBase(n)}
}

func networkBase(n *network.Network) dnetwork.Network {
	out := dnetwork.Network{
		Name:       n.Name,
		ID:         n.ID,
		Created:    n.Created,
		Scope:      network.Scope(n),
		Driver:     n.Driver,
		EnableIPv4: true,
		EnableIPv6: n.EnableIPv6,
		IPAM:       dnetwork.IPAM{Driver: "default", Options: n.IPAMOptions, Config: []dnetwork.IPAMConfig{}},
		Internal:   n.Internal,
		Attachable: n.Attachable,
		Options:    n.Options,
		Labels:     n.Labels,
	}
	if out.Options == nil {
		out.Options = map[string]string{}
	}
	if out.IPAM.Options == nil {
		out.IPAM.Options = map[string]string{}
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if n.Subnet.IsValid() {
		c := dnetwork.IPAMConfig{Subnet: n.Subnet, IPRange: n.IPRange}
		if n.Gateway.IsValid() {
			c.Gateway = n.Gateway
		}
		c.AuxAddress = n.AuxAddresses
		out.IPAM.Config = append(out.IPAM.Config, c)
	}
	if n.EnableIPv6 && n.Subnet6.IsValid() {
		out.IPAM.Config = append(out.IPAM.Config, dnetwork.IPAMConfig{Subnet: n.Subnet6, Gateway: n.Gateway6})
	}
	if n.Interface != "" && n.Driver == network.DriverBridge {
		if _, ok := out.Options["com.docker.network.bridge.name"]; !ok {
			out.Options = cloneWith(out.Options, "com.docker.network.bridge.name", n.Interface)
		}
	}
	return out
}

func cloneWith(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}
