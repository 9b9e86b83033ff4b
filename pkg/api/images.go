package api

import (
	"context"
	"io"

	"github.com/berthproject/berth/pkg/types/image"
)

// Images is the image noun, local store and registries.
type Images interface {
	List(ctx context.Context, opts image.ListOptions) ([]image.Summary, error)
	Inspect(ctx context.Context, ref string) (*image.Image, error)
	History(ctx context.Context, ref string) ([]image.HistoryEntry, error)
	Tag(ctx context.Context, source, target string) error
	Remove(ctx context.Context, refs []string, opts image.RemoveOptions) ([]image.DeleteResponse, error)
	Prune(ctx context.Context, opts image.PruneOptions) (*image.PruneReport, error)
	Pull(ctx context.Context, ref string, opts image.PullOptions) (*image.Image, error)
	Push(ctx context.Context, ref string, opts image.PushOptions) (*image.PushResult, error)
	// Login checks credentials against a registry and returns its status
	// message.
	Login(ctx context.Context, auth image.AuthConfig) (string, error)
	Import(ctx context.Context, r io.Reader, opts image.ImportOptions) (*image.Image, error)
	// Load reads a docker save (or OCI) archive; progress gets one line per
	// loaded image.
	Load(ctx context.Context, r io.Reader, progress func(string)) ([]image.Image, error)
	Save(ctx context.Context, w io.Writer, refs []string) error
}
