package cluster

import (
	"strconv"
	"strings"
)

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

	// PrefixServices: /berth/services/<service-id> is a service's record
	// (types/service.Service without the computed ServiceStatus): the spec
	// written by create/update/rollback on any node, the Endpoint (ports,
	// VIPs) and UpdateStatus written by the leader. Its ModRevision is the
	// service's Version.Index. Owned by engine/service.
	PrefixServices = Prefix + "services/"
	// PrefixServiceNames: /berth/service-names/<name> holds the ID of the
	// service of that name; created in the same transaction as the
	// service (fails when the name is taken), deleted with it.
	PrefixServiceNames = Prefix + "service-names/"
	// PrefixPorts: /berth/ports/<proto>/<port> holds the ID of the service
	// publishing that port on every node (the routing mesh); created in
	// the service's create or update transaction, so two services never
	// publish one port.
	PrefixPorts = Prefix + "ports/"
	// PrefixTasks: /berth/tasks/<service-id>/<task-id> is one task
	// (types/service.Task). The leader creates it and writes NodeID and
	// DesiredState; the task's node writes Status and
	// NetworksAttachments. Both read-modify-write it with a transaction on
	// its ModRevision. A task is deleted by the leader once it is
	// terminal, its container gone, and it is past the history kept per
	// slot (Docker's task history limit, 5), or its service is removed.
	// Watchers (the node agents, the service load balancer) watch the
	// whole prefix; one service's tasks are TasksPrefix(id).
	PrefixTasks = Prefix + "tasks/"
	// KeyServiceElection is the etcd election (concurrency.Election) of
	// the service leader: the candidates' keys are
	// /berth/election/services/<lease-id> (value: the node ID), each on
	// its node's election lease; the leader is the oldest key. Every
	// write of the leader is a transaction that compares its own
	// election key's CreateRevision, so a leader that lost its lease can
	// no longer write before another leader starts.
	KeyServiceElection = Prefix + "election/services"
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

// ServiceKey is the key of a service's record.
func ServiceKey(id string) string { return PrefixServices + id }

// ServiceNameKey is the key reserving a service name.
func ServiceNameKey(name string) string { return PrefixServiceNames + name }

// PortKey is the key reserving a published port.
func PortKey(proto string, port uint32) string {
	return PrefixPorts + proto + "/" + strconv.FormatUint(uint64(port), 10)
}

// TasksPrefix is the prefix of one service's tasks.
func TasksPrefix(serviceID string) string { return PrefixTasks + serviceID + "/" }

// TaskKey is the key of one task.
func TaskKey(serviceID, taskID string) string { return TasksPrefix(serviceID) + taskID }

// KeyLast returns the last path element of key (the ID of a node key, the
// IP of an IPAM key).
func KeyLast(key string) string { return key[strings.LastIndexByte(key, '/')+1:] }
