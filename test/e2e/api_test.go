package e2e

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/berthproject/berth/test/harness"
)

// grpcurl runs grpcurl (built by make deps) over a unix socket:
// grpcurl -plaintext -unix ARGS (the socket among ARGS, after the flags).
func grpcurl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, harness.Tool(t, "grpcurl"), append([]string{"-plaintext", "-unix"}, args...)...).CombinedOutput()
	return string(out), err
}

// apiServices are services berthd serves on its socket (at least).
var apiServices = []string{
	"berth.v1.ContainersService", "berth.v1.ImagesService", "berth.v1.NetworksService",
	"berth.v1.SystemService", "berth.v1.VolumesService",
	"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection",
}

// TestAPIReflection: grpcurl, a client that knows nothing of berth's
// .proto files, lists and describes every service through server
// reflection and calls one; with api_reflection off it sees nothing.
func TestAPIReflection(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	out, err := grpcurl(t, s.Socket(), "list")
	if err != nil {
		t.Fatalf("grpcurl list: %v\n%s", err, out)
	}
	listed := strings.Fields(out)
	for _, svc := range apiServices {
		if !slices.Contains(listed, svc) {
			t.Errorf("grpcurl list lacks %s:\n%s", svc, out)
		}
	}
	for _, svc := range listed {
		out, err := grpcurl(t, s.Socket(), "describe", svc)
		if err != nil || !strings.Contains(out, svc+" is a service:") || !strings.Contains(out, "rpc ") {
			t.Errorf("grpcurl describe %s: %v\n%s", svc, err, out)
		}
	}
	// Messages too, with their fields and the well-known types they use.
	out, err = grpcurl(t, s.Socket(), "describe", "berth.v1.ContainerConfig")
	if err != nil || !strings.Contains(out, "repeated string cmd = ") || !strings.Contains(out, "berth.v1.Resources resources = ") {
		t.Errorf("grpcurl describe berth.v1.ContainerConfig: %v\n%s", err, out)
	}
	out, err = grpcurl(t, "-d", "{}", s.Socket(), "berth.v1.SystemService/Version")
	if err != nil || !strings.Contains(out, `"apiVersion": "1.`) {
		t.Errorf("grpcurl SystemService/Version: %v\n%s", err, out)
	}
	out, err = grpcurl(t, s.Socket(), "grpc.health.v1.Health/Check")
	if err != nil || !strings.Contains(out, `"status": "SERVING"`) {
		t.Errorf("grpcurl Health/Check: %v\n%s", err, out)
	}

	off := harness.Start(t, harness.WithDaemonArgs("--api-reflection=false"))
	out, err = grpcurl(t, off.Socket(), "list")
	if err == nil || !strings.Contains(out, "does not support the reflection API") {
		t.Errorf("grpcurl list with api_reflection off: %v\n%s", err, out)
	}
	// The API itself is unchanged.
	if r := off.Berth("version"); r.ExitCode != 0 {
		t.Errorf("berth version with api_reflection off: %+v", r)
	}
}

// TestAPIHealth: the standard health service reports SERVING while berthd
// reaches containerd and berth-snapshotter, NOT_SERVING from the moment
// one of them dies, and SERVING again once berthd has restarted it. A
// Watch call sees each transition.
func TestAPIHealth(t *testing.T) {
	t.Parallel()
	s := harness.Start(t, harness.WithBerthSnapshotter())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	conn, err := grpc.NewClient("unix://"+s.Socket(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	for _, svc := range []string{"", "berth.v1.ContainersService", "berth.v1.SystemService"} {
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("Check(%q): %v %v", svc, resp, err)
		}
	}
	if _, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: "no.such.Service"}); err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Errorf("Check of an unknown service: %v", err)
	}

	watch, err := health.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	statuses := make(chan healthpb.HealthCheckResponse_ServingStatus, 64)
	go func() {
		defer close(statuses)
		for {
			resp, err := watch.Recv()
			if err != nil {
				return
			}
			statuses <- resp.GetStatus()
		}
	}()
	next := func(what string) healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		select {
		case st, ok := <-statuses:
			if !ok {
				t.Fatalf("%s: the Watch stream ended", what)
			}
			return st
		case <-ctx.Done():
			t.Fatalf("%s: no status", what)
		}
		return 0
	}
	if st := next("first status"); st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Watch: first status %v", st)
	}

	s.KillContainerd() // by PID; returns once berthd serves through a new one
	if st := next("after containerd's death"); st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("Watch after containerd was killed: %v, want NOT_SERVING", st)
	}
	if st := next("after containerd's restart"); st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Watch after containerd was restarted: %v, want SERVING", st)
	}
	if resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("Check after containerd's restart: %v %v", resp, err)
	}

	pid := s.SnapshotterPID()
	if pid == 0 {
		t.Fatal("no berth-snapshotter pid")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if st := next("after berth-snapshotter's death"); st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("Watch after berth-snapshotter was killed: %v, want NOT_SERVING", st)
	}
	if st := next("after berth-snapshotter's restart"); st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Watch after berth-snapshotter was restarted: %v, want SERVING", st)
	}
	if np := s.SnapshotterPID(); np == pid {
		t.Errorf("SERVING, but berth-snapshotter's pid file still names the killed %d", pid)
	}

	// At shutdown, watchers hear NOT_SERVING and their call ends: an open
	// Watch does not hold up berthd's stop.
	s.StopDaemon()
	if st := next("at berthd's stop"); st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("Watch at berthd's stop: %v, want NOT_SERVING", st)
	}
	if _, ok := <-statuses; ok {
		t.Error("the Watch stream went on after berthd's stop")
	}
}
