package shim

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	taskv2 "github.com/containerd/containerd/api/runtime/task/v2"
	taskv3 "github.com/containerd/containerd/api/runtime/task/v3"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/reflect/protoreflect"

	tw "github.com/berthproject/berth/shim/internal/taskwire"
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

// TestUnknownRequestFieldsLogged: a request field the shim does not know is
// skipped and, with -debug, named in the shim's log.
func TestUnknownRequestFieldsLogged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	openLog(path)
	debugLog.Store(true)
	t.Cleanup(func() {
		if fd := int(logFD.Swap(0)) - 1; fd >= 0 {
			unix.Close(fd)
		}
		debugLog.Store(false)
	})
	var got *tw.StateRequest
	m := method(func(_ context.Context, req *tw.StateRequest) (*tw.StateResponse, error) {
		got = req
		return &tw.StateResponse{ID: req.ID}, nil
	}, func() {})
	payload := append(tw.Marshal(&tw.StateRequest{ID: "c1"}), 0x38, 0x01) // field 7, varint 1
	if _, err := m(context.Background(), payload); err != nil {
		t.Fatal(err)
	}
	if got == nil || got.ID != "c1" {
		t.Fatalf("the request was not decoded: %+v", got)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if line := string(b); !strings.Contains(line, "level=debug") || !strings.Contains(line, "StateRequest.7") {
		t.Errorf("debug log of an unknown request field: %q", line)
	}
}
