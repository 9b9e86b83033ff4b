package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/berthproject/berth/pkg/types/build"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
)

func (c *buildClient) svc() berthv1.BuildsServiceClient {
	return berthv1.NewBuildsServiceClient(c.conn)
}

// Build sends the options and the context tar, then hands each progress
// event to events until the result (`berth build`).
func (c *buildClient) Build(ctx context.Context, opts build.Options, contextTar io.Reader, events func(build.Event) error) (*build.Result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.svc().Build(ctx)
	if err != nil {
		return nil, err
	}
	o, err := json.Marshal(opts)
	if err != nil {
		return nil, err
	}
	if err := stream.Send(&berthv1.BuildRequest{Options: o}); err != nil && err != io.EOF {
		return nil, err
	}
	// The context goes while the events come: the first may be what the
	// client waits for to write its tar (Options.ContextSync).
	local := make(chan error, 1)
	go func() {
		err := sendChunks(contextTar, func(p []byte) error { return stream.Send(&berthv1.BuildRequest{Context: p}) })
		switch {
		case err == io.EOF:
			// The server ended the stream: Recv tells why.
		case err != nil:
			local <- err // a local read error: cancel aborts the build
			cancel()
		default:
			_ = stream.CloseSend()
		}
	}()
	for {
		m, err := stream.Recv()
		if err != nil {
			select {
			case lerr := <-local:
				return nil, lerr
			default:
			}
			if errors.Is(err, io.EOF) {
				return nil, errors.New("build: the stream ended without a result")
			}
			return nil, err
		}
		var ev build.Event
		if err := json.Unmarshal(m.GetEvent(), &ev); err != nil {
			return nil, fmt.Errorf("build: bad event: %w", err)
		}
		if ev.Result != nil {
			return ev.Result, nil
		}
		if err := events(ev); err != nil {
			return nil, err
		}
	}
}

// DiskUsage lists the build cache.
func (c *buildClient) DiskUsage(ctx context.Context) ([]build.CacheRecord, error) {
	resp, err := c.svc().CacheUsage(ctx, &berthv1.CacheUsageRequest{})
	if err != nil {
		return nil, err
	}
	var recs []build.CacheRecord
	if err := json.Unmarshal(resp.GetRecords(), &recs); err != nil {
		return nil, fmt.Errorf("build cache usage: %w", err)
	}
	return recs, nil
}

// Prune removes build cache records (`berth builder prune`).
func (c *buildClient) Prune(ctx context.Context, opts build.PruneOptions) (*build.PruneReport, error) {
	o, err := json.Marshal(opts)
	if err != nil {
		return nil, err
	}
	resp, err := c.svc().PruneCache(ctx, &berthv1.PruneCacheRequest{Options: o})
	if err != nil {
		return nil, err
	}
	var rep build.PruneReport
	if err := json.Unmarshal(resp.GetReport(), &rep); err != nil {
		return nil, fmt.Errorf("build cache prune: %w", err)
	}
	return &rep, nil
}
