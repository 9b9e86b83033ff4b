package shim

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestReaper collects exits with pidfds and, as on a kernel without
// pidfd_open, with SIGCHLD: a runc-like command's exit reaches its waiter,
// a watched child's exit reaches the service. It runs in a child test
// process, whose every child the reaper may reap.
func TestReaper(t *testing.T) {
	for _, mode := range []string{"pidfd", "sigchld"} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestReaperHelper$", "-test.v")
			cmd.Env = append(os.Environ(), "BERTH_REAPER_HELPER="+mode)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v:\n%s", err, out)
			}
		})
	}
}

func TestReaperHelper(t *testing.T) {
	mode := os.Getenv("BERTH_REAPER_HELPER")
	if mode == "" {
		t.Skip("run by TestReaper")
	}
	exits := make(chan exitInfo, 8)
	r, err := newReaper(func(e exitInfo) { exits <- e })
	if err != nil {
		t.Fatal(err)
	}
	r.sigchld = mode == "sigchld"
	go r.run()

	c := exec.Command("sh", "-c", "exit 7")
	ec, err := r.Start(c)
	if err != nil {
		t.Fatal(err)
	}
	if status, err := r.Wait(c, ec); err != nil || status != 7 {
		t.Fatalf("command exit %d, %v", status, err)
	}

	child := exec.Command("sh", "-c", "sleep 0.2; exit 3")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	r.watch(child.Process.Pid)
	select {
	case e := <-exits:
		if e.pid != child.Process.Pid || e.status != 3 {
			t.Fatalf("exit %+v, want pid %d status 3", e, child.Process.Pid)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("child's exit not collected")
	}
}
