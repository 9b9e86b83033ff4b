package apiserver

import (
	"bufio"
	"context"
	"io"

	"github.com/berthproject/berth/pkg/api"
	volumetypes "github.com/berthproject/berth/pkg/types/volume"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
	"github.com/berthproject/berth/proto/berth/v1/conv"
)

type volumesServer struct {
	berthv1.UnimplementedVolumesServiceServer
	v api.Volumes
}

func (s *volumesServer) Create(ctx context.Context, r *berthv1.CreateVolumeRequest) (*berthv1.CreateVolumeResponse, error) {
	v, err := s.v.Create(ctx, volumetypes.CreateOptions{
		Name: r.GetName(), Driver: r.GetDriver(), Labels: r.GetLabels(), Options: r.GetOptions(),
	})
	if err != nil {
		return nil, err
	}
	return &berthv1.CreateVolumeResponse{Volume: conv.VolumeToProto(v)}, nil
}

func (s *volumesServer) List(ctx context.Context, r *berthv1.ListVolumesRequest) (*berthv1.ListVolumesResponse, error) {
	list, err := s.v.List(ctx, conv.FilterMap(r.GetFilters()))
	if err != nil {
		return nil, err
	}
	resp := &berthv1.ListVolumesResponse{Volumes: make([]*berthv1.Volume, 0, len(list))}
	for _, v := range list {
		resp.Volumes = append(resp.Volumes, conv.VolumeToProto(v))
	}
	return resp, nil
}

func (s *volumesServer) Inspect(ctx context.Context, r *berthv1.InspectVolumeRequest) (*berthv1.InspectVolumeResponse, error) {
	if r.GetName() == "" {
		return nil, invalid("no volume given")
	}
	v, err := s.v.Inspect(ctx, r.GetName())
	if err != nil {
		return nil, err
	}
	return &berthv1.InspectVolumeResponse{Volume: conv.VolumeToProto(v)}, nil
}

func (s *volumesServer) Remove(ctx context.Context, r *berthv1.RemoveVolumeRequest) (*berthv1.RemoveVolumeResponse, error) {
	if r.GetName() == "" {
		return nil, invalid("no volume given")
	}
	return &berthv1.RemoveVolumeResponse{}, s.v.Remove(ctx, r.GetName(), r.GetForce())
}

func (s *volumesServer) Prune(ctx context.Context, r *berthv1.PruneVolumesRequest) (*berthv1.PruneVolumesResponse, error) {
	deleted, size, err := s.v.Prune(ctx, volumetypes.PruneOptions{All: r.GetAll(), Filters: conv.FilterMap(r.GetFilters())})
	if err != nil {
		return nil, err
	}
	return &berthv1.PruneVolumesResponse{Deleted: deleted, SpaceReclaimed: size}, nil
}

func (s *volumesServer) Export(r *berthv1.ExportVolumeRequest, stream berthv1.VolumesService_ExportServer) error {
	if r.GetName() == "" {
		return invalid("no volume given")
	}
	out := &output[berthv1.ExportVolumeResponse]{send: stream.Send, greeted: true}
	w := bufio.NewWriterSize(out.writer(func(p []byte) *berthv1.ExportVolumeResponse {
		return &berthv1.ExportVolumeResponse{Data: p}
	}), 256<<10)
	if err := s.v.Export(stream.Context(), r.GetName(), w); err != nil {
		return err
	}
	return w.Flush()
}

func (s *volumesServer) Import(stream berthv1.VolumesService_ImportServer) error {
	first, err := stream.Recv()
	if err != nil {
		return firstMessageErr("volume import", err)
	}
	if first.GetName() == "" {
		return invalid("volume import: the first message must name the volume")
	}
	r := &chunkReader{buf: first.GetData(), recv: func() ([]byte, error) {
		m, err := stream.Recv()
		return m.GetData(), err
	}}
	if err := s.v.Import(stream.Context(), first.GetName(), r); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, r)
	return stream.SendAndClose(&berthv1.ImportVolumeResponse{})
}
