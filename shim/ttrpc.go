package shim

import (
	"context"

	taskapi "github.com/containerd/containerd/api/runtime/task/v2"
	"github.com/containerd/ttrpc"
)

// Service names containerd calls. The v2 and v3 task protocols are the same
// messages under two package names (containerd's task/v3/shim.proto differs
// from v2 only in its package line); containerd 2.x speaks v3 to a shim that
// announces version 3 at start, v2 otherwise. The shim serves both with the
// v2 Go types, because the task/v3 Go package also carries gRPC stubs that
// would link gRPC into every shim (binary ×2.5, +170 packages, more memory).
var taskServiceNames = []string{"containerd.task.v3.Task", "containerd.task.v2.Task"}

// method adapts a typed handler to ttrpc, converting errors to statuses.
// after runs when the call returns.
func method[Req any, Resp any](fn func(context.Context, *Req) (Resp, error), after func()) ttrpc.Method {
	return func(ctx context.Context, unmarshal func(any) error) (any, error) {
		req := new(Req)
		if err := unmarshal(req); err != nil {
			return nil, err
		}
		resp, err := fn(ctx, req)
		after()
		if err != nil {
			return nil, toStatus(err)
		}
		return resp, nil
	}
}

// register adds the task service to a ttrpc server under both names.
func register(srv *ttrpc.Server, s *Service) {
	desc := &ttrpc.ServiceDesc{Methods: map[string]ttrpc.Method{
		"State":      method(s.State, s.idle),
		"Create":     method(s.Create, s.idle),
		"Start":      method(s.Start, s.idle),
		"Delete":     method(s.Delete, s.idle),
		"Pids":       method(s.Pids, s.idle),
		"Pause":      method(s.Pause, s.idle),
		"Resume":     method(s.Resume, s.idle),
		"Checkpoint": method(s.Checkpoint, s.idle),
		"Kill":       method(s.Kill, s.idle),
		"Exec":       method(s.Exec, s.idle),
		"ResizePty":  method(s.ResizePty, s.idle),
		"CloseIO":    method(s.CloseIO, s.idle),
		"Update":     method(s.Update, s.idle),
		"Wait":       method(s.Wait, s.idle),
		"Stats":      method(s.Stats, s.idle),
		"Connect":    method(s.Connect, s.idle),
		"Shutdown":   method(s.Shutdown, s.idle),
	}}
	for _, name := range taskServiceNames {
		srv.RegisterService(name, desc)
	}
}

// taskService makes sure Service implements the whole task API.
var _ taskapi.TTRPCTaskService = (*Service)(nil)
