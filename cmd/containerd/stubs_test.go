package main

import (
	"strings"
	"testing"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestStubsFail checks that what the stub modules stand in for (go.mod's
// replace lines) fails, naming berth's containerd, when containerd's own
// code reaches it, rather than doing nothing.
func TestStubsFail(t *testing.T) {
	// A cgroup v2 device filter (cgroup2.Manager.Update with devices):
	// the program assembles, and loading it fails.
	major, minor := int64(1), int64(3)
	insts, license, err := cgroup2.DeviceFilter([]specs.LinuxDeviceCgroup{{Allow: true, Type: "c", Major: &major, Minor: &minor, Access: "rwm"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cgroup2.LoadAttachCgroupDeviceFilter(insts, license, -1); err == nil || !strings.Contains(err.Error(), "berth's containerd") {
		t.Errorf("loading a device filter: %v, want an error naming berth's containerd", err)
	}

	// A cgroup made through systemd (the systemd cgroup driver): it
	// fails before reaching systemd.
	if _, err := cgroup2.NewSystemd("", "berth-test.scope", -1, &cgroup2.Resources{}); err == nil || !strings.Contains(err.Error(), "berth's containerd") {
		t.Errorf("cgroup2.NewSystemd: %v, want an error naming berth's containerd", err)
	}
	sd, err := cgroup1.NewSystemd("/sys/fs/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	if err := sd.Create("/berth-test.slice:berth:test", &specs.LinuxResources{}); err == nil || !strings.Contains(err.Error(), "berth's containerd") {
		t.Errorf("cgroup1's systemd controller: %v, want an error naming berth's containerd", err)
	}
}
