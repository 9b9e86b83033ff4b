//go:build linux

package snapshotter

import (
	"context"
	"net"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/core/snapshots/proxy"
	"github.com/containerd/ttrpc"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// dialProxy connects containerd's generated ttrpc Snapshots client to the
// snapshotter on sock and wraps it in containerd's proxy snapshotter, the
// calls berth's containerd makes (cmd/containerd/snapshotter.go): the
// tests check the wire contract against containerd's own messages, not
// berth's copy of them.
func dialProxy(sock string) (snapshots.Snapshotter, *ttrpc.Client, error) {
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return nil, nil, err
	}
	c := ttrpc.NewClient(conn)
	return proxy.NewSnapshotter(grpcShape{snapshotsapi.NewTTRPCSnapshotsClient(c)}, "berth"), c, nil
}

// grpcShape gives the ttrpc client the method set of the gRPC one, which
// containerd's proxy snapshotter takes.
type grpcShape struct {
	c snapshotsapi.TTRPCSnapshotsClient
}

func (g grpcShape) Prepare(ctx context.Context, r *snapshotsapi.PrepareSnapshotRequest, _ ...grpc.CallOption) (*snapshotsapi.PrepareSnapshotResponse, error) {
	return g.c.Prepare(ctx, r)
}

func (g grpcShape) View(ctx context.Context, r *snapshotsapi.ViewSnapshotRequest, _ ...grpc.CallOption) (*snapshotsapi.ViewSnapshotResponse, error) {
	return g.c.View(ctx, r)
}

func (g grpcShape) Mounts(ctx context.Context, r *snapshotsapi.MountsRequest, _ ...grpc.CallOption) (*snapshotsapi.MountsResponse, error) {
	return g.c.Mounts(ctx, r)
}

func (g grpcShape) Commit(ctx context.Context, r *snapshotsapi.CommitSnapshotRequest, _ ...grpc.CallOption) (*emptypb.Empty, error) {
	return g.c.Commit(ctx, r)
}

func (g grpcShape) Remove(ctx context.Context, r *snapshotsapi.RemoveSnapshotRequest, _ ...grpc.CallOption) (*emptypb.Empty, error) {
	return g.c.Remove(ctx, r)
}

func (g grpcShape) Stat(ctx context.Context, r *snapshotsapi.StatSnapshotRequest, _ ...grpc.CallOption) (*snapshotsapi.StatSnapshotResponse, error) {
	return g.c.Stat(ctx, r)
}

func (g grpcShape) Update(ctx context.Context, r *snapshotsapi.UpdateSnapshotRequest, _ ...grpc.CallOption) (*snapshotsapi.UpdateSnapshotResponse, error) {
	return g.c.Update(ctx, r)
}

func (g grpcShape) Usage(ctx context.Context, r *snapshotsapi.UsageRequest, _ ...grpc.CallOption) (*snapshotsapi.UsageResponse, error) {
	return g.c.Usage(ctx, r)
}

func (g grpcShape) Cleanup(ctx context.Context, r *snapshotsapi.CleanupRequest, _ ...grpc.CallOption) (*emptypb.Empty, error) {
	return g.c.Cleanup(ctx, r)
}

func (g grpcShape) List(ctx context.Context, r *snapshotsapi.ListSnapshotsRequest, _ ...grpc.CallOption) (snapshotsapi.Snapshots_ListClient, error) {
	s, err := g.c.List(ctx, r)
	if err != nil {
		return nil, err
	}
	return listShape{rx: s}, nil
}

// listShape is the List stream; the proxy only calls Recv (the embedded
// grpc.ClientStream is nil).
type listShape struct {
	grpc.ClientStream
	rx snapshotsapi.TTRPCSnapshots_ListClient
}

func (l listShape) Recv() (*snapshotsapi.ListSnapshotsResponse, error) { return l.rx.Recv() }
