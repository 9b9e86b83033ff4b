package client

import (
	"context"

	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/network"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
	"github.com/berthproject/berth/proto/berth/v1/conv"
)

func (c *networkClient) networks() berthv1.NetworksServiceClient {
	return berthv1.NewNetworksServiceClient(c.conn)
}

// Create creates a network (`berth network create`).
func (c *networkClient) Create(ctx context.Context, opts network.CreateOptions) (*network.Network, error) {
	r, err := c.networks().Create(ctx, conv.CreateNetworkToProto(opts))
	if err != nil {
		return nil, err
	}
	return conv.NetworkFromProto(r.GetNetwork()), nil
}

// List lists the networks, sorted by name; filters are Docker's
// (name, id, driver, label, type, dangling).
func (c *networkClient) List(ctx context.Context, filters map[string][]string) ([]*network.Network, error) {
	r, err := c.networks().List(ctx, &berthv1.ListNetworksRequest{Filters: conv.Filters(filters)})
	if err != nil {
		return nil, err
	}
	return conv.NetworksFromProto(r.GetNetworks()), nil
}

// Inspect returns a network (name, ID or ID prefix) with its endpoints.
func (c *networkClient) Inspect(ctx context.Context, ref string) (*network.Network, error) {
	r, err := c.networks().Inspect(ctx, &berthv1.InspectNetworkRequest{Network: ref})
	if err != nil {
		return nil, err
	}
	return conv.NetworkFromProto(r.GetNetwork()), nil
}

// Remove removes a network; it fails (ErrFailedPrecondition) while
// containers are attached.
func (c *networkClient) Remove(ctx context.Context, ref string) error {
	_, err := c.networks().Remove(ctx, &berthv1.RemoveNetworkRequest{Network: ref})
	return err
}

// Prune removes unused user-defined networks (filters: label) and
// returns their names.
func (c *networkClient) Prune(ctx context.Context, filters map[string][]string) ([]string, error) {
	r, err := c.networks().Prune(ctx, &berthv1.PruneNetworksRequest{Filters: conv.Filters(filters)})
	if err != nil {
		return nil, err
	}
	return r.GetDeleted(), nil
}

// Connect attaches a container to a network; att.Network is the
// network, its other fields the container's settings on it.
func (c *networkClient) Connect(ctx context.Context, containerRef string, att container.NetworkAttachment) error {
	_, err := c.networks().Connect(ctx, &berthv1.ConnectNetworkRequest{
		Network: att.Network, Container: containerRef, Settings: conv.NetworkAttachmentToProto(att),
	})
	return err
}

// Disconnect detaches a container from a network.
func (c *networkClient) Disconnect(ctx context.Context, network, containerRef string, force bool) error {
	_, err := c.networks().Disconnect(ctx, &berthv1.DisconnectNetworkRequest{Network: network, Container: containerRef, Force: force})
	return err
}
