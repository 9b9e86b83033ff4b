package client

import (
	"context"
	"fmt"
	"io"

	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/volume"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
	"github.com/berthproject/berth/proto/berth/v1/conv"
)

func (c *volumeClient) volumes() berthv1.VolumesServiceClient {
	return berthv1.NewVolumesServiceClient(c.conn)
}

// Create creates a volume (`berth volume create`); an empty name
// makes an anonymous one.
func (c *volumeClient) Create(ctx context.Context, o volume.CreateOptions) (*volume.Volume, error) {
	r, err := c.volumes().Create(ctx, &berthv1.CreateVolumeRequest{
		Name: o.Name, Driver: o.Driver, Labels: o.Labels, Options: o.Options,
	})
	if err != nil {
		return nil, err
	}
	return conv.VolumeFromProto(r.GetVolume()), nil
}

// List lists volumes; filters are Docker's (name, label, dangling, driver).
func (c *volumeClient) List(ctx context.Context, filters map[string][]string) ([]*volume.Volume, error) {
	r, err := c.volumes().List(ctx, &berthv1.ListVolumesRequest{Filters: conv.Filters(filters)})
	if err != nil {
		return nil, err
	}
	out := make([]*volume.Volume, 0, len(r.GetVolumes()))
	for _, v := range r.GetVolumes() {
		out = append(out, conv.VolumeFromProto(v))
	}
	return out, nil
}

// Inspect returns one volume with its users.
func (c *volumeClient) Inspect(ctx context.Context, name string) (*volume.Volume, error) {
	r, err := c.volumes().Inspect(ctx, &berthv1.InspectVolumeRequest{Name: name})
	if err != nil {
		return nil, err
	}
	return conv.VolumeFromProto(r.GetVolume()), nil
}

// Remove removes a volume (ErrConflict while in use; force: a
// missing volume is no error).
func (c *volumeClient) Remove(ctx context.Context, name string, force bool) error {
	_, err := c.volumes().Remove(ctx, &berthv1.RemoveVolumeRequest{Name: name, Force: force})
	return err
}

// Prune removes unused anonymous volumes (all unused ones with
// o.All) and returns their names and the bytes freed.
func (c *volumeClient) Prune(ctx context.Context, o volume.PruneOptions) ([]string, uint64, error) {
	r, err := c.volumes().Prune(ctx, &berthv1.PruneVolumesRequest{All: o.All, Filters: conv.Filters(o.Filters)})
	if err != nil {
		return nil, 0, err
	}
	return r.GetDeleted(), r.GetSpaceReclaimed(), nil
}

// Export writes a tar of the volume's content to w.
func (c *volumeClient) Export(ctx context.Context, name string, w io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.volumes().Export(ctx, &berthv1.ExportVolumeRequest{Name: name})
	if err != nil {
		return err
	}
	return recvChunks(w, func() ([]byte, error) {
		m, err := stream.Recv()
		return m.GetData(), err
	})
}

// Import extracts the tar read from r into the volume (made if missing).
func (c *volumeClient) Import(ctx context.Context, name string, r io.Reader) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.volumes().Import(ctx)
	if err != nil {
		return err
	}
	if err := stream.Send(&berthv1.ImportVolumeRequest{Name: name}); err != nil && err != io.EOF {
		return err
	}
	err = sendChunks(r, func(p []byte) error { return stream.Send(&berthv1.ImportVolumeRequest{Data: p}) })
	if err != nil && err != io.EOF {
		return err
	}
	_, err = stream.CloseAndRecv()
	return err
}

// CopyTo extracts the tar read from r into the container (`berth cp SRC
// CONTAINER:DEST`) with Docker's path rules (see container.CopyToOptions).
func (c *Client) CopyTo(ctx context.Context, id string, o container.CopyToOptions, r io.Reader) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.containers.CopyTo(ctx)
	if err != nil {
		return err
	}
	if err := stream.Send(&berthv1.CopyToContainerRequest{Options: conv.CopyToOptionsToProto(id, o)}); err != nil && err != io.EOF {
		return err
	}
	err = sendChunks(r, func(p []byte) error { return stream.Send(&berthv1.CopyToContainerRequest{Data: p}) })
	if err != nil && err != io.EOF {
		return err
	}
	_, err = stream.CloseAndRecv()
	return err
}

// CopyFrom returns the stat of a container's path and a tar of it (one
// top-level entry named after the path's base name). The caller reads the
// tar to its end (a broken stream is a read error) and closes it.
func (c *Client) CopyFrom(ctx context.Context, id, path string) (container.PathStat, io.ReadCloser, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.containers.CopyFrom(ctx, &berthv1.CopyFromContainerRequest{Id: id, Path: path})
	if err != nil {
		cancel()
		return container.PathStat{}, nil, err
	}
	first, err := stream.Recv()
	if err != nil {
		cancel()
		if err == io.EOF {
			err = fmt.Errorf("copy from %s:%s: the server sent nothing", id, path)
		}
		return container.PathStat{}, nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(recvChunks(pw, func() ([]byte, error) {
			m, err := stream.Recv()
			return m.GetData(), err
		}))
	}()
	return conv.PathStatFromProto(first.GetStat()), readCloser{pr, func() { pr.Close(); cancel() }}, nil
}

type readCloser struct {
	io.Reader
	close func()
}

func (r readCloser) Close() error { r.close(); return nil }

// recvChunks writes received chunks to w until the stream ends (nil on a
// clean end).
func recvChunks(w io.Writer, recv func() ([]byte, error)) error {
	for {
		p, err := recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := w.Write(p); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
}
