package dockerapi

import (
	"context"
	"io"

	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/events"
	"github.com/berthproject/berth/pkg/types/image"
	"github.com/berthproject/berth/pkg/types/network"
	"github.com/berthproject/berth/pkg/types/system"
	"github.com/berthproject/berth/pkg/types/volume"
)

// Containers is what the Docker API needs of the engine's container
// service (*container.Service); the contracts are in engine/container/api.go.
type Containers interface {
	Create(ctx context.Context, cfg container.Config) (id string, warnings []string, err error)
	Start(ctx context.Context, id string) error
	Stop(ctx context.Context, id string, opts container.StopOptions) error
	Restart(ctx context.Context, id string, opts container.StopOptions) error
	Kill(ctx context.Context, id, signal string) error
	Pause(ctx context.Context, id string) error
	Unpause(ctx context.Context, id string) error
	Remove(ctx context.Context, id string, opts container.RemoveOptions) error
	List(ctx context.Context, opts container.ListOptions) ([]container.Summary, error)
	Inspect(ctx context.Context, id string) (*container.Container, error)
	Rename(ctx context.Context, id, newName string) error
	Wait(ctx context.Context, id string, cond container.WaitCondition) (<-chan container.ExitStatus, error)
	Logs(ctx context.Context, id string, opts container.LogOptions, fn func(container.LogEntry) error) error
	Attach(ctx context.Context, id string, opts container.AttachOptions) error
	Resize(ctx context.Context, id string, size container.WindowSize) error
	ExecCreate(ctx context.Context, id string, cfg container.ExecConfig) (string, error)
	ExecStart(ctx context.Context, execID string, streams container.Streams) (int, error)
	ExecResize(ctx context.Context, execID string, size container.WindowSize) error
	ExecInspect(ctx context.Context, execID string) (*container.ExecInspect, error)
	Top(ctx context.Context, id, psArgs string) (*container.TopResult, error)
	Update(ctx context.Context, id string, r container.Resources) ([]string, error)
	Stats(ctx context.Context, id string) (*container.Stats, error)
	Connect(ctx context.Context, id string, att container.NetworkAttachment) error
	Disconnect(ctx context.Context, id, network string, force bool) error
	StatPath(ctx context.Context, id, path string) (container.PathStat, error)
	CopyFrom(ctx context.Context, id, path string, w io.Writer) error
	CopyTo(ctx context.Context, id string, opts container.CopyToOptions, r io.Reader) error
}

// Images is what the Docker API needs of the engine's image service
// (*image.Service).
type Images interface {
	Inspect(ctx context.Context, ref string) (*image.Image, error)
	List(ctx context.Context, opts image.ListOptions) ([]image.Summary, error)
	Tag(ctx context.Context, source, target string) error
	Remove(ctx context.Context, refs []string, opts image.RemoveOptions) ([]image.DeleteResponse, error)
	Pull(ctx context.Context, ref string, opts image.PullOptions) (*image.Image, error)
	Push(ctx context.Context, ref string, opts image.PushOptions) (*image.PushResult, error)
	Login(ctx context.Context, auth image.AuthConfig) (string, error)
	History(ctx context.Context, ref string) ([]image.HistoryEntry, error)
	Prune(ctx context.Context, opts image.PruneOptions) (*image.PruneReport, error)
	Import(ctx context.Context, r io.Reader, opts image.ImportOptions) (*image.Image, error)
	Load(ctx context.Context, r io.Reader, progress func(string)) ([]image.Image, error)
	Save(ctx context.Context, w io.Writer, refs []string) error
}

// Networks is what the Docker API needs of the network manager
// (*cni.Manager).
type Networks interface {
	Create(ctx context.Context, opts network.CreateOptions) (*network.Network, error)
	List(ctx context.Context) ([]*network.Network, error)
	Inspect(ctx context.Context, ref string) (*network.Network, error)
	Remove(ctx context.Context, ref string) error
	Prune(ctx context.Context, labels map[string]string) ([]string, error)
}

// Volumes is what the Docker API needs of the volume service
// (*volume.Service).
type Volumes interface {
	Create(ctx context.Context, o volume.CreateOptions) (*volume.Volume, error)
	List(ctx context.Context, filters map[string][]string) ([]*volume.Volume, error)
	Inspect(ctx context.Context, name string) (*volume.Volume, error)
	Remove(ctx context.Context, name string, force bool) error
	Prune(ctx context.Context, o volume.PruneOptions) ([]string, uint64, error)
}

// Events is the engine's event bus (*events.Bus).
type Events interface {
	Subscribe(ctx context.Context, f events.Filter) (<-chan events.Message, error)
	Publish(m events.Message)
}

// System is what the Docker API needs of the engine itself (*engine.Engine).
type System interface {
	Ping(ctx context.Context) error
	Info(ctx context.Context) (*system.Info, error)
	Version(ctx context.Context) (*system.Version, error)
	DiskUsage(ctx context.Context) (*system.DiskUsage, error)
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
