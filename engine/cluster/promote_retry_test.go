package cluster

import (
	"errors"
	"fmt"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// A learner's promotion is retried through a busy cluster's timeouts (the
// etcd client's form of them, and the gRPC status the server sends), not
// through an error that will not go away.
func TestPromoteRetriesUnavailable(t *testing.T) {
	for _, err := range []error{
		rpctypes.Error(rpctypes.ErrGRPCTimeoutWaitAppliedIndex),
		rpctypes.ErrGRPCTimeout,
		fmt.Errorf("wrapped: %w", rpctypes.Error(rpctypes.ErrGRPCTimeout)),
	} {
		if !unavailable(err) {
			t.Errorf("%v (%T): not retried", err, err)
		}
	}
	for _, err := range []error{rpctypes.ErrMemberNotFound, rpctypes.ErrGRPCPermissionDenied, errors.New("other")} {
		if unavailable(err) {
			t.Errorf("%v (%T): retried", err, err)
		}
	}
}
