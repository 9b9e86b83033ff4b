package apiserver

import (
	"context"
	"fmt"
	"strings"

	"github.com/containerd/errdefs"

	containertypes "github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/events"
	networktypes "github.com/berthproject/berth/pkg/types/network"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
	"github.com/berthproject/berth/proto/berth/v1/conv"
)

// Networks is what the API needs of the network manager (*cni.Manager).
type Networks interface {
	Create(ctx context.Context, opts networktypes.CreateOptions) (*networktypes.Network, error)
	List(ctx context.Context) ([]*networktypes.Network, error)
	Inspect(ctx context.Context, ref string) (*networktypes.Network, error)
	Remove(ctx context.Context, ref string) error
	Prune(ctx context.Context, labels map[string]string) ([]string, error)
}

// NetworkConnector attaches containers to networks (*container.Service).
type NetworkConnector interface {
	Connect(ctx context.Context, ref string, att containertypes.NetworkAttachment) error
	Disconnect(ctx context.Context, ref, network string, force bool) error
}

// Publisher receives the network events (create, destroy) the API causes
// (engine/events.Bus).
type Publisher interface {
	Publish(m events.Message)
}

type networksServer struct {
	berthv1.UnimplementedNetworksServiceServer
	n       Networks
	connect NetworkConnector
	events  Publisher
}

func (s *networksServer) publish(n *networktypes.Network, action string) {
	if s.events == nil || n == nil {
		return
	}
	s.events.Publish(events.Message{
		Type: events.TypeNetwork, Action: action,
		Actor: events.Actor{ID: n.ID, Attributes: map[string]string{"name": n.Name, "type": n.Driver}},
	})
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
	s.publish(n, "create")
	return &berthv1.CreateNetworkResponse{Network: conv.NetworkToProto(n)}, nil
}

func (s *networksServer) List(ctx context.Context, r *berthv1.ListNetworksRequest) (*berthv1.ListNetworksResponse, error) {
	filters := conv.FilterMap(r.GetFilters())
	for k := range filters {
		switch k {
		case "name", "id", "driver", "label", "type", "dangling":
		default:
			return nil, invalid("invalid filter '%s'", k)
		}
	}
	ns, err := s.n.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []*networktypes.Network
	for _, n := range ns {
		ok, err := matchNetwork(n, filters)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, n)
		}
	}
	return &berthv1.ListNetworksResponse{Networks: conv.NetworksToProto(out)}, nil
}

// matchNetwork applies Docker's network filters: values of one key are
// alternatives, keys must all match.
func matchNetwork(n *networktypes.Network, filters map[string][]string) (bool, error) {
	for key, values := range filters {
		match := false
		for _, v := range values {
			switch key {
			case "name":
				match = match || strings.Contains(n.Name, v)
			case "id":
				match = match || strings.HasPrefix(n.ID, v)
			case "driver":
				match = match || n.Driver == v
			case "label":
				k, val, hasVal := strings.Cut(v, "=")
				got, ok := n.Labels[k]
				match = match || (ok && (!hasVal || got == val))
			case "type":
				switch v {
				case "custom":
					match = match || !n.Default
				case "builtin":
					match = match || n.Default
				default:
					return false, invalid("invalid filter: 'type'='%s': want custom or builtin", v)
				}
			case "dangling":
				switch v {
				case "true", "1":
					match = match || (!n.Default && len(n.Endpoints) == 0)
				case "false", "0":
					match = match || n.Default || len(n.Endpoints) > 0
				default:
					return false, invalid("invalid filter: 'dangling'='%s': want true or false", v)
				}
			}
		}
		if !match {
			return false, nil
		}
	}
	return true, nil
}

func (s *networksServer) Inspect(ctx context.Context, r *berthv1.InspectNetworkRequest) (*berthv1.InspectNetworkResponse, error) {
	if r.GetNetwork() == "" {
		return nil, invalid("no network given")
	}
	n, err := s.n.Inspect(ctx, r.GetNetwork())
	if err != nil {
		return nil, err
	}
	return &berthv1.InspectNetworkResponse{Network: conv.NetworkToProto(n)}, nil
}

func (s *networksServer) Remove(ctx context.Context, r *berthv1.RemoveNetworkRequest) (*berthv1.RemoveNetworkResponse, error) {
	if r.GetNetwork() == "" {
		return nil, invalid("no network given")
	}
	n, err := s.n.Inspect(ctx, r.GetNetwork())
	if err != nil {
		return nil, err
	}
	if err := s.n.Remove(ctx, n.ID); err != nil {
		return nil, err
	}
	s.publish(n, "destroy")
	return &berthv1.RemoveNetworkResponse{}, nil
}

func (s *networksServer) Prune(ctx context.Context, r *berthv1.PruneNetworksRequest) (*berthv1.PruneNetworksResponse, error) {
	labels := map[string]string{}
	for k, vs := range conv.FilterMap(r.GetFilters()) {
		if k != "label" {
			return nil, invalid("invalid filter '%s': network prune takes label=KEY[=VALUE]", k)
		}
		for _, v := range vs {
			key, val, _ := strings.Cut(v, "=")
			labels[key] = val
		}
	}
	// Selected here rather than by the manager's Prune: a label given as a
	// bare key matches any value, and each removal is published.
	ns, err := s.n.List(ctx)
	if err != nil {
		return nil, err
	}
	var deleted []string
	var errs []string
	for _, n := range ns {
		if n.Default || len(n.Endpoints) > 0 {
			continue
		}
		if len(labels) > 0 && !allLabels(n, labels) {
			continue
		}
		if err := s.n.Remove(ctx, n.ID); err != nil {
			if errdefs.IsFailedPrecondition(err) || errdefs.IsNotFound(err) {
				continue // attached meanwhile, or removed meanwhile
			}
			errs = append(errs, err.Error())
			continue
		}
		s.publish(n, "destroy")
		deleted = append(deleted, n.Name)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("network prune: %s", strings.Join(errs, "; "))
	}
	return &berthv1.PruneNetworksResponse{Deleted: deleted}, nil
}

func allLabels(n *networktypes.Network, labels map[string]string) bool {
	for k, v := range labels {
		got, ok := n.Labels[k]
		if !ok || (v != "" && got != v) {
			return false
		}
	}
	return true
}

func (s *networksServer) Connect(ctx context.Context, r *berthv1.ConnectNetworkRequest) (*berthv1.ConnectNetworkResponse, error) {
	if s.connect == nil {
		return nil, fmt.Errorf("network connect is not served here: %w", errdefs.ErrNotImplemented)
	}
	if r.GetNetwork() == "" || r.GetContainer() == "" {
		return nil, invalid("network connect needs a network and a container")
	}
	att := conv.NetworkAttachmentFromProto(r.GetSettings())
	att.Network = r.GetNetwork()
	if err := s.connect.Connect(ctx, r.GetContainer(), att); err != nil {
		return nil, err
	}
	return &berthv1.ConnectNetworkResponse{}, nil
}

func (s *networksServer) Disconnect(ctx context.Context, r *berthv1.DisconnectNetworkRequest) (*berthv1.DisconnectNetworkResponse, error) {
	if s.connect == nil {
		return nil, fmt.Errorf("network disconnect is not served here: %w", errdefs.ErrNotImplemented)
	}
	if r.GetNetwork() == "" || r.GetContainer() == "" {
		return nil, invalid("network disconnect needs a network and a container")
	}
	if err := s.connect.Disconnect(ctx, r.GetContainer(), r.GetNetwork(), r.GetForce()); err != nil {
		return nil, err
	}
	return &berthv1.DisconnectNetworkResponse{}, nil
}
