package apiserver

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"github.com/containerd/errdefs"

	containertypes "github.com/berthproject/berth/pkg/types/container"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
	"github.com/berthproject/berth/proto/berth/v1/conv"
)

// Copier copies files in and out of containers (*container.Service). A
// Containers implementation without it answers CopyTo/CopyFrom with
// errdefs.ErrNotImplemented.
type Copier interface {
	StatPath(ctx context.Context, id, path string) (containertypes.PathStat, error)
	CopyFrom(ctx context.Context, id, path string, w io.Writer) error
	CopyTo(ctx context.Context, id string, opts containertypes.CopyToOptions, r io.Reader) error
}

func (s *containersServer) copier() (Copier, error) {
	if c, ok := s.c.(Copier); ok {
		return c, nil
	}
	return nil, fmt.Errorf("cp is not served here: %w", errdefs.ErrNotImplemented)
}

func (s *containersServer) CopyTo(stream berthv1.ContainersService_CopyToServer) error {
	cp, err := s.copier()
	if err != nil {
		return err
	}
	first, err := stream.Recv()
	if err != nil {
		return firstMessageErr("copy", err)
	}
	o := first.GetOptions()
	if o.GetId() == "" || o.GetPath() == "" {
		return invalid("copy: the first message must name a container and a path")
	}
	r := &chunkReader{buf: first.GetData(), recv: func() ([]byte, error) {
		m, err := stream.Recv()
		return m.GetData(), err
	}}
	if err := cp.CopyTo(stream.Context(), o.GetId(), conv.CopyToOptionsFromProto(o), r); err != nil {
		return err
	}
	// Drain what the client still sends so it sees our status, not a reset.
	_, _ = io.Copy(io.Discard, r)
	return stream.SendAndClose(&berthv1.CopyToContainerResponse{})
}

func (s *containersServer) CopyFrom(r *berthv1.CopyFromContainerRequest, stream berthv1.ContainersService_CopyFromServer) error {
	cp, err := s.copier()
	if err != nil {
		return err
	}
	if r.GetId() == "" || r.GetPath() == "" {
		return invalid("copy: name a container and a path")
	}
	st, err := cp.StatPath(stream.Context(), r.GetId(), r.GetPath())
	if err != nil {
		return err
	}
	if err := stream.Send(&berthv1.CopyFromContainerResponse{Stat: conv.PathStatToProto(st)}); err != nil {
		return err
	}
	out := &output[berthv1.CopyFromContainerResponse]{send: stream.Send, greeted: true}
	w := bufio.NewWriterSize(out.writer(func(p []byte) *berthv1.CopyFromContainerResponse {
		return &berthv1.CopyFromContainerResponse{Data: p}
	}), 256<<10)
	if err := cp.CopyFrom(stream.Context(), r.GetId(), r.GetPath(), w); err != nil {
		return err
	}
	return w.Flush()
}

func (s *containersServer) Commit(ctx context.Context, r *berthv1.CommitContainerRequest) (*berthv1.CommitContainerResponse, error) {
	id, err := s.c.Commit(ctx, r.GetId(), containertypes.CommitOptions{
		Ref: r.GetRef(), Comment: r.GetComment(), Author: r.GetAuthor(), Changes: r.GetChanges(), NoPause: r.GetNoPause(),
	})
	if err != nil {
		return nil, err
	}
	return &berthv1.CommitContainerResponse{ImageId: id}, nil
}

func (s *containersServer) Changes(ctx context.Context, r *berthv1.ContainerChangesRequest) (*berthv1.ContainerChangesResponse, error) {
	list, err := s.c.Changes(ctx, r.GetId())
	if err != nil {
		return nil, err
	}
	out := &berthv1.ContainerChangesResponse{}
	for _, ch := range list {
		out.Changes = append(out.Changes, &berthv1.ContainerChange{Kind: uint32(ch.Kind), Path: ch.Path})
	}
	return out, nil
}

func (s *containersServer) Prune(ctx context.Context, r *berthv1.PruneContainersRequest) (*berthv1.PruneContainersResponse, error) {
	rep, err := s.c.Prune(ctx, containertypes.PruneOptions{Filters: conv.FilterMap(r.GetFilters())})
	if err != nil {
		return nil, err
	}
	return &berthv1.PruneContainersResponse{Deleted: rep.ContainersDeleted, SpaceReclaimed: rep.SpaceReclaimed}, nil
}

func (s *containersServer) Export(r *berthv1.ExportContainerRequest, stream berthv1.ContainersService_ExportServer) error {
	out := &output[berthv1.ExportContainerResponse]{send: stream.Send, greeted: true}
	w := bufio.NewWriterSize(out.writer(func(p []byte) *berthv1.ExportContainerResponse {
		return &berthv1.ExportContainerResponse{Data: p}
	}), 256<<10)
	if err := s.c.Export(stream.Context(), r.GetId(), w); err != nil {
		return err
	}
	return w.Flush()
}
