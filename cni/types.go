package cni

// The types the API and CLI share live in pkg/types/network, a leaf package
// the berth CLI links without CNI and netlink; these aliases keep this
// package's API unchanged.

import network "github.com/berthproject/berth/pkg/types/network"

type (
	Network       = network.Network
	EndpointRef   = network.EndpointRef
	CreateOptions = network.CreateOptions
	PortMapping   = network.PortMapping
)

const (
	DriverBridge   = network.DriverBridge
	DriverMacvlan  = network.DriverMacvlan
	DefaultNetwork = network.DefaultNetwork
)

// ParsePortSpec parses one -p/--publish value:
// [ip:][hostPort[-hostEnd]:]containerPort[-containerEnd][/tcp|/udp].
// A range of host ports must be as long as the container port range; an
// empty host port means "any free port" (HostPort 0).
func ParsePortSpec(spec string) ([]PortMapping, error) { return network.ParsePortSpec(spec) }
