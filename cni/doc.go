// Package cni is berth's network plumbing, under the network service
// (engine/network) and the container service (engine/container): it holds
// the network objects (bridge and macvlan networks, their subnets and IPAM
// state, conflists for the CNI plugins), and each container's sandbox (its
// network namespace, endpoints added and removed with CNI ADD and DEL,
// published ports, /etc/hosts and resolv.conf), the firewall (berth's
// nftables table: port forwarding, isolation, masquerade) and the embedded
// DNS server that resolves container names (cni/dns).
//
// Manager is the entry point: New loads the stored networks and sandboxes,
// Setup and Teardown run at a container's start and exit, GC removes what
// containers that no longer exist left behind. The API's network verbs
// (filters, prune, events) are engine/network's; the types shared with the
// API are pkg/types/network.
package cni
