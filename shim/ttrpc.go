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
func method[Req any, Resp any](fn func(context.Context, *Req) (Resp, error)) ttrpc.Method {
	return func(ctx context.Context, unmarshal func(any) error) (any, error) {
		req := new(Req)
		if err := unmarshal(req); err != nil {
			return nil, err
		}
		resp, err := fn(ctx, req)
		if err != nil {
			return nil, toStatus(err)
		}
		return resp, nil
	}
}

// register adds the task service to a ttrpc server under both names.
func register(srv *ttrpc.Server, s *Service) {
	desc := &ttrpc.ServiceDesc{Methods: map[string]ttrpc.Method{
		"State":      method(s.State),
		"Create":     method(s.Create),
		"Start":      method(s.Start),
		"Delete":     method(s.Delete),
		"Pids":       method(s.Pids),
		"Pause":      method(s.Pause),
		"Resume":     method(s.Resume),
		"Checkpoint": method(s.Checkpoint),
		"Kill":       method(s.Kill),
		"Exec":       method(s.Exec),
		"ResizePty":  method(s.ResizePty),
		"CloseIO":    method(s.CloseIO),
		"Update":     method(s.Update),
		"Wait":       method(s.Wait),
		"Stats":      method(s.Stats),
		"Connect":    method(s.Connect),
		"Shutdown":   method(s.Shutdown),
	}}
	for _, name := range taskServiceNames {
		srv.RegisterService(name, desc)
	}
}

// taskService makes sure Service implements the whole task API.
var _ taskapi.TTRPCTaskService = (*Service)(nil)
