package shim

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	tw "github.com/berthproject/berth/shim/internal/taskwire"
)

// TestCreateAfterDeleteRefused: containerd gives up on a task create whose
// caller went away and cleans up with Delete then Shutdown; under load its
// Delete can take the shim's lock before the create's own request does.
// The create must then make nothing, and the Shutdown end the shim: else
// the shim serves a container nobody will delete (TestLifecycleStress
// left such shims when the machine was loaded).
func TestCreateAfterDeleteRefused(t *testing.T) {
	const id = "abandoned"
	var ended atomic.Bool
	s, err := newService("ns", id, t.TempDir(), nil, func() { ended.Store(true) })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Delete(ctx, &tw.DeleteRequest{ID: id}); !errdefs.IsNotFound(err) {
		t.Fatalf("delete before create: %v, want not found", err)
	}
	if _, err := s.Create(ctx, &tw.CreateTaskRequest{ID: id, Bundle: s.bundle}); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("create after its delete: %v, want refused (failed precondition)", err)
	}
	if s.init != nil {
		t.Fatal("a create after its delete made a task")
	}
	if _, err := s.Shutdown(ctx, &tw.ShutdownRequest{ID: id}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !ended.Load(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the shim did not end after the Shutdown")
		}
	}
}
