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
)

// Serve serves sn as containerd's Snapshots gRPC service on the unix socket
// address until ctx is done, then stops gracefully. A stale socket file at
// address is replaced. The socket accepts connections only once Serve has
// been called, so a caller that can connect knows recovery is over.
func Serve(ctx context.Context, sn snapshots.Snapshotter, address string) error {
	if err := os.MkdirAll(filepath.Dir(address), 0o711); err != nil {
		return err
	}
	if err := os.Remove(address); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale socket: %w", err)
	}
	l, err := net.Listen("unix", address)
	if err != nil {
		return err
	}
	srv := grpc.NewServer()
	snapshotsapi.RegisterSnapshotsServer(srv, snapshotservice.FromSnapshotter(sn))
	stopped := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			srv.GracefulStop()
		case <-stopped:
		}
	}()
	err = srv.Serve(l)
	close(stopped)
	if ctx.Err() != nil {
		return nil
	}
	return err
}
