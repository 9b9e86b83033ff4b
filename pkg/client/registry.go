package client

import (
	"context"
	"errors"
	"io"

	"github.com/berthproject/berth/pkg/types/image"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
	"github.com/berthproject/berth/proto/berth/v1/conv"
)

// Pull pulls ref from its registry (`berth pull`). progress, if not
// nil, receives the pull's progress as berthd streams it.
func (c *imageClient) Pull(ctx context.Context, ref string, opts image.PullOptions) (*image.Image, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.images.Pull(ctx, &berthv1.PullImageRequest{Ref: ref, Platform: opts.Platform, Auth: conv.AuthToProto(opts.Auth)})
	if err != nil {
		return nil, err
	}
	var img *image.Image
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			if img == nil {
				return nil, errors.New("pull: berthd ended the stream without a result")
			}
			return img, nil
		}
		if err != nil {
			return nil, err
		}
		if opts.Progress != nil {
			for _, p := range m.GetProgress() {
				opts.Progress(conv.ProgressFromProto(p))
			}
		}
		if m.GetImage() != nil {
			img = conv.ImageFromProto(m.GetImage())
		}
	}
}

// Push pushes the image named ref to its registry (`berth push`).
func (c *imageClient) Push(ctx context.Context, ref string, opts image.PushOptions) (*image.PushResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.images.Push(ctx, &berthv1.PushImageRequest{Ref: ref, Auth: conv.AuthToProto(opts.Auth)})
	if err != nil {
		return nil, err
	}
	var res *image.PushResult
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			if res == nil {
				return nil, errors.New("push: berthd ended the stream without a result")
			}
			return res, nil
		}
		if err != nil {
			return nil, err
		}
		if opts.Progress != nil {
			for _, p := range m.GetProgress() {
				opts.Progress(conv.ProgressFromProto(p))
			}
		}
		if m.GetResult() != nil {
			res = conv.PushResultFromProto(m.GetResult())
		}
	}
}

// Login checks credentials against their registry (`berth login`);
// berthd stores nothing.
func (c *imageClient) Login(ctx context.Context, auth image.AuthConfig) (string, error) {
	resp, err := c.images.Login(ctx, &berthv1.LoginRequest{Auth: conv.AuthToProto(&auth)})
	if err != nil {
		return "", err
	}
	return resp.GetStatus(), nil
}

// History returns an image's history, newest first (`berth history`).
func (c *imageClient) History(ctx context.Context, ref string) ([]image.HistoryEntry, error) {
	resp, err := c.images.History(ctx, &berthv1.ImageHistoryRequest{Ref: ref})
	if err != nil {
		return nil, err
	}
	return conv.HistoryFromProto(resp.GetEntries()), nil
}

// Prune removes unused images (`berth image prune`).
func (c *imageClient) Prune(ctx context.Context, opts image.PruneOptions) (*image.PruneReport, error) {
	resp, err := c.images.Prune(ctx, &berthv1.PruneImagesRequest{All: opts.All, Filters: conv.Filters(opts.Filters)})
	if err != nil {
		return nil, err
	}
	return conv.PruneReportFromProto(resp), nil
}
