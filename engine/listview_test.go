package engine_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/berthproject/berth/engine"
	containertypes "github.com/berthproject/berth/pkg/types/container"
)

// listed returns the container as List (ps -a) shows it, nil if absent.
func listed(t *testing.T, e *engine.Engine, id string) *containertypes.Summary {
	t.Helper()
	list, err := e.Containers().List(context.Background(), containertypes.ListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range list {
		if list[i].ID == id {
			return &list[i]
		}
	}
	return nil
}

// wantListed checks what List and Inspect show of a container right after a change:
// no waiting, a ps must never show what was before a change berth made.
func wantListed(t *testing.T, e *engine.Engine, id, after, name, state string, exitCode int) {
	t.Helper()
	s := listed(t, e, id)
	switch {
	case s == nil:
		t.Fatalf("after %s: %s is not listed", after, id)
	case s.Names[0] != "/"+name || s.State != state || (state == containertypes.StatusExited && s.ExitCode != exitCode):
		t.Fatalf("after %s: listed as %s %s (exit %d), want %s %s (exit %d)", after, s.Names[0], s.State, s.ExitCode, name, state, exitCode)
	}
	// Inspect answers from the same view.
	ci := inspect(t, e, id)
	if ci.Name != "/"+name || ci.State.Status != state || (state == containertypes.StatusExited && ci.State.ExitCode != exitCode) {
		t.Fatalf("after %s: inspect says %s %s (exit %d), want %s %s (exit %d)", after, ci.Name, ci.State.Status, ci.State.ExitCode, name, state, exitCode)
	}
	if state == containertypes.StatusRunning && ci.State.Pid == 0 {
		t.Fatalf("after %s: inspect of a running container shows no pid", after)
	}
}

// inMemory waits until List is served from the engine's in-memory view
// (the tests below would otherwise check containerd's answers only).
func inMemory(t *testing.T, e *engine.Engine) {
	t.Helper()
	waitFor(t, "List served from memory", func() bool {
		listed(t, e, "")
		return e.Containers().ListFromMemory()
	})
}

// TestListFollowsEveryChange changes a container through each path that
// changes what ps shows, and checks List at once: berth's own changes
// (create, start, pause, rename, update, stop, kill, rm), an exit of the
// container's own, changes made directly in containerd's namespace, and a
// restarted engine (a berthd restart).
func TestListFollowsEveryChange(t *testing.T) {
	ctx := context.Background()
	e, err := engine.New(ctx, stackOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { e.Close() }()
	c := e.Containers()
	inMemory(t, e)

	id, _, err := c.Create(ctx, containertypes.Config{Image: "busybox", Name: "lv-a", Cmd: []string{"sleep", "1000"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = e.Containers().Remove(ctx, id, containertypes.RemoveOptions{Force: true}) }()
	wantListed(t, e, id, "create", "lv-a", containertypes.StatusCreated, 0)
	if err := c.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	wantListed(t, e, id, "start", "lv-a", containertypes.StatusRunning, 0)
	if err := c.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	wantListed(t, e, id, "pause", "lv-a", containertypes.StatusPaused, 0)
	if err := c.Unpause(ctx, id); err != nil {
		t.Fatal(err)
	}
	wantListed(t, e, id, "unpause", "lv-a", containertypes.StatusRunning, 0)
	if err := c.Rename(ctx, id, "lv-b"); err != nil {
		t.Fatal(err)
	}
	wantListed(t, e, id, "rename", "lv-b", containertypes.StatusRunning, 0)
	if _, err := c.Update(ctx, id, containertypes.Resources{CPUShares: 512}); err != nil {
		t.Fatal(err)
	}
	wantListed(t, e, id, "update", "lv-b", containertypes.StatusRunning, 0)
	timeout := time.Duration(0)
	if err := c.Stop(ctx, id, containertypes.StopOptions{Timeout: &timeout}); err != nil {
		t.Fatal(err)
	}
	wantListed(t, e, id, "stop", "lv-b", containertypes.StatusExited, 137)

	// An exit of the container's own: once Wait says it is over, so does ps.
	if err := c.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	wantListed(t, e, id, "a second start", "lv-b", containertypes.StatusRunning, 0)
	other, _, err := c.Create(ctx, containertypes.Config{Image: "busybox", Name: "lv-exit", Cmd: []string{"sh", "-c", "sleep 0.5; exit 3"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = e.Containers().Remove(ctx, other, containertypes.RemoveOptions{Force: true}) }()
	exited, err := c.Wait(ctx, other, containertypes.WaitNextExit)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx, other); err != nil {
		t.Fatal(err)
	}
	wantListed(t, e, other, "start", "lv-exit", containertypes.StatusRunning, 0)
	if st := <-exited; st.ExitCode != 3 {
		t.Fatalf("wait: exit %d, want 3", st.ExitCode)
	}
	wantListed(t, e, other, "its exit", "lv-exit", containertypes.StatusExited, 3)
	if !c.ListFromMemory() {
		t.Fatal("List no longer served from memory after berth's own changes")
	}

	// Directly in containerd's namespace (as ctr would): a kill of the
	// task, and a label. These reach berth as events: List follows once
	// they are in.
	cctx := namespaces.WithNamespace(ctx, "berth-test")
	ctr, err := client.New(ctrdAddress)
	if err != nil {
		t.Fatal(err)
	}
	defer ctr.Close()
	killed, err := c.Wait(ctx, id, containertypes.WaitNextExit)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctr.TaskService().Kill(cctx, &tasks.KillRequest{ContainerID: id, Signal: uint32(syscall.SIGKILL)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ps to show the kill made in containerd", func() bool {
		s := listed(t, e, id)
		return s != nil && s.State == containertypes.StatusExited && s.ExitCode == 137
	})
	<-killed // its exit is written down: the restart below does not cut it off
	setExitCode := func(code string) {
		t.Helper()
		_, err := ctr.ContainerService().Update(cctx, containers.Container{ID: other, Labels: map[string]string{"berth.state.exit-code": code}}, "labels.berth.state.exit-code")
		if err != nil {
			t.Fatal(err)
		}
	}
	setExitCode("42")
	waitFor(t, "ps to show the label set in containerd", func() bool {
		s := listed(t, e, other)
		return s != nil && s.ExitCode == 42
	})

	// A restarted engine rebuilds its view, changes made while it was
	// away included.
	e.Close()
	setExitCode("43")
	e, err = engine.New(ctx, stackOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	c = e.Containers()
	wantListed(t, e, other, "a restart", "lv-exit", containertypes.StatusExited, 43)
	inMemory(t, e)
	wantListed(t, e, id, "a restart", "lv-b", containertypes.StatusExited, 137)
	if err := c.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	wantListed(t, e, id, "a start after the restart", "lv-b", containertypes.StatusRunning, 0)
	if err := c.Remove(ctx, id, containertypes.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if s := listed(t, e, id); s != nil {
		t.Fatalf("after rm: still listed as %s %s", s.Names[0], s.State)
	}
	if !c.ListFromMemory() {
		t.Fatal("List no longer served from memory")
	}
}
