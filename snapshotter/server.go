//go:build linux

package snapshotter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/ttrpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	api "github.com/berthproject/berth/snapshotter/internal/snapshotsapi"
)

// ServiceName is the ttrpc service berth-snapshotter serves: containerd's
// Snapshots service, under containerd's own name, so containerd's
// generated ttrpc client (github.com/containerd/containerd/api/services/
// snapshots/v1) calls it.
const ServiceName = "containerd.services.snapshots.v1.Snapshots"

// Listen makes the unix socket address for Serve, replacing a stale
// socket file and creating the parent directory.
func Listen(address string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(address), 0o711); err != nil {
		return nil, err
	}
	if err := os.Remove(address); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket: %w", err)
	}
	return net.Listen("unix", address)
}

// Serve serves sn as containerd's Snapshots service over ttrpc on l until
// ctx is done, then stops gracefully. Callers listen only after New
// returned, so a client that can connect knows recovery is over.
//
// ttrpc, not gRPC: berth's containerd reaches it through its built-in
// snapshot plugin "berth" (cmd/containerd/snapshotter.go), and without
// grpc-go this process's binary is a third smaller, which is most of its
// idle memory (docs/performance.md, "Idle daemons, fourth pass").
func Serve(ctx context.Context, sn snapshots.Snapshotter, l net.Listener) error {
	srv, err := ttrpc.NewServer()
	if err != nil {
		return err
	}
	register(srv, service{sn: sn})
	stopped := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if srv.Shutdown(sctx) != nil {
				_ = srv.Close() // calls still running after the timeout
			}
		case <-stopped:
		}
	}()
	err = srv.Serve(ctx, l)
	close(stopped)
	if ctx.Err() != nil || errors.Is(err, ttrpc.ErrServerClosed) {
		return nil
	}
	return err
}

// register adds the Snapshots service's methods to srv, as containerd's
// generated RegisterTTRPCSnapshotsService does with its own messages.
func register(srv *ttrpc.Server, s service) {
	srv.RegisterService(ServiceName, &ttrpc.ServiceDesc{
		Methods: map[string]ttrpc.Method{
			"Prepare": unary(s.prepare),
			"View":    unary(s.view),
			"Mounts":  unary(s.mounts),
			"Commit":  unary(s.commit),
			"Remove":  unary(s.remove),
			"Stat":    unary(s.stat),
			"Update":  unary(s.update),
			"Usage":   unary(s.usage),
			"Cleanup": unary(s.cleanup),
		},
		Streams: map[string]ttrpc.Stream{
			"List": {
				Handler: func(ctx context.Context, stream ttrpc.StreamServer) (any, error) {
					var req api.ListSnapshotsRequest
					if err := stream.RecvMsg(&req); err != nil {
						return nil, err
					}
					return nil, s.list(ctx, &req, stream)
				},
				StreamingServer: true,
			},
		},
	})
}

// unary adapts a typed method to ttrpc's and turns its errdefs error into
// the gRPC status containerd's client turns back into the same class.
func unary[Req any, PReq interface {
	*Req
}, Resp any](fn func(context.Context, PReq) (Resp, error)) ttrpc.Method {
	return func(ctx context.Context, unmarshal func(any) error) (any, error) {
		req := PReq(new(Req))
		if err := unmarshal(req); err != nil {
			return nil, err
		}
		resp, err := fn(ctx, req)
		if err != nil {
			return nil, errgrpc.ToGRPC(err)
		}
		return resp, nil
	}
}

// service is containerd's contrib/snapshotservice for berth's copy of the
// messages.
type service struct {
	sn snapshots.Snapshotter
}

func labelOpts(labels map[string]string) []snapshots.Opt {
	if labels == nil {
		return nil
	}
	return []snapshots.Opt{snapshots.WithLabels(labels)}
}

func (s service) prepare(ctx context.Context, r *api.PrepareSnapshotRequest) (*api.PrepareSnapshotResponse, error) {
	mounts, err := s.sn.Prepare(ctx, r.Key, r.Parent, labelOpts(r.Labels)...)
	if err != nil {
		return nil, err
	}
	return &api.PrepareSnapshotResponse{Mounts: mountsToProto(mounts)}, nil
}

func (s service) view(ctx context.Context, r *api.ViewSnapshotRequest) (*api.ViewSnapshotResponse, error) {
	mounts, err := s.sn.View(ctx, r.Key, r.Parent, labelOpts(r.Labels)...)
	if err != nil {
		return nil, err
	}
	return &api.ViewSnapshotResponse{Mounts: mountsToProto(mounts)}, nil
}

func (s service) mounts(ctx context.Context, r *api.MountsRequest) (*api.MountsResponse, error) {
	mounts, err := s.sn.Mounts(ctx, r.Key)
	if err != nil {
		return nil, err
	}
	return &api.MountsResponse{Mounts: mountsToProto(mounts)}, nil
}

func (s service) commit(ctx context.Context, r *api.CommitSnapshotRequest) (*emptypb.Empty, error) {
	opts := labelOpts(r.Labels)
	if r.Parent != "" {
		opts = append(opts, snapshots.WithParent(r.Parent))
	}
	if err := s.sn.Commit(ctx, r.Name, r.Key, opts...); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func (s service) remove(ctx context.Context, r *api.RemoveSnapshotRequest) (*emptypb.Empty, error) {
	if err := s.sn.Remove(ctx, r.Key); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func (s service) stat(ctx context.Context, r *api.StatSnapshotRequest) (*api.StatSnapshotResponse, error) {
	info, err := s.sn.Stat(ctx, r.Key)
	if err != nil {
		return nil, err
	}
	return &api.StatSnapshotResponse{Info: infoToProto(info)}, nil
}

func (s service) update(ctx context.Context, r *api.UpdateSnapshotRequest) (*api.UpdateSnapshotResponse, error) {
	info, err := s.sn.Update(ctx, infoFromProto(r.Info), r.UpdateMask.GetPaths()...)
	if err != nil {
		return nil, err
	}
	return &api.UpdateSnapshotResponse{Info: infoToProto(info)}, nil
}

func (s service) usage(ctx context.Context, r *api.UsageRequest) (*api.UsageResponse, error) {
	u, err := s.sn.Usage(ctx, r.Key)
	if err != nil {
		return nil, err
	}
	return &api.UsageResponse{Size: u.Size, Inodes: u.Inodes}, nil
}

func (s service) cleanup(ctx context.Context, _ *api.CleanupRequest) (*emptypb.Empty, error) {
	c, ok := s.sn.(snapshots.Cleaner)
	if !ok {
		return nil, fmt.Errorf("snapshotter does not implement Cleanup: %w", errdefs.ErrNotImplemented)
	}
	if err := c.Cleanup(ctx); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// list streams the snapshots in blocks of 100, as containerd's service does.
func (s service) list(ctx context.Context, r *api.ListSnapshotsRequest, stream ttrpc.StreamServer) error {
	var block []*api.Info
	send := func() error {
		err := stream.SendMsg(&api.ListSnapshotsResponse{Info: block})
		block = block[:0]
		return err
	}
	err := s.sn.Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		block = append(block, infoToProto(info))
		if len(block) >= 100 {
			return send()
		}
		return nil
	}, r.Filters...)
	if err == nil && len(block) > 0 {
		err = send()
	}
	if err != nil {
		return errgrpc.ToGRPC(err)
	}
	return nil
}

func mountsToProto(mounts []mount.Mount) []*types.Mount {
	out := make([]*types.Mount, len(mounts))
	for i, m := range mounts {
		out[i] = &types.Mount{Type: m.Type, Source: m.Source, Target: m.Target, Options: m.Options}
	}
	return out
}

func infoToProto(info snapshots.Info) *api.Info {
	kind := api.Kind_COMMITTED
	switch info.Kind {
	case snapshots.KindActive:
		kind = api.Kind_ACTIVE
	case snapshots.KindView:
		kind = api.Kind_VIEW
	}
	return &api.Info{
		Name:      info.Name,
		Parent:    info.Parent,
		Kind:      kind,
		CreatedAt: timestamppb.New(info.Created),
		UpdatedAt: timestamppb.New(info.Updated),
		Labels:    info.Labels,
	}
}

func infoFromProto(info *api.Info) snapshots.Info {
	kind := snapshots.KindCommitted
	switch info.GetKind() {
	case api.Kind_ACTIVE:
		kind = snapshots.KindActive
	case api.Kind_VIEW:
		kind = snapshots.KindView
	}
	return snapshots.Info{
		Name:    info.GetName(),
		Parent:  info.GetParent(),
		Kind:    kind,
		Created: info.GetCreatedAt().AsTime(),
		Updated: info.GetUpdatedAt().AsTime(),
		Labels:  info.GetLabels(),
	}
}
