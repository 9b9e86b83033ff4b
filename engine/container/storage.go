package container

import (
	"fmt"

	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
	"github.com/docker/go-units"

	containertypes "github.com/berthproject/berth/pkg/types/container"
)

// labelSnapshotSize asks berth's snapshotter to limit a writable layer
// (snapshotter.LabelSize; the value uses Docker's size notation).
const labelSnapshotSize = "containerd.io/snapshot/berth.size"

// storageOpts turns --storage-opt into snapshot options. Only berth's
// snapshotter can limit a layer's size, and it refuses, with a clear error,
// where the backing file system cannot enforce it: a limit is never
// silently ignored.
func (s *Service) storageOpts(cfg *containertypes.Config) ([]snapshots.Opt, error) {
	var opts []snapshots.Opt
	for k, v := range cfg.StorageOpt {
		switch k {
		case "size":
			if _, err := units.RAMInBytes(v); err != nil {
				return nil, fmt.Errorf("invalid --storage-opt size=%s: %w", v, errdefs.ErrInvalidArgument)
			}
			if s.opts.Snapshotter != "berth" {
				return nil, fmt.Errorf("--storage-opt size needs berth's snapshotter; this daemon uses %q: %w", s.opts.Snapshotter, errdefs.ErrInvalidArgument)
			}
			opts = append(opts, snapshots.WithLabels(map[string]string{labelSnapshotSize: v}))
		default:
			return nil, fmt.Errorf("unknown --storage-opt %q: berth supports size: %w", k, errdefs.ErrInvalidArgument)
		}
	}
	return opts, nil
}
