package shim

import (
	"context"
	"errors"

	"github.com/containerd/errdefs"

	"github.com/berthproject/berth/shim/internal/ttrpcwire"
)

// toStatus turns an errdefs-classed error into a ttrpc (gRPC-coded) status so
// that containerd's errgrpc.ToNative restores the class on the other side.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	var st *ttrpcwire.Status
	if errors.As(err, &st) {
		return st
	}
	code := ttrpcwire.Unknown
	switch {
	case errdefs.IsNotFound(err):
		code = ttrpcwire.NotFound
	case errdefs.IsAlreadyExists(err):
		code = ttrpcwire.AlreadyExists
	case errdefs.IsInvalidArgument(err):
		code = ttrpcwire.InvalidArgument
	case errdefs.IsFailedPrecondition(err):
		code = ttrpcwire.FailedPrecondition
	case errdefs.IsNotImplemented(err):
		code = ttrpcwire.Unimplemented
	case errdefs.IsUnavailable(err):
		code = ttrpcwire.Unavailable
	case errors.Is(err, context.Canceled):
		code = ttrpcwire.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = ttrpcwire.DeadlineExceeded
	}
	return &ttrpcwire.Status{Code: code, Message: err.Error()}
}
