// Package tracing is containerd's pkg/tracing without OpenTelemetry, which
// `make containerd` builds in place of containerd's own (its files are
// replaced in the vendored copy, cmd/containerd/build.sh).
//
// Berth's containerd is built with no_tracing: no plugin ever sets
// OpenTelemetry's tracer provider or propagator, so every span containerd
// started through this package was OpenTelemetry's no-op one, with no
// parent to take a tracer from (nothing extracts trace context from a
// request: the gRPC and ttrpc instrumentation are stubs,
// cmd/containerd/tracing). Here the spans are no-ops without
// OpenTelemetry, whose packages were otherwise linked only for them:
// attributes, the global tracer with its auto-instrumentation SDK, and
// log/slog (0.5 MB of binary, docs/performance.md "Idle daemons").
// UpdateHTTPClient leaves the client's transport as it is, which the
// instrumented transport passed each request to.
//
// Written against containerd v2.3.7's pkg/tracing (tracing.go,
// helpers.go, helpers_spanopts.go, log.go: TestUpstreamUnchanged checks
// that the files it stands in for are still those), with the same exported
// names and signatures, but for the OpenTelemetry types in them, here of
// this package, and the logrus hook of log.go (NewLogrusHook,
// WithTraceIDField), which only containerd's own main uses.
package tracing

import (
	"context"
	"net/http"
	"strings"
)

// StartConfig defines configuration for a new span object.
type StartConfig struct{}

// SpanOpt configures a span.
type SpanOpt func(config *StartConfig)

// WithAttribute would add an attribute to a new span.
func WithAttribute(k string, v any) SpanOpt { return func(*StartConfig) {} }

// WithNamespace would add containerd's namespace to a new span.
func WithNamespace(context.Context) SpanOpt { return func(*StartConfig) {} }

// UpdateHTTPClient leaves client as it is: there is no tracing to add.
func UpdateHTTPClient(*http.Client, string) {}

// StartSpan returns ctx and a span that records nothing.
func StartSpan(ctx context.Context, opName string, opts ...SpanOpt) (context.Context, *Span) {
	return ctx, &Span{}
}

// SpanFromContext returns a span that records nothing.
func SpanFromContext(context.Context) *Span { return &Span{} }

// Span is a span that records nothing.
type Span struct{}

// End does nothing.
func (*Span) End() {}

// AddEvent does nothing.
func (*Span) AddEvent(string, ...KeyValue) {}

// RecordError does nothing.
func (*Span) RecordError(error, ...EventOption) {}

// SetStatus does nothing.
func (*Span) SetStatus(error) {}

// SetAttributes does nothing.
func (*Span) SetAttributes(...KeyValue) {}

// KeyValue is an attribute: empty here.
type KeyValue struct{}

// EventOption is an option of an event: there is none.
type EventOption interface{ unused() }

const spanDelimiter = "."

// Name joins names with dots, as span names are.
func Name(names ...string) string {
	return strings.Join(names, spanDelimiter)
}

// Attribute returns an empty attribute.
func Attribute(string, any) KeyValue { return KeyValue{} }

// HTTPStatusCodeAttributes returns no attributes.
func HTTPStatusCodeAttributes(int) []KeyValue { return nil }
