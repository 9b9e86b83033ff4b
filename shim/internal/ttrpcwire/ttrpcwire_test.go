package ttrpcwire_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	taskv3 "github.com/containerd/containerd/api/runtime/task/v3"
	ttrpcevents "github.com/containerd/containerd/api/services/ttrpc/events/v1"
	"github.com/containerd/ttrpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	tw "github.com/berthproject/berth/shim/internal/taskwire"
	"github.com/berthproject/berth/shim/internal/ttrpcwire"
)

func listen(t *testing.T) (net.Listener, string) {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "tw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "s")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	return l, path
}

// TestServerWithTTRPCClient serves calls to containerd's generated ttrpc
// task client (github.com/containerd/ttrpc): answers, error codes, unknown
// methods, a call that blocks while others go on, and the end of a blocked
// call when the client goes away.
func TestServerWithTTRPCClient(t *testing.T) {
	l, path := listen(t)
	srv := ttrpcwire.NewServer()
	const svc = "containerd.task.v3.Task"
	srv.Register(svc, "Connect", func(ctx context.Context, p []byte) ([]byte, error) {
		var req tw.ConnectRequest
		if err := tw.Unmarshal(p, &req); err != nil {
			return nil, err
		}
		return tw.Marshal(&tw.ConnectResponse{ShimPid: 42, Version: "v-" + req.ID}), nil
	})
	srv.Register(svc, "State", func(ctx context.Context, p []byte) ([]byte, error) {
		return nil, ttrpcwire.Errorf(ttrpcwire.NotFound, "process x: not found")
	})
	waiting, ended := make(chan struct{}), make(chan error, 1)
	srv.Register(svc, "Wait", func(ctx context.Context, p []byte) ([]byte, error) {
		close(waiting)
		<-ctx.Done()
		ended <- ctx.Err()
		return nil, ctx.Err()
	})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background(), l) }()

	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	c := ttrpc.NewClient(conn)
	task := taskv3.NewTTRPCTaskClient(c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	go func() { _, _ = task.Wait(ctx, &taskv3.WaitRequest{ID: "c"}) }()
	<-waiting
	resp, err := task.Connect(ctx, &taskv3.ConnectRequest{ID: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.ShimPid != 42 || resp.Version != "v-c1" {
		t.Errorf("Connect answered %v", resp)
	}
	_, err = task.State(ctx, &taskv3.StateRequest{ID: "c1"})
	if status.Code(err) != codes.NotFound || status.Convert(err).Message() != "process x: not found" {
		t.Errorf("State: %v, want NotFound", err)
	}
	_, err = task.Pids(ctx, &taskv3.PidsRequest{})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("unregistered method: %v, want Unimplemented", err)
	}
	c.Close()
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("blocked call ended with %v", err)
		}
	case <-ctx.Done():
		t.Fatal("blocked call not cancelled when its client went away")
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, ttrpcwire.ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}
}

type events struct {
	got chan *ttrpcevents.ForwardRequest
	err error
}

func (e *events) Forward(ctx context.Context, r *ttrpcevents.ForwardRequest) (*emptypb.Empty, error) {
	e.got <- r
	return &emptypb.Empty{}, e.err
}

// TestClientWithTTRPCServer forwards an event to containerd's ttrpc event
// service served by github.com/containerd/ttrpc.
func TestClientWithTTRPCServer(t *testing.T) {
	l, path := listen(t)
	srv, err := ttrpc.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	ev := &events{got: make(chan *ttrpcevents.ForwardRequest, 2)}
	ttrpcevents.RegisterTTRPCEventsService(srv, ev)
	go func() { _ = srv.Serve(context.Background(), l) }()
	defer srv.Close()

	c, err := ttrpcwire.Dial(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	at := time.Date(2026, 11, 22, 8, 0, 0, 5, time.UTC)
	req := tw.Marshal(&tw.ForwardRequest{Envelope: &tw.Envelope{
		Timestamp: at, Namespace: "ns", Topic: "/tasks/exit",
		Event: tw.MarshalAny(&tw.TaskExit{ContainerID: "c", ExitStatus: 3}),
	}})
	if _, err := c.Call(ctx, tw.EventsService, tw.ForwardMethod, req); err != nil {
		t.Fatal(err)
	}
	got := <-ev.got
	if e := got.Envelope; e.Namespace != "ns" || e.Topic != "/tasks/exit" || !e.Timestamp.AsTime().Equal(at) ||
		e.Event.GetTypeUrl() != "containerd.events.TaskExit" {
		t.Errorf("forwarded %v", got)
	}

	// A refusal comes back as a status with its code.
	ev.err = status.Error(codes.InvalidArgument, "bad event")
	_, err = c.Call(ctx, tw.EventsService, tw.ForwardMethod, req)
	var st *ttrpcwire.Status
	if !errors.As(err, &st) || st.Code != ttrpcwire.InvalidArgument || st.Message != "bad event" {
		t.Errorf("refused call: %v", err)
	}
	<-ev.got
}
