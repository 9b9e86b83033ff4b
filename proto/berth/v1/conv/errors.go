package conv

import (
	"errors"
	"strconv"

	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/image"
	"github.com/berthproject/berth/pkg/types/system"
)

// ErrorDomain is the ErrorInfo domain of berth's own status details.
const ErrorDomain = "berth.dev"

// Reasons of berth's ErrorInfo status details.
const (
	// ReasonStartError marks a *container.StartError; metadata exit_code
	// holds its exit code (126 or 127).
	ReasonStartError = "BERTH_START_ERROR"
	// ReasonConflict marks errdefs.ErrConflict, which gRPC codes fold into
	// FailedPrecondition.
	ReasonConflict = "BERTH_CONFLICT"
	// ReasonNotModified marks errdefs.ErrNotModified (also FailedPrecondition).
	ReasonNotModified = "BERTH_NOT_MODIFIED"
	// ReasonNoSuchImage marks an *image.NotFoundError; metadata ref holds
	// the reference that named no image.
	ReasonNoSuchImage = "BERTH_NO_SUCH_IMAGE"
	// ReasonRegistryUnreachable marks an *image.RegistryUnreachableError;
	// metadata host holds the registry.
	ReasonRegistryUnreachable = "BERTH_REGISTRY_UNREACHABLE"
	// ReasonBackendUnavailable marks an Unavailable error that berthd
	// answered with (a *system.BackendUnavailableError): berthd runs, a
	// daemon behind it (containerd) did not answer; metadata backend names
	// it when it is not containerd (berth-snapshotter).
	ReasonBackendUnavailable = "BERTH_BACKEND_UNAVAILABLE"
)

// ErrorToGRPC converts an engine error to a gRPC status error: the errdefs
// class becomes the status code, the message is kept as it is, and what a
// code cannot say (conflict vs. failed precondition, a StartError's exit
// code) rides along as an ErrorInfo detail.
func ErrorToGRPC(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(interface{ GRPCStatus() *status.Status }); ok && !errdefs.IsUnavailable(errgrpc.ToNative(err)) {
		return err // already a status (e.g. from a nested gRPC call)
	}
	st, _ := status.FromError(errgrpc.ToGRPC(err))
	var infos []*errdetails.ErrorInfo
	var ru *image.RegistryUnreachableError
	if errors.As(err, &ru) {
		infos = append(infos, &errdetails.ErrorInfo{Domain: ErrorDomain, Reason: ReasonRegistryUnreachable, Metadata: map[string]string{"host": ru.Host}})
	} else if st.Code() == codes.Unavailable {
		// berthd answers: what was unavailable is behind it.
		info := &errdetails.ErrorInfo{Domain: ErrorDomain, Reason: ReasonBackendUnavailable}
		var be *system.BackendUnavailableError
		backend := system.BackendNamed(err)
		if errors.As(err, &be) && be.Backend != "" {
			backend = be.Backend
		}
		if backend != "" {
			info.Metadata = map[string]string{"backend": backend}
		}
		infos = append(infos, info)
	}
	switch {
	case errdefs.IsConflict(err):
		infos = append(infos, &errdetails.ErrorInfo{Domain: ErrorDomain, Reason: ReasonConflict})
	case errdefs.IsNotModified(err):
		infos = append(infos, &errdetails.ErrorInfo{Domain: ErrorDomain, Reason: ReasonNotModified})
	}
	var se *container.StartError
	if errors.As(err, &se) {
		infos = append(infos, &errdetails.ErrorInfo{
			Domain:   ErrorDomain,
			Reason:   ReasonStartError,
			Metadata: map[string]string{"exit_code": strconv.Itoa(se.ExitCode)},
		})
	}
	var nf *image.NotFoundError
	if errors.As(err, &nf) {
		infos = append(infos, &errdetails.ErrorInfo{Domain: ErrorDomain, Reason: ReasonNoSuchImage, Metadata: map[string]string{"ref": nf.Ref}})
	}
	if len(infos) == 0 {
		return st.Err()
	}
	p := st.Proto()
	for _, info := range infos {
		a, aerr := anypb.New(info)
		if aerr != nil {
			continue
		}
		p.Details = append(p.Details, a)
	}
	return status.ErrorProto(p)
}

// ErrorFromGRPC converts an error returned by a berth API call back to an
// engine error: the errdefs class (errors.Is(err, errdefs.ErrNotFound)),
// the server's message (err.Error() is exactly what the engine said), and
// a *container.StartError when the server sent one.
func ErrorFromGRPC(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	p := st.Proto()
	var (
		reasons  = map[string]*errdetails.ErrorInfo{}
		rest     []*anypb.Any
		startErr bool
	)
	for _, a := range p.GetDetails() {
		info := &errdetails.ErrorInfo{}
		if a.MessageIs(info) && a.UnmarshalTo(info) == nil && info.GetDomain() == ErrorDomain {
			reasons[info.GetReason()] = info
			continue
		}
		rest = append(rest, a)
	}
	p.Details = rest
	native := errgrpc.ToNative(status.ErrorProto(p))
	msg := p.GetMessage()
	switch {
	case reasons[ReasonConflict] != nil && !errdefs.IsConflict(native):
		native = errdefs.ErrConflict.WithMessage(msg)
	case reasons[ReasonNotModified] != nil && !errdefs.IsNotModified(native):
		native = errdefs.ErrNotModified.WithMessage(msg)
	}
	if info := reasons[ReasonNoSuchImage]; info != nil {
		native = &image.NotFoundError{Ref: info.GetMetadata()["ref"], Err: native}
	}
	if info := reasons[ReasonRegistryUnreachable]; info != nil {
		native = &image.RegistryUnreachableError{Host: info.GetMetadata()["host"], Err: native}
	}
	if info := reasons[ReasonBackendUnavailable]; info != nil {
		native = &system.BackendUnavailableError{Backend: info.GetMetadata()["backend"], Err: native}
	}
	if info := reasons[ReasonStartError]; info != nil {
		code, _ := strconv.Atoi(info.GetMetadata()["exit_code"])
		native = &container.StartError{ExitCode: code, Err: native}
		startErr = true
	}
	_ = startErr
	return native
}
