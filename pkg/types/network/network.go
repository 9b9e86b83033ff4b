package network

import (
	"net/netip"
	"time"
)

// Names of the drivers berth ships.
const (
	DriverBridge  = "bridge"
	DriverMacvlan = "macvlan"
	// DriverOverlay: a network across the nodes of a cluster (vxlan),
	// kept in the cluster store (docs/cluster.md "Overlay networks").
	DriverOverlay = "overlay"
)

// DefaultNetwork is the name of the network every berth host has, the one
// NetworkMode "bridge" selects. Its containers get no name resolution
// (Docker semantics).
const DefaultNetwork = "bridge"

// Network is one berth network. It is stored in its conflist, under the
// top-level key "berth" (CNI tools ignore unknown top-level keys), so the file
// stays a standard conflist.
type Network struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Driver string `json:"driver"`
	// Subnet and Gateway of the network; IPRange (optional) limits the
	// addresses handed to containers.
	Subnet  netip.Prefix `json:"subnet"`
	Gateway netip.Addr   `json:"gateway"`
	IPRange netip.Prefix `json:"ipRange,omitzero"`
	// EnableIPv6 makes the network dual-stack: Subnet6 and Gateway6 are
	// its IPv6 subnet and gateway, and every container on it gets an IPv6
	// address too.
	EnableIPv6 bool         `json:"enableIPv6,omitempty"`
	Subnet6    netip.Prefix `json:"subnet6,omitzero"`
	Gateway6   netip.Addr   `json:"gateway6,omitzero"`
	// Internal networks have no route out: no default route in the
	// containers, no masquerade, forwarding to other interfaces dropped, no
	// DNS forwarding.
	Internal bool `json:"internal,omitempty"`
	// Attachable: containers started with run/create (not only a
	// cluster's services) may join this overlay network.
	Attachable bool `json:"attachable,omitempty"`
	// Interface is the bridge name (bridge driver) or the parent interface
	// (macvlan driver).
	Interface string            `json:"interface"`
	Options   map[string]string `json:"options,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	Created   time.Time         `json:"created"`
	// AuxAddresses are addresses of the subnet reserved for other hosts
	// (Docker's --aux-address), by host name: never given to a container.
	AuxAddresses map[string]netip.Addr `json:"auxAddresses,omitempty"`
	// IPAMOptions are the IPAM driver's options (Docker's --ipam-opt),
	// kept as given.
	IPAMOptions map[string]string `json:"ipamOptions,omitempty"`
	// Default marks the default "bridge" network.
	Default bool `json:"default,omitempty"`
	// DNS reports whether the embedded DNS resolves container names on this
	// network (user-defined bridge networks).
	DNS bool `json:"dns,omitempty"`

	// Endpoints lists the containers attached (filled by Inspect and List,
	// not stored).
	Endpoints []EndpointRef `json:"-"`
}

// EndpointRef is a container's attachment as seen from a network.
type EndpointRef struct {
	ContainerID string
	Name        string
	IfName      string
	IPv4        netip.Prefix
	IPv6        netip.Prefix
	MAC         string
}

// CreateOptions are the parameters of a new network (`berth network create`).
type CreateOptions struct {
	Name   string
	Driver string // "bridge" (default) or "macvlan"
	// Subnet, Gateway, IPRange: optional; a bridge network without a subnet
	// gets a free one from the address pools.
	Subnet  netip.Prefix
	Gateway netip.Addr
	IPRange netip.Prefix
	// EnableIPv6 (--ipv6) makes the network dual-stack. Subnet6 and
	// Gateway6 are optional: without Subnet6 a /64 is taken from the
	// host's ULA pool (as Docker 28). Subnet6 without EnableIPv6 is an
	// error.
	EnableIPv6 bool
	Subnet6    netip.Prefix
	Gateway6   netip.Addr
	Internal   bool
	// Attachable (overlay): containers started with run/create may join.
	Attachable bool
	// Options are driver options: macvlan "parent" (required) and
	// "macvlan_mode" (bridge, private, vepa, passthru; default bridge);
	// bridge "com.docker.network.bridge.name" / "bridge_name" (interface
	// name) and "mtu".
	Options map[string]string
	Labels  map[string]string
	// AuxAddresses (Docker's --aux-address NAME=IP): addresses of Subnet
	// never given to a container. IPAMOptions (--ipam-opt) are kept as given.
	AuxAddresses map[string]netip.Addr
	IPAMOptions  map[string]string
}

// Scope is Docker's scope of a network: "swarm" for an overlay network
// (the cluster's), "local" for the others.
func Scope(n *Network) string {
	if n.Driver == DriverOverlay {
		return "swarm"
	}
	return "local"
}
