package shim

import (
	"context"

	tw "github.com/berthproject/berth/shim/internal/taskwire"
	"github.com/berthproject/berth/shim/internal/ttrpcwire"
)

// Service names containerd calls. The v2 and v3 task protocols are the same
// messages under two package names (containerd's task/v3/shim.proto differs
// from v2 only in its package line); containerd 2.x speaks v3 to a shim that
// announces version 3 at start, v2 otherwise. The shim serves both.
var taskServiceNames = []string{"containerd.task.v3.Task", "containerd.task.v2.Task"}

// method adapts a typed handler to ttrpc: it decodes the request, encodes
// the response and converts errors to statuses. after runs when the call
// returns. Fields of the request the shim does not know (a containerd newer
// than the API the shim was written against) are skipped, as protobuf
// requires, and named in the shim's debug log.
func method[Req any, Resp any](fn func(context.Context, *Req) (*Resp, error), after func()) ttrpcwire.Method {
	return func(ctx context.Context, payload []byte) ([]byte, error) {
		req := new(Req)
		unknown, err := tw.UnmarshalUnknown(payload, req)
		if err != nil {
			return nil, ttrpcwire.Errorf(ttrpcwire.InvalidArgument, "%v", err)
		}
		if len(unknown) > 0 {
			debugf("request %T has fields this shim does not know, ignored: %v", req, unknown)
		}
		resp, err := fn(ctx, req)
		after()
		if err != nil {
			return nil, toStatus(err)
		}
		return tw.Marshal(resp), nil
	}
}

// register adds the task service to a ttrpc server under both names.
func register(srv *ttrpcwire.Server, s *Service) {
	for _, name := range taskServiceNames {
		for m, fn := range taskMethods(s) {
			srv.Register(name, m, fn)
		}
	}
}

// taskMethods is the task service's method table. TestTaskMethods checks it
// against the methods of containerd's task service descriptor.
func taskMethods(s *Service) map[string]ttrpcwire.Method {
	return map[string]ttrpcwire.Method{
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
	}
}
