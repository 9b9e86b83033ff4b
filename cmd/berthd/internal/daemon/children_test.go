package daemon

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/berthproject/berth/snapshotter"
)

// A berth-snapshotter left running by an older berth serves gRPC, which
// berth's containerd no longer speaks to it: berthd must not adopt it
// (snapshotterSpec's Outdated). The current one answers over ttrpc.
func TestSnapshotterAnswersOnlyOverTTRPC(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root (the snapshotter's overlayfs checks)")
	}
	dir, err := os.MkdirTemp("/tmp", "bts")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// An older berth-snapshotter: a gRPC server on the socket.
	old := filepath.Join(dir, "old.sock")
	l, err := net.Listen("unix", old)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(l) }()
	defer srv.Stop()
	actx, acancel := context.WithTimeout(ctx, 2*time.Second)
	if err := snapshotterAnswers(actx, old); err == nil {
		t.Error("a gRPC server passes as berth-snapshotter")
	}
	acancel()

	sn, err := snapshotter.New(ctx, filepath.Join(dir, "root"))
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Close()
	cur := filepath.Join(dir, "cur.sock")
	cl, err := snapshotter.Listen(cur)
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- snapshotter.Serve(sctx, sn, cl) }()
	if err := snapshotterAnswers(ctx, cur); err != nil {
		t.Errorf("berth-snapshotter does not answer: %v", err)
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}
