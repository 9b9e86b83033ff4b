package dockerapi

import (
	"context"
	"io"

	"github.com/berthproject/berth/pkg/api"
	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/events"
	"github.com/berthproject/berth/pkg/types/network"
)

// Containers is the container noun (pkg/api) plus the verbs whose shape
// is the engine's own (*container.Service): one-shot stats, network
// connect, and copying out into a writer.
type Containers interface {
	api.Containers
	Stats(ctx context.Context, id string) (*container.Stats, error)
	Connect(ctx context.Context, id string, att container.NetworkAttachment) error
	Disconnect(ctx context.Context, id, network string, force bool) error
	StatPath(ctx context.Context, id, path string) (container.PathStat, error)
	CopyFrom(ctx context.Context, id, path string, w io.Writer) error
}

// Images is the image noun (*image.Service).
type Images = api.Images

// Networks is what the Docker API needs of the network manager
// (*cni.Manager). It becomes api.Networks once the engine's network
// service implements that contract.
type Networks interface {
	Create(ctx context.Context, opts network.CreateOptions) (*network.Network, error)
	List(ctx context.Context) ([]*network.Network, error)
	Inspect(ctx context.Context, ref string) (*network.Network, error)
	Remove(ctx context.Context, ref string) error
	Prune(ctx context.Context, labels map[string]string) ([]string, error)
}

// Volumes is the volume noun (*volume.Service).
type Volumes = api.Volumes

// Events is the engine's event bus (*events.Bus).
type Events interface {
	Subscribe(ctx context.Context, f events.Filter) (<-chan events.Message, error)
	Publish(m events.Message)
}

// System is the daemon-wide noun plus Ping (*engine.Engine).
type System interface {
	api.System
	Ping(ctx context.Context) error
}

// Backend is everything the Docker API serves. Networks may be nil (an
// engine without networking): its endpoints then answer 501.
type Backend struct {
	Containers Containers
	Images     Images
	Networks   Networks
	Volumes    Volumes
	Events     Events
	System     System
}
