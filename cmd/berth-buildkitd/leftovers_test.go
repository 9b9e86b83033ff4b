package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestKillStepProcesses: what build steps left in their cgroups (a `runc
// init` whose shim died before the step's start, in /<parent>/buildkit/<id>)
// is killed at berth-buildkitd's start, and the cgroups are removed, in
// every hierarchy; cgroups of other parents (another berth-buildkitd's
// steps, berth's containers) are left alone.
func TestKillStepProcesses(t *testing.T) {
	roots := cgroupRoots()
	if os.Geteuid() != 0 || len(roots) == 0 {
		t.Skip("needs root and a cgroup file system")
	}
	parent := fmt.Sprintf("berth-leftovers-test-%d", os.Getpid())
	other := parent + "-other"
	t.Cleanup(func() {
		for _, r := range roots {
			for _, p := range []string{parent, other} {
				_ = os.Remove(filepath.Join(r, p, "buildkit", "step"))
				_ = os.Remove(filepath.Join(r, p, "buildkit"))
				_ = os.Remove(filepath.Join(r, p))
			}
		}
	})
	// A process in a step cgroup of ours, one in another parent's.
	start := func(p string) *exec.Cmd {
		cmd := exec.Command("sleep", "600")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		for _, r := range roots {
			d := filepath.Join(r, p, "buildkit", "step")
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			// A v1 hierarchy whose parents need settings first (cpuset)
			// may refuse: any one hierarchy holding it is enough.
			_ = os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0)
		}
		return cmd
	}
	ours, theirs := start(parent), start(other)
	exited := make(chan error, 1)
	go func() { exited <- ours.Wait() }()

	n, err := killStepProcesses(context.Background(), parent)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("killed %d processes, want 1", n)
	}
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the step's process still runs")
	}
	for _, r := range roots {
		if _, err := os.Stat(filepath.Join(r, parent, "buildkit", "step")); err == nil {
			t.Errorf("the step cgroup is still there in %s", r)
		}
		if _, err := os.Stat(filepath.Join(r, other, "buildkit", "step")); err != nil {
			t.Errorf("another parent's step cgroup was removed in %s", r)
		}
	}
	// Not waited for: a killed one would be a zombie.
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", theirs.Process.Pid)); err != nil || strings.Contains(string(b), ") Z ") {
		t.Error("another parent's step process was killed")
	}
}
