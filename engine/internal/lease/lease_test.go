package lease

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestHolderAlive: a lease's holder label names this process while it
// runs, and a process that ended is no holder, even when its pid comes
// back (the start time differs).
func TestHolderAlive(t *testing.T) {
	if !alive(Self()) {
		t.Fatalf("this process (%s) is not alive as a holder", Self())
	}
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := holder(cmd.Process.Pid)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if h == "" || alive(h) {
		t.Errorf("an ended process's holder label %q is alive", h)
	}
	pid, start, _ := strings.Cut(Self(), ":")
	n, _ := strconv.Atoi(start)
	if alive(pid+":"+strconv.Itoa(n+1)) || alive("") || alive("x:1") || alive("0:0") {
		t.Error("a label that names no running process is alive")
	}
}
