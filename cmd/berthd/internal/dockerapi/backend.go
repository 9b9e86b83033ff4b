package dockerapi

import (
	"context"
	"io"
	"net"
	"net/http"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthproject/berth/pkg/api"
	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/events"
	"github.com/berthproject/berth/pkg/types/image"
)

// Containers is the container noun (pkg/api) plus the verbs whose shape
// is the engine's own (*container.Service): one-shot stats and copying
// out into a writer.
type Containers interface {
	api.Containers
	Stats(ctx context.Context, id string) (*container.Stats, error)
	StatPath(ctx context.Context, id, path string) (container.PathStat, error)
	CopyFrom(ctx context.Context, id, path string, w io.Writer) error
}

// Images is the image noun plus what only the Docker API asks
// (*image.Service): a registry's answer for a reference (distribution
// inspect).
type Images interface {
	api.Images
	Distribution(ctx context.Context, ref string, auth *image.AuthConfig) (ocispec.Descriptor, []ocispec.Platform, error)
	// RunConfig is an image's run configuration alone (container inspect).
	RunConfig(ctx context.Context, ref string) (*image.Config, error)
}

// Networks is the network noun (*network.Service), nil without berth's
// networking.
type Networks = api.Networks

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

// Builds is the engine's builder (*build.Service): builds, and the
// connections the Docker API's /grpc and /session hijacks are spliced to.
type Builds interface {
	api.Builds
	DialControl(ctx context.Context) (net.Conn, error)
	DialSession(ctx context.Context, hdr http.Header) (net.Conn, error)
}

// Backend is everything the Docker API serves. Networks may be nil (an
// engine without networking): its endpoints then answer 501. Builds is nil
// without berth-buildkitd: /build, /grpc and /session answer 501 and
// /_ping says Builder-Version 1.
type Backend struct {
	Containers Containers
	Images     Images
	Networks   Networks
	Volumes    Volumes
	Events     Events
	System     System
	Builds     Builds
	// Cluster is nil without the cluster service: the swarm endpoints
	// then answer as on a node in no cluster.
	Cluster Cluster
	// Services is nil without the service noun: /services and /tasks then
	// answer 501 in a cluster.
	Services Services
}
