package apiserver_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/berthproject/berth/cmd/berthd/internal/apiserver"
)

// listen serves a new grpc.Server built with opts and set up by register
// on a unix socket in dir; stop stops it.
func listen(t *testing.T, sock string, register func(*grpc.Server), opts ...grpc.ServerOption) (stop func()) {
	t.Helper()
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(opts...)
	register(s)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(ln)
	}()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			s.Stop()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

func dial(t *testing.T, sock string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func tempDir(t *testing.T) string {
	dir, err := os.MkdirTemp("/tmp", "bapi")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// TestHealth: the health service follows a dependency's own health service
// (as berthd follows containerd's): NOT_SERVING when it goes away, SERVING
// when it is back; Watch sees each transition; Shutdown ends Watch calls.
func TestHealth(t *testing.T) {
	ctx := testCtx(t)
	dir := tempDir(t)
	depSock := filepath.Join(dir, "dep.sock")
	h := apiserver.NewHealth("berth.v1.ContainersService")
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The dependency starts after the watch: a dependency that answers
	// at once could make the watch SERVING before the check below.
	h.WatchDependency(wctx, "dep", depSock, nil)
	if h.Status() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Error("SERVING before the dependency answered")
	}
	stopDep := listen(t, depSock, func(s *grpc.Server) { healthpb.RegisterHealthServer(s, health.NewServer()) })
	if !h.WaitServing(ctx, 20*time.Second) {
		t.Fatalf("not SERVING with the dependency up: %q", h.Down())
	}
	sock := filepath.Join(dir, "api.sock")
	listen(t, sock, func(s *grpc.Server) { h.Register(s) })
	client := healthpb.NewHealthClient(dial(t, sock))

	for _, svc := range []string{"", "berth.v1.ContainersService"} {
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("Check(%q): %v %v", svc, resp, err)
		}
	}
	if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "x.Y"}); status.Code(err) != codes.NotFound {
		t.Errorf("Check of an unknown service: %v", err)
	}
	list, err := client.List(ctx, &healthpb.HealthListRequest{})
	if err != nil || len(list.GetStatuses()) != 2 {
		t.Errorf("List: %v %v", list, err)
	}

	watch, err := client.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	expect := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		resp, err := watch.Recv()
		if err != nil || resp.GetStatus() != want {
			t.Fatalf("Watch: %v %v, want %v", resp, err, want)
		}
	}
	expect(healthpb.HealthCheckResponse_SERVING)
	stopDep()
	expect(healthpb.HealthCheckResponse_NOT_SERVING)
	if down := h.Down(); len(down) != 1 || !strings.HasPrefix(down[0], "dep: ") {
		t.Errorf("Down: %q", down)
	}
	listen(t, depSock, func(s *grpc.Server) { healthpb.RegisterHealthServer(s, health.NewServer()) })
	expect(healthpb.HealthCheckResponse_SERVING)

	h.Shutdown()
	expect(healthpb.HealthCheckResponse_NOT_SERVING)
	if resp, err := watch.Recv(); err == nil {
		t.Errorf("Watch went on after Shutdown: %v", resp)
	}
}

// TestHealthPollsWithoutHealthService: a dependency that does not serve
// grpc.health.v1 (an older berth-snapshotter adopted across an upgrade) is
// polled through its socket instead of being reported down for good.
func TestHealthPollsWithoutHealthService(t *testing.T) {
	ctx := testCtx(t)
	dir := tempDir(t)
	depSock := filepath.Join(dir, "old.sock")
	stop := listen(t, depSock, func(s *grpc.Server) {}) // a gRPC server without health
	h := apiserver.NewHealth()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	h.WatchDependency(wctx, "old", depSock, nil)
	if !h.WaitServing(ctx, 20*time.Second) {
		t.Fatalf("a dependency without a health service stays down: %q", h.Down())
	}
	stop()
	w := make(chan struct{})
	go func() {
		defer close(w)
		for h.Status() == healthpb.HealthCheckResponse_SERVING && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
		}
	}()
	<-w
	if h.Status() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("still SERVING after the dependency went away")
	}
}
