package api

import (
	"context"
	"io"

	"github.com/berthproject/berth/pkg/types/build"
)

// Builds is the builder: Dockerfile builds and the build cache
// (docs/build.md).
type Builds interface {
	// Build builds opts.Dockerfile with the context read from contextTar
	// (a tar, already filtered by .dockerignore). events receives the
	// progress, and the exported files when opts.Output is set; an error
	// it returns cancels the build.
	Build(ctx context.Context, opts build.Options, contextTar io.Reader, events func(build.Event) error) (*build.Result, error)
	// DiskUsage lists the build cache's records.
	DiskUsage(ctx context.Context) ([]build.CacheRecord, error)
	// Prune removes build cache records.
	Prune(ctx context.Context, opts build.PruneOptions) (*build.PruneReport, error)
}
