package client

import (
	"context"
	"io"
	"time"

	"github.com/berthproject/berth/pkg/types/container"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
	"github.com/berthproject/berth/proto/berth/v1/conv"
)

// Update changes the cgroup limits of a container (`berth update`); zero
// fields of r are left unchanged.
func (c *Client) Update(ctx context.Context, id string, r container.Resources) (warnings []string, err error) {
	resp, err := c.containers.Update(ctx, &berthv1.UpdateContainerRequest{Id: id, Resources: conv.ResourcesToProto(r)})
	if err != nil {
		return nil, err
	}
	return resp.GetWarnings(), nil
}

// UpdateRestartPolicy changes a container's restart policy (`berth update
// --restart`).
func (c *Client) UpdateRestartPolicy(ctx context.Context, id string, p container.RestartPolicy) error {
	_, err := c.containers.Update(ctx, &berthv1.UpdateContainerRequest{Id: id, RestartPolicy: &berthv1.NewRestartPolicy{
		Name: p.Name, MaximumRetryCount: int64(p.MaximumRetryCount),
	}})
	return err
}

// StatsOptions for Stats: NoStream asks for one sample; Interval between
// samples (0: the server's default, 1s).
type StatsOptions struct {
	NoStream bool
	Interval time.Duration
}

// Stats calls fn with each sample of a container's resource usage until
// the stream ends (NoStream), ctx is done, or fn returns an error.
func (c *Client) Stats(ctx context.Context, id string, opts StatsOptions, fn func(*container.Stats) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.containers.Stats(ctx, &berthv1.ContainerStatsRequest{
		Id: id, NoStream: opts.NoStream, IntervalMs: opts.Interval.Milliseconds(),
	})
	if err != nil {
		return err
	}
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if err := fn(conv.StatsFromProto(msg.GetStats())); err != nil {
			return err
		}
	}
}
