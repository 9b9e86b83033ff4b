package client

import (
	"context"

	"github.com/berthproject/berth/pkg/types/cluster"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
	"github.com/berthproject/berth/proto/berth/v1/conv"
)

func (c *clusterClient) cluster() berthv1.ClusterServiceClient {
	return berthv1.NewClusterServiceClient(c.conn)
}

// Init founds a cluster (`berth cluster init`).
func (c *clusterClient) Init(ctx context.Context, o cluster.InitOptions) (*cluster.Info, error) {
	r, err := c.cluster().Init(ctx, &berthv1.InitClusterRequest{
		AdvertiseAddr: o.AdvertiseAddr, NodeName: o.NodeName, Store: o.Store,
		StoreCa: o.StoreCA, StoreCert: o.StoreCert, StoreKey: o.StoreKey,
	})
	if err != nil {
		return nil, err
	}
	return conv.ClusterInfoFromProto(r.GetInfo()), nil
}

// Join enters a cluster (`berth cluster join`).
func (c *clusterClient) Join(ctx context.Context, o cluster.JoinOptions) (*cluster.Info, error) {
	r, err := c.cluster().Join(ctx, &berthv1.JoinClusterRequest{
		RemoteAddr: o.RemoteAddr, Token: o.Token, AdvertiseAddr: o.AdvertiseAddr, NodeName: o.NodeName,
	})
	if err != nil {
		return nil, err
	}
	return conv.ClusterInfoFromProto(r.GetInfo()), nil
}

// Leave leaves the cluster (`berth cluster leave`).
func (c *clusterClient) Leave(ctx context.Context, force bool) error {
	_, err := c.cluster().Leave(ctx, &berthv1.LeaveClusterRequest{Force: force})
	return err
}

// Info is `berth cluster info`.
func (c *clusterClient) Info(ctx context.Context) (*cluster.Info, error) {
	r, err := c.cluster().Info(ctx, &berthv1.ClusterInfoRequest{})
	if err != nil {
		return nil, err
	}
	return conv.ClusterInfoFromProto(r.GetInfo()), nil
}

// JoinToken is `berth cluster join-token [--rotate]`.
func (c *clusterClient) JoinToken(ctx context.Context, rotate bool) (string, error) {
	r, err := c.cluster().JoinToken(ctx, &berthv1.JoinTokenRequest{Rotate: rotate})
	if err != nil {
		return "", err
	}
	return r.GetToken(), nil
}

// NodeList is `berth node ls`.
func (c *clusterClient) NodeList(ctx context.Context) ([]cluster.Node, error) {
	r, err := c.cluster().ListNodes(ctx, &berthv1.ListNodesRequest{})
	if err != nil {
		return nil, err
	}
	out := make([]cluster.Node, 0, len(r.GetNodes()))
	for _, n := range r.GetNodes() {
		out = append(out, *conv.NodeFromProto(n))
	}
	return out, nil
}

// NodeInspect is `berth node inspect`.
func (c *clusterClient) NodeInspect(ctx context.Context, ref string) (*cluster.Node, error) {
	r, err := c.cluster().InspectNode(ctx, &berthv1.InspectNodeRequest{Ref: ref})
	if err != nil {
		return nil, err
	}
	return conv.NodeFromProto(r.GetNode()), nil
}

// NodeUpdate is `berth node update`.
func (c *clusterClient) NodeUpdate(ctx context.Context, ref string, u cluster.NodeUpdate) error {
	_, err := c.cluster().UpdateNode(ctx, &berthv1.UpdateNodeRequest{
		Ref: ref, Version: u.Version, Availability: u.Availability, LabelAdd: u.LabelAdd, LabelRm: u.LabelRm,
	})
	return err
}

// NodeRemove is `berth node rm`.
func (c *clusterClient) NodeRemove(ctx context.Context, ref string, force bool) error {
	_, err := c.cluster().RemoveNode(ctx, &berthv1.RemoveNodeRequest{Ref: ref, Force: force})
	return err
}
