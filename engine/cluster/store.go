package cluster

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	ctypes "github.com/berthproject/berth/pkg/types/cluster"
)

// Store is this node's handle on the cluster store: an etcd client over
// mutual TLS plus who this node is. The overlay network code and anything
// else cluster-wide read and write through Client under the keys of
// keys.go. A Store stays valid until the node leaves the cluster or
// berthd stops.
type Store struct {
	// Client is the etcd v3 client (safe for concurrent use; reconnects by
	// itself when an endpoint goes away).
	Client *clientv3.Client
	// NodeID is this node's ID, NodeAddr its underlay address.
	NodeID   string
	NodeAddr string
}

// DialTimeout bounds the first connection to the store.
const DialTimeout = 5 * time.Second

// Connect opens an etcd client on endpoints (https://host:port URLs; plain
// host:port means https). tlsCfg is the node's mutual-TLS configuration
// (nil only for tests against a plaintext loopback etcd).
func Connect(ctx context.Context, endpoints []string, tlsCfg *tls.Config) (*clientv3.Client, error) {
	eps := make([]string, len(endpoints))
	for i, ep := range endpoints {
		if !strings.Contains(ep, "://") {
			scheme := "https://"
			if tlsCfg == nil {
				scheme = "http://"
			}
			ep = scheme + ep
		}
		eps[i] = ep
	}
	cl, err := clientv3.New(clientv3.Config{
		Endpoints:            eps,
		TLS:                  tlsCfg,
		DialTimeout:          DialTimeout,
		DialKeepAliveTime:    2 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		Context:              ctx,
		Logger:               quietZap(),
		AutoSyncInterval:     10 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster store %s: %w", strings.Join(eps, ","), err)
	}
	return cl, nil
}

// Nodes reads every node's record and marks which are alive.
func (s *Store) Nodes(ctx context.Context) ([]ctypes.Node, error) {
	resp, err := s.Client.Get(ctx, PrefixNodes, clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	alive, err := s.Client.Get(ctx, PrefixAlive, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, err
	}
	up := map[string]bool{}
	for _, kv := range alive.Kvs {
		up[KeyLast(string(kv.Key))] = true
	}
	nodes := make([]ctypes.Node, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var n ctypes.Node
		if err := json.Unmarshal(kv.Value, &n); err != nil {
			continue
		}
		n.Status = ctypes.StatusDown
		if up[n.ID] {
			n.Status = ctypes.StatusReady
		}
		n.Self = n.ID == s.NodeID
		n.Version = uint64(kv.ModRevision)
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// Node reads one node's record (nil, nil when there is none).
func (s *Store) Node(ctx context.Context, id string) (*ctypes.Node, error) {
	resp, err := s.Client.Get(ctx, NodeKey(id))
	if err != nil || len(resp.Kvs) == 0 {
		return nil, err
	}
	var n ctypes.Node
	if err := json.Unmarshal(resp.Kvs[0].Value, &n); err != nil {
		return nil, err
	}
	alive, err := s.Client.Get(ctx, AliveKey(id), clientv3.WithKeysOnly())
	if err != nil {
		return nil, err
	}
	n.Status = ctypes.StatusDown
	if len(alive.Kvs) > 0 {
		n.Status = ctypes.StatusReady
	}
	n.Self = n.ID == s.NodeID
	n.Version = uint64(resp.Kvs[0].ModRevision)
	return &n, nil
}

// PutNode writes a node's record (computed fields dropped).
func (s *Store) PutNode(ctx context.Context, n ctypes.Node) error {
	n.Status, n.StoreRole, n.Self, n.Version = "", "", false, 0
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	_, err = s.Client.Put(ctx, NodeKey(n.ID), string(b))
	return err
}
