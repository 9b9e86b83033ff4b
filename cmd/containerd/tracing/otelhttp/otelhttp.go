// Package otelhttp stands in for OpenTelemetry's HTTP client
// instrumentation in berth's containerd, which has no tracing (see
// cmd/containerd/tracing/otelgrpc): containerd wraps its registry
// clients' transport (pkg/tracing.UpdateHTTPClient), and the real wrapper
// made spans in OpenTelemetry's no-op tracer. Here it sends each request
// through the transport it wraps.
package otelhttp

import "net/http"

// Option is an option of NewTransport.
type Option interface{ unused() }

type option struct{}

func (option) unused() {}

// WithSpanNameFormatter would name the spans: there are none.
func WithSpanNameFormatter(func(string, *http.Request) string) Option { return option{} }

// Transport sends requests through the transport it wraps.
type Transport struct {
	base http.RoundTripper
}

// NewTransport wraps base (http.DefaultTransport if nil).
func NewTransport(base http.RoundTripper, _ ...Option) *Transport {
	if base == nil {
		base = http.DefaultTransport
	}
	return &Transport{base: base}
}

// RoundTrip sends r through the wrapped transport.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.base.RoundTrip(r)
}
