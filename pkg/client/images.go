package client

import (
	"context"
	"fmt"
	"io"

	"github.com/containerd/errdefs"

	"github.com/berthproject/berth/pkg/types/image"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
	"github.com/berthproject/berth/proto/berth/v1/conv"
)

// sendChunks streams r in chunks through send; it returns io.EOF from send
// unchanged (the server ended the call: its status comes with the response).
func sendChunks(r io.Reader, send func([]byte) error) error {
	buf := make([]byte, chunkSize)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if serr := send(buf[:n]); serr != nil {
				return serr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read input: %w", err)
		}
	}
}

// Import makes a one-layer image from the root file system tar read
// from r (`berth import`).
func (c *imageClient) Import(ctx context.Context, r io.Reader, opts image.ImportOptions) (*image.Image, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.images.Import(ctx)
	if err != nil {
		return nil, err
	}
	first := &berthv1.ImportImageRequest{Options: &berthv1.ImportImageOptions{Ref: opts.Ref, Message: opts.Message, Platform: opts.Platform}}
	if err := stream.Send(first); err != nil && err != io.EOF {
		return nil, err
	}
	err = sendChunks(r, func(p []byte) error { return stream.Send(&berthv1.ImportImageRequest{Data: p}) })
	if err != nil && err != io.EOF {
		return nil, err // a local read error: cancel aborts the import
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return nil, err
	}
	return conv.ImageFromProto(resp.GetImage()), nil
}

// Load stores the images of the archive read from r (`berth load`).
// progress, if not nil, receives Docker's report lines ("Loaded image:
// busybox:latest").
func (c *imageClient) Load(ctx context.Context, r io.Reader, progress func(string)) ([]image.Image, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.images.Load(ctx)
	if err != nil {
		return nil, err
	}
	err = sendChunks(r, func(p []byte) error { return stream.Send(&berthv1.LoadImagesRequest{Data: p}) })
	if err != nil && err != io.EOF {
		return nil, err
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return nil, err
	}
	if progress != nil {
		for _, line := range resp.GetProgress() {
			progress(line)
		}
	}
	out := make([]image.Image, 0, len(resp.GetImages()))
	for _, p := range resp.GetImages() {
		out = append(out, *conv.ImageFromProto(p))
	}
	return out, nil
}

// Save writes the images refs name to w as one archive (`berth save`).
// On error, what was written to w is incomplete.
func (c *imageClient) Save(ctx context.Context, w io.Writer, refs []string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.images.Save(ctx, &berthv1.SaveImagesRequest{Refs: refs})
	if err != nil {
		return err
	}
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := w.Write(m.GetData()); err != nil {
			return fmt.Errorf("write archive: %w", err)
		}
	}
}

// Tag gives the image source one more name, target.
func (c *imageClient) Tag(ctx context.Context, source, target string) error {
	_, err := c.images.Tag(ctx, &berthv1.TagImageRequest{Source: source, Target: target})
	return err
}

// Remove untags and deletes images (`berth rmi`). Like the engine it
// goes on after a ref fails: it returns what was done together with the
// errors of the refs that failed, joined (errors.Is works on the result).
func (c *imageClient) Remove(ctx context.Context, refs []string, opts image.RemoveOptions) ([]image.DeleteResponse, error) {
	resp, err := c.images.Remove(ctx, &berthv1.RemoveImagesRequest{Refs: refs, Force: opts.Force})
	if err != nil {
		return nil, err
	}
	return conv.DeleteResponsesFromProto(resp.GetItems()), conv.ErrorsFromStatuses(resp.GetErrors())
}

// List returns local images (`berth images`).
func (c *imageClient) List(ctx context.Context, opts image.ListOptions) ([]image.Summary, error) {
	resp, err := c.images.List(ctx, &berthv1.ListImagesRequest{All: opts.All, Filters: conv.Filters(opts.Filters)})
	if err != nil {
		return nil, err
	}
	out := make([]image.Summary, 0, len(resp.GetImages()))
	for _, s := range resp.GetImages() {
		out = append(out, conv.ImageSummaryFromProto(s))
	}
	return out, nil
}

// Inspect returns the full view of an image. json.Marshal of the
// result gives Docker's field names.
func (c *imageClient) Inspect(ctx context.Context, ref string) (*image.Image, error) {
	resp, err := c.images.Inspect(ctx, &berthv1.InspectImageRequest{Ref: ref})
	if err != nil {
		return nil, err
	}
	if resp.GetImage() == nil {
		return nil, fmt.Errorf("inspect %s: empty response: %w", ref, errdefs.ErrUnknown)
	}
	return conv.ImageFromProto(resp.GetImage()), nil
}
