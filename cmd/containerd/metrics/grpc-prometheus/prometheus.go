// Package prometheus stands in for go-grpc-middleware's Prometheus
// interceptors in berth's containerd: its grpc-prometheus plugin (which
// berth's config disables) would count every gRPC call into a registry
// nothing in berth's containerd reads (see
// cmd/containerd/metrics/client_golang/prometheus). Here the interceptors
// pass each call through and count nothing.
package prometheus

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

// ServerMetrics would be the gRPC server's metrics.
type ServerMetrics struct{}

// ServerMetricsOption is an option of NewServerMetrics.
type ServerMetricsOption func()

// HistogramOption is an option of a histogram.
type HistogramOption func()

// Option is an option of an interceptor.
type Option func()

// NewServerMetrics returns metrics that count nothing.
func NewServerMetrics(...ServerMetricsOption) *ServerMetrics { return &ServerMetrics{} }

// WithServerHandlingTimeHistogram would time each call.
func WithServerHandlingTimeHistogram(...HistogramOption) ServerMetricsOption { return func() {} }

// Describe describes no metric.
func (*ServerMetrics) Describe(chan<- *prometheus.Desc) {}

// Collect collects no metric.
func (*ServerMetrics) Collect(chan<- prometheus.Metric) {}

// InitializeMetrics does nothing: there are no metrics.
func (*ServerMetrics) InitializeMetrics(interface {
	GetServiceInfo() map[string]grpc.ServiceInfo
}) {
}

// UnaryServerInterceptor passes each call through.
func (*ServerMetrics) UnaryServerInterceptor(...Option) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		return handler(ctx, req)
	}
}

// StreamServerInterceptor passes each stream through.
func (*ServerMetrics) StreamServerInterceptor(...Option) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return handler(srv, ss)
	}
}
