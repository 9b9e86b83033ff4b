package apiserver

import (
	"context"
	"encoding/json"

	"github.com/berthproject/berth/pkg/api"
	"github.com/berthproject/berth/pkg/types/build"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
)

type buildsServer struct {
	berthv1.UnimplementedBuildsServiceServer
	b api.Builds
}

func (s *buildsServer) Build(stream berthv1.BuildsService_BuildServer) error {
	first, err := stream.Recv()
	if err != nil {
		return firstMessageErr("build", err)
	}
	var opts build.Options
	if err := json.Unmarshal(first.GetOptions(), &opts); err != nil {
		return invalid("build: options: " + err.Error())
	}
	r := &chunkReader{buf: first.GetContext(), recv: func() ([]byte, error) {
		m, err := stream.Recv()
		return m.GetContext(), err
	}}
	send := func(ev build.Event) error {
		b, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		return stream.Send(&berthv1.BuildResponse{Event: b})
	}
	res, err := s.b.Build(stream.Context(), opts, r, send)
	if err != nil {
		return err
	}
	return send(build.Event{Result: res})
}

func (s *buildsServer) CacheUsage(ctx context.Context, _ *berthv1.CacheUsageRequest) (*berthv1.CacheUsageResponse, error) {
	recs, err := s.b.DiskUsage(ctx)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(recs)
	return &berthv1.CacheUsageResponse{Records: b}, err
}

func (s *buildsServer) PruneCache(ctx context.Context, r *berthv1.PruneCacheRequest) (*berthv1.PruneCacheResponse, error) {
	var opts build.PruneOptions
	if len(r.GetOptions()) > 0 {
		if err := json.Unmarshal(r.GetOptions(), &opts); err != nil {
			return nil, invalid("prune: options: " + err.Error())
		}
	}
	rep, err := s.b.Prune(ctx, opts)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(rep)
	return &berthv1.PruneCacheResponse{Report: b}, err
}
