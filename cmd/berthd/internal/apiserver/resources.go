package apiserver

import (
	"context"
	"fmt"
	"time"

	"github.com/containerd/errdefs"

	containertypes "github.com/berthproject/berth/pkg/types/container"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
	"github.com/berthproject/berth/proto/berth/v1/conv"
)

// ContainerResources is what Update and Stats need of the engine's
// container service (*container.Service); a Containers backend without it
// answers them with errdefs.ErrNotImplemented.
type ContainerResources interface {
	Update(ctx context.Context, id string, r containertypes.Resources) ([]string, error)
	Stats(ctx context.Context, id string) (*containertypes.Stats, error)
}

func (s *containersServer) resources() (ContainerResources, error) {
	if r, ok := s.c.(ContainerResources); ok {
		return r, nil
	}
	return nil, errdefs.ErrNotImplemented
}

func (s *containersServer) Update(ctx context.Context, r *berthv1.UpdateContainerRequest) (*berthv1.UpdateContainerResponse, error) {
	rs, err := s.resources()
	if err != nil {
		return nil, err
	}
	var warnings []string
	if rp := r.GetRestartPolicy(); rp != nil {
		ru, ok := rs.(interface {
			UpdateRestartPolicy(ctx context.Context, id string, p containertypes.RestartPolicy) error
		})
		if !ok {
			return nil, fmt.Errorf("update --restart is not served here: %w", errdefs.ErrNotImplemented)
		}
		if err := ru.UpdateRestartPolicy(ctx, r.GetId(), containertypes.RestartPolicy{Name: rp.GetName(), MaximumRetryCount: int(rp.GetMaximumRetryCount())}); err != nil {
			return nil, err
		}
	}
	if r.GetResources() != nil || r.GetRestartPolicy() == nil {
		var err error
		if warnings, err = rs.Update(ctx, r.GetId(), conv.ResourcesFromProto(r.GetResources())); err != nil {
			return nil, err
		}
	}
	return &berthv1.UpdateContainerResponse{Warnings: warnings}, nil
}

// Stats sends a sample at once, then one per interval until the client
// cancels (or one only with no_stream).
func (s *containersServer) Stats(r *berthv1.ContainerStatsRequest, stream berthv1.ContainersService_StatsServer) error {
	rs, err := s.resources()
	if err != nil {
		return err
	}
	interval := time.Duration(r.GetIntervalMs()) * time.Millisecond
	if interval <= 0 {
		interval = time.Second
	}
	ctx := stream.Context()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		st, err := rs.Stats(ctx, r.GetId())
		if err != nil {
			return err
		}
		if err := stream.Send(&berthv1.ContainerStatsResponse{Stats: conv.StatsToProto(st)}); err != nil {
			return err
		}
		if r.GetNoStream() {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
