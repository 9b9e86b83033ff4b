package shim_test

import (
	"syscall"
	"testing"

	"github.com/containerd/containerd/v2/client"
)

// A spare: after a task create, a spare shim is waiting; the next container
// gets it as its shim (no process started for it), runs as any other, and
// the spare's successor appears. A killed spare costs nothing: the next
// create starts a shim of its own, and spares come back.
func TestSpare(t *testing.T) {
	ctx := ctxT(t)
	// Whatever ran before, a create leaves a spare behind it.
	runningTask(t, ctx, "spare0")
	var spare int
	eventually(t, ctx, "a spare", func() bool {
		ps := sparePids(st.shimBin)
		if len(ps) == 1 {
			spare = ps[0]
		}
		return len(ps) == 1
	})

	c := newContainer(t, ctx, "spare1", withArgs("sh", "-c", "echo from-the-spare; exit 7"))
	creator, out, _ := fifoIO(nil)
	task, err := c.NewTask(ctx, creator)
	if err != nil {
		t.Fatal(err)
	}
	if got := shimPid(st.shimBin, "spare1"); got != spare {
		t.Fatalf("shim of spare1 is %d, want the spare %d", got, spare)
	}
	ch, err := task.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, ctx, ch); code != 7 {
		t.Fatalf("exit code %d, want 7", code)
	}
	if _, err := task.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if out.String() != "from-the-spare\n" {
		t.Fatalf("stdout %q", out.String())
	}
	eventually(t, ctx, "the shim's exit", func() bool { return !isShim(st.shimBin, spare) })

	// The next spare, killed: the next create goes without.
	var next int
	eventually(t, ctx, "the next spare", func() bool {
		ps := sparePids(st.shimBin)
		if len(ps) == 1 && ps[0] != spare {
			next = ps[0]
		}
		return next != 0
	})
	if err := syscall.Kill(next, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, ctx, "the spare's end", func() bool { return !procAlive(next) })
	task2 := runningTask(t, ctx, "spare2")
	if got := shimPid(st.shimBin, "spare2"); got == 0 || got == next {
		t.Fatalf("shim of spare2: %d (killed spare %d)", got, next)
	}
	if s, err := task2.Status(ctx); err != nil || s.Status != client.Running {
		t.Fatalf("spare2: %v %v", s.Status, err)
	}
	eventually(t, ctx, "a spare again", func() bool { return len(sparePids(st.shimBin)) == 1 })
}
