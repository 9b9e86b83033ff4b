package container

import (
	"context"
)

// LayerSize is the size of a container's writable layer, as its snapshotter
// accounts it (berth's keeps it up to date; a container that has no layer
// yet is 0).
func (s *Service) LayerSize(ctx context.Context, ref string) (int64, error) {
	rw, _, err := s.sizes(ctx, ref)
	return rw, err
}

// sizes returns the writable layer's size and the whole root filesystem's
// (Docker's SizeRw and SizeRootFs): the writable layer plus every image
// layer under it, walked through the snapshots' parents.
func (s *Service) sizes(ctx context.Context, ref string) (rw, rootfs int64, err error) {
	r, err := s.lookup(ref)
	if err != nil {
		return 0, 0, err
	}
	ctx = s.ctx(ctx)
	c, err := s.containerStore().Get(ctx, r.id)
	if err != nil {
		return 0, 0, err
	}
	if c.SnapshotKey == "" {
		return 0, 0, nil
	}
	sn := s.client.SnapshotService(c.Snapshotter)
	for key := c.SnapshotKey; key != ""; {
		u, err := sn.Usage(ctx, key)
		if err != nil {
			return 0, 0, err
		}
		if key == c.SnapshotKey {
			rw = u.Size
		}
		rootfs += u.Size
		info, err := sn.Stat(ctx, key)
		if err != nil {
			return 0, 0, err
		}
		key = info.Parent
	}
	return rw, rootfs, nil
}
