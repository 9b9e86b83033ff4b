package commands

import (
	"context"
	"io"

	"github.com/berthproject/berth/pkg/api"
	"github.com/berthproject/berth/pkg/client"
	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/events"
)

// Client is what the commands need from berthd: the API's contract, one
// interface per noun (pkg/api), and the client's own streaming verbs.
// pkg/client's *Client implements it; the tests' fakes embed it.
type Client interface {
	api.Containers
	api.System
	Images() api.Images
	Networks() api.Networks
	Volumes() api.Volumes
	Cluster() api.Cluster
	Builds() api.Builds
	Services() api.Services
	// Stats streams a container's usage (once with NoStream).
	Stats(ctx context.Context, id string, opts client.StatsOptions, fn func(*container.Stats) error) error
	// CopyFrom reads a path of a container as a tar stream (berth cp).
	CopyFrom(ctx context.Context, id, path string) (container.PathStat, io.ReadCloser, error)
	Events(ctx context.Context, f events.Filter) (<-chan events.Message, <-chan error)
	Close() error
}

var _ Client = (*client.Client)(nil)
