package commands

import (
	"context"
	"fmt"
	"io"

	"github.com/containerd/errdefs"

	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/events"
	"github.com/berthproject/berth/pkg/types/image"
	"github.com/berthproject/berth/pkg/types/system"
)

// Client is what the commands need from berthd. pkg/client's *Client
// implements it; tests can pass anything else that does.
type Client interface {
	ContainerAPI
	SystemAPI
	Close() error
}

// ContainerAPI mirrors engine/container's service (see its api.go), with
// the names pkg/client gives the methods.
type ContainerAPI interface {
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
	Top(ctx context.Context, id, psArgs string) (*container.TopResult, error)
	ExecCreate(ctx context.Context, id string, cfg container.ExecConfig) (string, error)
	ExecStart(ctx context.Context, execID string, streams container.Streams) (int, error)
	ExecResize(ctx context.Context, execID string, size container.WindowSize) error
	ExecInspect(ctx context.Context, execID string) (*container.ExecInspect, error)
}

// SystemAPI is version, info and events.
type SystemAPI interface {
	Version(ctx context.Context) (*system.Version, error)
	Info(ctx context.Context) (*system.Info, error)
	Events(ctx context.Context, f events.Filter) (<-chan events.Message, <-chan error)
}

// ImageAPI mirrors engine/image's service. Commands reach it with
// images(cl), so a client without it still serves the container commands.
type ImageAPI interface {
	ImageList(ctx context.Context, opts image.ListOptions) ([]image.Summary, error)
	ImageInspect(ctx context.Context, ref string) (*image.Image, error)
	ImageTag(ctx context.Context, source, target string) error
	ImageRemove(ctx context.Context, refs []string, opts image.RemoveOptions) ([]image.DeleteResponse, error)
	ImageImport(ctx context.Context, r io.Reader, opts image.ImportOptions) (*image.Image, error)
	ImageLoad(ctx context.Context, r io.Reader, progress func(string)) ([]image.Image, error)
	ImageSave(ctx context.Context, w io.Writer, refs []string) error
}

func images(cl Client) (ImageAPI, error) {
	if api, ok := cl.(ImageAPI); ok {
		return api, nil
	}
	return nil, fmt.Errorf("this berth client cannot manage images: %w", errdefs.ErrNotImplemented)
}
