package container

import (
	"context"
)

// LayerSize is the size of a container's writable layer, as its snapshotter
// accounts it (berth's keeps it up to date; a container that has no layer
// yet is 0).
func (s *Service) LayerSize(ctx context.Context, ref string) (int64, error) {
	r, err := s.lookup(ref)
	if err != nil {
		return 0, err
	}
	ctx = s.ctx(ctx)
	c, err := s.client.ContainerService().Get(ctx, r.id)
	if err != nil {
		return 0, err
	}
	if c.SnapshotKey == "" {
		return 0, nil
	}
	u, err := s.client.SnapshotService(c.Snapshotter).Usage(ctx, c.SnapshotKey)
	if err != nil {
		return 0, err
	}
	return u.Size, nil
}
