package api

import (
	"context"

	"github.com/berthproject/berth/pkg/types/cluster"
)

// Cluster is the cluster noun (`berth cluster ...`) and its nodes
// (`berth node ...`).
type Cluster interface {
	// Init founds a cluster with this node as its first member.
	Init(ctx context.Context, opts cluster.InitOptions) (*cluster.Info, error)
	// Join enters the cluster of the node at opts.RemoteAddr.
	Join(ctx context.Context, opts cluster.JoinOptions) (*cluster.Info, error)
	// Leave takes this node out of its cluster (force: even when it runs
	// the last etcd member, or the store does not answer).
	Leave(ctx context.Context, force bool) error
	// Info is this node's view of its cluster (State "inactive" outside).
	Info(ctx context.Context) (*cluster.Info, error)
	// JoinToken returns the join token, a fresh one when rotate is set.
	JoinToken(ctx context.Context, rotate bool) (string, error)
	NodeList(ctx context.Context) ([]cluster.Node, error)
	// NodeInspect finds a node by ID, unique ID prefix or hostname.
	NodeInspect(ctx context.Context, ref string) (*cluster.Node, error)
	NodeUpdate(ctx context.Context, ref string, u cluster.NodeUpdate) error
	// NodeRemove removes a down node (force: a ready one too).
	NodeRemove(ctx context.Context, ref string, force bool) error
}
