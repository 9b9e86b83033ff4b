package apiserver

import (
	"context"

	"github.com/berthproject/berth/pkg/api"
	"github.com/berthproject/berth/pkg/types/cluster"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
	"github.com/berthproject/berth/proto/berth/v1/conv"
)

type clusterServer struct {
	berthv1.UnimplementedClusterServiceServer
	c api.Cluster
}

func (s *clusterServer) Init(ctx context.Context, r *berthv1.InitClusterRequest) (*berthv1.InitClusterResponse, error) {
	info, err := s.c.Init(ctx, cluster.InitOptions{
		AdvertiseAddr: r.GetAdvertiseAddr(), NodeName: r.GetNodeName(), Store: r.GetStore(),
		StoreCA: r.GetStoreCa(), StoreCert: r.GetStoreCert(), StoreKey: r.GetStoreKey(),
	})
	if err != nil {
		return nil, err
	}
	return &berthv1.InitClusterResponse{Info: conv.ClusterInfoToProto(info)}, nil
}

func (s *clusterServer) Join(ctx context.Context, r *berthv1.JoinClusterRequest) (*berthv1.JoinClusterResponse, error) {
	info, err := s.c.Join(ctx, cluster.JoinOptions{
		RemoteAddr: r.GetRemoteAddr(), Token: r.GetToken(), AdvertiseAddr: r.GetAdvertiseAddr(), NodeName: r.GetNodeName(),
	})
	if err != nil {
		return nil, err
	}
	return &berthv1.JoinClusterResponse{Info: conv.ClusterInfoToProto(info)}, nil
}

func (s *clusterServer) Leave(ctx context.Context, r *berthv1.LeaveClusterRequest) (*berthv1.LeaveClusterResponse, error) {
	return &berthv1.LeaveClusterResponse{}, s.c.Leave(ctx, r.GetForce())
}

func (s *clusterServer) Info(ctx context.Context, _ *berthv1.ClusterInfoRequest) (*berthv1.ClusterInfoResponse, error) {
	info, err := s.c.Info(ctx)
	if err != nil {
		return nil, err
	}
	return &berthv1.ClusterInfoResponse{Info: conv.ClusterInfoToProto(info)}, nil
}

func (s *clusterServer) JoinToken(ctx context.Context, r *berthv1.JoinTokenRequest) (*berthv1.JoinTokenResponse, error) {
	tok, err := s.c.JoinToken(ctx, r.GetRotate())
	if err != nil {
		return nil, err
	}
	return &berthv1.JoinTokenResponse{Token: tok}, nil
}

func (s *clusterServer) ListNodes(ctx context.Context, _ *berthv1.ListNodesRequest) (*berthv1.ListNodesResponse, error) {
	nodes, err := s.c.NodeList(ctx)
	if err != nil {
		return nil, err
	}
	resp := &berthv1.ListNodesResponse{Nodes: make([]*berthv1.Node, 0, len(nodes))}
	for i := range nodes {
		resp.Nodes = append(resp.Nodes, conv.NodeToProto(&nodes[i]))
	}
	return resp, nil
}

func (s *clusterServer) InspectNode(ctx context.Context, r *berthv1.InspectNodeRequest) (*berthv1.InspectNodeResponse, error) {
	n, err := s.c.NodeInspect(ctx, r.GetRef())
	if err != nil {
		return nil, err
	}
	return &berthv1.InspectNodeResponse{Node: conv.NodeToProto(n)}, nil
}

func (s *clusterServer) UpdateNode(ctx context.Context, r *berthv1.UpdateNodeRequest) (*berthv1.UpdateNodeResponse, error) {
	return &berthv1.UpdateNodeResponse{}, s.c.NodeUpdate(ctx, r.GetRef(), cluster.NodeUpdate{
		Version: r.GetVersion(), Availability: r.GetAvailability(), LabelAdd: r.GetLabelAdd(), LabelRm: r.GetLabelRm(),
	})
}

func (s *clusterServer) RemoveNode(ctx context.Context, r *berthv1.RemoveNodeRequest) (*berthv1.RemoveNodeResponse, error) {
	return &berthv1.RemoveNodeResponse{}, s.c.NodeRemove(ctx, r.GetRef(), r.GetForce())
}
