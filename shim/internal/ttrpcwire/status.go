// Package ttrpcwire is a small ttrpc server and client written against
// ttrpc's wire format (github.com/containerd/ttrpc v1.2: channel.go,
// request.proto), for berth's shim: unary calls only, no gRPC status
// package, no protobuf registry.
//
// A message is a 10-byte header (uint32 length, uint32 stream id, both big
// endian; a type byte: 1 request, 2 response, 3 data; a flags byte) and a
// protobuf payload. A request carries ttrpc.Request {service, method,
// payload, timeout_nano, metadata}; its response ttrpc.Response {status
// (google.rpc.Status), payload} on the same (odd, client-chosen) stream id.
package ttrpcwire

import "fmt"

// Code is a gRPC status code (google.golang.org/grpc/codes).
type Code int32

// The codes the shim uses.
const (
	OK                 Code = 0
	Canceled           Code = 1
	Unknown            Code = 2
	InvalidArgument    Code = 3
	DeadlineExceeded   Code = 4
	NotFound           Code = 5
	AlreadyExists      Code = 6
	FailedPrecondition Code = 9
	Unimplemented      Code = 12
	Internal           Code = 13
	Unavailable        Code = 14
	ResourceExhausted  Code = 8
)

// Status is google.rpc.Status, and the error a call returns when the other
// side answered with a non-OK status.
type Status struct {
	Code    Code   `pb:"1"`
	Message string `pb:"2"`
}

func (s *Status) Error() string {
	return fmt.Sprintf("rpc error: code = %d desc = %s", s.Code, s.Message)
}

// Errorf makes a status error.
func Errorf(c Code, format string, args ...any) error {
	return &Status{Code: c, Message: fmt.Sprintf(format, args...)}
}

// request is ttrpc.Request.
type request struct {
	Service     string      `pb:"1"`
	Method      string      `pb:"2"`
	Payload     []byte      `pb:"3"`
	TimeoutNano int64       `pb:"4"`
	Metadata    []*keyValue `pb:"5"`
}

type keyValue struct {
	Key   string `pb:"1"`
	Value string `pb:"2"`
}

// response is ttrpc.Response.
type response struct {
	Status  *Status `pb:"1"`
	Payload []byte  `pb:"2"`
}
