package api

import (
	"context"

	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/network"
)

// Networks is the network noun.
type Networks interface {
	Create(ctx context.Context, opts network.CreateOptions) (*network.Network, error)
	Inspect(ctx context.Context, ref string) (*network.Network, error)
	// List applies Docker's network filters (name, id, driver, label, type,
	// dangling): values of one key are alternatives, keys must all match.
	List(ctx context.Context, filters map[string][]string) ([]*network.Network, error)
	Remove(ctx context.Context, ref string) error
	// Prune removes the unused user-defined networks (label=KEY[=VALUE]
	// filters) and returns their names.
	Prune(ctx context.Context, filters map[string][]string) ([]string, error)
	// Connect attaches a container to att.Network.
	Connect(ctx context.Context, containerRef string, att container.NetworkAttachment) error
	Disconnect(ctx context.Context, network, containerRef string, force bool) error
}
