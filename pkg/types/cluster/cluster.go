// Package cluster holds the types of berth's cluster of berthd nodes (the
// control plane on etcd) that the engine, the API and the CLI share.
package cluster

import "time"

// Node status, from the node's heartbeat lease in the cluster store.
const (
	StatusReady = "ready" // heartbeat lease alive
	StatusDown  = "down"  // lease expired or revoked
)

// Node availability, set by `berth node update --availability`.
const (
	AvailabilityActive = "active"
	AvailabilityPause  = "pause"
	AvailabilityDrain  = "drain"
)

// Store roles of a node.
const (
	StoreLeader  = "leader"  // etcd member, current raft leader
	StoreMember  = "member"  // etcd voting member
	StoreLearner = "learner" // etcd member catching up (not yet voting)
	StoreClient  = ""        // client of the store only
)

// Node is one berthd in the cluster, as `berth node inspect` shows it.
type Node struct {
	ID       string `json:"ID"`
	Hostname string `json:"Hostname"`
	// Addr is the node's advertised address on the underlay (an IP): the
	// address other nodes reach it at (join endpoint, etcd peer, vxlan).
	Addr         string            `json:"Addr"`
	Availability string            `json:"Availability"`
	Labels       map[string]string `json:"Labels,omitempty"`
	// EtcdMember is true when berthd runs an etcd member on this node.
	EtcdMember    bool   `json:"EtcdMember"`
	EtcdMemberID  uint64 `json:"EtcdMemberID,omitempty"`
	EngineVersion string `json:"EngineVersion,omitempty"`
	// Resources are the node's CPUs (in 1e-9 CPUs) and memory, what the
	// service scheduler reserves against (zero: not known, no limit).
	Resources NodeResources `json:"Resources,omitempty"`
	CreatedAt time.Time     `json:"CreatedAt"`
	UpdatedAt time.Time     `json:"UpdatedAt"`

	// Computed when read, never stored.
	// Version is the record's revision in the store: an update that
	// names a version fails when the record changed since (Docker's
	// Node.Version.Index).
	Version    uint64 `json:"Version,omitempty"`
	Status     string `json:"Status"`
	StoreRole  string `json:"StoreRole,omitempty"`
	Self       bool   `json:"Self,omitempty"`
	LastSeenAt string `json:"-"`
}

// NodeResources are a node's capacity (Docker's swarm.Resources).
type NodeResources struct {
	NanoCPUs    int64 `json:"NanoCPUs,omitempty"`
	MemoryBytes int64 `json:"MemoryBytes,omitempty"`
}

// Info is `berth cluster info`: this node's view of the cluster.
type Info struct {
	// State is "inactive" when the node is in no cluster (the rest is
	// then empty), "active" otherwise, "pending" while joining.
	State     string    `json:"State"`
	ClusterID string    `json:"ClusterID,omitempty"`
	NodeID    string    `json:"NodeID,omitempty"`
	NodeAddr  string    `json:"NodeAddr,omitempty"`
	CreatedAt time.Time `json:"CreatedAt,omitempty"`
	// Store is "embedded" (berthd runs etcd members on the first nodes)
	// or "external" (--cluster-store).
	Store          string   `json:"Store,omitempty"`
	StoreEndpoints []string `json:"StoreEndpoints,omitempty"`
	// EtcdMember is true when this node runs an etcd member.
	EtcdMember   bool          `json:"EtcdMember"`
	Nodes        int           `json:"Nodes"`
	NodesReady   int           `json:"NodesReady"`
	Members      int           `json:"Members"`
	HeartbeatTTL time.Duration `json:"HeartbeatTTL,omitempty"`
	// CACertHash is the SHA-256 of the cluster CA's certificate (the
	// second field of a join token).
	CACertHash string `json:"CACertHash,omitempty"`
}

// InitOptions are `berth cluster init`'s.
type InitOptions struct {
	// AdvertiseAddr is the IP other nodes reach this one at; default: the
	// address of the interface of the default route.
	AdvertiseAddr string `json:"AdvertiseAddr,omitempty"`
	// NodeName is the node's hostname in listings (default os.Hostname).
	NodeName string `json:"NodeName,omitempty"`
	// Store, when set, is an external etcd ("etcd://host:port,host:port").
	Store string `json:"Store,omitempty"`
	// StoreCA, StoreCert, StoreKey: files for TLS to an external etcd.
	StoreCA   string `json:"StoreCA,omitempty"`
	StoreCert string `json:"StoreCert,omitempty"`
	StoreKey  string `json:"StoreKey,omitempty"`
}

// JoinOptions are `berth cluster join`'s.
type JoinOptions struct {
	// RemoteAddr is a cluster node's join address (host[:port]).
	RemoteAddr    string `json:"RemoteAddr"`
	Token         string `json:"Token"`
	AdvertiseAddr string `json:"AdvertiseAddr,omitempty"`
	NodeName      string `json:"NodeName,omitempty"`
}

// NodeUpdate is `berth node update`'s change; empty fields are kept.
type NodeUpdate struct {
	// Version, when set, is the node's Version the change was made from:
	// the update fails with a conflict when the record changed since.
	Version      uint64            `json:"Version,omitempty"`
	Availability string            `json:"Availability,omitempty"`
	LabelAdd     map[string]string `json:"LabelAdd,omitempty"`
	LabelRm      []string          `json:"LabelRm,omitempty"`
}
