package cni

import (
	"encoding/json"
	"net/netip"
	"time"

	networktypes "github.com/berthproject/berth/pkg/types/network"
)

// Network modes of a Sandbox.
const (
	ModeNone      = "none"      // own netns with only lo
	ModeHost      = "host"      // the host's stack, no netns
	ModeContainer = "container" // another container's netns (container:<netns path>)
	ModeNetwork   = "network"   // own netns attached to one or more networks
)

// SetupRequest describes the network of a container being started.
type SetupRequest struct {
	ContainerID string
	// Name is the container name; on user-defined networks it resolves
	// through the embedded DNS (with the aliases and the 12-char short ID).
	Name string
	// Hostname of the container (default: the short ID; host mode: the
	// host's hostname).
	Hostname string
	// NetworkMode: "bridge" (default network; also the default when empty
	// and Networks is empty), "none", "host", "container:<netns path>" or a
	// network name/ID. With a network name, Networks may add more networks;
	// with "" the first of Networks is the primary one.
	NetworkMode string
	// Networks to attach to, with per-network settings. An entry for the
	// NetworkMode network carries that network's settings.
	Networks []Attachment
	// Ports to publish (on the primary network). Discarded in host mode,
	// rejected for none and container modes.
	Ports []networktypes.PortMapping
	// DNS servers (--dns). On networks with the embedded DNS they become its
	// upstreams for this container; elsewhere they go to resolv.conf.
	DNS        []string
	DNSSearch  []string
	DNSOptions []string
	// ExtraHosts: "name:ip" entries for /etc/hosts (--add-host); ip
	// "host-gateway" means the primary network's gateway.
	ExtraHosts []string
	// Links are legacy links on a user-defined primary network,
	// "NAME:ALIAS": ALIAS resolves to NAME through the network's DNS for
	// this container only.
	Links []string
	// NetNSReady, if set, is called once the container's own network
	// namespace exists at NetNSPath, before its interfaces are configured.
	// A runtime may create the container in it from then on (its process
	// must not run before Setup returns).
	NetNSReady func()
}

// Attachment is a container's membership in one network.
type Attachment struct {
	Network string     // name or ID
	IPv4    netip.Addr // optional static address (--ip)
	IPv6    netip.Addr // optional static IPv6 address (--ip6; IPv6 networks)
	Aliases []string   // network-scoped DNS aliases (user-defined networks)
	MAC     string     // optional MAC address
	// GwPriority (Docker's EndpointSettings.GwPriority): among the
	// container's networks, the one with the highest gives the default
	// route (GatewayEndpoints).
	GwPriority int
	// IfName: the interface's name in the container; "" takes the first
	// free eth<N> once the named ones are placed.
	IfName string
}

// Endpoint is a container's interface on one network.
type Endpoint struct {
	Network   string `json:"network"`
	NetworkID string `json:"networkID"`
	Driver    string `json:"driver"`
	IfName    string `json:"ifName"` // eth0, eth1, ... inside the netns
	// IfNameGiven: IfName is the attachment's own (Docker's driver option
	// com.docker.network.endpoint.ifname), not a dynamic eth<N>.
	IfNameGiven bool         `json:"ifNameGiven,omitempty"`
	IPv4        netip.Prefix `json:"ipv4,omitzero"`
	Gateway     netip.Addr   `json:"gateway,omitzero"`
	// IPv6 and Gateway6: the endpoint's address on a dual-stack network.
	IPv6     netip.Prefix `json:"ipv6,omitzero"`
	Gateway6 netip.Addr   `json:"gateway6,omitzero"`
	MAC      string       `json:"mac,omitempty"`
	Aliases  []string     `json:"aliases,omitempty"`
	// DefaultRoute: the network can route the container's outside
	// traffic through Gateway (false on internal networks). Of a
	// container's endpoints, GatewayEndpoints says which one does.
	DefaultRoute bool `json:"defaultRoute,omitempty"`
	// GwPriority: the endpoint's priority for the default route.
	GwPriority int `json:"gwPriority,omitempty"`
	// DNSServer is the embedded DNS address for this network, if any.
	DNSServer netip.Addr `json:"dnsServer,omitzero"`
	// Ports published through this endpoint.
	Ports []networktypes.PortMapping `json:"ports,omitempty"`

	RequestedIPv4 netip.Addr `json:"requestedIPv4,omitzero"`
	RequestedIPv6 netip.Addr `json:"requestedIPv6,omitzero"`
	RequestedMAC  string     `json:"requestedMAC,omitempty"`
}

// Sandbox is the network side of one container: its netns and endpoints. It
// is also what berth keeps on disk (<root>/cni/sandboxes/<id>.json) to tear
// the network down after a restart.
type Sandbox struct {
	ContainerID string `json:"containerID"`
	Name        string `json:"name,omitempty"`
	Hostname    string `json:"hostname"`
	Mode        string `json:"mode"`
	// NetNSPath is the netns to put the container in (OCI spec
	// linux.namespaces network path); empty in host mode.
	NetNSPath  string                     `json:"netnsPath,omitempty"`
	Endpoints  []Endpoint                 `json:"endpoints,omitempty"`
	DNS        []string                   `json:"dns,omitempty"`
	DNSSearch  []string                   `json:"dnsSearch,omitempty"`
	DNSOptions []string                   `json:"dnsOptions,omitempty"`
	ExtraHosts []string                   `json:"extraHosts,omitempty"`
	Links      []string                   `json:"links,omitempty"`
	Created    time.Time                  `json:"created"`
	Ports      []networktypes.PortMapping `json:"ports,omitempty"` // all published ports, host ports resolved
	// PortsNFT: the ports are forwarded by berth's nftables table (false:
	// by the portmap plugin, for a container an older berth started).
	PortsNFT bool `json:"portsNFT,omitempty"`
}

// Endpoint returns the endpoint on network (name), or nil.
func (sb *Sandbox) Endpoint(network string) *Endpoint {
	for i := range sb.Endpoints {
		if sb.Endpoints[i].Network == network {
			return &sb.Endpoints[i]
		}
	}
	return nil
}

func (sb *Sandbox) clone() *Sandbox {
	b, _ := json.Marshal(sb)
	var out Sandbox
	_ = json.Unmarshal(b, &out)
	return &out
}

// ip6 is the IPv6 address of the primary endpoint (published ports go
// there too), if any.
func (sb *Sandbox) ip6() netip.Addr {
	if len(sb.Endpoints) == 0 || !sb.Endpoints[0].IPv6.IsValid() {
		return netip.Addr{}
	}
	return sb.Endpoints[0].IPv6.Addr()
}
