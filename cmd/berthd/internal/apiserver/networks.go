package apiserver

import (
	"context"

	"github.com/berthproject/berth/pkg/api"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
	"github.com/berthproject/berth/proto/berth/v1/conv"
)

// networksServer serves NetworksService over the engine's network service
// (engine/network: filters, prune and events live there).
type networksServer struct {
	berthv1.UnimplementedNetworksServiceServer
	n api.Networks
}

func (s *networksServer) Create(ctx context.Context, r *berthv1.CreateNetworkRequest) (*berthv1.CreateNetworkResponse, error) {
	opts, err := conv.CreateNetworkFromProto(r)
	if err != nil {
		return nil, err
	}
	n, err := s.n.Create(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &berthv1.CreateNetworkResponse{Network: conv.NetworkToProto(n)}, nil
}

func (s *networksServer) List(ctx context.Context, r *berthv1.ListNetworksRequest) (*berthv1.ListNetworksResponse, error) {
	ns, err := s.n.List(ctx, conv.FilterMap(r.GetFilters()))
	if err != nil {
		return nil, err
	}
	return &berthv1.ListNetworksResponse{Networks: conv.NetworksToProto(ns)}, nil
}

func (s *networksServer) Inspect(ctx context.Context, r *berthv1.InspectNetworkRequest) (*berthv1.InspectNetworkResponse, error) {
	n, err := s.n.Inspect(ctx, r.GetNetwork())
	if err != nil {
		return nil, err
	}
	return &berthv1.InspectNetworkResponse{Network: conv.NetworkToProto(n)}, nil
}

func (s *networksServer) Remove(ctx context.Context, r *berthv1.RemoveNetworkRequest) (*berthv1.RemoveNetworkResponse, error) {
	return &berthv1.RemoveNetworkResponse{}, s.n.Remove(ctx, r.GetNetwork())
}

func (s *networksServer) Prune(ctx context.Context, r *berthv1.PruneNetworksRequest) (*berthv1.PruneNetworksResponse, error) {
	deleted, err := s.n.Prune(ctx, conv.FilterMap(r.GetFilters()))
	if err != nil {
		return nil, err
	}
	return &berthv1.PruneNetworksResponse{Deleted: deleted}, nil
}

func (s *networksServer) Connect(ctx context.Context, r *berthv1.ConnectNetworkRequest) (*berthv1.ConnectNetworkResponse, error) {
	att := conv.NetworkAttachmentFromProto(r.GetSettings())
	att.Network = r.GetNetwork()
	return &berthv1.ConnectNetworkResponse{}, s.n.Connect(ctx, r.GetContainer(), att)
}

func (s *networksServer) Disconnect(ctx context.Context, r *berthv1.DisconnectNetworkRequest) (*berthv1.DisconnectNetworkResponse, error) {
	return &berthv1.DisconnectNetworkResponse{}, s.n.Disconnect(ctx, r.GetNetwork(), r.GetContainer(), r.GetForce())
}
