package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestStubCgroups checks the stub of containerd's cgroups module
// (cmd/containerd/cgroups): the host's cgroup mode is the one its mounts
// say, and anything that would load or make a cgroup fails, naming
// berth's containerd, rather than doing nothing.
func TestStubCgroups(t *testing.T) {
	mounts, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	fsAt := map[string]string{}
	for line := range strings.Lines(string(mounts)) {
		if f := strings.Fields(line); len(f) > 2 {
			fsAt[f[1]] = f[2]
		}
	}
	want := cgroups.Legacy
	switch {
	case fsAt["/sys/fs/cgroup"] == "cgroup2":
		want = cgroups.Unified
	case fsAt["/sys/fs/cgroup/unified"] == "cgroup2":
		want = cgroups.Hybrid
	case fsAt["/sys/fs/cgroup"] == "":
		want = cgroups.Unavailable
	}
	if got := cgroups.Mode(); got != want {
		t.Errorf("cgroups.Mode() = %d, want %d from /proc/self/mounts", got, want)
	}

	for what, err := range map[string]error{
		"cgroup2.Load": func() error { _, err := cgroup2.Load("/berth-test"); return err }(),
		"cgroup1.Load": func() error { _, err := cgroup1.Load(cgroup1.StaticPath("/berth-test")); return err }(),
		"cgroup1.New": func() error {
			_, err := cgroup1.New(cgroup1.StaticPath("/berth-test"), &specs.LinuxResources{})
			return err
		}(),
	} {
		if err == nil || !strings.Contains(err.Error(), "berth's containerd") {
			t.Errorf("%s: %v, want an error naming berth's containerd", what, err)
		}
	}
}

// TestCgroupPathRefused: a config that asks containerd to move itself
// into a cgroup ([cgroup] path, which berth's config never sets) stops
// containerd at its start with an error saying why.
func TestCgroupPathRefused(t *testing.T) {
	dir := tempDir(t)
	cfgPath := filepath.Join(dir, "config.toml")
	writeConfig(t, cfgPath, filepath.Join(dir, "root"), filepath.Join(dir, "state"), `[cgroup]
  path = "/berth-test-cgroup"
`)
	d := start(t, dir, "--config", cfgPath, "--address", filepath.Join(dir, "c.sock"))
	select {
	case err := <-d.exited:
		if err == nil || !strings.Contains(d.logs(), "[cgroup] path) is not supported by berth's containerd") {
			t.Errorf("containerd with a [cgroup] path: %v\n%s", err, d.logs())
		}
	case <-time.After(time.Minute):
		t.Fatalf("containerd with a [cgroup] path still runs after a minute\n%s", d.logs())
	}
}
