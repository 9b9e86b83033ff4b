package cluster

import "strings"

// The cluster store's key layout. Every key lives under Prefix; values are
// JSON unless said otherwise. The overlay network's keys are listed here
// so one file tells what the store holds (docs/cluster.md mirrors it).
const (
	Prefix = "/berth/"

	// KeyCluster holds the cluster record (ID, creation time, CA
	// certificate, store mode): written once by `cluster init`.
	KeyCluster = Prefix + "cluster/info"
	// KeyCAKey holds the cluster CA's private key (PEM), so that any node
	// can sign a joining node's certificate. Only mutual-TLS clients with
	// a cluster certificate can read the store.
	KeyCAKey = Prefix + "cluster/ca-key"
	// KeyJoinToken holds the SHA-256 of the join token's secret (hex).
	KeyJoinToken = Prefix + "cluster/join-token"

	// PrefixNodes: /berth/nodes/<node-id> is a node's record
	// (types/cluster.Node without the computed fields). Persistent: a node
	// that is down keeps its record until `node rm` or `cluster leave`.
	PrefixNodes = Prefix + "nodes/"
	// PrefixAlive: /berth/alive/<node-id> exists while the node's
	// heartbeat lease lives (value: the node's address). Its deletion is
	// how every watcher learns a node went down.
	PrefixAlive = Prefix + "alive/"

	// PrefixNetworks: /berth/networks/<name> is an overlay network's spec
	// (VNI, subnet, options). Owned by the overlay network code.
	PrefixNetworks = Prefix + "networks/"
	// PrefixIPAM: /berth/ipam/<network>/<ip> is one allocated address
	// (value: the endpoint ID), created with a transaction that fails when
	// the key exists.
	PrefixIPAM = Prefix + "ipam/"
	// PrefixEndpoints: /berth/endpoints/<network>/<endpoint-id> is one
	// container's leg on an overlay network (node, IP, MAC, names).
	PrefixEndpoints = Prefix + "endpoints/"
	// PrefixVNI: /berth/vni/<vni> reserves a VXLAN network identifier
	// (value: the network's name).
	PrefixVNI = Prefix + "vni/"
	// PrefixKeys: /berth/keys/<network> holds an encrypted network's IPsec
	// keys (current and previous, for rotation).
	PrefixKeys = Prefix + "keys/"
)

// NodeKey is the key of a node's record.
func NodeKey(id string) string { return PrefixNodes + id }

// AliveKey is the key of a node's heartbeat (attached to its lease).
func AliveKey(id string) string { return PrefixAlive + id }

// NetworkKey is the key of an overlay network's spec.
func NetworkKey(name string) string { return PrefixNetworks + name }

// IPAMPrefix is the prefix of a network's allocated addresses.
func IPAMPrefix(network string) string { return PrefixIPAM + network + "/" }

// IPAMKey is the key of one allocated address of a network.
func IPAMKey(network, ip string) string { return IPAMPrefix(network) + ip }

// EndpointsPrefix is the prefix of a network's endpoints.
func EndpointsPrefix(network string) string { return PrefixEndpoints + network + "/" }

// EndpointKey is the key of one endpoint of a network.
func EndpointKey(network, id string) string { return EndpointsPrefix(network) + id }

// KeyLast returns the last path element of key (the ID of a node key, the
// IP of an IPAM key).
func KeyLast(key string) string { return key[strings.LastIndexByte(key, '/')+1:] }
