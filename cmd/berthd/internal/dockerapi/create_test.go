package dockerapi

import (
	"testing"

	dcontainer "github.com/moby/moby/api/types/container"
)

// TestCreateKeepsCPUQuota: CpuQuota and CpuPeriod reach the engine as
// given (inspect shows them, as dockerd), not turned into NanoCpus.
func TestCreateKeepsCPUQuota(t *testing.T) {
	req := &dcontainer.CreateRequest{Config: &dcontainer.Config{Image: "busybox"},
		HostConfig: &dcontainer.HostConfig{Resources: dcontainer.Resources{CPUQuota: 15000, CPUPeriod: 100000}}}
	cfg, err := createConfig("", req)
	if err != nil {
		t.Fatal(err)
	}
	if r := cfg.Resources; r.CPUQuota != 15000 || r.CPUPeriod != 100000 || r.NanoCPUs != 0 {
		t.Errorf("resources %+v, want the quota and period as given", r)
	}
}
