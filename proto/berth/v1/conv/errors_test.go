package conv

import (
	"errors"
	"fmt"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"

	"github.com/berthproject/berth/pkg/types/image"
	"github.com/berthproject/berth/pkg/types/system"
)

// TestUnavailableCrossesTyped: an Unavailable error berthd answers with
// (containerd down while berthd restarts it) reaches the client as a
// *system.BackendUnavailableError, also when it came as containerd's own
// gRPC status; a registry's stays a registry's; an Unavailable error the
// client makes itself (berthd not reachable) is neither.
func TestUnavailableCrossesTyped(t *testing.T) {
	refused := errdefs.ErrUnavailable.WithMessage("connection error: desc = \"transport: Error while dialing: dial unix /run/berth/containerd/containerd.sock: connect: connection refused\"")
	for _, err := range []error{
		fmt.Errorf("mounting the container's filesystem: %w", refused),
		errgrpc.ToGRPC(refused), // a nested call's status, passed on as it is
	} {
		got := ErrorFromGRPC(ErrorToGRPC(err))
		var be *system.BackendUnavailableError
		if !errors.As(got, &be) || !errdefs.IsUnavailable(got) || got.Error() != errgrpc.ToNative(err).Error() {
			t.Errorf("%v: came back as %T %v", err, got, got)
		}
	}
	reg := &image.RegistryUnreachableError{Host: "example.test", Err: fmt.Errorf("dial tcp: %w", errdefs.ErrUnavailable)}
	got := ErrorFromGRPC(ErrorToGRPC(reg))
	var be *system.BackendUnavailableError
	var ru *image.RegistryUnreachableError
	if errors.As(got, &be) || !errors.As(got, &ru) {
		t.Errorf("an unreachable registry came back as %T %v", got, got)
	}
	if got := ErrorFromGRPC(errgrpc.ToGRPC(refused)); errors.As(got, &be) {
		t.Errorf("an Unavailable status not made by berthd's server is typed as berthd's answer: %v", got)
	}
	// The snapshotter being restarted crosses as such.
	snap := &system.BackendUnavailableError{Backend: system.BackendSnapshotter, Err: fmt.Errorf("pull x: %w", errdefs.ErrUnavailable)}
	got = ErrorFromGRPC(ErrorToGRPC(snap))
	if !errors.As(got, &be) || be.Backend != system.BackendSnapshotter || !errdefs.IsUnavailable(got) {
		t.Errorf("berth-snapshotter unavailable came back as %T %+v", got, got)
	}
	// containerd's error of its connection to the snapshotter (a build
	// step's or a run's snapshot while the snapshotter restarts) names
	// the snapshotter, not containerd.
	viaContainerd := errdefs.ErrUnavailable.WithMessage("failed to prepare extraction snapshot: connection error: desc = \"transport: Error while dialing: dial unix /run/berth/snapshotter.sock: connect: connection refused\"")
	for _, err := range []error{fmt.Errorf("run: %w", viaContainerd), errgrpc.ToGRPC(viaContainerd)} {
		got = ErrorFromGRPC(ErrorToGRPC(err))
		if !errors.As(got, &be) || be.Backend != system.BackendSnapshotter || !errdefs.IsUnavailable(got) {
			t.Errorf("%v: came back as %T %+v, want berth-snapshotter named", err, got, got)
		}
	}
}
