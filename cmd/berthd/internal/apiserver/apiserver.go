// Package apiserver serves berth's gRPC API (proto/berth/v1) over the
// engine: each handler turns one request into one engine call and the
// result back into a response. It does not listen: berthd creates the
// socket and the grpc.Server and calls Register.
//
// Every error leaving a handler is converted to a gRPC status carrying its
// errdefs class and message (conv.ErrorToGRPC). The conversion is wired
// into the service descriptors RegisterServices installs, not into each
// handler, so no handler can forget it and it works whatever interceptors
// the server was built with. A panicking handler fails its call with
// errdefs.ErrInternal instead of taking the daemon down.
package apiserver

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"google.golang.org/grpc"

	"github.com/berthproject/berth/engine"
	containertypes "github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/events"
	imagetypes "github.com/berthproject/berth/pkg/types/image"
	"github.com/berthproject/berth/pkg/types/system"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
	"github.com/berthproject/berth/proto/berth/v1/conv"
)

// Containers is what the API needs of the engine's container service
// (*container.Service); the contracts are in engine/container/api.go.
type Containers interface {
	Create(ctx context.Context, cfg containertypes.Config) (id string, warnings []string, err error)
	Start(ctx context.Context, id string) error
	Stop(ctx context.Context, id string, opts containertypes.StopOptions) error
	Restart(ctx context.Context, id string, opts containertypes.StopOptions) error
	Kill(ctx context.Context, id, signal string) error
	Pause(ctx context.Context, id string) error
	Unpause(ctx context.Context, id string) error
	Remove(ctx context.Context, id string, opts containertypes.RemoveOptions) error
	List(ctx context.Context, opts containertypes.ListOptions) ([]containertypes.Summary, error)
	Inspect(ctx context.Context, id string) (*containertypes.Container, error)
	Rename(ctx context.Context, id, newName string) error
	Wait(ctx context.Context, id string, cond containertypes.WaitCondition) (<-chan containertypes.ExitStatus, error)
	Logs(ctx context.Context, id string, opts containertypes.LogOptions, fn func(containertypes.LogEntry) error) error
	Attach(ctx context.Context, id string, opts containertypes.AttachOptions) error
	Resize(ctx context.Context, id string, size containertypes.WindowSize) error
	ExecCreate(ctx context.Context, id string, cfg containertypes.ExecConfig) (string, error)
	ExecStart(ctx context.Context, execID string, streams containertypes.Streams) (int, error)
	ExecResize(ctx context.Context, execID string, size containertypes.WindowSize) error
	ExecInspect(ctx context.Context, execID string) (*containertypes.ExecInspect, error)
	Top(ctx context.Context, id, psArgs string) (*containertypes.TopResult, error)
}

// Images is what the API needs of the engine's image service (*image.Service).
type Images interface {
	Import(ctx context.Context, r io.Reader, opts imagetypes.ImportOptions) (*imagetypes.Image, error)
	Load(ctx context.Context, r io.Reader, progress func(string)) ([]imagetypes.Image, error)
	Save(ctx context.Context, w io.Writer, refs []string) error
	Tag(ctx context.Context, source, target string) error
	Remove(ctx context.Context, refs []string, opts imagetypes.RemoveOptions) ([]imagetypes.DeleteResponse, error)
	List(ctx context.Context, opts imagetypes.ListOptions) ([]imagetypes.Summary, error)
	Inspect(ctx context.Context, ref string) (*imagetypes.Image, error)
}

// Events is what the API needs of the engine's event bus (engine/events.Bus).
type Events interface {
	Subscribe(ctx context.Context, f events.Filter) (<-chan events.Message, error)
}

// System is what the API needs of the engine itself (*engine.Engine).
type System interface {
	Ping(ctx context.Context) error
	Info(ctx context.Context) (*system.Info, error)
	Version(ctx context.Context) (*system.Version, error)
}

// Backend is everything the API serves. A nil member leaves its service
// unregistered (its calls fail with errdefs.ErrNotImplemented).
type Backend struct {
	Containers Containers
	Images     Images
	Events     Events
	System     System
	// Networks serves NetworksService; NetworkConnector (optional) its
	// Connect/Disconnect, NetworkEvents (optional) gets its create/destroy events.
	Networks         Networks
	NetworkConnector NetworkConnector
	NetworkEvents    Publisher
	// Volumes serves VolumesService.
	Volumes Volumes
}

// DaemonInfo is what berthd knows about itself that the engine does not.
// Empty fields leave the engine's values.
type DaemonInfo struct {
	// Version of berthd (`berth version`'s server version).
	Version string
	// GitCommit berthd was built from.
	GitCommit string
}

// Register serves the engine e on s.
func Register(s grpc.ServiceRegistrar, e *engine.Engine, info DaemonInfo) {
	b := Backend{Containers: e.Containers(), Images: e.Images(), Events: e.Events(), System: e}
	if n := e.Networks(); n != nil {
		b.Networks, b.NetworkConnector, b.NetworkEvents = n, e.Containers(), e.Events()
	}
	if v := e.Volumes(); v != nil {
		b.Volumes = v
	}
	RegisterServices(s, b, info)
}

// RegisterServices serves b on s: ContainersService, ImagesService,
// SystemService and, when b.Networks is set, NetworksService (berth.v1).
func RegisterServices(s grpc.ServiceRegistrar, b Backend, info DaemonInfo) {
	if b.Containers != nil {
		RegisterService(s, &berthv1.ContainersService_ServiceDesc, &containersServer{c: b.Containers})
	}
	if b.Images != nil {
		RegisterService(s, &berthv1.ImagesService_ServiceDesc, &imagesServer{i: b.Images})
	}
	if b.System != nil || b.Events != nil {
		RegisterService(s, &berthv1.SystemService_ServiceDesc, &systemServer{sys: b.System, events: b.Events, info: info})
	}
	if b.Networks != nil {
		RegisterService(s, &berthv1.NetworksService_ServiceDesc, &networksServer{n: b.Networks, connect: b.NetworkConnector, events: b.NetworkEvents})
	}
	if b.Volumes != nil {
		RegisterService(s, &berthv1.VolumesService_ServiceDesc, &volumesServer{v: b.Volumes})
	}
}

// RegisterService registers impl for desc on s with the same error
// conversion as berth's own services: for services added next to them
// (networks, volumes) so they need not repeat it.
func RegisterService(s grpc.ServiceRegistrar, desc *grpc.ServiceDesc, impl any) {
	s.RegisterService(typedErrors(desc), impl)
}

// UnaryErrorInterceptor converts errors as RegisterService does, for a
// server whose services are registered some other way.
func UnaryErrorInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer recoverCall(ctx, info.FullMethod, &err)
	resp, err = handler(ctx, req)
	return resp, conv.ErrorToGRPC(err)
}

// StreamErrorInterceptor is UnaryErrorInterceptor for streams.
func StreamErrorInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer recoverCall(ss.Context(), info.FullMethod, &err)
	return conv.ErrorToGRPC(handler(srv, ss))
}

// typedErrors returns a copy of desc whose handlers convert every returned
// error (and a panic) to a typed gRPC status.
func typedErrors(desc *grpc.ServiceDesc) *grpc.ServiceDesc {
	d := *desc
	d.Methods = make([]grpc.MethodDesc, len(desc.Methods))
	for i, m := range desc.Methods {
		h := m.Handler
		name := "/" + desc.ServiceName + "/" + m.MethodName
		d.Methods[i] = grpc.MethodDesc{
			MethodName: m.MethodName,
			Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (resp any, err error) {
				defer recoverCall(ctx, name, &err)
				resp, err = h(srv, ctx, dec, interceptor)
				return resp, conv.ErrorToGRPC(err)
			},
		}
	}
	d.Streams = make([]grpc.StreamDesc, len(desc.Streams))
	for i, st := range desc.Streams {
		h := st.Handler
		name := "/" + desc.ServiceName + "/" + st.StreamName
		d.Streams[i] = st
		d.Streams[i].Handler = func(srv any, stream grpc.ServerStream) (err error) {
			defer recoverCall(stream.Context(), name, &err)
			return conv.ErrorToGRPC(h(srv, stream))
		}
	}
	return &d
}

func recoverCall(ctx context.Context, method string, err *error) {
	if r := recover(); r != nil {
		log.G(ctx).WithField("method", method).Errorf("panic in API handler: %v\n%s", r, debug.Stack())
		*err = conv.ErrorToGRPC(fmt.Errorf("%s: internal error: %v: %w", method, r, errdefs.ErrInternal))
	}
}

// invalid is an errdefs.ErrInvalidArgument for a malformed request.
func invalid(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, errdefs.ErrInvalidArgument)...)
}
