package apiserver

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"
	"google.golang.org/grpc/metadata"

	berthv1 "github.com/berthproject/berth/proto/berth/v1"
	"github.com/berthproject/berth/proto/berth/v1/conv"
)

type systemServer struct {
	berthv1.UnimplementedSystemServiceServer
	sys    System
	events Events
	info   DaemonInfo
}

func (s *systemServer) system() (System, error) {
	if s.sys == nil {
		return nil, fmt.Errorf("system calls are not served here: %w", errdefs.ErrNotImplemented)
	}
	return s.sys, nil
}

func (s *systemServer) Ping(ctx context.Context, _ *berthv1.PingRequest) (*berthv1.PingResponse, error) {
	sys, err := s.system()
	if err != nil {
		return nil, err
	}
	if err := sys.Ping(ctx); err != nil {
		return nil, err
	}
	return &berthv1.PingResponse{ApiVersion: berthv1.APIVersion}, nil
}

func (s *systemServer) Version(ctx context.Context, _ *berthv1.VersionRequest) (*berthv1.VersionResponse, error) {
	sys, err := s.system()
	if err != nil {
		return nil, err
	}
	v, err := sys.Version(ctx)
	if err != nil {
		return nil, err
	}
	r := conv.VersionToProto(v)
	if s.info.Version != "" {
		r.Version = s.info.Version
	}
	if s.info.GitCommit != "" {
		r.GitCommit = s.info.GitCommit
	}
	// The API version is this server's, whatever the engine says.
	r.ApiVersion = berthv1.APIVersion
	return r, nil
}

func (s *systemServer) Info(ctx context.Context, _ *berthv1.InfoRequest) (*berthv1.InfoResponse, error) {
	sys, err := s.system()
	if err != nil {
		return nil, err
	}
	i, err := sys.Info(ctx)
	if err != nil {
		return nil, err
	}
	r := conv.InfoToProto(i)
	if s.info.Version != "" {
		r.ServerVersion = s.info.Version
	}
	return r, nil
}

func (s *systemServer) Events(r *berthv1.EventsRequest, stream berthv1.SystemService_EventsServer) error {
	if s.events == nil {
		return fmt.Errorf("events are not served here: %w", errdefs.ErrNotImplemented)
	}
	ctx := stream.Context()
	ch, err := s.events.Subscribe(ctx, conv.EventFilterFromProto(r))
	if err != nil {
		return err
	}
	// Headers tell the client the subscription is registered.
	if err := stream.SendHeader(metadata.MD{}); err != nil {
		return err
	}
	for m := range ch {
		if err := stream.Send(&berthv1.EventsResponse{Event: conv.EventToProto(m)}); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func (s *systemServer) DiskUsage(ctx context.Context, _ *berthv1.DiskUsageRequest) (*berthv1.DiskUsageResponse, error) {
	sys, err := s.system()
	if err != nil {
		return nil, err
	}
	d, err := sys.DiskUsage(ctx)
	if err != nil {
		return nil, err
	}
	return conv.DiskUsageToProto(d), nil
}
