//go:build linux

package snapshotter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/v2/contrib/snapshotservice"
	"github.com/containerd/containerd/v2/core/snapshots"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

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

// Serve serves sn as containerd's Snapshots gRPC service on l until ctx is
// done, then stops gracefully. Callers listen only after New returned, so
// a client that can connect knows recovery is over.
func Serve(ctx context.Context, sn snapshots.Snapshotter, l net.Listener) error {
	srv := grpc.NewServer()
	snapshotsapi.RegisterSnapshotsServer(srv, snapshotservice.FromSnapshotter(sn))
	// berthd's API health follows this one (docs/api.md "Health").
	healthpb.RegisterHealthServer(srv, health.NewServer())
	stopped := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			srv.GracefulStop()
		case <-stopped:
		}
	}()
	err := srv.Serve(l)
	close(stopped)
	if ctx.Err() != nil {
		return nil
	}
	return err
}
