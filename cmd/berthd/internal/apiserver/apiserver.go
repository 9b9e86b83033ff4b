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
	"runtime/debug"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"google.golang.org/grpc"

	"github.com/berthproject/berth/engine"
	"github.com/berthproject/berth/pkg/api"
	"github.com/berthproject/berth/pkg/types/events"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
	"github.com/berthproject/berth/proto/berth/v1/conv"
)

// Events is what the API needs of the engine's event bus (engine/events.Bus).
type Events interface {
	Subscribe(ctx context.Context, f events.Filter) (<-chan events.Message, error)
}

// System is what the API needs of the engine itself (*engine.Engine): the
// contract's daemon-wide noun and a health check.
type System interface {
	api.System
	Ping(ctx context.Context) error
}

// Backend is everything the API serves. A nil member leaves its service
// unregistered (its calls fail with errdefs.ErrNotImplemented).
type Backend struct {
	Containers api.Containers
	Images     api.Images
	Events     Events
	System     System
	// Networks serves NetworksService (engine/network.Service).
	Networks api.Networks
	// Volumes serves VolumesService (engine/volume.Service).
	Volumes api.Volumes
	// Cluster serves ClusterService (engine/cluster.Service).
	Cluster api.Cluster
	// Builds serves BuildsService (engine/build.Service).
	Builds api.Builds
	// Services serves ServicesService (engine/service.Service).
	Services api.Services
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
	b := Backend{Containers: e.Containers(), Images: e.Images(), Events: e.Events(), System: e, Builds: e.Builds()}
	if n := e.Networks(); n != nil {
		b.Networks = n
	}
	if v := e.Volumes(); v != nil {
		b.Volumes = v
	}
	if c := e.Cluster(); c != nil {
		b.Cluster = c
	}
	if sv := e.Services(); sv != nil {
		b.Services = sv
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
		RegisterService(s, &berthv1.NetworksService_ServiceDesc, &networksServer{n: b.Networks})
	}
	if b.Cluster != nil {
		RegisterService(s, &berthv1.ClusterService_ServiceDesc, &clusterServer{c: b.Cluster})
	}
	if b.Volumes != nil {
		RegisterService(s, &berthv1.VolumesService_ServiceDesc, &volumesServer{v: b.Volumes})
	}
	if b.Builds != nil {
		RegisterService(s, &berthv1.BuildsService_ServiceDesc, &buildsServer{b: b.Builds})
	}
	if b.Services != nil {
		RegisterService(s, &berthv1.ServicesService_ServiceDesc, &servicesServer{s: b.Services})
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
