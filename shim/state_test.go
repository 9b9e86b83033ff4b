package shim_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
)

// gatedRunc is a runc that stops before each command named in gates until
// the test opens that gate: runc taking as long as the test wants, as it
// takes seconds on a slow machine (the cgroup v2 VM under emulation).
type gatedRunc struct {
	dir, bin string
}

func newGatedRunc(t *testing.T, gates ...string) *gatedRunc {
	t.Helper()
	g := &gatedRunc{dir: t.TempDir()}
	g.bin = filepath.Join(g.dir, "runc")
	script := "#!/bin/sh\nfor a; do\n  case $a in\n"
	for _, cmd := range gates {
		script += fmt.Sprintf("  %s) touch %s/%s.entered; while [ ! -e %s/%s.open ]; do sleep 0.02; done;;\n",
			cmd, g.dir, cmd, g.dir, cmd)
	}
	script += fmt.Sprintf("  esac\ndone\nexec %s \"$@\"\n", filepath.Join(runcDir, "runc"))
	if err := os.WriteFile(g.bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	// Whatever the test's end, no runc waits for ever.
	t.Cleanup(func() {
		for _, cmd := range gates {
			g.open(t, cmd)
		}
	})
	return g
}

// waitEntered waits until runc stopped at gate cmd.
func (g *gatedRunc) waitEntered(t *testing.T, ctx context.Context, cmd string) {
	t.Helper()
	eventually(t, ctx, "runc "+cmd+" to start", func() bool {
		_, err := os.Stat(filepath.Join(g.dir, cmd+".entered"))
		return err == nil
	})
}

func (g *gatedRunc) open(t *testing.T, cmd string) {
	if err := os.WriteFile(filepath.Join(g.dir, cmd+".open"), nil, 0o644); err != nil {
		t.Error(err)
	}
}

// TestStateDuringSlowRunc: the task's state answers at once while runc
// create or start is still running. containerd gives the shim's State two
// seconds and then fails the Get: a State that waited for runc failed every
// `berth inspect` and `ps` of a container being (re)started on a slow
// machine ("context deadline exceeded", the cgroup v2 VM's
// TestCLI/RestartOnFailure).
func TestStateDuringSlowRunc(t *testing.T) {
	ctx := ctxT(t)
	const id = "slowrunc"
	g := newGatedRunc(t, "create", "start")
	c := newContainerRunc(t, ctx, id, g.bin, withArgs("sleep", "1000"))
	get := func() (*tasks.GetResponse, error) {
		resp, err := st.client.TaskService().Get(ctx, &tasks.GetRequest{ContainerID: id})
		return resp, errgrpc.ToNative(err)
	}

	type created struct {
		task client.Task
		err  error
	}
	createDone := make(chan created, 1)
	go func() {
		task, err := c.NewTask(ctx, cio.NullIO)
		createDone <- created{task, err}
	}()
	g.waitEntered(t, ctx, "create")
	if _, err := get(); !errdefs.IsNotFound(err) {
		t.Errorf("task state while runc create runs: %v, want not found (no task yet)", err)
	}
	g.open(t, "create")
	cr := <-createDone
	if cr.err != nil {
		t.Fatal(cr.err)
	}

	startDone := make(chan error, 1)
	go func() { startDone <- cr.task.Start(ctx) }()
	g.waitEntered(t, ctx, "start")
	if resp, err := get(); err != nil || resp.Process.Status.String() != "CREATED" {
		t.Errorf("task state while runc start runs: %v %v, want CREATED", resp, err)
	}
	g.open(t, "start")
	if err := <-startDone; err != nil {
		t.Fatal(err)
	}
	if s, err := cr.task.Status(ctx); err != nil || s.Status != client.Running {
		t.Fatalf("after start: %v %v", s.Status, err)
	}
}
