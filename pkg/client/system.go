package client

import (
	"context"
	"io"

	"github.com/berthproject/berth/pkg/types/events"
	"github.com/berthproject/berth/pkg/types/system"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
	"github.com/berthproject/berth/proto/berth/v1/conv"
)

// Ping checks that berthd answers and returns its API version.
func (c *Client) Ping(ctx context.Context) (apiVersion string, err error) {
	r, err := c.system.Ping(ctx, &berthv1.PingRequest{})
	if err != nil {
		return "", err
	}
	return r.GetApiVersion(), nil
}

// Version returns the daemon's version information.
func (c *Client) Version(ctx context.Context) (*system.Version, error) {
	r, err := c.system.Version(ctx, &berthv1.VersionRequest{})
	if err != nil {
		return nil, err
	}
	return conv.VersionFromProto(r), nil
}

// Info returns the daemon-wide summary (`berth info`).
func (c *Client) Info(ctx context.Context) (*system.Info, error) {
	r, err := c.system.Info(ctx, &berthv1.InfoRequest{})
	if err != nil {
		return nil, err
	}
	return conv.InfoFromProto(r), nil
}

// Events subscribes to the daemon's events and returns once the
// subscription is registered: an event that happens after Events returns is
// delivered. Messages arrive on the first channel; it is closed when the
// stream ends (filter.Until passed, ctx done, or an error). An error is
// sent on the second channel (buffered) before both are closed; a normal
// end sends none.
func (c *Client) Events(ctx context.Context, filter events.Filter) (<-chan events.Message, <-chan error) {
	msgs := make(chan events.Message, 64)
	errs := make(chan error, 1)
	fail := func(err error) (<-chan events.Message, <-chan error) {
		errs <- err
		close(errs)
		close(msgs)
		return msgs, errs
	}
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.system.Events(ctx, conv.EventFilterToProto(filter))
	if err != nil {
		cancel()
		return fail(err)
	}
	// The server sends its headers once the subscription is in place.
	if _, err := stream.Header(); err != nil {
		cancel()
		return fail(err)
	}
	go func() {
		defer cancel()
		defer close(errs)
		defer close(msgs)
		for {
			r, err := stream.Recv()
			if err == io.EOF {
				return
			}
			if err != nil {
				if ctx.Err() == nil {
					errs <- err
				}
				return
			}
			select {
			case msgs <- conv.EventFromProto(r.GetEvent()):
			case <-ctx.Done():
				return
			}
		}
	}()
	return msgs, errs
}

// DiskUsage reports what images, containers and volumes take on disk.
func (c *Client) DiskUsage(ctx context.Context) (*system.DiskUsage, error) {
	r, err := c.system.DiskUsage(ctx, &berthv1.DiskUsageRequest{})
	if err != nil {
		return nil, err
	}
	return conv.DiskUsageFromProto(r), nil
}
