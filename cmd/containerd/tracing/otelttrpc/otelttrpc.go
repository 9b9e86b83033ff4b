// Package otelttrpc stands in for containerd's OpenTelemetry ttrpc
// interceptors in berth's containerd, which has no tracing (see
// cmd/containerd/tracing/otelgrpc): the real ones made spans in
// OpenTelemetry's no-op tracer and injected trace context through its
// no-op propagator. Here they pass each call through.
package otelttrpc

import (
	"context"

	"github.com/containerd/ttrpc"
)

// Option is an option of an interceptor.
type Option interface{ unused() }

// UnaryClientInterceptor passes each call through.
func UnaryClientInterceptor(...Option) ttrpc.UnaryClientInterceptor {
	return func(ctx context.Context, req *ttrpc.Request, resp *ttrpc.Response, _ *ttrpc.UnaryClientInfo, invoker ttrpc.Invoker) error {
		return invoker(ctx, req, resp)
	}
}

// UnaryServerInterceptor passes each call through.
func UnaryServerInterceptor(...Option) ttrpc.UnaryServerInterceptor {
	return func(ctx context.Context, unmarshal ttrpc.Unmarshaler, _ *ttrpc.UnaryServerInfo, method ttrpc.Method) (any, error) {
		return method(ctx, unmarshal)
	}
}
