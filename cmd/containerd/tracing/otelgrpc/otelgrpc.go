// Package otelgrpc stands in for OpenTelemetry's gRPC instrumentation in
// berth's containerd, which has no tracing: it is built with no_tracing, so
// no plugin ever sets OpenTelemetry's global tracer provider, meter
// provider or propagator, and a span or a metric the real handlers made
// went to OpenTelemetry's no-op defaults. containerd's server and shim
// clients (and its grpc-otel plugin, which berth's config disables) get
// handlers that do nothing here, as they did nothing there.
package otelgrpc

import (
	"context"

	"google.golang.org/grpc/stats"
)

// Option is an option of a handler.
type Option interface{ unused() }

type handler struct{}

func (handler) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (handler) HandleRPC(context.Context, stats.RPCStats)                         {}
func (handler) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (handler) HandleConn(context.Context, stats.ConnStats)                       {}

// NewClientHandler returns a handler that does nothing.
func NewClientHandler(...Option) stats.Handler { return handler{} }

// NewServerHandler returns a handler that does nothing.
func NewServerHandler(...Option) stats.Handler { return handler{} }
