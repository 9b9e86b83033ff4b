// Package network holds the network types the API, the client and the CLI
// share with the engine's networking (Network, CreateOptions, EndpointRef,
// PortMapping) and ParsePortSpec. It imports only the standard library and
// github.com/containerd/errdefs, so that the berth CLI links neither CNI
// nor netlink; package cni and engine/network use these types directly.
package network
