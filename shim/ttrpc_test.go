package shim

import (
	"slices"
	"testing"

	taskv2 "github.com/containerd/containerd/api/runtime/task/v2"
	taskv3 "github.com/containerd/containerd/api/runtime/task/v3"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// TestTaskMethods walks containerd's task service descriptors (v3 and v2,
// from the containerd/api in go.mod) and fails when the shim's hand-written
// method table lacks a method: a method containerd adds would otherwise
// answer Unimplemented at runtime, found by nobody on a go.mod bump. The
// messages of each method are checked by taskwire's TestTaskMessages.
func TestTaskMethods(t *testing.T) {
	ours := taskMethods(&Service{})
	for _, fd := range []protoreflect.FileDescriptor{taskv3.File_runtime_task_v3_shim_proto, taskv2.File_runtime_task_v2_shim_proto} {
		svc := fd.Services().ByName("Task")
		if svc == nil {
			t.Fatalf("%s has no Task service", fd.Path())
		}
		if !slices.Contains(taskServiceNames, string(svc.FullName())) {
			t.Errorf("the shim does not serve %s", svc.FullName())
		}
		theirs := map[string]bool{}
		for i := range svc.Methods().Len() {
			m := svc.Methods().Get(i)
			theirs[string(m.Name())] = true
			if _, ok := ours[string(m.Name())]; !ok {
				t.Errorf("%s.%s(%s) returns (%s): the shim's method table (shim/ttrpc.go: taskMethods) lacks it",
					svc.FullName(), m.Name(), m.Input().FullName(), m.Output().FullName())
			}
			if m.IsStreamingClient() || m.IsStreamingServer() {
				t.Errorf("%s.%s streams: the shim's ttrpc is unary only", svc.FullName(), m.Name())
			}
		}
		for name := range ours {
			if !theirs[name] {
				t.Errorf("the shim serves %s.%s, which containerd's descriptor does not have", svc.FullName(), name)
			}
		}
	}
}
