package api

import (
	"context"
	"io"

	"github.com/berthproject/berth/pkg/types/volume"
)

// Volumes is the volume noun.
type Volumes interface {
	Create(ctx context.Context, opts volume.CreateOptions) (*volume.Volume, error)
	Inspect(ctx context.Context, name string) (*volume.Volume, error)
	List(ctx context.Context, filters map[string][]string) ([]*volume.Volume, error)
	Remove(ctx context.Context, name string, force bool) error
	Prune(ctx context.Context, opts volume.PruneOptions) (deleted []string, reclaimed uint64, err error)
	// Export writes the volume's content as a tar stream; Import replaces
	// it with one.
	Export(ctx context.Context, name string, w io.Writer) error
	Import(ctx context.Context, name string, r io.Reader) error
}
